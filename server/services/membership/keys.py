"""Key rotation without downtime: a new key-encryption key (KEK), then every customer's data key
re-wrapped under it, in batches, each batch its own short transaction.

While it runs the server keeps serving: old KEKs stay in the keyring, so a data key opens whether
it is still under the old KEK or already under the new one, and a server process that meets a
wrap under a KEK it has not loaded yet re-reads the keyring (``LocalKeyFileProvider``). A data
key wrapped under the old KEK by another process during the run is picked up by the next run
(the audit entry says how many remain). Data keys themselves do not change, so no template or
thumbnail is re-encrypted.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from consent.audit_kinds import KeysRotated
from consent.errors import InvalidSeal
from consent.keys import KeyProvider, rewrap
from server import faults
from server.db.membership import CustomerKey, ProfileKey
from server.db.sealed import profile_key_context
from server.db.session import transaction
from server.services import audit

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RotationReport:
    previous_key_id: str
    key_id: str
    rewrapped: int
    batches: int
    failed: int
    remaining: int


_KeyTable = tuple[type[CustomerKey] | type[ProfileKey], Callable[[str], bytes]]


def key_tables() -> tuple[_KeyTable, ...]:
    # the template key and the profile key of each customer, each under its own wrap context
    return (
        (CustomerKey, lambda cid: cid.encode()),
        (ProfileKey, profile_key_context),
    )


def rewrap_all(
    sessions: sessionmaker[Session], *, kek: KeyProvider, batch_size: int
) -> tuple[int, int, int]:
    """Re-wrap every data key (template and profile keys) not under the current KEK;
    (re-wrapped, batches, failed).

    Walks each key table in customer-id order, ``batch_size`` rows per transaction, so each
    transaction is short and concurrent withdrawals or enrolments wait at most one batch."""
    if batch_size < 1:
        raise ValueError("batch size must be at least 1")
    current = kek.key_id
    rewrapped = batches = failed = 0
    for model, context in key_tables():
        after = ""
        while True:
            with transaction(sessions) as session:
                rows: list[CustomerKey | ProfileKey] = list(
                    session.scalars(
                        select(model)
                        .where(model.kek_id != current, model.customer_id > after)
                        .order_by(model.customer_id)
                        .limit(batch_size)
                        .with_for_update()
                    )
                )
                if not rows:
                    break
                for row in rows:
                    try:
                        row.wrapped_dek = rewrap(
                            kek, row.wrapped_dek, context=context(row.customer_id)
                        )
                    except InvalidSeal:
                        failed += 1  # unreadable already: rotation cannot help it; reported
                        log.error("a data key does not open under any KEK; left as it is")
                        continue
                    row.kek_id = current
                    rewrapped += 1
                after = rows[-1].customer_id
                batches += 1
            faults.point("rotate.after_batch")
    return rewrapped, batches, failed


def remaining_under_other_keys(session: Session, key_id: str) -> int:
    """Data keys (both kinds) still wrapped under a KEK other than ``key_id``."""
    return sum(
        int(
            session.scalar(select(func.count()).select_from(model).where(model.kek_id != key_id))
            or 0
        )
        for model, _ in key_tables()
    )


def rotate(
    sessions: sessionmaker[Session],
    *,
    kek: KeyProvider,
    actor: str,
    batch_size: int,
    clock: Callable[[], datetime],
) -> RotationReport:
    """``kek.rotate()``, :func:`rewrap_all`, and one ``key.rotated`` audit entry (key ids and
    counts only, never key material). Also starts a new backup epoch (``epochs``)."""
    previous = kek.key_id
    kek.rotate()
    return record_rotation(
        sessions, kek=kek, previous=previous, actor=actor, batch_size=batch_size, now=clock()
    )


def record_rotation(
    sessions: sessionmaker[Session],
    *,
    kek: KeyProvider,
    previous: str,
    actor: str,
    batch_size: int,
    now: datetime,
) -> RotationReport:
    """After the KEK moved from ``previous`` to ``kek.key_id``: re-wrap and audit it."""
    key_id = kek.key_id
    rewrapped, batches, failed = rewrap_all(sessions, kek=kek, batch_size=batch_size)
    with transaction(sessions) as session:
        remaining = remaining_under_other_keys(session, key_id)
        audit.append(
            session,
            KeysRotated(
                key_id=key_id,
                previous_key_id=previous,
                rewrapped=rewrapped,
                batches=batches,
                failed=failed,
                remaining=remaining,
            ),
            actor=actor,
            subject=None,
            at=now,
        )
    return RotationReport(previous, key_id, rewrapped, batches, failed, remaining)
