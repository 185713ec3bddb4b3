"""`vertrouwd devices list|revoke`: store IT can see and revoke device credentials."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from server.cli import main
from server.db.audit import AuditEntry
from server.db.recognition import EdgeDevice
from server.db.session import transaction
from server.db.stores import Store
from server.runtime import Runtime
from server.services.recognition import devices
from server.settings import ServerSettings
from tests.server.conftest import StoreFixture
from tests.server.factories import device_token


def test_revoke_from_the_command_line(
    client: TestClient,
    runtime: Runtime,
    settings: ServerSettings,
    store: StoreFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    token = device_token(runtime, client, store.code, name="door-left")
    with runtime.sessions() as s:
        device_id = s.scalars(select(EdgeDevice.id)).one()
    args = ["--data-dir", str(settings.data_dir)]
    if settings.database_url:
        args += ["--database-url", settings.database_url]
    assert main(["devices", "list", *args]) == 0
    listed = capsys.readouterr().out
    assert device_id in listed
    assert "door-left" in listed
    assert "active" in listed

    assert main(["devices", "revoke", device_id, *args]) == 0
    r = client.get("/api/v1/device/gallery", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 401
    with runtime.sessions() as s:
        assert s.scalars(select(AuditEntry.kind).where(AuditEntry.kind == "device.revoked")).all()
    assert main(["devices", "revoke", "no-such-device", *args]) == 2


def test_enrolment_codes_never_start_with_a_dash(runtime: Runtime, store: StoreFixture) -> None:
    """A code is typed after ``--enrol-code``: argparse would read a leading "-" as an option."""
    with transaction(runtime.sessions) as session:
        s = session.get(Store, store.id)
        assert s is not None
        codes = [
            devices.create_enrolment_code(session, store=s, now=runtime.now()) for _ in range(400)
        ]
    assert not [c for c in codes if c.startswith("-")]
    assert len(set(codes)) == 400
