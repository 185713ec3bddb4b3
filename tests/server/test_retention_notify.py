"""``vertrouwd retention run`` tells the store's devices about the new gallery, as the server's
own retention pass does (both run ``retention.run_once``): with Redis configured, the CLI
process's notice reaches every server process's device sockets. Real Redis on loopback (``make
test`` starts it), real CLI entry point, real SQLite or PostgreSQL."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from server.cli import main as cli
from server.db.membership import ConsentRecord
from server.db.stores import Store
from server.realtime import device_channel
from server.runtime import Runtime
from tests.server.conftest import StoreFixture
from tests.server.members import enrol_member
from tests.server.notices import REDIS_URL, gallery_notice, redis_client

# one process at a time on the shared Redis (SHARED in tests/conftest.py)
pytestmark = pytest.mark.faces


def test_the_cli_retention_pass_notifies_the_devices(
    runtime: Runtime,
    store: StoreFixture,
    faces: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    client = redis_client()
    member = enrol_member(
        runtime, store, faces, now=runtime.now() - timedelta(days=40), consent_months=1
    )
    with runtime.sessions() as s:
        before = s.get(Store, store.id)
        assert before is not None
        version_before = before.gallery_version
    # Another test run may share this Redis: the channel is this store's in this database,
    # and the message must carry this database's new version.
    pubsub = client.pubsub()
    pubsub.subscribe(device_channel(store.id))
    try:
        assert pubsub.get_message(timeout=5) is not None  # the subscription is live
        monkeypatch.setenv("VERTROUWD_REDIS_URL", REDIS_URL)
        base = [
            "--data-dir", str(runtime.settings.data_dir),
            "--database-url", runtime.settings.resolved_database_url,
        ]  # fmt: skip
        assert cli(["retention", "run", *base]) == 0
        assert "1 consents expired" in capsys.readouterr().out
        with runtime.sessions() as s:
            after = s.get(Store, store.id)
            assert after is not None
            record = s.get(ConsentRecord, member.consent_id)
            assert record is not None
            assert record.status == "expired"
            assert after.gallery_version > version_before
            version = after.gallery_version
        assert gallery_notice(pubsub, version) == {"type": "gallery", "version": version}
    finally:
        pubsub.close()
        client.close()
