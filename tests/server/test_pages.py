"""Page routes without a browser: who may print a receipt, privacy headers, no external assets,
consent text rendering, and the translations."""

from __future__ import annotations

import re
import string

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from consent.records import LANGUAGES, current_consent_text
from server.api.page_text import TEXT
from server.db.audit import AuditEntry
from server.db.membership import Customer
from server.db.session import transaction
from server.runtime import Runtime
from server.services.ids import new_id, new_subject_id
from server.services.membership.consent_view import markdown_subset_html
from server.services.recognition import devices
from server.services.staff import accounts as staff
from tests.server.conftest import PASSWORD, StoreFixture, sign_in

# the same on any database: page rendering and words
pytestmark = pytest.mark.db_agnostic


def add_customer(rt: Runtime, store_id: int, name: str = "Anna de Vries") -> str:
    with transaction(rt.sessions) as session:
        c = Customer(
            id=new_id(),
            subject_id=new_subject_id(),
            name=name,
            preferred_name=name.split()[0],
            language="nl",
            home_store_id=store_id,
            created_at=rt.now(),
            last_interaction_at=rt.now(),
        )
        session.add(c)
        return c.id


def audit_kinds(rt: Runtime) -> list[str]:
    with rt.sessions() as s:
        return list(s.scalars(select(AuditEntry.kind).order_by(AuditEntry.seq)))


def test_every_language_has_the_same_words_and_placeholders() -> None:
    assert set(TEXT) == set(LANGUAGES)
    reference = TEXT["en"]
    fields = string.Formatter()
    for lang, words in TEXT.items():
        assert set(words) == set(reference), lang
        for key, value in words.items():
            assert value.strip(), (lang, key)
            names = {f[1] for f in fields.parse(value) if f[1]}
            assert names == {f[1] for f in fields.parse(reference[key]) if f[1]}, (lang, key)


def test_consent_markdown_is_escaped_and_rendered() -> None:
    html = str(
        markdown_subset_html("## Title <b>\n\nA **bold** <script>x</script>\n- one\n  two\n- 3")
    )
    assert "<h3>Title &lt;b&gt;</h3>" in html
    assert "<strong>bold</strong>" in html
    assert "<script>" not in html
    assert "&lt;script&gt;" in html
    assert "<ul><li>one two</li><li>3</li></ul>" in html


def test_register_page_shows_both_texts_with_proof_and_no_external_assets(
    client: TestClient,
) -> None:
    r = client.get("/register")
    assert r.status_code == 200
    assert "script-src 'self'" in r.headers["content-security-policy"]
    for lang in LANGUAGES:
        text = current_consent_text(lang)
        assert text.title in r.text
        assert f'data-sha256="{text.sha256}"' in r.text
        assert text.sha256[:12] in r.text
    refs = re.findall(r'(?:src|href)="([^"]+)"', r.text)
    assert refs
    assert all(ref.startswith("/") for ref in refs), refs
    assert "<script>" not in r.text  # no inline script (the CSP would refuse it)
    for asset in ("/static/register.js", "/static/vertrouwd.css"):
        assert client.get(asset).status_code == 200


def test_receipt_only_for_the_customers_store(
    client: TestClient, runtime: Runtime, store: StoreFixture
) -> None:
    cid = add_customer(runtime, store.id)
    r = client.get(f"/register/receipt/{cid}", follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == "/register"

    with transaction(runtime.sessions) as session:
        other = devices.create_store(session, code="gouda", name="Gouda", now=runtime.now())
        staff.create_staff(
            session, username="kassa-gouda", password=PASSWORD, role="cashier", store_id=other.id
        )
    sign_in(client, "kassa-gouda")
    r = client.get(f"/register/receipt/{cid}")
    assert r.status_code == 403
    assert "Anna" not in r.text
    assert "/me/" not in r.text
    r = client.get("/register/receipt/nonexistent")
    assert r.status_code == 404
    assert audit_kinds(runtime)[-2:] == ["access.denied", "access.denied"]

    # The home store's cashier, but not right after enrolling her: no link is minted, the page
    # offers only an explicit re-issue (tests/server/test_selfservice_links.py).
    sign_in(client, "cashier")
    r = client.get(f"/register/receipt/{cid}")
    assert r.status_code == 200
    assert r.headers["cache-control"] == "no-store"
    assert r.headers["referrer-policy"] == "no-referrer"
    assert "/me/" not in r.text
    assert f'data-url="/api/v1/customers/{cid}/self-service-link"' in r.text
    assert "selfservice.link_issued" not in audit_kinds(runtime)


def test_self_service_page_headers_and_bad_links(
    client: TestClient, runtime: Runtime, store: StoreFixture
) -> None:
    from tests.server.members import new_link

    cid = add_customer(runtime, store.id)
    token = new_link(runtime, cid)
    r = client.get(f"/me/{token}")
    assert r.status_code == 200
    for header, value in (
        ("cache-control", "no-store"),
        ("referrer-policy", "no-referrer"),
        ("x-robots-tag", "noindex, nofollow"),
    ):
        assert r.headers[header] == value
    assert "Anna de Vries" in r.text
    assert 'data-state="held"' in r.text

    tampered = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    for bad in (tampered, "x", token[:20], token + "A", "A" * 300):
        r = client.get(f"/me/{bad}")
        assert r.status_code == 401
        assert 'data-state="invalid"' in r.text
        assert "Anna" not in r.text
