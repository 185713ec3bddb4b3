"""The record of processing activities (GDPR Art. 30) is generated from the live configuration:
change a setting, a store's DPIA or a processor and the record changes with it. Markdown and a
real PDF (read back with poppler's pdftotext)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from consent.records import LEGAL_BASIS, PROCESSING, PURPOSE, current_consent_text
from server.app import create_app
from server.db.models import customer_tables
from server.runtime import Runtime
from server.settings import ServerSettings
from tests.server.conftest import StoreFixture, sign_in
from tests.server.factories import make_staff
from tests.server.test_privacy_page import poppler

# the same on any database: the record rendered from the configuration
pytestmark = pytest.mark.db_agnostic

API = "/api/v1/console"


@pytest.fixture
def settings(settings: ServerSettings) -> ServerSettings:
    return settings.model_copy(
        update={
            "privacy_contact": "fg@winkel.example",
            "controller_name": "Winkel B.V.",
            "processors": ["Hoster B.V. (servers in Amsterdam, NL)"],
            "consent_months": 6,
            "retention_years": 2,
            "gallery_kem": "mlkem768-x25519",
        }
    )


@pytest.fixture
def officer(
    settings: ServerSettings, runtime: Runtime, store: StoreFixture
) -> Iterator[TestClient]:
    make_staff(runtime, "officer", "privacy_officer", None)
    with TestClient(create_app(settings, runtime=runtime)) as c:
        sign_in(c, "officer")
        yield c


def test_the_markdown_record_is_built_from_the_live_configuration(officer: TestClient) -> None:
    assert officer.post(f"{API}/audit/verify").json()["ok"] is True
    r = officer.get(f"{API}/ropa.md")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/markdown")
    assert "attachment" in r.headers["content-disposition"]
    md = r.text
    assert md.startswith("# Record of processing activities (GDPR Art. 30)")
    assert "Winkel B.V." in md
    assert "fg@winkel.example" in md
    assert PURPOSE[1:] in md
    assert LEGAL_BASIS in md
    for operation in PROCESSING:
        assert f"- {operation}" in md
    for lang in ("nl", "en"):
        assert current_consent_text(lang).sha256 in md
    for table in customer_tables():  # every table with member data is listed
        assert f"| {table} |" in md
    assert "| face_templates | Biometric data (Art. 9) |" in md
    assert "6 months, unless the member renews it" in md
    assert "at most 2 years after the member's last interaction" in md
    assert "Processors: Hoster B.V. (servers in Amsterdam, NL)." in md
    assert "## 8. Transfers to third countries\n\nNone." in md
    assert "ML-KEM-768 + X25519" in md
    assert ": intact" in md  # the last verification
    assert "| Utrecht (utrecht) | on | door | DPIA-T-1 |" in md  # the store fixture's go-live


def test_the_record_follows_a_change_of_configuration(
    settings: ServerSettings, runtime: Runtime, store: StoreFixture
) -> None:
    make_staff(runtime, "officer", "privacy_officer", None)
    other = settings.model_copy(update={"processors": [], "consent_months": 12})
    runtime.settings = other
    with TestClient(create_app(other, runtime=runtime)) as c:
        sign_in(c, "officer")
        md = c.get(f"{API}/ropa.md").text
    assert "Processors: none configured." in md
    assert "12 months, unless the member renews it" in md


def test_the_pdf_record_is_a_real_pdf_with_the_purpose(officer: TestClient, tmp_path: Path) -> None:
    r = officer.get(f"{API}/ropa.pdf")
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/pdf"
    assert r.content.startswith(b"%PDF-")
    pdf = tmp_path / "ropa.pdf"
    pdf.write_bytes(r.content)
    info = subprocess.run(
        [poppler("pdfinfo"), str(pdf)], capture_output=True, check=True
    ).stdout.decode()
    fields = {
        k.strip(): v.strip() for k, _, v in (line.partition(":") for line in info.splitlines())
    }
    assert fields["Title"] == "Record of processing activities (GDPR Art. 30)"
    assert "(A4)" in fields["Page size"]
    assert int(fields["Pages"]) >= 2
    text = subprocess.run(
        [poppler("pdftotext"), str(pdf), "-"], capture_output=True, check=True
    ).stdout.decode()
    flat = " ".join(text.split())
    assert "Record of processing activities" in flat
    assert "In-store recognition and personalised service" in flat
    assert "Hoster B.V." in flat
    assert "10. Stores, recognition modes, DPIA references and member zones" in flat
