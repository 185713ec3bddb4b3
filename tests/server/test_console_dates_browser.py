"""The console's date fields as a Dutch privacy officer meets them (issue 16, item 10): a day is
written dd-mm-jjjj (a browser's own date field followed the browser's locale and showed
mm/dd/yyyy), the format stays in the label, a typed period is shown and kept, the browser
refuses a field that is not a date, and a day that does not exist comes back as a 422 page
that says so in Dutch with the form to correct it. In chromium, with axe-core."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from server.runtime import Runtime
from server.serve import ServerThread
from server.services import localtime
from server.settings import ServerSettings
from tests.browser import assert_accessible
from tests.server.conftest import StoreFixture
from tests.server.console_world import World, build_world
from tests.server.test_console_browser import sign_in

pytestmark = [pytest.mark.browser]


@pytest.fixture
def settings(settings: ServerSettings) -> ServerSettings:
    return settings.model_copy(update={"staff_language": "nl"})


@pytest.fixture
def world(runtime: Runtime, store: StoreFixture) -> World:
    return build_world(runtime, store)


@pytest.fixture
def live(live: ServerThread, world: World) -> ServerThread:
    """The shared live server (tests/server/conftest.py), with the console's world in it."""
    return live


def test_a_dutch_officer_types_days_as_dd_mm_jjjj(
    browser: Any, live: ServerThread, settings: ServerSettings, screenshot_dir: Path
) -> None:
    # an American browser: its own date field would show mm/dd/yyyy
    page = browser.new_context(viewport={"width": 1180, "height": 820}, locale="en-US").new_page()
    sign_in(page, live.base_url)
    page.goto(f"{live.base_url}/console/access")
    today = localtime.today(datetime.now(UTC), settings.zone)
    field = page.locator("form.period #from")
    assert field.get_attribute("type") == "text"
    assert field.get_attribute("placeholder") == "dd-mm-jjjj"
    assert "(dd-mm-jjjj)" in page.inner_text("form.period label[for=from]")
    assert field.input_value() == f"{today - timedelta(days=29):%d-%m-%Y}"
    assert page.locator("form.period #to").input_value() == f"{today:%d-%m-%Y}"

    first, last = today - timedelta(days=10), today - timedelta(days=3)
    page.fill("form.period #from", f"{first:%d-%m-%Y}")
    page.fill("form.period #to", f"{last:%d-%m-%Y}")
    with page.expect_navigation():
        page.click("form.period button[type=submit]")
    assert f"from={first:%d-%m-%Y}" in page.url
    assert page.locator("form.period #from").input_value() == f"{first:%d-%m-%Y}"
    months = localtime.MONTHS_NL
    shown = page.inner_text(".exports")
    assert f"{first.day} {months[first.month - 1]} {first.year}" in shown, shown
    assert f"{last.day} {months[last.month - 1]} {last.year}" in shown, shown
    page.screenshot(path=str(screenshot_dir / "i16-console-dates-nl.png"))
    assert_accessible(page, "console-dates-nl")

    # not a date at all: the browser keeps the form (the field's pattern), nothing is sent
    page.fill("form.period #from", "gisteren")
    assert page.eval_on_selector("form.period #from", "e => e.validity.patternMismatch")
    page.click("form.period button[type=submit]")
    assert page.eval_on_selector("form.period", "f => !f.checkValidity()")
    assert f"from={first:%d-%m-%Y}" in page.url

    # a day that does not exist (typed in a link): a 422 page that says so, with the form
    answer = page.goto(f"{live.base_url}/console/access?from=31-02-2026&to=05-03-2026")
    assert answer is not None
    assert answer.status == 422
    problem = page.inner_text("#period-problem")
    assert problem == "„31-02-2026” is geen datum: schrijf dd-mm-jjjj, bijvoorbeeld 25-11-2026."
    assert page.locator("#bad-period #from").input_value() == "31-02-2026"
    assert page.locator("html").get_attribute("lang") == "nl"
    page.screenshot(path=str(screenshot_dir / "i16-console-bad-date-nl.png"))
    assert_accessible(page, "console-bad-date-nl")
    # corrected on that page, the period is shown
    page.fill("#bad-period #from", "28-02-2026")
    with page.expect_navigation():
        page.click("#bad-period button[type=submit]")
    assert re.search(r"from=28-02-2026", page.url)
    page.wait_for_selector("#flags")

    # backwards: said in Dutch too
    page.goto(f"{live.base_url}/console/incidents?from=05-03-2026&to=01-03-2026")
    assert page.inner_text("#period-problem") == (
        "De periode begint (05-03-2026) na het einde (01-03-2026)."
    )
