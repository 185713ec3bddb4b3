"""``vertrouwd keys rotate``: a new key-encryption key, every data key re-wrapped under it in
batches while the server keeps serving; templates still open; the audit entry holds no key."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from consent.gallery import open_gallery
from consent.keys import LocalKeyFileProvider, wrapped_key_id
from consent.signing import load_public_key, public_key_bytes
from server.cli import main
from server.db.membership import CustomerKey
from server.db.session import transaction
from server.runtime import Runtime
from server.services.membership import keys
from server.services.recognition import gallery
from server.settings import ServerSettings
from tests.server.conftest import StoreFixture
from tests.server.members import audit_entries, enrol_member, register_device

pytestmark = pytest.mark.faces

REPO = Path(__file__).resolve().parents[2]


def cli_args(settings: ServerSettings) -> list[str]:
    args = ["--data-dir", str(settings.data_dir)]
    if settings.database_url:
        args += ["--database-url", settings.database_url]
    return args


def vectors_by_subject(rt: Runtime, kek: LocalKeyFileProvider) -> dict[str, np.ndarray]:
    with rt.sessions() as s:
        return {m.subject_id: m.vectors for m in gallery.member_templates(s, kek=kek, now=rt.now())}


def key_ids(rt: Runtime) -> dict[str, str]:
    with rt.sessions() as s:
        return {
            k.customer_id: wrapped_key_id(k.wrapped_dek)
            for k in s.scalars(select(CustomerKey).order_by(CustomerKey.customer_id))
        }


def test_rotation_rewraps_every_data_key_in_batches_and_the_server_keeps_serving(
    client: TestClient,
    runtime: Runtime,
    settings: ServerSettings,
    store: StoreFixture,
    faces: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    members = [
        enrol_member(runtime, store, faces, who) for who in ("obama", "biden", "rose_leslie")
    ]
    old_id = runtime.kek.key_id
    before = vectors_by_subject(runtime, LocalKeyFileProvider(settings.resolved_kek_path))
    assert set(key_ids(runtime).values()) == {old_id}

    assert main(["keys", "rotate", "--batch", "1", *cli_args(settings)]) == 0
    out = capsys.readouterr().out
    ring = LocalKeyFileProvider(settings.resolved_kek_path)  # what a restarted server loads
    new_id = ring.key_id
    assert new_id != old_id
    assert ring.key_ids == (old_id, new_id)  # the old KEK stays for wraps not yet moved
    # each member has a template key and a profile key (issue 18): six, one per batch
    assert f"{old_id} -> {new_id}; 6 data keys re-wrapped in 6 batches" in out

    # Every data key is now under the new KEK, opens, and opens the same templates.
    assert set(key_ids(runtime).values()) == {new_id}
    with runtime.sessions() as s:
        for row in s.scalars(select(CustomerKey)):
            assert row.kek_id == new_id
            assert len(ring.unwrap(row.wrapped_dek, context=row.customer_id.encode())) == 32

    # The running server (its keyring loaded before the rotation) still seals galleries: it
    # re-reads the keyring when it meets a wrap under a KEK it does not know yet. (Checked
    # before anything else reads through the server's own keyring: opening a member's profile
    # key makes it re-read the keyring as well.)
    assert runtime.kek.key_id == old_id
    device_id, token, device_keys = register_device(client, runtime, store)
    r = client.get("/api/v1/device/gallery", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200, r.text
    opened = open_gallery(
        r.content,
        device_keys=device_keys,
        device_id=device_id,
        server_public_key=load_public_key(public_key_bytes(runtime.signing_key)),
        min_version=0,
        now=runtime.now(),
    )
    assert {e.subject_id for e in opened.payload.entries} == {m.subject_id for m in members}
    after = vectors_by_subject(runtime, ring)
    assert set(after) == {m.subject_id for m in members}
    for subject, vectors in before.items():
        np.testing.assert_array_equal(after[subject], vectors)

    rotated = audit_entries(runtime, "key.rotated")
    assert len(rotated) == 1
    assert rotated[0]["data"] == {
        "key_id": new_id,
        "previous_key_id": old_id,
        "rewrapped": 6,
        "batches": 6,
        "failed": 0,
        "remaining": 0,
    }
    keyring = json.loads(settings.resolved_kek_path.read_bytes())
    for entry in keyring["keys"]:  # no key material in the audit log
        assert entry["key"] not in json.dumps(rotated)


def test_a_data_key_that_no_longer_opens_is_reported_not_lost(
    runtime: Runtime, store: StoreFixture, faces: Path
) -> None:
    good = enrol_member(runtime, store, faces, "obama")
    bad = enrol_member(runtime, store, faces, "biden")
    with transaction(runtime.sessions) as s:
        row = s.get(CustomerKey, bad.customer_id)
        assert row is not None
        row.wrapped_dek = row.wrapped_dek[:-1] + bytes([row.wrapped_dek[-1] ^ 1])
    report = keys.rotate(
        runtime.sessions, kek=runtime.kek, actor="test", batch_size=10, clock=runtime.now
    )
    # the good member's two keys and the bad member's profile key move; the broken one stays
    assert (report.rewrapped, report.failed, report.remaining) == (3, 1, 1)
    ids = key_ids(runtime)
    assert ids[good.customer_id] == report.key_id
    assert ids[bad.customer_id] == report.previous_key_id


def test_a_rotation_killed_between_batches_leaves_every_key_usable_and_resumes(
    runtime: Runtime, settings: ServerSettings, store: StoreFixture, faces: Path
) -> None:
    members = [
        enrol_member(runtime, store, faces, who) for who in ("obama", "biden", "rose_leslie")
    ]
    before = vectors_by_subject(runtime, LocalKeyFileProvider(settings.resolved_kek_path))
    env = {k: v for k, v in os.environ.items() if not k.startswith("VERTROUWD_")}
    env |= {"VERTROUWD_ENVIRONMENT": "test", "VERTROUWD_FAULT": "rotate.after_batch"}
    done = subprocess.run(
        [sys.executable, "-m", "server.cli", "keys", "rotate", "--batch", "1", *cli_args(settings)],
        cwd=REPO,
        env=env,
        capture_output=True,
        timeout=120,
    )
    assert done.returncode == 137, done.stderr.decode()
    ring = LocalKeyFileProvider(settings.resolved_kek_path)
    ids = list(key_ids(runtime).values())
    assert sorted(ids) == sorted([ring.key_id, runtime.kek.key_id, runtime.kek.key_id])
    # Half-rotated: old and new wraps side by side, and every template still opens.
    after = vectors_by_subject(runtime, ring)
    assert set(after) == {m.subject_id for m in members}
    for subject, vectors in before.items():
        np.testing.assert_array_equal(after[subject], vectors)
    # A second run finishes the job (under yet another new KEK).
    report = keys.rotate(runtime.sessions, kek=ring, actor="test", batch_size=2, clock=runtime.now)
    assert (report.rewrapped, report.remaining, report.failed) == (6, 0, 0)  # 3 x 2 keys
    assert set(key_ids(runtime).values()) == {report.key_id}
