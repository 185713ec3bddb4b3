"""Security headers on every answer (``server.security``): every route the app declares, plus
the tablet pages, error answers and static files, is fetched signed out and signed in as each
role; each answer must forbid framing (CSP ``frame-ancestors 'none'`` and ``X-Frame-Options``),
sniffing and referrer leaks, and every answer outside ``/static`` must be ``no-store`` (live
cards with photos, profiles, searches, the console and the self-service page are personal
data)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from server.runtime import Runtime
from tests.server.conftest import StoreFixture, sign_in
from tests.server.factories import make_member, make_staff, make_visit

# the same on any database: response headers
pytestmark = pytest.mark.db_agnostic

EXTRA = ["/tablet", "/tablet/metrics", "/no/such/page", "/api/v1/no-such-route", "/healthz"]


def check(r: Any, where: str) -> None:
    h = r.headers
    assert h.get("x-content-type-options") == "nosniff", where
    assert h.get("x-frame-options") == "DENY", where
    csp = h.get("content-security-policy", "")
    assert "frame-ancestors 'none'" in csp, where
    assert "object-src 'none'" in csp, where
    assert "unsafe-inline" not in csp, where
    assert h.get("referrer-policy") in ("same-origin", "no-referrer"), where
    path = where.split()[-1]
    if path.startswith("/privacy"):  # the public notice: revalidated, holds nobody's data
        assert h.get("cache-control", "").startswith("no-"), where
    elif not path.startswith("/static/"):
        assert "no-store" in h.get("cache-control", ""), where


@pytest.fixture
def urls(client: TestClient, runtime: Runtime, store: StoreFixture) -> list[str]:
    make_staff(runtime, "officer", "privacy_officer", None)
    anna = make_member(runtime, "Anna de Vries", stores=[store.code])
    visit = make_visit(runtime, anna.id, store.id)
    values = {"customer_id": anna.id, "visit_id": str(visit), "code": store.code}
    app: Any = client.app
    out = []
    for path, operations in app.openapi()["paths"].items():
        if "get" in operations:
            out.append(re.sub(r"{(\w+)}", lambda m: values.get(m.group(1), "1"), path))
    return out + EXTRA + ["/static/console.css", f"/api/v1/customers?q={anna.name}"]


@pytest.mark.parametrize("who", [None, "sales", "cashier", "officer"])
def test_every_answer_has_the_security_headers(
    client: TestClient, urls: list[str], who: str | None
) -> None:
    assert len(urls) > 40
    if who:
        sign_in(client, who)
    for url in urls:
        r = client.get(url, follow_redirects=False)
        assert r.status_code < 500, url
        check(r, f"{who} GET {url}")
    # A refused change and a body that fails validation get them too.
    check(client.post("/api/v1/enrolments", data={}), "POST /api/v1/enrolments")
    check(client.post("/api/v1/auth/login", json={}), "POST /api/v1/auth/login")


def test_the_tablet_may_run_only_its_own_inline_code(
    client: TestClient, store: StoreFixture
) -> None:
    """The tablet pages keep their inline script and style, admitted by a fresh nonce per
    answer; anything injected without it does not run."""
    nonces = set()
    for path in ("/tablet", "/tablet/metrics", "/tablet"):
        r = client.get(path)
        assert r.status_code == 200
        nonce = re.search(r"'nonce-([^']+)'", r.headers["content-security-policy"])
        assert nonce is not None
        nonces.add(nonce.group(1))
        tags = re.findall(r"<(script|style)([^>]*)>", r.text)
        inline = [attrs for _tag, attrs in tags if "src=" not in attrs]
        assert inline, path
        assert all(f'nonce="{nonce.group(1)}"' in attrs for attrs in inline), path
    assert len(nonces) == 3
