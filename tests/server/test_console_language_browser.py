"""The privacy console speaks the stores' staff language (issue 16): Dutch for a Dutch store
(``VERTROUWD_STAFF_LANGUAGE=nl``, the default), English with the setting. In a real browser,
with a world of consents, withdrawals, incidents, devices and staff access: every console page
has ``lang`` on ``<html>`` and the officer's words in that language, no English label is left
on the Dutch pages, a wrong password is answered in Dutch, and axe-core passes on each page.
Screenshots go to ``test-artifacts/screenshots``."""

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

pytestmark = [pytest.mark.browser]
WIDE = {"width": 1180, "height": 820}

# What each page shows a Dutch officer (a few of its words), and the same page's English words.
PAGES = {
    "/console": (["Overzicht", "actieve toestemmingen", "Toon de getallen", "Auditketen"],
                 ["Overview", "active consents"]),
    "/console/consents": (["Toestemmingen", "Elke status", "Zoeken", "Geschiedenis"],
                          ["Consent log", "Any status"]),
    "/console/audit": (["Auditketen", "Nu controleren", "Controles"],
                       ["Audit chain", "Verify now"]),
    "/console/deletions": (["Verwijderbewijzen", "Toestemming ingetrokken", "Apparaat"],
                           ["Deletion proofs", "Consent withdrawn"]),
    "/console/access": (["Inzage door personeel", "Ongewone patronen", "Medewerker"],
                        ["Staff access log", "Unusual patterns"]),
    "/console/incidents": (["Incidenten „niet deze persoon”", "Valse herkenning", "Gemeld"],
                           ["\u201cNot this person\u201d incidents", "False match"]),
    "/console/retention": (["Bewaartermijnen", "Toestemming geldt", "Dagen over"],
                           ["Retention", "Consent lasts"]),
    "/console/devices": (["Apparaten in de winkels", "Laatste contact", "Intrekken"],
                         ["Edge devices", "Last contact"]),
    "/console/stores": (["Winkels en livegang", "Bord bij de ingang", "Herkenningsvorm",
                         "Ledenzone (procent van het camerabeeld)", "Live zetten"],
                        ["Stores and the go-live gate", "Entrance sign"]),
    "/console/ropa": (["PDF downloaden", "Transparantieverslag AI-verordening"],
                      ["Download PDF", "AI Act transparency record"]),
}  # fmt: skip

# The console's own English labels: none may show on a Dutch page. (Words that are Dutch too,
# "Status", "Camera", "records", are left out.) The Art. 30 record's body is in the staff
# language too but names tables and the English consent texts' titles ("profile_keys",
# "Membership with a pass"): ``test_console_dutch_browser.py`` reads it for its sentences.
ENGLISH_LABELS = (
    "Overview", "Consent log", "Audit chain", "Deletion proofs", "Staff access", "Incidents",
    "Retention", "Devices", "Stores & go-live", "Art. 30 record", "Sign out", "Times are local",
    "From", "Show", "Download ", "times in UTC", "active consents", "stores with recognition",
    "Show the numbers", "Customer", "Channel", "Any ", "Search", "Clear", "History",
    "Given", "Expires", "Verify now", "Sign a checkpoint", "Verification runs", "Checkpoints",
    "Signed", "Entry", "When", "Member", "Store", "Opened", "Arrived", "Flags", "Outcome",
    "Unusual patterns", "Nothing unusual", "Reported", "Margin", "Record the outcome",
    "False match", "Not a false match", "Save outcome", "What you found", "Consent lasts",
    "Templates kept", "Days left", "Why", "Last contact", "Credential", "Revoke", "valid",
    "Entrance sign", "DPIA reference", "Recognition mode", "Member zone", "Expected false",
    "Gallery version", "Print the entrance sign", "Take this store live", "Go live", "Left",
    "Width", "Height", "Min. face", "I have seen", "door camera", "check-in spot",
    "membership pass", "Pause recognition", "confirmed", "waiting", "device", "erased member",
    "ago", "never", " by ", "Consents given", "Arrivals per day", "Incident rate",
    "non-members", "per 1,000", "door mode allows", "profile", "card", "was refused access",
    "no visit on record", "within one hour",
)  # fmt: skip


@pytest.fixture(params=["nl", "en"])
def language(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def settings(settings: ServerSettings, language: str) -> ServerSettings:
    return settings.model_copy(
        update={
            "privacy_contact": "privacy@winkel.example",
            "controller_name": "Winkel Retail B.V.",
            "staff_language": language,
        }
    )


@pytest.fixture
def world(runtime: Runtime, store: StoreFixture) -> World:
    add_history(runtime, store)
    return build_world(runtime, store)


@pytest.fixture
def live(live: ServerThread, world: World) -> ServerThread:
    """The shared live server (tests/server/conftest.py), with the console's world in it."""
    return live


def words_on(page: Any) -> str:
    """What the officer reads: the text of the page as written (before CSS upper-cases a
    heading), the labels of inputs and buttons, placeholders, and the words a button asks to
    confirm or shows when done; an audit entry's details included, the Art. 30 record's body
    not (see ``ENGLISH_LABELS``)."""
    text = page.evaluate(
        """() => {
          const parts = [document.title];
          const walk = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT, {
            acceptNode: (n) => n.parentElement.closest("script, style, #ropa")
              ? NodeFilter.FILTER_REJECT : NodeFilter.FILTER_ACCEPT });
          while (walk.nextNode()) parts.push(walk.currentNode.nodeValue);
          for (const e of document.querySelectorAll("[placeholder], [aria-label], [title], " +
               "[data-confirm], [data-done]"))
            for (const a of ["placeholder", "aria-label", "title", "data-confirm", "data-done"])
              if (e.getAttribute(a) && !e.closest("#ropa")) parts.push(e.getAttribute(a));
          return parts.join("\\n");
        }"""
    )
    return str(text)


def test_every_console_page_speaks_the_stores_staff_language(
    browser: Any, live: ServerThread, language: str, screenshot_dir: Path
) -> None:
    dutch = language == "nl"
    page = browser.new_context(viewport=WIDE).new_page()
    page.goto(f"{live.base_url}/console")
    page.wait_for_selector("#login")
    assert page.locator("html").get_attribute("lang") == language
    assert ("Aanmelden" if dutch else "Sign in") in page.inner_text("#login h2")
    # a wrong password: the one message, in the officer's language, on the same page
    page.fill("#username", "officer")
    page.fill("#password", "not the password")
    page.click("#login button[type=submit]")
    page.wait_for_function("() => document.getElementById('login-error').textContent !== ''")
    assert page.inner_text("#login-error") == (
        "Onjuiste gebruikersnaam of wachtwoord." if dutch else "Wrong username or password."
    )
    seen = {"login": words_on(page)}
    page.screenshot(path=str(screenshot_dir / f"i16-console-{language}-login.png"))
    assert_accessible(page, f"console-{language}-login")

    sign_in(page, live.base_url)
    for path, (dutch_words, english_words) in PAGES.items():
        page.goto(f"{live.base_url}{path}")
        page.wait_for_selector("nav.side")
        assert page.locator("html").get_attribute("lang") == language
        shown = words_on(page)
        for words in dutch_words if dutch else english_words:
            assert words in shown, (path, words)
        seen[path] = shown
        if path == "/console/access":  # each (longer Dutch) header on one line, in its cell
            broken = page.eval_on_selector_all(
                "#access th",
                """ths => ths.filter(th => { const r = document.createRange();
                  r.selectNodeContents(th);
                  return r.getClientRects().length > 1 || th.scrollWidth > th.clientWidth + 1;
                }).map(th => th.textContent)""",
            )
            assert broken == [], broken
        name = f"console-{language}" + path.removeprefix("/console").replace("/", "-")
        page.screenshot(path=str(screenshot_dir / f"i16-{name}.png"), full_page=True)
        assert_accessible(page, name)
    # one member's consent record, with its history
    page.goto(f"{live.base_url}/console/consents")
    page.locator("table a[href^='/console/consents/']").first.click()
    page.wait_for_selector("#timeline")
    shown = words_on(page)
    assert ("Toestemming gegeven" if dutch else "Consent given") in shown
    seen["consent"] = shown
    page.screenshot(
        path=str(screenshot_dir / f"i16-console-{language}-consent.png"), full_page=True
    )
    assert_accessible(page, f"console-{language}-consent")

    if dutch:
        left = {where: [w for w in ENGLISH_LABELS if w in text] for where, text in seen.items()}
        assert not any(left.values()), {k: v for k, v in left.items() if v}
