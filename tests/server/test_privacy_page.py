"""The public transparency page ``/privacy`` (no sign-in, Dutch and English, from the live
configuration) and the printable entrance sign with its QR code, read back from the PDF
(poppler's pdftotext and pdftoppm, OpenCV's QR detector)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from server.runtime import Runtime
from server.settings import ServerSettings
from tests.server.conftest import StoreFixture
from tests.server.factories import make_store
from tests.server.live_pages import decode_qr

# the same on any database: the page and the sign rendered from the configuration
pytestmark = pytest.mark.db_agnostic

CONTACT = "privacy@vertrouwd.example"


@pytest.fixture
def settings(settings: ServerSettings) -> ServerSettings:
    return settings.model_copy(
        update={
            "privacy_contact": CONTACT,
            "controller_name": "Vertrouwd Retail B.V.",
            "consent_months": 9,
            "retention_years": 2,
            "gallery_ttl_s": 600,
            "public_url": "https://winkel.example",
        }
    )


def poppler(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        pytest.skip(f"{tool} (poppler-utils) is not installed; .ci/system-deps.sh installs it")
    return path


def pdf_text(pdf: bytes, tmp_path: Path) -> str:
    src = tmp_path / "doc.pdf"
    src.write_bytes(pdf)
    out = subprocess.run(
        [poppler("pdftotext"), "-layout", str(src), "-"], capture_output=True, check=True
    ).stdout.decode()
    return " ".join(out.split())


def pdf_png(pdf: bytes, tmp_path: Path, dpi: int = 110) -> bytes:
    src = tmp_path / "doc.pdf"
    src.write_bytes(pdf)
    subprocess.run(
        [poppler("pdftoppm"), "-png", "-r", str(dpi), "-singlefile", str(src), str(tmp_path / "p")],
        check=True,
    )
    return (tmp_path / "p.png").read_bytes()


def visible_text(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def test_privacy_page_needs_no_sign_in_and_comes_from_the_live_configuration(
    client: TestClient, runtime: Runtime, store: StoreFixture
) -> None:
    make_store(runtime, "amsterdam", live=False)
    r = client.get("/privacy")
    assert r.status_code == 200
    assert "script-src 'self'" in r.headers["content-security-policy"]
    assert "<script" not in r.text
    nl = visible_text(r.text)
    assert '<html lang="nl">' in r.text
    assert "Wat het niet doet" in nl
    assert "Toestemming geldt 9 maanden" in nl
    assert "nooit langer bewaard dan 2 jaar" in nl
    assert "binnen 10 minuten niemand meer" in nl
    assert CONTACT in nl
    assert "Vertrouwd Retail B.V." in nl
    assert "Utrecht" in nl  # live
    assert "Amsterdam" not in nl  # not live: recognition is off there
    assert 'href="/privacy/sign.pdf?store=utrecht&amp;lang=nl"' in r.text

    en = visible_text(client.get("/privacy", params={"lang": "en"}).text)
    assert "What it does not do" in en
    assert "It does not recognise anyone who did not opt in" in en
    assert "Consent lasts 9 months" in en
    assert "never kept longer than 2 years" in en
    assert "How to stop recognition or have your data erased" in en
    # an unknown language falls back to Dutch rather than failing
    assert "Wat het doet" in client.get("/privacy", params={"lang": "xx"}).text


def test_without_a_contact_the_page_says_where_to_ask(
    settings: ServerSettings, runtime: Runtime, store: StoreFixture
) -> None:
    from server.app import create_app

    plain = settings.model_copy(update={"privacy_contact": None})
    with TestClient(create_app(plain, runtime=runtime)) as c:
        runtime.settings = plain
        text = visible_text(c.get("/privacy", params={"lang": "en"}).text)
    assert "ask in the store to speak to our privacy officer" in text
    assert CONTACT not in text


@pytest.mark.parametrize(
    ("lang", "promise", "retention"),
    [
        (
            "en",
            "This camera recognises only members who opted in",
            "not renewed after 9 months, and at the latest 2 years after the last visit",
        ),
        (
            "nl",
            "Deze camera herkent alleen leden die daarvoor kozen",
            "na 9 maanden niet is verlengd, en uiterlijk 2 jaar na het laatste bezoek",
        ),
    ],
)
def test_the_entrance_sign_is_an_a4_pdf_with_the_promise_and_a_qr_code_to_privacy(
    client: TestClient,
    store: StoreFixture,
    tmp_path: Path,
    lang: str,
    promise: str,
    retention: str,
) -> None:
    r = client.get("/privacy/sign.pdf", params={"store": "utrecht", "lang": lang})
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/pdf"
    assert r.content.startswith(b"%PDF-")
    assert b"/MediaBox [ 0 0 595.2756 841.8898 ]" in r.content  # A4 in points
    text = pdf_text(r.content, tmp_path)
    assert promise in text
    assert "Utrecht" in text
    assert CONTACT in text
    assert retention in text
    assert decode_qr(pdf_png(r.content, tmp_path)) == f"https://winkel.example/privacy?lang={lang}"


def test_a_sign_can_be_printed_before_go_live_but_not_for_an_unknown_store(
    client: TestClient, runtime: Runtime, store: StoreFixture
) -> None:
    make_store(runtime, "amsterdam", live=False)
    assert client.get("/privacy/sign.pdf", params={"store": "amsterdam"}).status_code == 200
    r = client.get("/privacy/sign.pdf", params={"store": "nowhere"})
    assert r.status_code == 404
    assert "no store" in r.json()["detail"]
    assert client.get("/privacy/sign.pdf").status_code == 422
