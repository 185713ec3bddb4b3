"""The retention job: nothing biometric outlives its consent or the retention limit.

:func:`run` (one transaction, ``now`` injected):

(a) every consent past ``expires_at`` is ended: data key, templates and thumbnail destroyed,
    status ``expired``, ``consent.expired`` audited;
(b) a customer whose last interaction is more than ``retention_years`` ago (at most 3, see
    ``consent.records.retention_deadline``) loses their templates the same way, audited as
    ``retention.purged`` as well, whatever the consent's own expiry says;
(c) a data key left without an active consent (it protects nothing any more) is destroyed;

then one new gallery version is published for every store whose members changed, and the
affected live visits end on the tablets.

The server runs it in its own process (:func:`periodic`, every ``retention_interval_s``, first at
start-up so a server that was down catches up at once); ``vertrouwd retention run`` runs it by
hand.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import Engine, delete, exists, select
from sqlalchemy.orm import Session, sessionmaker

from consent.audit_kinds import DataKeyDestroyed, RetentionPurged
from consent.records import retention_deadline
from server.db.membership import ConsentRecord, Customer, CustomerKey
from server.db.session import transaction
from server.services import audit
from server.services.context import ServiceContext
from server.services.membership import epochs, lifecycle

if TYPE_CHECKING:
    from server.runtime import Runtime

log = logging.getLogger(__name__)

ACTOR = "system:retention"


@dataclass
class RetentionReport:
    expired: int = 0
    """consent records ended because they expired"""
    purged: int = 0
    """customers whose templates went because of the retention limit"""
    orphan_keys: int = 0
    templates_destroyed: int = 0
    gallery_versions: dict[str, int] = field(default_factory=dict)

    @property
    def changed(self) -> bool:
        return bool(self.expired or self.purged or self.orphan_keys)


def run(
    session: Session,
    *,
    now: datetime,
    retention_years: int,
    actor: str = ACTOR,
    notify: lifecycle.Notify | None = None,
) -> RetentionReport:
    """One pass of the job in the caller's transaction (see the module docstring)."""
    report = RetentionReport()
    scope: set[str] = set()

    due: dict[str, list[ConsentRecord]] = defaultdict(list)
    for record in session.scalars(
        select(ConsentRecord)
        .where(
            ConsentRecord.status == "active",
            ConsentRecord.expires_at <= now,
            ConsentRecord.customer_id.is_not(None),
        )
        .order_by(ConsentRecord.customer_id)
        .with_for_update()
    ):
        assert record.customer_id is not None
        due[record.customer_id].append(record)
    for customer_id, records in due.items():
        customer = lifecycle.get_customer(session, customer_id)
        ended = lifecycle.end_consents(
            session,
            customer=customer,
            records=records,
            status="expired",
            reason="expiry",
            actor=actor,
            channel=None,
            now=now,
            notify=notify,
        )
        report.expired += len(ended.consent_ids)
        report.templates_destroyed += ended.shredded.templates
        scope |= ended.scope

    # (b): a prefilter in SQL (a year is at most 366 days), the exact calendar rule in Python.
    horizon = now - timedelta(days=365 * retention_years - 3)
    stale = session.scalars(
        select(Customer)
        .where(
            Customer.last_interaction_at <= horizon,
            exists().where(
                ConsentRecord.customer_id == Customer.id, ConsentRecord.status == "active"
            ),
        )
        .order_by(Customer.id)
    )
    for customer in list(stale):
        deadline = retention_deadline(customer.last_interaction_at, retention_years)
        if deadline > now:
            continue
        records = list(
            session.scalars(
                select(ConsentRecord).where(
                    ConsentRecord.customer_id == customer.id, ConsentRecord.status == "active"
                )
            )
        )
        ended = lifecycle.end_consents(
            session,
            customer=customer,
            records=records,
            status="expired",
            reason="retention",
            actor=actor,
            channel=None,
            now=now,
            notify=notify,
        )
        audit.append(
            session,
            RetentionPurged(
                retention_years=retention_years,
                deadline=deadline.isoformat(),
                templates=ended.shredded.templates,
            ),
            actor=actor,
            subject=customer.subject_id,
            at=now,
        )
        report.purged += 1
        report.templates_destroyed += ended.shredded.templates
        scope |= ended.scope

    orphans = list(
        session.scalars(
            select(CustomerKey.customer_id).where(
                ~exists().where(
                    ConsentRecord.customer_id == CustomerKey.customer_id,
                    ConsentRecord.status == "active",
                )
            )
        )
    )
    for customer_id in orphans:
        # A Core delete: another server process's pass may have taken it first (0 rows).
        gone = session.execute(delete(CustomerKey).where(CustomerKey.customer_id == customer_id))
        if not getattr(gone, "rowcount", 0):
            continue
        owner = session.get(Customer, customer_id)
        audit.append(
            session,
            DataKeyDestroyed(reason="no active consent"),
            actor=actor,
            subject=owner.subject_id if owner is not None else None,
            at=now,
        )
        report.orphan_keys += 1

    report.gallery_versions = lifecycle.publish_scope(
        session, scope=scope, reason="expiry", actor=actor, now=now, notify=notify
    )
    return report


def run_once(
    ctx: ServiceContext, sessions: sessionmaker[Session], *, actor: str = ACTOR
) -> RetentionReport:
    """One pass with the context's clock and settings, in its own transaction; then the SQLite
    WAL is checkpointed (it also finishes a checkpoint that a crash interrupted). The server's
    periodic pass and ``vertrouwd retention run`` both use it, so both tell the stores' devices
    and tablets through the context's notifier (from the CLI that reaches the servers' sockets
    through Redis; without Redis the CLI process has no sockets to tell, and devices pick the
    new gallery up when they poll)."""
    reload = getattr(ctx.kek, "reload", None)
    if callable(reload):  # pick up a KEK that `vertrouwd keys rotate` added meanwhile
        reload()
    with transaction(sessions) as session:
        report = run(
            session,
            now=ctx.now(),
            retention_years=ctx.settings.retention_years,
            actor=actor,
            notify=ctx.notify,
        )
        engine = session.get_bind()
    assert isinstance(engine, Engine)
    lifecycle.checkpoint_wal(engine)
    if report.changed:
        log.info(
            "retention: %d consents expired, %d customers past the retention limit, "
            "%d templates destroyed",
            report.expired,
            report.purged,
            report.templates_destroyed,
        )
    return report


def run_epochs(rt: Runtime, *, actor: str = ACTOR) -> epochs.EpochReport:
    """The backup-epoch step of the maintenance pass (``epochs.run``), logged by key id only."""
    report = epochs.run(rt.sessions, kek=rt.kek, settings=rt.settings, actor=actor, now=rt.now())
    if report.rotated_to:
        log.info(
            "key epoch %s started; %d data keys re-wrapped", report.rotated_to, report.rewrapped
        )
    for key_id in report.destroyed:
        log.info("key epoch %s destroyed (past the backup retention)", key_id)
    return report


async def periodic(rt: Runtime, *, ran: asyncio.Event | None = None) -> None:
    """Run :func:`run_once` at start-up and then every ``retention_interval_s`` until
    cancelled. ``ran`` is set after each pass (tests wait on it)."""
    interval = rt.settings.retention_interval_s
    while True:
        try:
            await asyncio.to_thread(run_once, rt.context(), rt.sessions)
        except Exception:  # a failed pass is retried at the next interval, never fatal
            log.exception("retention pass failed")
        try:  # backup epochs: rotate when due, destroy KEKs past the backup retention
            await asyncio.to_thread(run_epochs, rt)
        except Exception:
            log.exception("key epoch pass failed")
        if ran is not None:
            ran.set()
        await asyncio.sleep(interval)
