"""The recognition mode in public (issue 12): on ``/privacy``, on the printed entrance sign, in
the Art. 30 record, and the AI Act transparency record generated from the live configuration
(Markdown and a real PDF read back with poppler's pdftotext)."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from consent.gallery import MemberZone
from consent.records import CURRENT_PASS_CONSENT_VERSION, current_pass_consent_text
from models.calibration import load_calibration
from server.db.session import transaction
from server.runtime import Runtime
from server.services.errors import NotFound
from server.services.recognition import devices, golive
from tests.server.conftest import StoreFixture, sign_in
from tests.server.factories import make_staff
from tests.server.test_privacy_page import pdf_text, visible_text

# the same on any database: pages and PDFs rendered from the configuration
pytestmark = pytest.mark.db_agnostic

API = "/api/v1/console"


def take_live(rt: Runtime, code: str, mode: str) -> None:
    with transaction(rt.sessions) as session:
        try:
            store = devices.store_by_code(session, code)
        except NotFound:
            store = devices.create_store(session, code=code, name=code.title(), now=rt.now())
        golive.go_live(
            session,
            rt.context(),
            store=store,
            dpia_reference=f"DPIA-{code}",
            signage_confirmed=True,
            zone=MemberZone(0.3, 0.3, 0.4, 0.5, 160),
            mode=mode,
            door_acknowledged=mode == "door",
            actor="staff:officer",
        )


def test_privacy_page_and_the_entrance_sign_say_each_stores_mode(
    client: TestClient, runtime: Runtime, tmp_path: Path
) -> None:
    take_live(runtime, "delft", "pass")
    take_live(runtime, "gouda", "checkin")
    page = client.get("/privacy?lang=en").text
    assert 'data-mode="pass"' in page
    assert 'data-mode="checkin"' in page
    text = visible_text(page)
    assert "members show their membership pass; no face is processed" in text
    assert "step onto the marked check-in spot" in text

    sign = client.get("/privacy/sign.pdf?store=delft&lang=en")
    assert sign.status_code == 200
    words = pdf_text(sign.content, tmp_path)
    assert "Members check in with their pass" in words
    assert "No camera recognises faces in this store" in words
    assert "Face recognition for members only" not in words
    words = pdf_text(client.get("/privacy/sign.pdf?store=gouda&lang=nl").content, tmp_path)
    assert "gemarkeerde aanmeldpunt" in words


def test_the_art30_record_lists_modes_and_the_pass_consent_text(
    client: TestClient, runtime: Runtime, store: StoreFixture
) -> None:
    take_live(runtime, "delft", "pass+face")
    make_staff(runtime, "officer", "privacy_officer", None)
    sign_in(client, "officer")
    md = client.get(f"{API}/ropa.md").text
    assert "| Delft (delft) | on | pass+face | DPIA-delft |" in md
    assert "| Utrecht (utrecht) | on | door | DPIA-T-1 |" in md  # no mode recorded: door
    assert current_pass_consent_text("nl").sha256 in md
    assert CURRENT_PASS_CONSENT_VERSION in md
    assert "| member_passes | Membership pass |" in md


def test_the_ai_act_record_is_generated_from_the_live_configuration(
    client: TestClient, runtime: Runtime, tmp_path: Path
) -> None:
    take_live(runtime, "delft", "door")
    take_live(runtime, "gouda", "pass")
    make_staff(runtime, "officer", "privacy_officer", None)
    sign_in(client, "officer")
    assert client.post(f"{API}/audit/verify").json()["ok"] is True
    r = client.get(f"{API}/aiact.md")
    assert r.status_code == 200, r.text
    assert "vertrouwd-aiact-" in r.headers["content-disposition"]
    md = r.text
    assert md.startswith("# AI Act transparency record")
    assert "| Delft (delft) | on | door | remote biometric identification" in md
    assert "(legal position acknowledged)" in md
    assert "| Gouda (gouda) | on | pass | no biometric processing" in md
    assert "Autoriteit Persoonsgegevens" in md  # a door store: the legal position is repeated
    assert "Two-step reveal" in md
    assert "'Not this person' hides the card" in md
    assert "intact" in md  # the audit chain's last verification
    calibration = load_calibration("dlib_resnet_v1")
    assert f"| Threshold (distance) | {calibration.threshold} |" in md
    assert calibration.dataset in md
    assert f"{runtime.settings.consent_months} months unless renewed" in md

    # switching a store's mode changes the record at once
    take_live(runtime, "delft", "checkin")
    md = client.get(f"{API}/aiact.md").text
    assert "| Delft (delft) | on | checkin | biometric identification 1:N only" in md
    assert "Autoriteit Persoonsgegevens" not in md

    pdf = client.get(f"{API}/aiact.pdf")
    assert pdf.status_code == 200
    assert pdf.content.startswith(b"%PDF")
    words = pdf_text(pdf.content, tmp_path)
    assert "EU AI ACT" in words
    assert "Human oversight" in words
    assert "checkin" in words

    page = client.get("/console/ropa").text
    assert 'href="/api/v1/console/aiact.pdf"' in page


def test_only_officers_get_the_ai_act_record(
    client: TestClient, runtime: Runtime, store: StoreFixture
) -> None:
    sign_in(client, "sales")
    assert client.get(f"{API}/aiact.md").status_code == 403
    assert client.get(f"{API}/aiact.pdf").status_code == 403
