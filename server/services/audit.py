"""Appending to and verifying the hash-chained audit log (format: ``consent.audit``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from consent import audit as chain
from server.db.models import AuditCheckpoint, AuditEntry


def _as_record(row: AuditEntry) -> chain.AuditRecord:
    return chain.AuditRecord(
        seq=row.seq,
        at=row.at,
        kind=row.kind,
        actor=row.actor,
        subject=row.subject,
        data=dict(row.data),
        prev_hash=row.prev_hash,
        hash=row.hash,
    )


def append(
    session: Session,
    *,
    kind: str,
    actor: str,
    subject: str | None,
    data: dict[str, Any],
    at: datetime,
) -> AuditEntry:
    """Append one entry in the caller's transaction. The last row is read ``FOR UPDATE`` so
    concurrent writers on PostgreSQL serialise; SQLite serialises writers anyway, and the
    unique ``seq``/``hash`` make a lost race fail loudly instead of forking the chain."""
    last = session.scalar(
        select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(1).with_for_update()
    )
    record = chain.next_record(
        _as_record(last) if last is not None else None,
        kind=kind,
        actor=actor,
        subject=subject,
        data=data,
        at=at,
    )
    row = AuditEntry(
        seq=record.seq,
        at=record.at,
        kind=record.kind,
        actor=record.actor,
        subject=record.subject,
        data=record.data,
        prev_hash=record.prev_hash,
        hash=record.hash,
    )
    session.add(row)
    session.flush()
    return row


def verify(session: Session, public_key: Any = None) -> chain.VerifyResult:
    records = [_as_record(r) for r in session.scalars(select(AuditEntry).order_by(AuditEntry.seq))]
    checkpoints = [
        chain.Checkpoint(seq=c.seq, hash=c.hash, at=c.at, signature=c.signature)
        for c in session.scalars(select(AuditCheckpoint).order_by(AuditCheckpoint.seq))
    ]
    return chain.verify_chain(records, checkpoints=checkpoints, public_key=public_key)
