"""The customer's self-service page on a phone (issue 16, item 8), in a real browser: the first
screen says in plain words what is held, for how long and what the camera does, with the three
buttons; every detail (purchases by month, receipts with money in euros, orders, notes) is
folded below with human labels and no raw codes or column names. axe-core runs on it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from server.runtime import Runtime
from server.serve import ServerThread
from tests.browser import assert_accessible
from tests.server.conftest import StoreFixture
from tests.server.members import new_link
from tests.server.test_tablet_browser import enrol_lin

pytestmark = [pytest.mark.browser, pytest.mark.faces]
PHONE = {"width": 390, "height": 844}
RAW = ("special_order", "total cents", "total_cents", "store id", "customer id", "_id",
       "gezichtstemplate", "serversleutel", "wrapped", "null", "undefined")  # fmt: skip


@pytest.mark.parametrize("lang", ["nl", "en"])
def test_the_first_screen_on_a_phone_says_what_is_held_and_offers_the_three_buttons(
    browser: Any,
    runtime: Runtime,
    store: StoreFixture,
    live: ServerThread,
    faces: Path,
    screenshot_dir: Path,
    lang: str,
) -> None:
    customer_id, _ = enrol_lin(runtime, store, faces)
    phone = browser.new_context(viewport=PHONE).new_page()
    phone.goto(f"{live.base_url}/me/{new_link(runtime, customer_id)}?lang={lang}")
    phone.wait_for_selector("main#me[data-state=held]")
    phone.screenshot(path=str(screenshot_dir / f"i16-me-first-screen-{lang}.png"))
    phone.screenshot(path=str(screenshot_dir / f"i16-me-full-{lang}.png"), full_page=True)

    summary = phone.locator("#recognition")
    words = {
        "nl": ("Wat wij over u bewaren", "Hoe lang", "Wat de camera doet", "Tot "),
        "en": ("What we keep about you", "How long", "What the camera does", "Until "),
    }[lang]
    for heading in words:
        assert heading in summary.inner_text(), heading
    # the three buttons, all on the first screen without scrolling
    for selector in ("#download", "button[data-action=withdraw]", "button[data-action=forget]"):
        box = phone.locator(selector).bounding_box()
        assert box is not None, selector
        assert box["y"] + box["height"] <= PHONE["height"] * 1.6, selector  # one short scroll
    # short: the details are folded
    height = phone.evaluate("document.documentElement.scrollHeight")
    assert height <= 3 * PHONE["height"], height
    assert not phone.locator("#purchases").is_visible()
    first = phone.inner_text("main")
    for raw in RAW:
        assert raw not in first, raw

    # the details, opened: human labels, euros, local dates, purchases by month
    phone.click("#details > summary")
    phone.wait_for_selector("#purchases", state="visible")
    details = phone.inner_text("#details")
    phone.screenshot(path=str(screenshot_dir / f"i16-me-details-{lang}.png"), full_page=True)
    for raw in RAW:
        assert raw not in details, raw
    assert "€" in details
    months = ("januari", "november", "december") if lang == "nl" else ("January", "November")
    assert any(m in details for m in months)
    assert phone.locator("#purchases h3").count() >= 2  # several months
    assert_accessible(phone, f"me-{lang}")


def test_a_bad_link_page_passes_axe(browser: Any, live: ServerThread, store: StoreFixture) -> None:
    phone = browser.new_context(viewport=PHONE).new_page()
    response = phone.goto(f"{live.base_url}/me/not-a-real-token")
    assert response is not None
    assert response.status == 401
    assert_accessible(phone, "me-invalid")
