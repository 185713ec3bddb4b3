"""Privacy invariant 6: the audit log is tamper-evident. Entries are edited, deleted, reordered
or inserted with raw SQL behind the application's back; ``vertrouwd audit verify`` must exit 1
naming the first bad entry. Signed checkpoints catch a consistently rewritten tail, a forged
signature and truncation."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text

from consent import audit as chain
from consent.audit_kinds import GalleryPublished, PassIssued
from server.cli import main
from server.db.audit import AuditCheckpoint, AuditEntry
from server.db.session import transaction
from server.runtime import Runtime, build_runtime
from server.services import audit
from server.settings import ServerSettings

REPO = Path(__file__).resolve().parents[2]
ENTRIES = 10


@pytest.fixture
def audited(settings: ServerSettings) -> Iterator[Runtime]:
    """A runtime that signs a checkpoint every 4 entries, with 10 entries written."""
    rt = build_runtime(settings.model_copy(update={"audit_checkpoint_every": 4}))
    start = rt.now()
    for i in range(ENTRIES):
        with transaction(rt.sessions) as session:
            entry = (
                PassIssued(reason=f"test {i}")
                if i % 2
                else GalleryPublished(store="utrecht", version=i, reason="test", members=i)
            )
            audit.append(
                session,
                entry,
                actor=f"staff:cashier-{i}",
                subject=f"s_{i:032x}",
                at=start + timedelta(seconds=i),
            )
    yield rt
    rt.close()


def cli_args(settings: ServerSettings) -> list[str]:
    args = ["--data-dir", str(settings.data_dir)]
    if settings.database_url:
        args += ["--database-url", settings.database_url]
    return args


def verify(rt: Runtime, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(["audit", "verify", *cli_args(rt.settings)])
    out = capsys.readouterr()
    return code, out.out + out.err


def raw(rt: Runtime, *statements: str, **params: Any) -> None:
    """SQL straight to the database, as someone with file or superuser access would."""
    with rt.engine.begin() as conn:
        for sql in statements:
            conn.execute(text(sql), params)


def test_intact_log_verifies_with_its_checkpoints(
    audited: Runtime, capsys: pytest.CaptureFixture[str]
) -> None:
    with audited.sessions() as s:
        assert list(s.scalars(select(AuditCheckpoint.seq))) == [4, 8]
    code, out = verify(audited, capsys)
    assert code == 0
    assert f"audit chain OK: {ENTRIES} entries verified, 2 signed checkpoints match" in out


@pytest.mark.parametrize(
    ("case", "first_bad"),
    [("edit", 3), ("delete", 3), ("reorder", 2), ("insert", 3), ("forged-insert", 4)],
)
def test_tampering_with_an_entry_fails_at_that_entry(
    audited: Runtime, capsys: pytest.CaptureFixture[str], case: str, first_bad: int
) -> None:
    if case == "edit":
        raw(audited, "UPDATE audit_log SET actor = 'staff:mallory' WHERE seq = 3")
    elif case == "delete":
        raw(audited, "DELETE FROM audit_log WHERE seq = 3")
    elif case == "reorder":
        raw(
            audited,
            "UPDATE audit_log SET seq = -2 WHERE seq = 2",
            "UPDATE audit_log SET seq = 2 WHERE seq = 3",
            "UPDATE audit_log SET seq = 3 WHERE seq = -2",
        )
    else:
        # Make room at seq 3, then insert an entry copied from entry 2 with another actor.
        with audited.sessions() as s:
            two = s.get(AuditEntry, 2)
            assert two is not None
            forged = chain.record_hash(
                seq=3,
                at=two.at,
                kind=two.kind,
                actor="staff:mallory",
                subject=two.subject,
                data=two.data,
                prev_hash=two.hash,
            )
        raw(
            audited,
            "UPDATE audit_log SET seq = seq + 100000 WHERE seq >= 3",
            "UPDATE audit_log SET seq = seq - 100000 + 1 WHERE seq >= 100000",
            "INSERT INTO audit_log (seq, at, kind, actor, subject, data, prev_hash, hash)"
            " SELECT 3, at, kind, 'staff:mallory', subject, data, hash, :h"
            " FROM audit_log WHERE seq = 2",
            # a careless forger gets the hash wrong; a careful one breaks the next link
            h=forged if case == "forged-insert" else "f" * 64,
        )
    code, out = verify(audited, capsys)
    assert code == 1
    assert f"audit chain BROKEN at entry {first_bad}:" in out


def test_a_consistently_rewritten_tail_is_caught_by_the_signed_checkpoint(
    audited: Runtime, capsys: pytest.CaptureFixture[str]
) -> None:
    """Someone edits entry 6 and recomputes every hash after it: the chain alone is valid
    again, but the checkpoint signed over entry 8 no longer matches."""
    with audited.sessions() as s:
        records = [
            audit._as_record(r) for r in s.scalars(select(AuditEntry).order_by(AuditEntry.seq))
        ]
    prev: chain.AuditRecord | None = records[4]
    rewritten = []
    for r in records[5:]:
        assert prev is not None
        actor = "staff:mallory" if r.seq == 6 else r.actor
        new = chain.next_record(
            prev, kind=r.kind, actor=actor, subject=r.subject, data=r.data, at=r.at
        )
        rewritten.append(new)
        prev = new
    for r in rewritten:
        raw(
            audited,
            "UPDATE audit_log SET actor = :a, prev_hash = :p, hash = :h WHERE seq = :s",
            a=r.actor,
            p=r.prev_hash,
            h=r.hash,
            s=r.seq,
        )
    assert chain.verify_chain([*records[:5], *rewritten]).ok  # the chain alone is fooled
    code, out = verify(audited, capsys)
    assert code == 1
    assert "audit chain BROKEN at entry 8: checkpoint does not match the record" in out


def test_a_tampered_checkpoint_signature_is_caught(
    audited: Runtime, capsys: pytest.CaptureFixture[str]
) -> None:
    with audited.sessions() as s:
        cp = s.get(AuditCheckpoint, 4)
        assert cp is not None
        bad = bytes([cp.signature[0] ^ 0x01]) + cp.signature[1:]
    raw(audited, "UPDATE audit_checkpoints SET signature = :sig WHERE seq = 4", sig=bad)
    code, out = verify(audited, capsys)
    assert code == 1
    assert "audit chain BROKEN at entry 4: checkpoint signature is invalid" in out


def test_truncating_the_log_behind_a_checkpoint_is_caught(
    audited: Runtime, capsys: pytest.CaptureFixture[str]
) -> None:
    raw(audited, "DELETE FROM audit_log WHERE seq >= 8")
    code, out = verify(audited, capsys)
    assert code == 1
    assert "audit chain BROKEN at entry 8" in out
    assert "checkpoint covers record 8" in out


def test_checkpoint_on_demand_signs_the_latest_entry(
    audited: Runtime, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["audit", "checkpoint", *cli_args(audited.settings)]) == 0
    assert f"checkpoint signed over entry {ENTRIES}" in capsys.readouterr().out
    with audited.sessions() as s:
        assert list(s.scalars(select(AuditCheckpoint.seq))) == [4, 8, ENTRIES]
    assert main(["audit", "checkpoint", *cli_args(audited.settings)]) == 0  # idempotent
    with audited.sessions() as s:
        assert list(s.scalars(select(AuditCheckpoint.seq))) == [4, 8, ENTRIES]
    # Now even the last entry cannot be edited unnoticed.
    raw(audited, "UPDATE audit_log SET actor = 'staff:mallory' WHERE seq = :s", s=ENTRIES)
    code, out = verify(audited, capsys)
    assert code == 1
    assert f"audit chain BROKEN at entry {ENTRIES}:" in out


def test_the_command_exits_1_as_a_process(audited: Runtime) -> None:
    raw(
        audited,
        "UPDATE audit_log SET data = (SELECT data FROM audit_log WHERE seq = 1) WHERE seq = 5",
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("VERTROUWD_")}
    env["VERTROUWD_ENVIRONMENT"] = "test"
    done = subprocess.run(
        [sys.executable, "-m", "server.cli", "audit", "verify", *cli_args(audited.settings)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    assert "audit chain BROKEN at entry 5: record hash does not match its contents" in done.stderr


def test_checkpoint_over_an_edited_latest_entry_is_refused_with_the_reason(
    audited: Runtime, capsys: pytest.CaptureFixture[str]
) -> None:
    """The CLI signs through the console's call: a latest entry that no longer matches its hash
    is refused with a reason and exit 2 (it was an uncaught error), and nothing is signed."""
    raw(audited, "UPDATE audit_log SET actor = 'staff:mallory' WHERE seq = :s", s=ENTRIES)
    assert main(["audit", "checkpoint", *cli_args(audited.settings)]) == 2
    assert f"vertrouwd audit: audit entry {ENTRIES} does not match its hash" in (
        capsys.readouterr().err
    )
    with audited.sessions() as s:
        assert list(s.scalars(select(AuditCheckpoint.seq))) == [4, 8]
