"""Cross-site request forgery and cross-site WebSocket hijacking (privacy invariant 15): a
signed-in staff member's cookie does not let another page change anything or open the tablet's
socket. Each refusal is a 403 and, when a session cookie came with it, an ``access.denied``
entry naming whose session it was. (The same from a page on another port in chromium:
``test_csrf_browser.py``.)"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from starlette.websockets import WebSocketDisconnect

from server.db.audit import AuditEntry
from server.runtime import Runtime
from server.security import BrowserGuard, origin_of
from tests.server.conftest import StoreFixture, sign_in

OWN = "http://testserver"  # the test client's address: the origin of the app's own pages
FOREIGN = ["http://evil.example", "http://testserver:8080", "https://testserver", "null"]


def denials(rt: Runtime, what: str) -> list[AuditEntry]:
    with rt.sessions() as s:
        rows = list(
            s.scalars(
                select(AuditEntry)
                .where(AuditEntry.kind == "access.denied")
                .order_by(AuditEntry.seq)
            )
        )
    return [r for r in rows if r.data.get("what") == what]


@pytest.mark.parametrize("origin", FOREIGN)
def test_a_change_from_a_foreign_origin_is_refused_and_audited(
    client: TestClient, runtime: Runtime, store: StoreFixture, origin: str
) -> None:
    sign_in(client, "sales")
    r = client.post("/api/v1/visits/1/greeted", headers={"Origin": origin, "X-Vertrouwd": "1"})
    assert r.status_code == 403, r.text
    assert "refused" in r.json()["detail"]
    [entry] = denials(runtime, "origin")
    assert entry.actor == "staff:sales"
    assert entry.data["path"] == "POST /api/v1/visits/1/greeted"
    assert entry.data["origin"] == origin
    assert entry.data["role"] == "sales"
    # The refused request never reached the route: no "visit" denial was written.
    assert denials(runtime, "visit") == []


@pytest.mark.parametrize("site", ["same-site", "cross-site"])
def test_fetch_metadata_from_another_site_is_refused(
    client: TestClient, runtime: Runtime, store: StoreFixture, site: str
) -> None:
    sign_in(client, "sales")
    r = client.post("/api/v1/visits/1/greeted", headers={"Sec-Fetch-Site": site})
    assert r.status_code == 403
    # A cookie-carrying read by another site's script (not a navigation) is refused too.
    r = client.get(
        "/api/v1/visits/live", headers={"Sec-Fetch-Site": site, "Sec-Fetch-Mode": "cors"}
    )
    assert r.status_code == 403
    assert len(denials(runtime, "origin")) == 2
    # A link from elsewhere that opens a page is a navigation: the page opens.
    r = client.get("/tablet", headers={"Sec-Fetch-Site": site, "Sec-Fetch-Mode": "navigate"})
    assert r.status_code == 200


def test_own_pages_need_the_header_tools_do_not(
    client: TestClient, runtime: Runtime, store: StoreFixture
) -> None:
    sign_in(client, "sales")
    # A browser request from the app's own origin without the scripts' header: refused.
    r = client.post("/api/v1/visits/1/greeted", headers={"Origin": OWN})
    assert r.status_code == 403
    assert "x-vertrouwd" in r.json()["detail"]
    # With it, the request reaches the route (no such live visit: an audited 404).
    r = client.post(
        "/api/v1/visits/1/greeted",
        headers={"Origin": OWN, "Sec-Fetch-Site": "same-origin", "X-Vertrouwd": "1"},
    )
    assert r.status_code == 404
    # A tool (no Origin, no Sec-Fetch-Site) is not a browser a page could drive.
    assert client.post("/api/v1/visits/1/greeted").status_code == 404
    assert len(denials(runtime, "visit")) == 2
    assert len(denials(runtime, "origin")) == 1


def test_a_form_submitted_from_an_own_page_passes_without_the_header(
    client: TestClient, runtime: Runtime, store: StoreFixture
) -> None:
    """The register posts its receipt form (a top-level navigation, which cannot carry a
    header); the browser marks it same-origin. The same form from a sibling origin is refused."""
    sign_in(client, "sales")
    own_form = {"Origin": OWN, "Sec-Fetch-Site": "same-origin", "Sec-Fetch-Mode": "navigate"}
    r = client.post("/api/v1/visits/1/greeted", headers=own_form)
    assert r.status_code == 404  # reached the route: no such live visit
    for origin, site in (("http://testserver:8080", "same-site"), (OWN, "same-site")):
        headers = {**own_form, "Origin": origin, "Sec-Fetch-Site": site}
        assert client.post("/api/v1/visits/1/greeted", headers=headers).status_code == 403
    # A same-origin fetch (not a navigation) still needs the scripts' header.
    headers = {**own_form, "Sec-Fetch-Mode": "cors"}
    assert client.post("/api/v1/visits/1/greeted", headers=headers).status_code == 403
    assert len(denials(runtime, "origin")) == 3


def test_sign_in_from_a_foreign_origin_is_refused(
    client: TestClient, runtime: Runtime, store: StoreFixture
) -> None:
    """Login CSRF: another page cannot sign this browser in to an account of its choosing.
    Nobody's session was used, so nothing is audited (an anonymous flood cannot grow the
    chain)."""
    r = client.post(
        "/api/v1/auth/login",
        json={"username": "sales", "password": "correct horse battery"},
        headers={"Origin": "http://evil.example"},
    )
    assert r.status_code == 403
    assert "vt_session" not in r.cookies
    assert denials(runtime, "origin") == []


def test_tablet_socket_from_a_foreign_origin_is_refused(
    client: TestClient, runtime: Runtime, store: StoreFixture
) -> None:
    sign_in(client, "sales")
    for origin in ("http://evil.example", "http://testserver:9999"):
        with (
            pytest.raises(WebSocketDisconnect) as refused,
            client.websocket_connect("/ws/tablet", headers={"Origin": origin}),
        ):
            pass
        assert refused.value.code == 4403
    entries = denials(runtime, "origin")
    assert [e.data["path"] for e in entries] == ["WEBSOCKET /ws/tablet"] * 2
    assert {e.actor for e in entries} == {"staff:sales"}
    # The app's own page still gets its cards.
    with client.websocket_connect("/ws/tablet", headers={"Origin": OWN}) as ws:
        assert ws.receive_json()["type"] == "hello"


def _echo_app(*, own_host: bool) -> FastAPI:
    app = FastAPI()

    @app.post("/change")
    def change() -> dict[str, Any]:
        return {"ok": True}

    app.add_middleware(
        BrowserGuard,
        public_url="https://shop.example",
        trusted_origins=["https://tills.shop.example:8443"],
        own_host=own_host,
    )
    return app


def test_production_admits_only_the_configured_origins() -> None:
    strict = TestClient(_echo_app(own_host=False), base_url="https://internal:9000")
    headers = {"X-Vertrouwd": "1"}
    for origin, expected in (
        ("https://shop.example", 200),
        ("https://shop.example:443", 200),
        ("https://tills.shop.example:8443", 200),
        ("https://internal:9000", 403),  # the address the request reached is not enough
        ("http://shop.example", 403),
        ("https://shop.example.evil.example", 403),
    ):
        r = strict.post("/change", headers={**headers, "Origin": origin})
        assert r.status_code == expected, origin
    relaxed = TestClient(_echo_app(own_host=True), base_url="https://internal:9000")
    assert relaxed.post(
        "/change", headers={**headers, "Origin": "https://internal:9000"}
    ).is_success


def test_origin_normalisation() -> None:
    assert origin_of("HTTP://Example.COM:80/path?q") == "http://example.com"
    assert origin_of("https://[::1]:8443") == "https://[::1]:8443"
    assert origin_of("null") is None
    assert origin_of("http://x:99999") is None
