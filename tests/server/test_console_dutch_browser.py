"""A Dutch privacy officer in chromium (issue 16), beyond the console's labels: the Art. 30
record's body, why the audit chain failed and the changed entry's details, a member's history
with its entries' details, and the charts' tooltips, all in Dutch; each page passes axe-core.
The chain is edited in the database behind the application's back, as in
``test_console.py``. Screenshots go to ``test-artifacts/screenshots`` (``i16-nl-*``)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from server.runtime import Runtime
from server.serve import ServerThread
from server.settings import ServerSettings
from tests.browser import assert_accessible
from tests.server.conftest import StoreFixture
from tests.server.console_world import World, add_history, build_world
from tests.server.test_console_browser import sign_in

pytestmark = [pytest.mark.browser]
WIDE = {"width": 1180, "height": 820}

# English that was on these pages before (the record's body, the verifier's sentence, the
# entries' keys and the charts' tooltips); none of it may show on the Dutch console.
ENGLISH = (
    "Controller", "Privacy officer", "Purposes and legal basis", "Legal basis",
    "members who opted in", "Biometric data", "months, unless", "No member data is sold",
    "Encryption at rest", "Member zone", "of the frame", "not configured", "record hash",
    "does not match", "consent id", "text version", "channel:", "source:", "consent record",
    "consents given", "arrivals", "Nov", "Dec",
)  # fmt: skip


@pytest.fixture
def settings(settings: ServerSettings) -> ServerSettings:
    return settings.model_copy(
        update={
            "controller_name": "Winkel Retail B.V.",
            "privacy_contact": "privacy@winkel.example",
            "staff_language": "nl",
        }
    )


@pytest.fixture
def world(runtime: Runtime, store: StoreFixture) -> World:
    add_history(runtime, store)
    return build_world(runtime, store)


@pytest.fixture
def live(live: ServerThread, world: World) -> ServerThread:
    return live


def visible_text(page: Any) -> str:
    """What the officer reads, with every SVG tooltip (``<title>``) and the raw JSON's summary
    (the JSON itself is the stored data, shown as stored)."""
    return str(
        page.evaluate(
            """() => {
              const parts = [document.body.innerText];
              for (const t of document.querySelectorAll("svg title")) parts.push(t.textContent);
              return parts.join("\\n");
            }"""
        )
    )


def english_left(shown: str) -> list[str]:
    return [w for w in ENGLISH if w in shown]


def test_a_dutch_officer_reads_the_record_the_chain_and_the_details_in_dutch(
    browser: Any, live: ServerThread, runtime: Runtime, screenshot_dir: Path
) -> None:
    page = browser.new_context(viewport=WIDE, locale="nl-NL").new_page()
    page.goto(f"{live.base_url}/console")
    sign_in(page, live.base_url)

    # the overview's charts: Dutch days and words in every tooltip
    page.goto(f"{live.base_url}/console")
    page.wait_for_selector("svg.chart")
    tips = page.eval_on_selector_all(
        "svg.chart rect > title, svg.chart circle > title", "ts => ts.map(t => t.textContent)"
    )
    assert tips
    months = "jan|feb|mrt|apr|mei|jun|jul|aug|sep|okt|nov|dec"
    assert all(re.match(rf"\d+ ({months}): ", tip) for tip in tips), tips[:5]
    assert any(tip.endswith("toestemmingen gegeven") for tip in tips)
    assert english_left(visible_text(page)) == []

    # the Art. 30 record, its body in Dutch
    page.goto(f"{live.base_url}/console/ropa")
    page.wait_for_selector("#ropa h3")
    record = page.inner_text("#ropa")
    assert "1. Verwerkingsverantwoordelijke" in record
    assert "AVG art. 9 lid 2 onder a: uitdrukkelijke toestemming" in record
    assert "Winkel Retail B.V." in record
    assert english_left(record) == []
    page.screenshot(path=str(screenshot_dir / "i16-nl-ropa.png"), full_page=True)
    assert_accessible(page, "console-nl-ropa-body")

    # a member's history: each entry's details with Dutch labels and words
    page.goto(f"{live.base_url}/console/consents?customer=Anna")
    page.locator("table a[href^='/console/consents/']").first.click()
    page.wait_for_selector("#timeline .details")
    details = page.inner_text("#timeline")
    assert "toestemmingsrecord:" in details
    assert "kanaal: kassa" in details
    # an instant in the data is a local time like every other, not ISO text in UTC
    assert re.search(rf"verloopt op: \d+ ({months}) \d{{4}} \d\d:\d\d CET", details)
    assert not re.search(r"\d{4}-\d\d-\d\dT\d\d:", details)
    facts = page.inner_text("#main")
    assert "· kassa" in facts  # the channel of the consent, in Dutch
    assert english_left(details) == []
    page.screenshot(path=str(screenshot_dir / "i16-nl-consent-details.png"), full_page=True)
    assert_accessible(page, "console-nl-consent-details")

    # someone edits an entry in the database; the officer verifies the chain
    with runtime.engine.begin() as conn:
        conn.execute(text("UPDATE audit_log SET actor = 'staff:mallory' WHERE seq = 5"))
    page.goto(f"{live.base_url}/console/audit")
    page.click("#verify-now")
    page.wait_for_selector("#chain-status[data-state=bad]")
    verdict = page.inner_text("#chain-status .verdict")
    assert verdict == (
        "✗ Verbroken op regel 5: de hash van de regel klopt niet met wat erin staat."
    )
    assert "de hash van de regel klopt niet met wat erin staat" in page.inner_text("#runs")
    entry = page.inner_text("#bad-entry")
    assert "staff:mallory" in entry
    assert "Zoals opgeslagen (JSON)" in entry
    shown = visible_text(page)
    assert english_left(shown) == [], english_left(shown)
    page.screenshot(path=str(screenshot_dir / "i16-nl-audit-broken.png"), full_page=True)
    assert_accessible(page, "console-nl-audit-broken")

    # the overview says it too
    page.goto(f"{live.base_url}/console")
    assert "de hash van de regel klopt niet met wat erin staat" in page.inner_text("main")
    page.screenshot(path=str(screenshot_dir / "i16-nl-overview-broken.png"), full_page=True)
