"""One access-control path (``server.services.staff.access.deny``), privacy invariant 15: every
route
a signed-in staff member can reach is tried by every role, and every 403 leaves exactly one new
``access.denied`` entry naming who was refused and what. The routes come from the app itself,
so a route added later without an audited refusal fails here."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from starlette.websockets import WebSocketDisconnect

from server.db.audit import AuditEntry
from server.runtime import Runtime
from tests.server.conftest import StoreFixture, sign_in
from tests.server.factories import make_member, make_staff, make_visit

ROLES = ("sales", "cashier", "officer", "admin")
# Routes without a staff session: devices (bearer credential), POS (API key), the customer's
# own link, signing in, and public pages.
NOT_STAFF = re.compile(
    r"^/(api/v1/(device|devices|pos|me|auth)\b|healthz|privacy|static|docs|redoc|openapi)"
)
# Refusals the matrix must meet (so the test cannot pass by refusing nothing).
MUST_REFUSE = {
    ("sales", "POST /api/v1/enrolments"),
    ("sales", "POST /api/v1/enrolments/check-photo"),
    ("officer", "POST /api/v1/enrolments"),
    ("sales", "GET /api/v1/customers"),
    ("sales", "POST /api/v1/customers/{customer_id}/withdraw"),
    ("officer", "GET /api/v1/visits/live"),
    ("officer", "POST /api/v1/visits/{visit_id}/reveal"),
    ("admin", "GET /api/v1/metrics"),
    ("sales", "GET /api/v1/console/overview"),
    ("cashier", "POST /api/v1/console/devices/{device_id}/revoke"),
    ("sales", "GET /console"),
    ("cashier", "GET /console/access"),
}


def denials(rt: Runtime) -> int:
    with rt.sessions() as s:
        return int(
            s.scalar(
                select(func.count())
                .select_from(AuditEntry)
                .where(AuditEntry.kind == "access.denied")
            )
            or 0
        )


def last_denial(rt: Runtime) -> AuditEntry:
    with rt.sessions() as s:
        row = s.scalars(
            select(AuditEntry)
            .where(AuditEntry.kind == "access.denied")
            .order_by(AuditEntry.seq.desc())
            .limit(1)
        ).one()
        s.expunge(row)
        return row


def staff_routes(client: TestClient) -> list[tuple[str, str]]:
    """Every (method, path) the app declares (its OpenAPI schema lists pages too)."""
    app: Any = client.app
    out: list[tuple[str, str]] = []
    for path, operations in app.openapi()["paths"].items():
        if NOT_STAFF.match(path):
            continue
        out.extend((method.upper(), path) for method in operations)
    return sorted(out)


@pytest.fixture
def people(runtime: Runtime, store: StoreFixture) -> dict[str, str]:
    make_staff(runtime, "officer", "privacy_officer", None)
    make_staff(runtime, "admin", "admin", None)
    anna = make_member(runtime, "Anna de Vries", stores=[store.code])
    visit = make_visit(runtime, anna.id, store.id)
    return {
        "customer_id": anna.id,
        "visit_id": str(visit),
        "consent_id": "c0ffee",
        "device_id": "no-such-device",
        "code": store.code,
        "store_code": store.code,
        "incident_id": "1",
        "action": "greeted",
    }


def test_every_refusal_of_every_role_on_every_route_is_audited(
    client: TestClient, runtime: Runtime, store: StoreFixture, people: dict[str, str]
) -> None:
    routes = staff_routes(client)
    assert len(routes) > 40  # the walk found the app's routes
    refused: set[tuple[str, str]] = set()
    for username in ROLES:
        sign_in(client, "cashier" if username == "cashier" else username)
        for method, path in routes:
            url = re.sub(r"{(\w+)(:\w+)?}", lambda m: people.get(m.group(1), "1"), path)
            if path == "/api/v1/customers":
                url += "?q=Anna"
            before = denials(runtime)
            r = client.request(method, url, json={} if method != "GET" else None)
            assert r.status_code < 500, (username, method, path, r.text)
            if r.status_code == 403:
                refused.add((username, f"{method} {path}"))
                assert denials(runtime) == before + 1, (username, method, path)
                entry = last_denial(runtime)
                assert entry.actor == f"staff:{username}"
                assert entry.data["what"]
                assert entry.data["role"] == (
                    "privacy_officer" if username == "officer" else username
                )
    missing = MUST_REFUSE - refused
    assert not missing, missing


def test_a_refused_tablet_socket_is_audited(
    client: TestClient, runtime: Runtime, store: StoreFixture, people: dict[str, str]
) -> None:
    sign_in(client, "officer")
    before = denials(runtime)
    with pytest.raises(WebSocketDisconnect) as refused, client.websocket_connect("/ws/tablet"):
        pass
    assert refused.value.code == 4403
    assert denials(runtime) == before + 1
    entry = last_denial(runtime)
    assert (entry.actor, entry.data["path"]) == ("staff:officer", "WEBSOCKET /ws/tablet")
