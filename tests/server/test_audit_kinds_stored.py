"""Every entry the services write is of a kind in ``AuditKind`` with its typed payload, read back
exactly as stored, and the chain still verifies (issue 17). Run over the console's world (members
enrolled, renewed, withdrawn, erased, expired by retention; devices registered, acknowledging,
a profile opened, an incident, refusals) plus sign-ins, a go-live, a pause and an export
through the HTTP API, so it covers the appends of many services without a list of them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from consent.audit_kinds import PAYLOADS, AuditKind
from server.app import create_app
from server.db.audit import AuditEntry
from server.runtime import Runtime
from server.services import audit
from server.services.console import views
from server.settings import ServerSettings
from tests.server.conftest import PASSWORD, StoreFixture, sign_in
from tests.server.console_world import OFFICER, World, build_world

API = "/api/v1/console"
ZONE = {"x": 0.2, "y": 0.1, "w": 0.6, "h": 0.8, "min_face_size": 90}


@pytest.fixture
def world(runtime: Runtime, store: StoreFixture) -> World:
    return build_world(runtime, store)


@pytest.fixture
def officer(settings: ServerSettings, runtime: Runtime, world: World) -> Iterator[TestClient]:
    with TestClient(create_app(settings, runtime=runtime)) as c:
        r = c.post("/api/v1/auth/login", json={"username": OFFICER, "password": "wrong " * 3})
        assert r.status_code == 401
        sign_in(c, OFFICER)
        yield c


def test_every_stored_entry_is_a_typed_kind_and_reads_back_as_stored(
    officer: TestClient, runtime: Runtime, world: World
) -> None:
    body = {"signage_confirmed": True, "dpia_reference": "DPIA-7", "zone": ZONE, "mode": "checkin"}
    assert officer.post(f"{API}/stores/amsterdam/go-live", json=body).status_code == 200
    assert officer.post(f"{API}/stores/amsterdam/pause", json={"reason": "test"}).status_code == 200
    assert officer.get(f"{API}/export/access").status_code == 200
    assert officer.get(f"{API}/consents/no-such-consent").status_code == 404
    consent_id = officer.get(f"{API}/consents").json()[0]["consent_id"]
    assert officer.get(f"{API}/consents/{consent_id}").status_code == 200
    assert officer.post(f"{API}/devices/{world.device_late}/revoke").status_code == 200
    outcome = {"outcome": "confirmed", "note": "not her"}
    r = officer.post(f"{API}/incidents/{world.incident_id}/outcome", json=outcome)
    assert r.status_code == 200, r.text
    assert PASSWORD  # the world's accounts sign in with it (sign_in above)

    with runtime.sessions() as session:
        stored = list(session.scalars(select(AuditEntry).order_by(AuditEntry.seq)))
        assert audit.verify(session).ok
    kinds = {e.kind for e in stored}
    unknown = kinds - {k.value for k in AuditKind}
    assert not unknown, unknown
    for entry in stored:
        payload = PAYLOADS[AuditKind(entry.kind)].read(entry.data)
        assert payload.as_data() == entry.data, (entry.kind, entry.data)
        assert views.label(entry.kind) == views.LABELS[AuditKind(entry.kind)]
    # the run reached the appends of most services (enrolment, lifecycle, retention, devices,
    # galleries, tablet, incidents, access control, sign-in, go-live, console)
    assert len(kinds) >= 20, sorted(kinds)


def test_every_kind_has_a_console_label() -> None:
    assert set(views.LABELS) == set(AuditKind)
