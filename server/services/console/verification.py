"""Audit-chain verification for the privacy officer: run it, keep each run, explain a failure.

A run recomputes the whole hash chain and checks every signed checkpoint with the server's
public key (:func:`server.services.audit.verify`); the result is stored in
``audit_verifications`` so "last verified" survives a restart. When the chain is broken, the
first bad entry is shown as it is stored now, with the hash it should have and the link to
the entry before it: enough for the officer to report exactly what was changed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from consent import audit as chain
from consent.signing import Ed25519PrivateKey, Ed25519PublicKey
from server.db.audit import AuditCheckpoint, AuditEntry, AuditVerification
from server.services import audit
from server.services.errors import Conflict


def sign_checkpoint(
    session: Session, *, signing_key: Ed25519PrivateKey, now: datetime
) -> AuditCheckpoint | None:
    """Sign a checkpoint over the latest entry now (``vertrouwd audit checkpoint``): from then
    on, rewriting the log up to that entry is caught even by someone who recomputes every
    hash. Refused (409) when the latest entry no longer matches its hash."""
    try:
        return audit.checkpoint(session, signing_key=signing_key, now=now)
    except ValueError as exc:
        raise Conflict(str(exc)) from None


def run(
    session: Session, *, public_key: Ed25519PublicKey, actor: str, now: datetime
) -> AuditVerification:
    """Verify the chain and its checkpoints now; the run is recorded (in the caller's
    transaction) whatever the outcome."""
    started = time.perf_counter()
    result = audit.verify(session, public_key)
    elapsed_ms = int((time.perf_counter() - started) * 1000)
    entries = int(session.scalar(select(func.count()).select_from(AuditEntry)) or 0)
    row = AuditVerification(
        at=now,
        actor=actor,
        ok=result.ok,
        entries=entries,
        checked=result.checked,
        checkpoints=result.checkpoints_verified,
        first_bad_seq=result.first_bad_seq,
        reason=result.reason,
        duration_ms=elapsed_ms,
    )
    session.add(row)
    session.flush()
    return row


@dataclass(frozen=True)
class BadEntry:
    """The first entry the verifier could not accept, as stored now."""

    seq: int
    present: bool
    at: datetime | None
    kind: str | None
    actor: str | None
    subject: str | None
    data: dict[str, Any] | None
    stored_hash: str | None
    recomputed_hash: str | None
    prev_hash: str | None
    previous_entry_hash: str | None

    @property
    def contents_changed(self) -> bool:
        return self.present and self.stored_hash != self.recomputed_hash

    @property
    def link_broken(self) -> bool:
        return self.present and self.prev_hash != self.previous_entry_hash


def bad_entry(session: Session, seq: int) -> BadEntry:
    row = session.get(AuditEntry, seq)
    previous = session.scalar(
        select(AuditEntry.hash).where(AuditEntry.seq < seq).order_by(AuditEntry.seq.desc())
    )
    expected_prev = previous if previous is not None else chain.GENESIS_HASH
    if row is None:
        return BadEntry(seq, False, None, None, None, None, None, None, None, None, expected_prev)
    try:
        recomputed: str | None = chain.record_hash(
            seq=row.seq,
            at=row.at,
            kind=row.kind,
            actor=row.actor,
            subject=row.subject,
            data=dict(row.data),
            prev_hash=row.prev_hash,
        )
    except (TypeError, ValueError):
        recomputed = None
    return BadEntry(
        seq=row.seq,
        present=True,
        at=row.at,
        kind=row.kind,
        actor=row.actor,
        subject=row.subject,
        data=dict(row.data),
        stored_hash=row.hash,
        recomputed_hash=recomputed,
        prev_hash=row.prev_hash,
        previous_entry_hash=expected_prev,
    )


@dataclass(frozen=True)
class ChainStatus:
    entries: int
    last_entry_at: datetime | None
    last_run: AuditVerification | None
    runs: list[AuditVerification]
    checkpoints: list[AuditCheckpoint]
    checkpoint_count: int
    bad: BadEntry | None
    """the first bad entry of the last run, when it failed"""
    unverified_since: int
    """entries added since the last good run"""


def status(session: Session, *, runs: int = 20, checkpoints: int = 50) -> ChainStatus:
    entries = int(session.scalar(select(func.count()).select_from(AuditEntry)) or 0)
    last_at = session.scalar(select(AuditEntry.at).order_by(AuditEntry.seq.desc()).limit(1))
    recent = list(
        session.scalars(
            select(AuditVerification)
            .order_by(AuditVerification.at.desc(), AuditVerification.id.desc())
            .limit(runs)
        )
    )
    last = recent[0] if recent else None
    bad = (
        bad_entry(session, last.first_bad_seq)
        if last is not None and not last.ok and last.first_bad_seq is not None
        else None
    )
    last_good = next((r for r in recent if r.ok), None)
    return ChainStatus(
        entries=entries,
        last_entry_at=last_at,
        last_run=last,
        runs=recent,
        checkpoints=list(
            session.scalars(
                select(AuditCheckpoint).order_by(AuditCheckpoint.seq.desc()).limit(checkpoints)
            )
        ),
        checkpoint_count=int(
            session.scalar(select(func.count()).select_from(AuditCheckpoint)) or 0
        ),
        bad=bad,
        unverified_since=max(0, entries - (last_good.entries if last_good else 0)),
    )


def run_as_row(run: AuditVerification) -> dict[str, Any]:
    return {
        "id": run.id,
        "at": run.at,
        "actor": run.actor,
        "ok": run.ok,
        "entries": run.entries,
        "checked": run.checked,
        "checkpoints": run.checkpoints,
        "first_bad_seq": run.first_bad_seq,
        "reason": run.reason,
        "duration_ms": run.duration_ms,
    }
