"""Privacy invariant 7 on the tablet side: staff see only members recognised in their own store,
only while the visit is live; everything else is 403/404, and every such attempt is written to
the audit log as ``access.denied`` (the entry survives the refused request)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from server.db.audit import AuditEntry
from server.db.membership import Customer
from server.runtime import Runtime
from tests.server.conftest import StoreFixture, sign_in
from tests.server.factories import (
    arrival_event,
    device_token,
    make_member,
    make_staff,
    make_store,
    make_visit,
)


def _denials(rt: Runtime) -> list[AuditEntry]:
    with rt.sessions() as session:
        return list(
            session.scalars(
                select(AuditEntry)
                .where(AuditEntry.kind == "access.denied")
                .order_by(AuditEntry.seq)
            )
        )


@dataclass(frozen=True)
class TwoStores:
    b: StoreFixture
    anna: Customer
    bram: Customer
    visit_a: int
    visit_b: int


@pytest.fixture
def two_stores(runtime: Runtime, store: StoreFixture) -> TwoStores:
    """Store A (the fixture's "utrecht", staff "sales") and store B ("amsterdam", "sales-b"),
    each with a member whose visit is live there now."""
    b = make_store(runtime, "amsterdam")
    make_staff(runtime, "sales-b", "sales", b.id)
    make_staff(runtime, "officer", "privacy_officer", None)
    anna = make_member(runtime, "Anna de Vries", stores=["utrecht"])
    bram = make_member(runtime, "Bram Bakker", stores=["amsterdam"])
    return TwoStores(
        b, anna, bram, make_visit(runtime, anna.id, store.id), make_visit(runtime, bram.id, b.id)
    )


def test_a_salesperson_sees_nothing_of_another_store_and_each_attempt_is_logged(
    client: TestClient, runtime: Runtime, store: StoreFixture, two_stores: TwoStores
) -> None:
    visit_a, visit_b, bram = two_stores.visit_a, two_stores.visit_b, two_stores.bram
    sign_in(client, "sales")
    live = client.get("/api/v1/visits/live").json()
    assert [t["visit_id"] for t in live] == [visit_a]  # own store only
    assert client.post(f"/api/v1/visits/{visit_a}/reveal").status_code == 200  # the control

    attempts = [
        ("POST", f"/api/v1/visits/{visit_b}/reveal"),
        ("GET", f"/api/v1/visits/{visit_b}/profile"),
        ("POST", f"/api/v1/visits/{visit_b}/greeted"),
        ("POST", f"/api/v1/visits/{visit_b}/not-this-person"),
        ("GET", f"/api/v1/customers/{bram.id}/profile"),
        ("GET", f"/api/v1/customers/{uuid.uuid4().hex}/profile"),  # someone else's id
        ("GET", "/api/v1/visits/999999/profile"),  # an id that does not exist
    ]
    before = len(_denials(runtime))
    for method, url in attempts:
        r = client.request(method, url)
        assert r.status_code == 404, (url, r.text)
        assert "Bram" not in r.text
    r = client.post(f"/api/v1/visits/{visit_b}/notes", json={"body": "hello"})
    assert r.status_code == 404
    denied = _denials(runtime)[before:]
    assert len(denied) == len(attempts) + 1
    assert {d.actor for d in denied} == {"staff:sales"}
    # a denial names a known customer by pseudonym only, an unknown id not at all
    assert any(d.subject == bram.subject_id for d in denied)
    assert all(bram.id not in str(d.data) for d in denied)

    # ... and store B's card is untouched: its own salesperson still sees and reveals it
    sign_in(client, "sales-b")
    assert [t["visit_id"] for t in client.get("/api/v1/visits/live").json()] == [visit_b]
    card = client.post(f"/api/v1/visits/{visit_b}/reveal").json()
    assert card["preferred_name"] == "Bram"


def test_a_card_is_gone_once_the_visit_is_over(
    client: TestClient, runtime: Runtime, store: StoreFixture
) -> None:
    anna = make_member(runtime, "Anna de Vries", stores=["utrecht"])
    over = make_visit(runtime, anna.id, store.id, ago=timedelta(hours=2))  # live for 30 min
    sign_in(client, "sales")
    assert client.get("/api/v1/visits/live").json() == []
    for method, url in (
        ("POST", f"/api/v1/visits/{over}/reveal"),
        ("GET", f"/api/v1/customers/{anna.id}/profile"),
    ):
        assert client.request(method, url).status_code == 404
    assert len(_denials(runtime)) == 2


def test_other_roles_and_strangers_are_refused(
    client: TestClient, runtime: Runtime, store: StoreFixture, two_stores: TwoStores
) -> None:
    visit_a = two_stores.visit_a
    assert client.get("/api/v1/visits/live").status_code == 401  # not signed in
    assert client.post(f"/api/v1/visits/{visit_a}/reveal").status_code == 401
    sign_in(client, "officer")  # the privacy officer audits; they do not watch the door
    for method, url in (
        ("GET", "/api/v1/visits/live"),
        ("POST", f"/api/v1/visits/{visit_a}/reveal"),
        ("GET", f"/api/v1/visits/{visit_a}/profile"),
    ):
        assert client.request(method, url).status_code == 403
    denied = _denials(runtime)
    assert [d.actor for d in denied] == ["staff:officer"] * 3
    assert all(d.data["role"] == "privacy_officer" for d in denied)


def test_the_tablet_socket_carries_only_its_own_stores_cards(
    client: TestClient, runtime: Runtime, store: StoreFixture, two_stores: TwoStores
) -> None:
    anna, bram = two_stores.anna, two_stores.bram
    token_a = device_token(runtime, client, "utrecht")
    token_b = device_token(runtime, client, "amsterdam")
    sign_in(client, "sales")
    # end the live visits made by the fixture, so the events below open new ones
    assert client.post(f"/api/v1/visits/{two_stores.visit_a}/dismiss").status_code == 200
    with client.websocket_connect("/ws/tablet") as ws:
        assert ws.receive_json()["type"] == "hello"
        # B's arrival first, then A's: if B's card leaked, it would arrive before A's
        for token, member in ((token_b, bram), (token_a, anna)):
            r = client.post(
                "/api/v1/device/events",
                headers={"Authorization": f"Bearer {token}"},
                json={"events": [arrival_event(member.subject_id, event_id=uuid.uuid4().hex)]},
            )
            assert r.status_code == 202, r.text
        first = ws.receive_json()
        assert first["type"] == "arrival"
        assert first["preferred_name"] == "Anna"


def test_a_signed_out_or_idle_tablet_socket_is_closed(
    client: TestClient, runtime: Runtime, store: StoreFixture
) -> None:
    from starlette.websockets import WebSocketDisconnect

    sign_in(client, "sales")
    with client.websocket_connect("/ws/tablet") as ws:
        assert ws.receive_json()["type"] == "hello"
        assert client.post("/api/v1/auth/logout").status_code == 204
        client.cookies.clear()
        ws.send_text("ping")  # the next ping finds the session ended
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
        assert closed.value.code == 4401
    with (
        pytest.raises(WebSocketDisconnect) as refused,
        client.websocket_connect("/ws/tablet") as ws,
    ):
        ws.receive_json()
    assert refused.value.code == 4401


def test_an_unattended_tablet_signs_out_after_the_idle_timeout(
    client: TestClient, runtime: Runtime, store: StoreFixture
) -> None:
    from starlette.websockets import WebSocketDisconnect

    sign_in(client, "sales")
    start = runtime.now()
    with client.websocket_connect("/ws/tablet") as ws:
        assert ws.receive_json()["type"] == "hello"
        # pings while cards come in do not count as use: the session is not refreshed by them
        runtime.clock = lambda: start + timedelta(seconds=runtime.settings.session_idle_s - 5)
        ws.send_text("ping")
        runtime.clock = lambda: start + timedelta(seconds=runtime.settings.session_idle_s + 5)
        ws.send_text("ping")
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
        assert closed.value.code == 4401
    assert client.get("/api/v1/visits/live").status_code == 401


def test_a_salesperson_cannot_reach_the_console(
    client: TestClient, runtime: Runtime, store: StoreFixture
) -> None:
    """The privacy officer's console (``/console`` pages, ``/api/v1/console/...``): a
    salesperson gets 403/404 on every console route there is (and on the canonical ones before
    they exist); a refusal by a route that exists is logged. Routes are read from the OpenAPI
    schema: FastAPI keeps included routers nested, so ``app.routes`` does not list them.
    (``tests/server/test_console_access.py`` checks every route for sales and cashier with real
    path values.)"""
    sign_in(client, "sales")
    paths = client.app.openapi()["paths"]  # type: ignore[attr-defined]
    routes = [
        (method.upper(), path.replace("{", "").replace("}", ""))
        for path, operations in paths.items()
        if path.startswith(("/api/v1/console", "/console"))
        for method in sorted(operations)
    ]
    assert len(routes) >= 20  # the walk sees the console
    canonical = [("GET", "/api/v1/console/incidents"), ("GET", "/api/v1/console/audit")]
    for method, url in [*canonical, *routes]:
        before = len(_denials(runtime))
        r = client.request(method, url)
        assert r.status_code in (403, 404), (method, url, r.status_code)
        if (method, url) in routes and r.status_code == 403:
            assert len(_denials(runtime)) == before + 1, url
