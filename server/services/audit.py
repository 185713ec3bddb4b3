"""Appending to and verifying the hash-chained audit log (format: ``consent.audit``).

Signed checkpoints: a session factory configured with :func:`enable_checkpoints` (the server's
runtime does it) signs a checkpoint over every ``every``-th entry, in the same transaction that
appends it; :func:`checkpoint` signs one on demand (``vertrouwd audit checkpoint``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, text
from sqlalchemy.orm import Session, sessionmaker

from consent import audit as chain
from consent.audit_kinds import AuditKind, Payload
from consent.signing import Ed25519PrivateKey, Ed25519PublicKey
from server.db.audit import AuditCheckpoint, AuditEntry

_CHECKPOINTS = "vertrouwd.audit.checkpoints"
_CHAIN_LOCK = text("SELECT pg_advisory_xact_lock(:key)")
_CHAIN_LOCK_KEY = 0x5654_6175_6469_7401  # "VTaudit" + 1: this database's audit chain head


@dataclass(frozen=True)
class _CheckpointPolicy:
    signing_key: Ed25519PrivateKey
    every: int


def enable_checkpoints(
    sessions: sessionmaker[Session], *, signing_key: Ed25519PrivateKey, every: int
) -> None:
    """Sessions from ``sessions`` sign a checkpoint whenever an entry's seq is a multiple of
    ``every``."""
    if every < 1:
        raise ValueError("checkpoint interval must be at least 1")
    info = dict(sessions.kw.get("info") or {})
    info[_CHECKPOINTS] = _CheckpointPolicy(signing_key, every)
    sessions.configure(info=info)


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


def lock_chain(session: Session) -> None:
    """Take this transaction's turn on the audit chain now (until it ends; taking it again is
    free). A transaction that will append and also update other shared rows takes it first, so
    every such transaction locks in the same order (chain, then rows) and none deadlocks."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(_CHAIN_LOCK, {"key": _CHAIN_LOCK_KEY})


def append(
    session: Session, payload: Payload, *, actor: str, subject: str | None, at: datetime
) -> AuditEntry:
    """Append one entry in the caller's transaction: its kind is the payload's
    (``consent.audit_kinds``: one payload class a kind), its data ``payload.as_data()``.

    Appenders take turns on the chain's head until their transaction ends: on PostgreSQL a
    transaction-scoped advisory lock, taken before the head is read, so the read (a new
    statement, a new snapshot) sees the entry the previous holder committed. (``SELECT … FOR
    UPDATE`` of the last row is not enough there: a waiter gets that same row back once the
    holder commits, not the holder's new entry, and computes the same ``seq``.) SQLite
    serialises writers anyway (``BEGIN IMMEDIATE``). The unique ``seq``/``hash`` still make any
    lost race fail loudly instead of forking the chain."""
    lock_chain(session)
    last = session.scalar(select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(1))
    record = chain.next_record(
        _as_record(last) if last is not None else None,
        kind=AuditKind(payload.KIND).value,
        actor=actor,
        subject=subject,
        data=payload.as_data(),
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
    policy = session.info.get(_CHECKPOINTS)
    if isinstance(policy, _CheckpointPolicy) and record.seq % policy.every == 0:
        _sign(session, record, policy.signing_key, at=record.at)
    return row


def _sign(
    session: Session, record: chain.AuditRecord, signing_key: Ed25519PrivateKey, *, at: datetime
) -> AuditCheckpoint:
    cp = chain.sign_checkpoint(record, signing_key, at)
    row = AuditCheckpoint(seq=cp.seq, hash=cp.hash, at=cp.at, signature=cp.signature)
    session.add(row)
    session.flush()
    return row


def checkpoint(
    session: Session, *, signing_key: Ed25519PrivateKey, now: datetime
) -> AuditCheckpoint | None:
    """Sign a checkpoint over the latest entry (None when the log is empty). The latest entry
    is re-verified first, so a checkpoint never vouches for an entry that no longer matches its
    hash; an entry that already has a checkpoint keeps the one it has."""
    last = session.scalar(
        select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(1).with_for_update()
    )
    if last is None:
        return None
    existing = session.get(AuditCheckpoint, last.seq)
    if existing is not None:
        return existing
    record = _as_record(last)
    if record.expected_hash() != record.hash:
        raise ValueError(f"audit entry {record.seq} does not match its hash; run audit verify")
    return _sign(session, record, signing_key, at=now)


def verify(session: Session, public_key: Ed25519PublicKey | None = None) -> chain.VerifyResult:
    records = [_as_record(r) for r in session.scalars(select(AuditEntry).order_by(AuditEntry.seq))]
    checkpoints = [
        chain.Checkpoint(seq=c.seq, hash=c.hash, at=c.at, signature=c.signature)
        for c in session.scalars(select(AuditCheckpoint).order_by(AuditCheckpoint.seq))
    ]
    return chain.verify_chain(records, checkpoints=checkpoints, public_key=public_key)
