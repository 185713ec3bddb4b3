"""The tablet as a salesperson sees it (issue 16, items 1-4), in a real browser against the real
server: the arrival time in the store's zone (not UTC, not the tablet's own zone), a new card on
the member's next arrival after "Greeted" + "Dismiss", a signed-out view that shows only the
sign-in form, and metrics that list every day of the period and count members, not arrivals.
axe-core runs on each page. Screenshots go to ``test-artifacts/screenshots``."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from server.runtime import Runtime
from server.serve import ServerThread
from server.services import localtime
from server.settings import ServerSettings
from tests.browser import assert_accessible
from tests.server.conftest import StoreFixture
from tests.server.test_tablet_browser import arrival, device_token, enrol_lin, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.faces]


def test_signed_out_the_tablet_shows_only_the_sign_in_form(
    browser: Any, live: ServerThread, store: StoreFixture, screenshot_dir: Path
) -> None:
    page = browser.new_context(viewport={"width": 1180, "height": 820}).new_page()
    page.goto(f"{live.base_url}/tablet")
    page.wait_for_selector("#login-view:not([hidden])")
    page.wait_for_selector("#status:has-text('signed out')")
    page.screenshot(path=str(screenshot_dir / "i16-tablet-signed-out.png"))
    assert page.is_visible("form#login")
    for hidden in ("#logout", "#metrics-link", "#cards", "#empty"):
        assert not page.is_visible(hidden), hidden
    body = page.inner_text("body")
    assert "Sign out" not in body
    assert "Metrics" not in body
    assert "No members in the store" not in body
    assert_accessible(page, "tablet-signed-out")


def test_the_card_says_the_local_time_and_a_dismissed_visit_makes_way_for_a_new_card(
    browser: Any,
    runtime: Runtime,
    settings: ServerSettings,
    store: StoreFixture,
    live: ServerThread,
    faces: Path,
    screenshot_dir: Path,
) -> None:
    customer_id, subject = enrol_lin(runtime, store, faces)
    token = device_token(runtime, live, store)
    # the tablet's own clock is in another zone: the card must follow the store's zone
    context = browser.new_context(
        viewport={"width": 1180, "height": 820}, timezone_id="America/New_York"
    )
    page = context.new_page()
    sign_in(page, live.base_url, "sales")
    assert_accessible(page, "tablet-empty")

    before = datetime.now(UTC)
    assert arrival(live, token, subject)["accepted"] == 1
    after = datetime.now(UTC)
    card = page.wait_for_selector("article.card")
    first_visit = card.get_attribute("data-visit")
    page.screenshot(path=str(screenshot_dir / "i16-tablet-arrival-time.png"))
    meta = card.inner_text()
    expected = {f"{localtime.local(t, settings.zone):%H:%M}" for t in (before, after)}
    assert any(f"arrived {hhmm}" in meta for hhmm in expected), (meta, expected)
    utc = {f"{t:%H:%M}" for t in (before, after)}
    assert not any(f"arrived {hhmm}" in meta for hhmm in utc - expected), meta
    assert_accessible(page, "tablet-teaser")

    page.click("article.card [data-action=reveal]")
    page.wait_for_selector("article.card .allergy")
    assert_accessible(page, "tablet-card")
    page.click("article.card [data-action=greeted]")
    page.wait_for_selector("article.card .badge:has-text('greeted')")
    page.click("article.card [data-action=dismiss]")
    page.wait_for_selector("article.card", state="detached")

    # Lin walks in again (the edge's cooldown has passed): a new visit, a new card.
    assert arrival(live, token, subject)["accepted"] == 1
    again = page.wait_for_selector("article.card")
    assert again.get_attribute("data-visit") != first_visit
    number = int(re.search(r"(\d+)(st|nd|rd|th) visit", meta).group(1))  # type: ignore[union-attr]
    assert f"{number + 1}" in again.inner_text().split(" visit")[0]
    page.screenshot(path=str(screenshot_dir / "i16-tablet-card-after-dismiss.png"))

    # Metrics: "30 days" is 30 rows; two arrivals of one member are one member recognised.
    page.goto(f"{live.base_url}/tablet/metrics")
    page.wait_for_selector(".tile")
    page.screenshot(path=str(screenshot_dir / "i16-tablet-metrics.png"), full_page=True)
    assert page.locator("#rows tr").count() == 30
    tiles = page.inner_text("#tiles")
    assert "ARRIVALS\n2\n" in tiles.upper()
    assert "1 member recognised in 30 days" in tiles
    page.select_option("#days", "7")
    page.wait_for_function("() => document.querySelectorAll('#rows tr').length === 7")
    assert_accessible(page, "tablet-metrics")
    assert customer_id
