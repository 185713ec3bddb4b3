"""The receipt page for a Dutch cashier (issue 16): its frame says "kassa", and re-issuing a
customer's self-service link (the page a cashier reaches with "print the self-service link"
for a customer not enrolled just now) asks, explains and answers in the staff language, the
confirmation dialog included. In a real browser against the real server; axe-core on it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from server.runtime import Runtime
from server.serve import ServerThread
from server.settings import ServerSettings
from tests.browser import assert_accessible
from tests.server.conftest import StoreFixture
from tests.server.live_pages import decode_qr, sign_in_register
from tests.server.test_tablet_browser import enrol_lin

pytestmark = [pytest.mark.browser, pytest.mark.faces]


@pytest.fixture
def settings(settings: ServerSettings) -> ServerSettings:
    return settings.model_copy(update={"staff_language": "nl"})


def test_a_dutch_cashier_reissues_a_link_in_dutch(
    browser: Any,
    runtime: Runtime,
    store: StoreFixture,
    live: ServerThread,
    faces: Path,
    screenshot_dir: Path,
) -> None:
    customer_id, _ = enrol_lin(runtime, store, faces)  # Lin reads English: the page is ours
    page = browser.new_context(viewport={"width": 1024, "height": 768}).new_page()
    sign_in_register(page, live.base_url)
    page.goto(f"{live.base_url}/register/receipt/{customer_id}")
    assert page.locator("html").get_attribute("lang") == "nl"
    assert page.inner_text("header") == "Vertrouwd · kassa"
    section = page.inner_text("#reissue")
    assert "Link naar de eigen pagina voor Lin Manuel Miranda" in section
    assert "Nieuwe link uitgeven (de oude werkt dan niet meer)" in section
    assert "Terug naar de kassa" in section
    for english in ("Self-service link for", "Issue a new link", "Back to the register"):
        assert english not in section, english
    asked: list[str] = []

    def accept(dialog: Any) -> None:
        asked.append(dialog.message)
        dialog.accept()

    page.once("dialog", accept)
    page.click("#reissue-button")
    page.wait_for_selector("#reissued:not([hidden])")
    assert asked == [
        "Een nieuwe link naar de eigen pagina uitgeven? De oude link van de klant werkt dan "
        "niet meer."
    ]
    link = page.locator("#self-service-link").get_attribute("href")
    assert link is not None
    assert decode_qr(page.locator("#qr").screenshot()) == link
    assert page.get_attribute("#qr", "aria-label") == "QR-code van de link naar de eigen pagina"
    assert page.inner_text("#print") == "Afdrukken"
    page.screenshot(path=str(screenshot_dir / "i16-receipt-reissue-nl.png"), full_page=True)
    assert_accessible(page, "receipt-reissue-nl")
