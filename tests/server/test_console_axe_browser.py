"""Every console page and the public /privacy page at a 1180 px wide screen (a landscape
tablet or a small laptop), in a real browser with axe-core: no critical and no serious
violation (the staff-access table used to overflow: scrollable-region-focusable), date inputs
that show dates the local way, and the Dutch /privacy naming the configured controller and
privacy contact (issue 16, item 10)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from server.runtime import Runtime
from server.serve import ServerThread
from server.settings import ServerSettings
from tests.browser import assert_accessible
from tests.server.conftest import StoreFixture
from tests.server.console_world import World, add_history, build_world
from tests.server.test_console_browser import sign_in

# the world is in the database before the live server starts
pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("world")]
WIDE = {"width": 1180, "height": 820}
PAGES = ["/console", "/console/consents", "/console/audit", "/console/deletions",
         "/console/access", "/console/incidents", "/console/retention", "/console/devices",
         "/console/stores", "/console/ropa"]  # fmt: skip


@pytest.fixture
def settings(settings: ServerSettings) -> ServerSettings:
    return settings.model_copy(
        update={
            "privacy_contact": "privacy@winkel.example",
            "controller_name": "Winkel Retail B.V.",
        }
    )


@pytest.fixture
def world(runtime: Runtime, store: StoreFixture) -> World:
    add_history(runtime, store)
    return build_world(runtime, store)


def test_every_console_page_fits_1180_px_and_passes_axe(
    browser: Any, live: ServerThread, screenshot_dir: Path
) -> None:
    page = browser.new_context(viewport=WIDE, locale="nl-NL").new_page()
    page.goto(f"{live.base_url}/console")
    page.wait_for_selector("#login")
    assert_accessible(page, "console-login")
    sign_in(page, live.base_url)
    for path in PAGES:
        page.goto(f"{live.base_url}{path}")
        page.wait_for_selector("nav.side")
        name = "console" + path.removeprefix("/console").replace("/", "-")
        page.screenshot(path=str(screenshot_dir / f"i16-{name}.png"), full_page=True)
        # nothing wider than the screen: no sideways scrolling of the page
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= WIDE["width"], (path, width)
        assert_accessible(page, name)
    # one member's consent record, reached from the consent log
    page.goto(f"{live.base_url}/console/consents")
    page.locator("table a[href^='/console/consents/']").first.click()
    page.wait_for_selector("nav.side")
    assert_accessible(page, "console-consent-record")


def test_the_dutch_privacy_page_names_the_controller_and_contact(
    browser: Any, live: ServerThread, screenshot_dir: Path
) -> None:
    page = browser.new_context(viewport=WIDE).new_page()
    for lang in ("nl", "en"):
        page.goto(f"{live.base_url}/privacy?lang={lang}")
        text = page.inner_text("main")
        assert "Winkel Retail B.V." in text
        assert "privacy@winkel.example" in text
        assert "store operator" not in text
        assert "not configured" not in text
        page.screenshot(path=str(screenshot_dir / f"i16-privacy-{lang}.png"), full_page=True)
        assert_accessible(page, f"privacy-{lang}")
