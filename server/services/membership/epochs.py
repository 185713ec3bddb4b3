"""Backup epochs: erasure that reaches database backups within a stated number of days.

A backup holds every customer's data keys wrapped under the key-encryption key (KEK) that was
current when it was taken. Deleting a customer's keys from the live database does nothing to
that copy. So KEKs live in epochs: a new KEK every ``key_rotation_days`` (live data keys are
re-wrapped under it, ``keys.rewrap_all``), and a KEK is destroyed ``backup_retention_days``
after it stopped being current, when no backup that could need it is kept any more. The KEK
files live outside the database and must be kept out of its backups (README, operations).

The promise, exactly: a customer erased at time *t* is unreadable in every backup, WAL segment
and dead database row by the time the epoch current at *t* is destroyed: at most
``key_rotation_days + backup_retention_days`` days after *t* (:func:`unreadable_by` gives the
date per erasure from the keyring's real epochs).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import cast

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from consent.audit_kinds import EpochDestroyed
from consent.errors import InvalidSeal
from consent.keys import Epoch, EpochKeyring, KeyProvider
from server.db.membership import CustomerKey, ProfileKey
from server.db.session import transaction
from server.services import audit
from server.services.membership import keys as key_rotation
from server.settings import ServerSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BackupPromise:
    rotation_days: int
    retention_days: int

    @property
    def days(self) -> int:
        return self.rotation_days + self.retention_days

    def sentence(self, language: str = "en") -> str:
        if language == "nl":
            return (
                f"Wissen bereikt elke back-up binnen {self.days} dagen: de sleutels wisselen "
                f"elke {self.rotation_days} dagen en een oude sleutel wordt vernietigd zodra de "
                f"back-ups van die tijd ({self.retention_days} dagen bewaard) weg zijn."
            )
        return (
            f"Erasure reaches every backup within {self.days} days: keys change every "
            f"{self.rotation_days} days and an old key is destroyed once the backups of its "
            f"time (kept {self.retention_days} days) are gone."
        )


def promise(settings: ServerSettings) -> BackupPromise:
    return BackupPromise(settings.key_rotation_days, settings.backup_retention_days)


def _epoch_at(epochs: tuple[Epoch, ...], at: datetime) -> Epoch | None:
    for epoch in epochs:
        if epoch.created_at is None or epoch.created_at > at:
            continue
        if epoch.retired_at is None or epoch.retired_at > at:
            return epoch
    return None


def unreadable_by(kek: KeyProvider, *, erased_at: datetime, settings: ServerSettings) -> datetime:
    """The date by which every backup holding the customer erased at ``erased_at`` is
    unreadable: the destruction date of the epoch that was current then (its scheduled one while
    it is still current); ``erased_at`` + the promise when the keyring cannot tell."""
    p = promise(settings)
    retention = timedelta(days=p.retention_days)
    epochs = kek.epochs() if isinstance(kek, EpochKeyring) else ()
    epoch = _epoch_at(epochs, erased_at)
    if epoch is None or epoch.created_at is None:
        return erased_at + timedelta(days=p.days)
    if epoch.retired_at is not None:
        return epoch.retired_at + retention
    scheduled = epoch.created_at + timedelta(days=p.rotation_days)
    return max(scheduled, erased_at) + retention


def adopt_live_keys(restored: Session, live: Session, *, kek: KeyProvider) -> tuple[int, int]:
    """After restoring a backup: give each data key of the restored copy whose epoch is
    destroyed the live database's key of the same customer; (adopted, left unreadable).

    A customer erased since the backup has no live key, so their rows in the restored copy stay
    ciphertext for good: that is the point. Everyone else opens again (their data keys never
    changed; only the wrap did)."""
    adopted = unreadable = 0
    for model, context in key_rotation.key_tables():
        rows: list[CustomerKey | ProfileKey] = list(restored.scalars(select(model)))
        for row in rows:
            try:
                kek.unwrap(row.wrapped_dek, context=context(row.customer_id))
                continue
            except InvalidSeal:
                pass
            current = cast(CustomerKey | ProfileKey | None, live.get(model, row.customer_id))
            if current is None:
                unreadable += 1
                continue
            row.wrapped_dek = current.wrapped_dek
            row.kek_id = current.kek_id
            adopted += 1
    return adopted, unreadable


@dataclass
class EpochReport:
    rotated_to: str | None = None
    rewrapped: int = 0
    destroyed: list[str] = field(default_factory=list)
    kept_in_use: list[str] = field(default_factory=list)
    """expired epochs not destroyed because a live data key is still wrapped under them"""


def _in_use(session: Session, key_id: str) -> int:
    return sum(
        int(session.scalar(select(func.count()).select_from(m).where(m.kek_id == key_id)) or 0)
        for m in (CustomerKey, ProfileKey)
    )


def run(
    sessions: sessionmaker[Session],
    *,
    kek: KeyProvider,
    settings: ServerSettings,
    actor: str,
    now: datetime,
    rotate: bool = True,
) -> EpochReport:
    """Rotate when the current epoch is ``key_rotation_days`` old (``rotate``), then destroy
    every epoch retired ``backup_retention_days`` ago or more. A live data key still under an
    expired epoch is re-wrapped first; an epoch that still holds one is never destroyed."""
    report = EpochReport()
    if not isinstance(kek, EpochKeyring):
        return report  # a provider without epochs (a KMS handles destruction itself)
    batch = settings.key_rotation_batch
    if rotate:
        previous = kek.key_id
        new = kek.rotate_if_older(timedelta(days=settings.key_rotation_days), now=now)
        if new is not None:
            report.rotated_to = new
            report.rewrapped = key_rotation.record_rotation(
                sessions, kek=kek, previous=previous, actor=actor, batch_size=batch, now=now
            ).rewrapped
    retention = timedelta(days=settings.backup_retention_days)
    for epoch in kek.epochs():
        if epoch.retired_at is None or now - epoch.retired_at < retention:
            continue
        with transaction(sessions) as session:
            live = _in_use(session, epoch.key_id)
        if live:
            key_rotation.rewrap_all(sessions, kek=kek, batch_size=batch)
            with transaction(sessions) as session:
                live = _in_use(session, epoch.key_id)
        if live:
            log.error("an expired key epoch still wraps %d live data keys; kept", live)
            report.kept_in_use.append(epoch.key_id)
            continue
        kek.destroy(epoch.key_id)
        report.destroyed.append(epoch.key_id)
        with transaction(sessions) as session:
            audit.append(
                session,
                EpochDestroyed(
                    key_id=epoch.key_id,
                    created_at=epoch.created_at.isoformat() if epoch.created_at else None,
                    retired_at=epoch.retired_at.isoformat(),
                    retention_days=settings.backup_retention_days,
                ),
                actor=actor,
                subject=None,
                at=now,
            )
    return report
