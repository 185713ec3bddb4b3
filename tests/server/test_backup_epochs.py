"""Backup epochs (issue 18): the KEK changes every ``key_rotation_days``, an old KEK is destroyed
``backup_retention_days`` after it stopped being current (never while a live data key is still
wrapped under it), and the resulting promise is stated on /privacy, in the Art. 30 record and
per erasure in the console's deletion proofs."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from consent.keys import LocalKeyFileProvider
from server.cli import main
from server.db.membership import Customer, ProfileKey
from server.db.session import transaction
from server.runtime import Runtime
from server.services.membership import epochs, lifecycle, retention
from server.settings import ServerSettings
from tests.server.conftest import StoreFixture, sign_in
from tests.server.factories import make_staff
from tests.server.members import audit_entries
from tests.server.test_keys import cli_args
from tests.server.test_sealed_fields import join


@pytest.fixture
def settings(settings: ServerSettings) -> ServerSettings:
    return settings.model_copy(update={"key_rotation_days": 7, "backup_retention_days": 30})


def test_the_maintenance_pass_rotates_when_due_and_destroys_epochs_past_the_retention(
    runtime: Runtime, store: StoreFixture
) -> None:
    kek = runtime.kek
    assert isinstance(kek, LocalKeyFileProvider)
    member = join(runtime, store, "Eva Epoch", "eva@example.nl", "VT-E")
    first = kek.key_id
    start = runtime.now()
    runtime.clock = lambda: start + timedelta(days=6)  # not due yet
    assert retention.run_epochs(runtime).rotated_to is None
    # Due: a new epoch, and every live data key (template and profile key) re-wrapped under it.
    runtime.clock = lambda: start + timedelta(days=7, minutes=1)
    report = retention.run_epochs(runtime)
    second = report.rotated_to
    assert second is not None
    assert second == kek.key_id != first
    assert report.rewrapped == 2
    assert [e.key_id for e in kek.epochs()] == [first, second]
    assert kek.epochs()[0].retired_at == start + timedelta(days=7, minutes=1)
    # The old KEK stays for the backup retention (a backup of day 6 needs it) ...
    runtime.clock = lambda: start + timedelta(days=7 + 29)
    report = retention.run_epochs(runtime)
    assert report.destroyed == []
    assert report.rotated_to is not None  # (the second epoch was due by now: a third one)
    # ... then it is destroyed for good: gone from the keyring file, audited by key id only.
    runtime.clock = lambda: start + timedelta(days=7 + 30, minutes=2)
    report = retention.run_epochs(runtime)
    assert report.destroyed == [first]
    assert report.rotated_to is None
    assert first not in LocalKeyFileProvider(runtime.settings.resolved_kek_path).key_ids
    (entry,) = audit_entries(runtime, "key.epoch_destroyed")
    assert entry["data"]["key_id"] == first
    assert entry["data"]["retention_days"] == 30
    with runtime.sessions() as session:  # the live customer still opens
        customer = session.get(Customer, member)
        assert customer is not None
        assert customer.name == "Eva Epoch"


def test_an_epoch_that_still_wraps_a_live_key_is_rewrapped_before_it_is_destroyed(
    runtime: Runtime, store: StoreFixture
) -> None:
    member = join(runtime, store, "Lies Laat", "lies@example.nl", "VT-L")
    old = runtime.kek.key_id
    runtime.kek.rotate()  # a new epoch, but nothing re-wrapped (a rotation that stopped)
    later = runtime.now() + timedelta(days=31)
    report = epochs.run(
        runtime.sessions, kek=runtime.kek, settings=runtime.settings, actor="t", now=later,
        rotate=False,
    )  # fmt: skip
    assert report.destroyed == [old]
    with runtime.sessions() as session:
        assert session.scalars(select(ProfileKey.kek_id)).all() == [runtime.kek.key_id]
        customer = session.get(Customer, member)
        assert customer is not None
        assert customer.email == "lies@example.nl"


def test_the_promise_is_on_privacy_in_the_record_and_dated_per_erasure(
    client: TestClient, runtime: Runtime, settings: ServerSettings, store: StoreFixture,
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    en = client.get("/privacy", params={"lang": "en"}).text
    assert "Erasure reaches every backup within 37 days" in en
    assert "changes every 7 days and is destroyed 30 days after" in en
    assert "Wissen bereikt elke back-up binnen 37 dagen" in client.get("/privacy").text
    make_staff(runtime, "officer", "privacy_officer", None)
    sign_in(client, "officer")
    md = client.get("/api/v1/console/ropa.md").text
    assert "Erasure reaches every backup within 37 days" in md
    assert "7 + 30 = 37 days" in md
    gone = join(runtime, store, "Gert Gewist", "gert@example.nl", "VT-G")
    erased_at = runtime.now()
    with transaction(runtime.sessions) as session:
        lifecycle.erase(
            session, runtime.context().at(erased_at), customer_id=gone, actor="t", channel="console"
        )
    (proof,) = [p for p in client.get("/api/v1/console/deletions").json() if p["kind"] == "erased"]
    epoch = runtime.kek.epochs()[-1]  # type: ignore[attr-defined]
    assert epoch.created_at is not None
    due = max(epoch.created_at + timedelta(days=7), erased_at) + timedelta(days=30)
    assert proof["backups_unreadable_by"] == due.isoformat()
    page = client.get("/console/deletions").text
    assert "every backup made before this erasure is unreadable" in page
    monkeypatch.setenv("VERTROUWD_KEY_ROTATION_DAYS", "7")  # the CLI reads the environment
    monkeypatch.setenv("VERTROUWD_BACKUP_RETENTION_DAYS", "30")
    assert main(["keys", "epochs", *cli_args(settings)]) == 0
    out = capsys.readouterr().out
    assert f"{runtime.kek.key_id}  since" in out
    assert "within 37 days" in out
