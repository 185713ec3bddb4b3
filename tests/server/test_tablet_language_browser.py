"""The tablet speaks the stores' staff language (issue 16): Dutch for a Dutch store
(``VERTROUWD_STAFF_LANGUAGE=nl``, the default), English with the setting. In a real browser
against the real server: the sign-in form, the empty store, a card before and after "Ja, dit is
…" (its labels, and its sentences: the service item, the question to ask, the suggestions'
reasons), the profile and the metrics view, with ``lang`` on ``<html>``, no English label left
on the Dutch pages, and axe-core on each. Screenshots go to ``test-artifacts/screenshots``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from server.api.tablet_text import TABLET_TEXT
from server.app import create_app
from server.runtime import Runtime
from server.serve import ServerThread
from server.services.clienteling.catalogue import ALLERGEN_KEYS
from server.settings import ServerSettings
from tests.browser import assert_accessible
from tests.server.conftest import PASSWORD, StoreFixture
from tests.server.test_tablet_browser import arrival, device_token, enrol_lin

pytestmark = [pytest.mark.browser, pytest.mark.faces]
_NL = TABLET_TEXT["nl"]

# The tablet's own words in English: none may show on a Dutch tablet. (What the card says about
# the member, such as a suggestion's reason, comes from the services and is not a label.)
ENGLISH_LABELS = (
    "Sign in", "Sign out", "Username", "Password", "Metrics", "No members", "visit",
    "arrived", "Yes, this is", "Not this person", "Dismiss", "Greeted", "Profile", "For today",
    "Suggest", "Last bought", "Likes", "Sizes", "Allergic", "Every suggestion", "first visit",
    "last here", "Close", "Purchases", "Preferences", "Notes", "Save note", "in total",
    "Store metrics", "Back to cards", "Arrivals", "With purchase", "recognised", "days",
    "live", "ready", "ask",
)  # fmt: skip


@pytest.fixture(params=["nl", "en"])
def language(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def settings(settings: ServerSettings, language: str) -> ServerSettings:
    return settings.model_copy(update={"staff_language": language})


@pytest.fixture
def live(settings: ServerSettings, runtime: Runtime) -> Iterator[ServerThread]:
    srv = ServerThread(create_app(settings, runtime=runtime))
    srv.start()
    yield srv
    srv.stop()


def labels(page: Any) -> str:
    """The tablet's own words on screen: headings, buttons, pills, card labels (not the member's
    data, which the services write)."""
    parts = page.locator(
        "header, form#login, #empty, .card .meta, .card .buttons, .card h3, .card .tag, "
        ".card .allergy, .likes-row b, .badge, .drawer .meta, .drawer h3, .drawer button, "
        ".drawer textarea"
    )
    texts = parts.all_text_contents()  # as written, before CSS upper-cases a heading
    placeholders = page.eval_on_selector_all("[placeholder]", "els => els.map(e => e.placeholder)")
    return "\n".join([*texts, *placeholders])


def test_the_tablet_speaks_the_stores_staff_language(
    browser: Any,
    runtime: Runtime,
    store: StoreFixture,
    live: ServerThread,
    language: str,
    faces: Path,
    screenshot_dir: Path,
) -> None:
    dutch = language == "nl"
    _, subject = enrol_lin(runtime, store, faces)
    token = device_token(runtime, live, store)
    page = browser.new_context(viewport={"width": 1180, "height": 820}).new_page()
    page.goto(f"{live.base_url}/tablet")
    page.wait_for_selector("#login-view:not([hidden])")
    assert page.locator("html").get_attribute("lang") == language
    seen = [labels(page)]
    assert ("Aanmelden" if dutch else "Sign in") in seen[-1]
    assert page.get_attribute("input[name=username]", "placeholder") == (
        "Gebruikersnaam" if dutch else "Username"
    )
    page.screenshot(path=str(screenshot_dir / f"i16-tablet-{language}-signed-out.png"))
    assert_accessible(page, f"tablet-{language}-signed-out")

    page.fill("input[name=username]", "sales")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    live_word = "verbonden" if dutch else "live"
    page.wait_for_selector(f"#status:has-text('{live_word}')")
    assert ("Er zijn nu geen leden in de winkel" if dutch else "No members in the store") in (
        page.inner_text("#empty")
    )
    seen.append(labels(page))

    assert arrival(live, token, subject)["accepted"] == 1
    card = page.wait_for_selector("article.card")
    teaser = card.inner_text()
    if dutch:
        assert "e bezoek · binnen om " in teaser, teaser
        for words in ("Ja, dit is Lin", "Niet deze persoon", "Afsluiten"):
            assert words in teaser, words
    else:
        assert " visit · arrived " in teaser, teaser
        assert "Yes, this is Lin" in teaser, teaser
    seen.append(labels(page))
    page.screenshot(path=str(screenshot_dir / f"i16-tablet-{language}-teaser.png"))
    assert_accessible(page, f"tablet-{language}-teaser")

    page.click("article.card [data-action=reveal]")
    page.wait_for_selector("article.card .allergy")
    shown = labels(page)
    if dutch:
        for words in ("Allergisch: ", "Voor vandaag", "Voorstellen", "Laatst gekocht",
                      "Begroet", "Profiel", "laatst hier"):  # fmt: skip
            assert words in shown, words
    else:
        for words in ("Allergic: ", "For today", "Suggest", "Last bought", "Greeted"):
            assert words in shown, words
    seen.append(shown)
    # Lin's allergy is named in the staff language (the canonical key "peanut" is "PINDA")
    banner = page.inner_text("article.card .allergy")
    tablet_words = TABLET_TEXT[language]
    named = [
        k for k in ALLERGEN_KEYS if tablet_words[f"allergen:{k}"].upper() in banner.split(":")[1]
    ]
    assert named, banner
    if dutch:
        english = [k.upper() for k in ALLERGEN_KEYS if _NL[f"allergen:{k}"] != k]
        assert not [w for w in english if w in banner], banner
    # what the card says about Lin is in the staff language too: the service item, the question
    # to ask and each suggestion's reason (the product names are the shop's own)
    card_text = page.inner_text("article.card")
    sentences = (
        "Ask how", "is working out", "usually every", "often bought with", "a best-seller",
        "Refund ready", "Repair of", "in progress", "weeks ago",
    )  # fmt: skip
    if dutch:
        assert "bevalt (gekocht" in card_text, card_text
        assert "Terugbetaling klaar" in card_text, card_text
        assert any(w in card_text for w in ("meestal elke", "vaak gekocht met", "bestseller"))
        assert not [w for w in sentences if w in card_text], card_text
    else:
        assert "is working out (bought" in card_text, card_text
    page.screenshot(path=str(screenshot_dir / f"i16-tablet-{language}-card.png"))
    assert_accessible(page, f"tablet-{language}-card")

    page.click("article.card [data-action=profile]")
    page.wait_for_selector(".drawer:not([hidden]) textarea")
    drawer = labels(page)
    assert ("Notitie opslaan" if dutch else "Save note") in drawer
    assert (" aankopen" if dutch else " purchases") in drawer
    seen.append(drawer)
    page.screenshot(path=str(screenshot_dir / f"i16-tablet-{language}-profile.png"))
    assert_accessible(page, f"tablet-{language}-profile")

    page.goto(f"{live.base_url}/tablet/metrics")
    page.wait_for_selector(".tile")
    assert page.locator("html").get_attribute("lang") == language
    metrics = "\n".join(page.locator("header, main").all_text_contents())
    if dutch:
        for words in ("Winkelcijfers", "Binnenkomsten", "1 lid herkend in 30 dagen",
                      "Terug naar de kaarten", "Met aankoop"):  # fmt: skip
            assert words in metrics, words
    else:
        assert "1 member recognised in 30 days" in metrics
    seen.append(metrics)
    page.screenshot(path=str(screenshot_dir / f"i16-tablet-{language}-metrics.png"))
    assert_accessible(page, f"tablet-{language}-metrics")

    if dutch:
        everything = "\n".join(seen)
        left = [w for w in ENGLISH_LABELS if w in everything]
        assert not left, left
