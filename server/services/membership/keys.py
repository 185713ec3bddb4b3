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
from server.db.models import CustomerKey
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


def rewrap_all(
    sessions: sessionmaker[Session], *, kek: KeyProvider, batch_size: int
) -> tuple[int, int, int]:
    """Re-wrap every data key not under the current KEK; (re-wrapped, batches, failed).

    Walks the key table in customer-id order, ``batch_size`` rows per transaction, so each
    transaction is short and concurrent withdrawals or enrolments wait at most one batch."""
    if batch_size < 1:
        raise ValueError("batch size must be at least 1")
    current = kek.key_id
    after = ""
    rewrapped = batches = failed = 0
    while True:
        with transaction(sessions) as session:
            rows = list(
                session.scalars(
                    select(CustomerKey)
                    .where(CustomerKey.kek_id != current, CustomerKey.customer_id > after)
                    .order_by(CustomerKey.customer_id)
                    .limit(batch_size)
                    .with_for_update()
                )
            )
            if not rows:
                break
            for row in rows:
                try:
                    row.wrapped_dek = rewrap(kek, row.wrapped_dek, context=row.customer_id.encode())
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


def rotate(
    sessions: sessionmaker[Session],
    *,
    kek: KeyProvider,
    actor: str,
    batch_size: int,
    clock: Callable[[], datetime],
) -> RotationReport:
    """``kek.rotate()``, :func:`rewrap_all`, and one ``key.rotated`` audit entry (key ids and
    counts only, never key material)."""
    previous = kek.key_id
    key_id = kek.rotate()
    rewrapped, batches, failed = rewrap_all(sessions, kek=kek, batch_size=batch_size)
    with transaction(sessions) as session:
        remaining = int(
            session.scalar(
                select(func.count()).select_from(CustomerKey).where(CustomerKey.kek_id != key_id)
            )
            or 0
        )
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
            at=clock(),
        )
    return RotationReport(previous, key_id, rewrapped, batches, failed, remaining)
