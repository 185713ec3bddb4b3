"""What a Dutch privacy officer reads beyond the console's labels (issue 16), with
``VERTROUWD_STAFF_LANGUAGE=nl`` and, for contrast, ``en``: the Art. 30 record (page, Markdown
and a real PDF read back with poppler), why the audit chain failed verification, an audit
entry's details (keys and the fixed words the services write), the charts' tooltips, and the
not-found and refusal pages. Against the world the real services write
(``tests/server/console_world.py``) and a chain edited behind the application's back."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from dataclasses import fields
from datetime import date, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from consent.audit import VERIFY_REASONS, read_reason
from consent.audit_kinds import PAYLOADS
from server.api.console.common import denial_words
from server.api.console_text import CONSOLE_TEXT
from server.app import create_app
from server.runtime import Runtime
from server.security import BrowserGuard
from server.services.console import charts
from server.services.console.ropa_text import ROPA_TEXT
from server.settings import ServerSettings
from tests.server.conftest import StoreFixture, sign_in
from tests.server.console_world import OFFICER, World, build_world
from tests.server.factories import make_staff
from tests.server.test_privacy_page import poppler

API = "/api/v1/console"

# The Art. 30 record's section headings, in each language.
SECTIONS = {
    "nl": [
        "1. Verwerkingsverantwoordelijke",
        "2. Doeleinden en rechtsgrond",
        "3. Geldende toestemmingsteksten",
        "4. Categorieën betrokkenen",
        "5. Categorieën persoonsgegevens (leden)",
        "6. Bewaartermijnen (termijnen voor wissen)",
        "7. Ontvangers",
        "8. Doorgifte naar derde landen",
        "9. Technische en organisatorische maatregelen (art. 32)",
        "10. Winkels, herkenningsvormen, DPIA-referenties en ledenzones",
    ],
    "en": [
        "1. Controller",
        "2. Purposes and legal basis",
        "3. Consent texts in force",
        "4. Categories of data subjects",
        "5. Categories of personal data (members)",
        "6. Retention (time limits for erasure)",
        "7. Recipients",
        "8. Transfers to third countries",
        "9. Technical and organisational measures (Art. 32)",
        "10. Stores, recognition modes, DPIA references and member zones",
    ],
}
# English sentences of the record's body that must not be left on the Dutch record.
ENGLISH_BODY = (
    "Controller", "Privacy officer", "Legal basis", "members who opted in", "explicit consent",
    "Biometric data", "months, unless", "years after", "No member data is sold", "Processors:",
    "None. Face models", "Encryption at rest", "last verified", "Member zone", "of the frame",
    "faces from", "with an active consent", "Generated from the live configuration",
    "engineering record", "not configured", "in-store recognition", "Erasure reaches",
)  # fmt: skip


@pytest.fixture(params=["nl", "en"])
def language(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def settings(settings: ServerSettings, language: str) -> ServerSettings:
    return settings.model_copy(
        update={
            "controller_name": "Winkel B.V.",
            "privacy_contact": None,  # unset: the record says so, in the officer's language
            "processors": ["Hoster B.V. (servers in Amsterdam, NL)"],
            "staff_language": language,
        }
    )


@pytest.fixture
def world(runtime: Runtime, store: StoreFixture) -> World:
    return build_world(runtime, store)


@pytest.fixture
def officer(settings: ServerSettings, runtime: Runtime, world: World) -> Iterator[TestClient]:
    with TestClient(create_app(settings, runtime=runtime)) as c:
        sign_in(c, OFFICER)
        yield c


def flat(text_: str) -> str:
    return " ".join(text_.split())


def test_the_art30_record_is_in_the_staff_language(
    officer: TestClient, language: str, tmp_path: Path
) -> None:
    assert officer.post(f"{API}/audit/verify").json()["ok"] is True
    dutch = language == "nl"
    md = officer.get(f"{API}/ropa.md").text
    page = officer.get("/console/ropa").text
    for heading in SECTIONS[language]:
        assert f"## {heading}\n" in md, heading
        assert f"<h3>{heading}</h3>" in page, heading
    assert "Winkel B.V." in md  # data as it is
    assert "Hoster B.V. (servers in Amsterdam, NL)" in md
    # every table with a member's data is described (a new table shows that it is not)
    assert ROPA_TEXT[language]["no_description"] not in md
    if dutch:
        assert md.startswith("# Register van verwerkingsactiviteiten (AVG art. 30)\n")
        assert "Privacyfunctionaris: niet ingesteld" in md
        assert "| Privacyfunctionaris (contact) | niet ingesteld (stel " in md
        assert "AVG art. 9 lid 2 onder a: uitdrukkelijke toestemming" in md
        assert "| face_templates | Biometrische gegevens (art. 9) |" in md
        assert ": intact" in md
        assert "| Utrecht (utrecht) | aan | door | DPIA-T-1 |" in md
        assert "Verwerkers: Hoster B.V. (servers in Amsterdam, NL)." in md
        left = [w for w in ENGLISH_BODY if w in md]
        assert left == [], left
        # the page shows the same record: no English sentence of the body on it either
        body = page[page.index('id="ropa"') :]
        left = [w for w in ENGLISH_BODY if w in body]
        assert left == [], left
    else:
        assert md.startswith("# Record of processing activities (GDPR Art. 30)\n")
        assert "Privacy officer: not configured" in md

    pdf = tmp_path / "ropa.pdf"
    pdf.write_bytes(officer.get(f"{API}/ropa.pdf").content)
    info = subprocess.run(
        [poppler("pdfinfo"), str(pdf)], capture_output=True, check=True
    ).stdout.decode()
    title = next(line for line in info.splitlines() if line.startswith("Title:"))
    words = flat(
        subprocess.run(
            [poppler("pdftotext"), str(pdf), "-"], capture_output=True, check=True
        ).stdout.decode()
    )
    assert SECTIONS[language][-1] in words
    if dutch:
        assert title.endswith("Register van verwerkingsactiviteiten (AVG art. 30)")
        assert "AVG ARTIKEL 30" in words
        assert "gemaakt uit de actuele configuratie op" in words
        assert "pagina 2" in words
        left = [w for w in ENGLISH_BODY if w in words]
        assert left == [], left
    else:
        assert "page 2" in words


def test_why_the_chain_failed_is_said_in_the_staff_language(
    officer: TestClient, runtime: Runtime, language: str
) -> None:
    dutch = language == "nl"
    with runtime.engine.begin() as conn:
        conn.execute(text("UPDATE audit_log SET actor = 'staff:mallory' WHERE seq = 5"))
    bad = officer.post(f"{API}/audit/verify").json()
    # the run keeps the verifier's sentence (the JSON and exports say it as stored) ...
    assert bad["reason"] == VERIFY_REASONS["hash"]
    # ... and the pages say it in the officer's words
    page = officer.get("/console/audit").text
    overview = officer.get("/console").text
    said = (
        "de hash van de regel klopt niet met wat erin staat"
        if dutch
        else "record hash does not match its contents"
    )
    assert (f"Verbroken op regel 5: {said}." if dutch else f"Broken at entry 5: {said}.") in page
    assert f"#5: {said}</td>" in page
    assert said in overview
    if dutch:
        assert VERIFY_REASONS["hash"] not in page + overview
    # the changed entry's data, with Dutch labels for its keys; the raw JSON under "as stored"
    entry = page[page.index('id="bad-entry"') :]
    assert ("Zoals opgeslagen (JSON)" if dutch else "As stored (JSON)") in entry

    # the edited entry deleted instead: a sequence break, with its numbers
    with runtime.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_log WHERE seq = 5"))
    officer.post(f"{API}/audit/verify")
    page = officer.get("/console/audit").text
    assert (
        "volgorde onderbroken: regel 5 verwacht, regel 6 gevonden"
        if dutch
        else "sequence break: expected record 5, found 6"
    ) in page


def test_every_verification_reason_reads_back_with_its_numbers() -> None:
    numbers = {"expected": 7, "found": 9, "last": 12, "covered": 20}
    for code, sentence in VERIFY_REASONS.items():
        said = sentence.format(**numbers)
        known = read_reason(said)
        assert known is not None, code
        assert known[0] == code
        assert CONSOLE_TEXT["nl"][f"chain_reason:{code}"].format(**known[1]) != said
    assert read_reason("something an older version wrote") is None
    assert read_reason(None) is None


def test_every_audit_key_has_a_dutch_label() -> None:
    stored = {cls.KEYS.get(f.name, f.name) for cls in PAYLOADS.values() for f in fields(cls)} | {
        "source"
    }
    missing = sorted(k for k in stored if f"field:{k}" not in CONSOLE_TEXT["nl"])
    assert missing == []


def test_an_entrys_details_are_labelled_in_the_staff_language(
    officer: TestClient, world: World, language: str
) -> None:
    dutch = language == "nl"
    rows = officer.get(f"{API}/consents", params={"customer": "Anna", "status": "renewed"}).json()
    page = officer.get(f"/console/consents/{rows[0]['consent_id']}").text
    timeline = page[page.index('id="timeline"') :]
    details = re.findall(
        r'<span data-key="(\w+)"><span class="muted">([^<]*):</span> ([^<]*)</span>', timeline
    )
    shown = {(key, label, value) for key, label, value in details}
    labels = {key: label for key, label, _ in shown}
    if dutch:
        assert labels["consent_id"] == "toestemmingsrecord"
        assert labels["channel"] == "kanaal"
        assert labels["source"] == "bron"
        assert ("channel", "kanaal", "kassa") in shown  # the register, in Dutch
        assert ("source", "bron", "toestemmingsrecord") in shown
        assert all(label == CONSOLE_TEXT["nl"][f"field:{key}"] for key, label, _ in shown)
        # the tablet's browser and device named as stored, the words between in Dutch
        assert any(re.fullmatch(r"\w+ op \w+ #[0-9a-f]{6}", v) for k, _, v in shown if k == "agent")
    else:
        assert labels["consent_id"] == "consent id"
        assert ("channel", "channel", "register") in shown
        assert ("source", "source", "consent record") in shown
    # data stays as it is: the consent record's id
    assert any(v == rows[0]["consent_id"] for k, _, v in shown if k == "consent_id")


def test_chart_tooltips_days_and_numbers_are_in_the_staff_language(
    officer: TestClient, language: str
) -> None:
    page = officer.get("/console").text
    tips = re.findall(r"<title>([^<]*)</title></(?:rect|circle)>", page)
    assert tips, "no tooltip on any bar or point"
    months = "jan|feb|mrt|apr|mei|jun|jul|aug|sep|okt|nov|dec"
    if language == "nl":
        assert any(re.fullmatch(rf"\d+ ({months}): 5 toestemmingen gegeven", t) for t in tips)
        assert any(re.fullmatch(rf"\d+ ({months}): 2 binnenkomsten", t) for t in tips)
        assert any(
            re.fullmatch(rf"\d+ ({months}): 50% van de binnenkomsten gemeld als .*", t)
            for t in tips
        )
        english = ("given", "ended", "arrivals", "active", "reports", "Nov", "Dec", "Mar")
        assert [t for t in tips if any(w in t for w in english)] == []
    else:
        assert any(re.fullmatch(r"\d+ [A-Z][a-z]{2}: 5 consents given", t) for t in tips)


def test_the_not_found_and_refusal_pages_are_in_the_staff_language(
    officer: TestClient, settings: ServerSettings, runtime: Runtime, world: World, language: str
) -> None:
    dutch = language == "nl"
    missing = officer.get("/console/consents/nope")
    assert missing.status_code == 404
    assert (
        "Dit toestemmingsrecord bestaat niet" if dutch else "There is no such consent record"
    ) in missing.text
    make_staff(runtime, "seller", "sales", world.store.id)
    with TestClient(create_app(settings, runtime=runtime)) as c:
        sign_in(c, "seller")
        refused = c.get("/console")
    assert refused.status_code == 403
    said = refused.text[refused.text.index('id="forbidden"') :]
    if dutch:
        assert "Meld u aan als privacyfunctionaris of beheerder" in said
        assert "may not" not in said
        assert "sign in as" not in said
    else:
        assert "Sign in as a privacy officer or an administrator" in said


def test_a_charts_value_axis_says_each_tick_exactly_in_the_staff_language() -> None:
    days = [date(2026, 3, 1) + timedelta(days=i) for i in range(3)]
    rate = [charts.Series("rate", [0.0, 0.0, 0.0], "#b3261e", "line", "{day}: {value}")]
    dutch = str(charts.chart(days, rate, title="t", description="d", unit="%", language="nl"))
    ticks = re.findall(r'text-anchor="end"[^>]*>([^<]*)</text>', dutch)
    assert ticks == ["0%", "0,25%", "0,5%", "0,75%", "1%"]  # not 0,2% and 0,8%
    assert "<title>1 mrt: 0%</title>" in dutch
    english = str(charts.chart(days, rate, title="t", description="d", unit="%"))
    assert re.findall(r'text-anchor="end"[^>]*>([^<]*)</text>', english)[1] == "0.25%"
    assert "<title>1 Mar: 0%</title>" in english


def test_the_access_log_names_the_tablet_in_the_staff_language(
    officer: TestClient, language: str
) -> None:
    page = officer.get("/console/access").text
    cells = re.findall(r'<td data-label="[^"]*">([^<]* #[0-9a-f]{6}[^<]*)</td>', page)
    assert cells, "no opening from a tablet in the world"
    pattern = (
        r"\w+ op \w+ #[0-9a-f]{6} · sessie [0-9a-f]{8}"
        if language == "nl"
        else r"\w+ on \w+ #[0-9a-f]{6} · session [0-9a-f]{8}"
    )
    assert all(re.fullmatch(pattern, c) for c in cells), cells


def test_no_template_reads_a_word_that_is_a_dict_method() -> None:
    """``t.clear`` in a template is ``dict.clear``, not the word "clear": the consent log's
    button read "<built-in method clear of dict object at 0x…>". A word whose key is a dict
    method is read as ``t["clear"]``."""
    templates = Path(__file__).resolve().parents[2] / "server" / "templates"
    methods = "|".join(name for name in dir(dict) if not name.startswith("_"))
    found = [
        f"{path.name}: {m.group(0)}"
        for path in sorted(templates.glob("*.html"))
        for m in re.finditer(rf"\bt\.({methods})\b(?!\()", path.read_text(encoding="utf-8"))
    ]
    assert found == []


def test_the_consent_logs_clear_button_says_its_word(officer: TestClient, language: str) -> None:
    page = officer.get("/console/consents").text
    word = "Wissen" if language == "nl" else "Clear"
    assert f'<a class="button secondary" href="/console/consents">{word}</a>' in page
    assert "built-in method" not in page


def _refusals() -> list[str]:
    """What the origin guard itself writes as an ``access.denied`` reason, for requests a
    browser on another site could make (``BrowserGuard.refusal``, the real code)."""
    guard = BrowserGuard(
        lambda scope, receive, send: None,  # type: ignore[arg-type,return-value]
        public_url="https://shop.example",
        trusted_origins=(),
    )
    cookie = ("cookie", "vt_session=abc")
    cases = [
        ("websocket", "GET", [("origin", "https://evil.example")]),
        ("websocket", "GET", [("sec-fetch-site", "cross-site"), cookie]),
        ("http", "GET", [("sec-fetch-site", "cross-site"), ("sec-fetch-mode", "cors"), cookie]),
        ("http", "POST", [("origin", "https://evil.example")]),
        ("http", "POST", [("sec-fetch-site", "same-site")]),
    ]
    said = []
    for kind, method, headers in cases:
        scope = {"type": kind, "method": method, "path": "/x", "headers": [],
                 "server": ("shop.example", 443), "scheme": "https"}  # fmt: skip
        reason = guard.refusal(scope, dict(headers))
        assert reason is not None, (kind, method, headers)
        said.append(reason)
    return said


def test_every_refusal_the_origin_guard_writes_is_said_in_dutch() -> None:
    nl, en = CONSOLE_TEXT["nl"], CONSOLE_TEXT["en"]
    for stored in _refusals():
        dutch = denial_words(nl, stored)
        assert dutch != stored, stored
        assert dutch.startswith("een "), dutch
        assert denial_words(en, stored) == stored


@pytest.mark.parametrize(
    ("stored", "dutch"),
    [
        (
            "a cross-site POST that is not a navigation",
            "een POST-verzoek van een andere site dat geen navigatie is",
        ),
        ("a WebSocket from a foreign origin", "een WebSocket van een vreemde herkomst (origin)"),
        ("a same-site request", "een verzoek van een andere pagina op hetzelfde domein"),
        ("withdrawal", "intrekking"),  # a fixed word, as before
        ("anything else", "anything else"),  # shown as stored
    ],
)
def test_every_refusal_sentence_reads_back(stored: str, dutch: str) -> None:
    assert denial_words(CONSOLE_TEXT["nl"], stored) == dutch
    assert denial_words(CONSOLE_TEXT["en"], stored) == stored
