"""The command line runs a command the way the console and the register do (issue 17: the CLI's
go-live and enrolment had drifted from the API's): the same service call with the same
``ServiceContext``, so with Redis configured the running servers' devices hear of a CLI go-live
and a CLI enrolment at once, as they do of the console's. Real Redis on loopback (``make test``
starts it), the real CLI entry point, real SQLite or PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest

from server.cli import main as cli
from server.db.membership import Customer
from server.db.stores import Store
from server.realtime import device_channel
from server.runtime import Runtime
from tests.server.conftest import StoreFixture
from tests.server.notices import REDIS_URL, gallery_notice, redis_client

# one process at a time on the shared Redis (SHARED in tests/conftest.py)
pytestmark = pytest.mark.faces


def _version(runtime: Runtime, store_id: int) -> int:
    with runtime.sessions() as s:
        row = s.get(Store, store_id)
        assert row is not None
        return row.gallery_version


def test_cli_go_live_and_enrolment_tell_the_devices_like_the_console(
    runtime: Runtime,
    store: StoreFixture,
    faces: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    client = redis_client()
    base = [
        "--data-dir", str(runtime.settings.data_dir),
        "--database-url", runtime.settings.resolved_database_url,
    ]  # fmt: skip
    pubsub = client.pubsub()
    pubsub.subscribe(device_channel(store.id))
    try:
        assert pubsub.get_message(timeout=5) is not None  # the subscription is live
        monkeypatch.setenv("VERTROUWD_REDIS_URL", REDIS_URL)
        monkeypatch.setenv("VERTROUWD_CONTROLLER_NAME", "Winkel B.V.")  # go-live needs both
        monkeypatch.setenv("VERTROUWD_PRIVACY_CONTACT", "privacy@winkel.example")
        before = _version(runtime, store.id)
        # The store code as typed, in capitals: looked up as the console looks it up.
        go_live = ["store", "go-live", store.code.upper(), *base, "--dpia", "DPIA-CLI-1"]
        go_live += ["--signage-confirmed", "--mode", "checkin"]
        assert cli(go_live) == 0
        assert "is live in checkin mode" in capsys.readouterr().out
        live = _version(runtime, store.id)
        assert live > before
        assert gallery_notice(pubsub, live) == {"type": "gallery", "version": live}

        photo = str(faces / "people" / "lin_manuel_miranda" / "img1.png")
        enrol = ["enrol", photo, "--name", "Lin Manuel Miranda", "--store", store.code, *base]
        assert cli([*enrol, "--consent-confirmed"]) == 0
        assert "self-service link: " in capsys.readouterr().out
        with runtime.sessions() as s:
            assert s.query(Customer).count() == 1
        enrolled = _version(runtime, store.id)
        assert enrolled > live
        # Before issue 17 a CLI enrolment published no notice: devices saw it at their poll.
        assert gallery_notice(pubsub, enrolled) == {"type": "gallery", "version": enrolled}
    finally:
        pubsub.close()
        client.close()
