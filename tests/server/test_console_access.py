"""Only the privacy officer (and an admin) use the console. A salesperson or cashier gets 403 on
EVERY console route and export, found by walking the app's routes (a route added later is
covered without touching this test), and each attempt is written to the audit log as
``access.denied`` with the route it tried."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from server.app import create_app
from server.db.audit import AuditEntry
from server.db.membership import ConsentRecord
from server.runtime import Runtime
from server.services.console.exports import VIEWS
from server.settings import ServerSettings
from tests.server.conftest import StoreFixture, sign_in
from tests.server.console_world import OFFICER, World, build_world
from tests.server.factories import make_staff

PREFIXES = ("/console", "/api/v1/console")


@pytest.fixture
def world(runtime: Runtime, store: StoreFixture) -> World:
    w = build_world(runtime, store)
    make_staff(runtime, "chief", "admin", None)
    return w


@pytest.fixture
def app_client(settings: ServerSettings, runtime: Runtime, world: World) -> Iterator[TestClient]:
    with TestClient(create_app(settings, runtime=runtime)) as c:
        yield c


def console_requests(client: TestClient, world: World) -> list[tuple[str, str, str]]:
    """(method, url, route path) for every console route; path parameters get real values, and
    the export route is tried for every view."""
    with client.app.state.runtime.sessions() as session:  # type: ignore[attr-defined]
        consent_id = session.scalars(
            select(ConsentRecord.id).where(ConsentRecord.customer_id == world.anna.id)
        ).first()
    values = {
        "consent_id": str(consent_id),
        "incident_id": str(world.incident_id),
        "device_id": world.device_ok,
        "code": "utrecht",
    }
    out = []
    # The OpenAPI schema lists every route of every included router (FastAPI keeps included
    # routers nested, so ``app.routes`` alone would not show them).
    schema = client.app.openapi()  # type: ignore[attr-defined]
    for path, operations in schema["paths"].items():
        if not path.startswith(PREFIXES):
            continue
        for method in sorted(m.upper() for m in operations):
            if "{view}" in path:
                for view in VIEWS:
                    for fmt in ("csv", "json"):
                        url = path.replace("{view}", view) + f"?format={fmt}"
                        out.append((method, url, path))
                continue
            url = re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], path)
            out.append((method, url, path))
    return out


def denials(rt: Runtime) -> list[AuditEntry]:
    with rt.sessions() as session:
        return list(
            session.scalars(
                select(AuditEntry)
                .where(AuditEntry.kind == "access.denied")
                .order_by(AuditEntry.seq)
            )
        )


def test_the_walk_finds_every_kind_of_console_route(app_client: TestClient, world: World) -> None:
    paths = {p for _, _, p in console_requests(app_client, world)}
    for expected in (
        "/console",
        "/console/consents/{consent_id}",
        "/console/audit",
        "/api/v1/console/audit/verify",
        "/api/v1/console/incidents/{incident_id}/outcome",
        "/api/v1/console/devices/{device_id}/revoke",
        "/api/v1/console/stores/{code}/go-live",
        "/api/v1/console/export/{view}",
        "/api/v1/console/ropa.pdf",
        "/api/v1/console/ropa.md",
    ):
        assert expected in paths
    assert len(paths) >= 30
    assert len(console_requests(app_client, world)) >= 50  # exports: every view, both formats


@pytest.mark.parametrize("role", ["sales", "cashier"])
def test_store_staff_get_403_on_every_console_route_and_each_attempt_is_logged(
    app_client: TestClient, runtime: Runtime, world: World, role: str
) -> None:
    sign_in(app_client, role)
    requests = console_requests(app_client, world)
    for method, url, path in requests:
        before = len(denials(runtime))
        r = app_client.request(method, url, json={} if method == "POST" else None)
        assert r.status_code == 403, (role, method, url, r.status_code, r.text[:200])
        # nothing of the console leaks into a refusal
        for secret in ("Anna", "Bram", "Dirk", "DPIA-T-1", world.device_ok):
            assert secret not in r.text, (url, secret)
        if path.startswith("/console"):
            assert "This console is for the privacy officer" in r.text
            assert "recorded in the audit log" in r.text
        else:
            assert "privacy console" in r.json()["detail"]
        after = denials(runtime)
        assert len(after) == before + 1, url
        entry = after[-1]
        assert entry.actor == f"staff:{role}"
        assert entry.data["what"] == "console"
        assert entry.data["role"] == role
        assert entry.data["path"] == f"{method} {url.split('?')[0]}"
    # the refused actions changed nothing
    from server.db.recognition import EdgeDevice, Incident

    with runtime.sessions() as session:
        assert session.get(Incident, world.incident_id).outcome == "open"  # type: ignore[union-attr]
        assert session.get(EdgeDevice, world.device_ok).revoked_at is None  # type: ignore[union-attr]
        from server.db.audit import AuditVerification

        assert session.scalars(select(AuditVerification)).all() == []


@pytest.mark.parametrize("username", [OFFICER, "chief"])
def test_the_officer_and_an_admin_are_let_in(
    app_client: TestClient, runtime: Runtime, world: World, username: str
) -> None:
    sign_in(app_client, username)
    before = len(denials(runtime))
    for method, url, _ in console_requests(app_client, world):
        if method != "GET":
            continue
        r = app_client.get(url)
        assert r.status_code == 200, (url, r.status_code, r.text[:300])
    assert len(denials(runtime)) == before


def test_nobody_signed_in_gets_401_and_no_data(app_client: TestClient, world: World) -> None:
    for method, url, path in console_requests(app_client, world):
        r = app_client.request(method, url, json={} if method == "POST" else None)
        assert r.status_code == 401, url
        assert "Anna" not in r.text
        if path.startswith("/console"):
            assert 'id="login"' in r.text
