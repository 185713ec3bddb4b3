"""Arrival events from edge devices -> visits -> teaser cards for the store's tablets.

An event names only a pseudonymous subject id. It becomes a visit only when that subject's
consent is still active, unexpired and covers the device's store; otherwise it is dropped
(a stale gallery on a device must not produce a card). Events are idempotent by their id, and
events outside the replay window are refused.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from consent.envelope import open_blob
from consent.keys import KeyProvider
from server.db.clienteling import Incident
from server.db.models import (
    ConsentRecord,
    Customer,
    CustomerKey,
    EdgeDevice,
    EventReceipt,
    FaceThumbnail,
    Store,
    Visit,
)
from server.db.session import after_commit, transaction
from server.realtime import tablet_channel
from server.services import cards, devices
from server.services.enrolment import THUMBNAIL_PURPOSE

log = logging.getLogger(__name__)

REPLAY_WINDOW = timedelta(hours=24)
FUTURE_SKEW = timedelta(minutes=2)


@dataclass(frozen=True)
class ArrivalIn:
    id: str
    subject_id: str
    at: datetime
    score: float
    margin: float | None


@dataclass
class IngestResult:
    accepted: int = 0
    duplicates: int = 0
    refused: int = 0
    suppressed: int = 0  # of the refused: after a "not this person" report on that camera
    messages: list[dict[str, Any]] = field(default_factory=list)


def _consented_customer(
    session: Session, *, subject_id: str, store: Store, now: datetime
) -> Customer | None:
    """The customer behind ``subject_id`` if an active, unexpired consent covers ``store``
    (one query: customer joined with their active consents)."""
    rows = session.execute(
        select(Customer, ConsentRecord.scope)
        .join(ConsentRecord, ConsentRecord.customer_id == Customer.id)
        .where(
            Customer.subject_id == subject_id,
            ConsentRecord.status == "active",
            ConsentRecord.expires_at > now,
        )
    ).all()
    for customer, scope in rows:
        if "*" in scope or store.code in scope:
            return customer
    return None


def _record_receipt(session: Session, *, event_id: str, device_id: str, now: datetime) -> bool:
    """Remember an event id; False when it was seen before. ``INSERT … ON CONFLICT DO NOTHING``
    on SQLite and PostgreSQL (no savepoint round trip); a savepoint elsewhere."""
    values = {"id": event_id, "device_id": device_id, "received_at": now}
    dialect = session.get_bind().dialect.name
    if dialect in ("sqlite", "postgresql"):
        insert = sqlite_insert if dialect == "sqlite" else pg_insert
        stmt = (
            insert(EventReceipt)
            .values(**values)
            .on_conflict_do_nothing(index_elements=["id"])
            .returning(EventReceipt.id)
        )
        return session.execute(stmt).first() is not None
    try:
        with session.begin_nested():
            session.add(EventReceipt(**values))
    except IntegrityError:
        return False
    return True


def _suppressed(session: Session, *, customer_id: str, device_id: str, now: datetime) -> bool:
    """A salesperson said "not this person" for this customer on this camera lately: the
    camera may keep confusing someone with them, so it makes no card until the time is up."""
    return (
        session.scalar(
            select(Incident.id)
            .where(
                Incident.customer_id == customer_id,
                Incident.device_id == device_id,
                Incident.suppress_until > now,
            )
            .limit(1)
        )
        is not None
    )


def thumbnail_b64(session: Session, customer: Customer, kek: KeyProvider) -> str | None:
    """The enrolment photo, opened with the customer's data key (gone once shredded)."""
    row = session.execute(
        select(FaceThumbnail.ciphertext, CustomerKey.wrapped_dek)
        .join(CustomerKey, CustomerKey.customer_id == FaceThumbnail.customer_id)
        .where(FaceThumbnail.customer_id == customer.id)
        .limit(1)
    ).first()
    if row is None:
        return None
    dek = kek.unwrap(row.wrapped_dek, context=customer.id.encode())
    jpeg = open_blob(dek, row.ciphertext, subject_id=customer.id, purpose=THUMBNAIL_PURPOSE)
    return base64.b64encode(jpeg).decode()


def ingest(
    session: Session,
    *,
    device: EdgeDevice,
    events: list[ArrivalIn],
    kek: KeyProvider,
    visit_live: timedelta,
    now: datetime,
) -> IngestResult:
    result = IngestResult()
    store = session.get(Store, device.store_id)
    assert store is not None
    for event in events:
        if event.at < now - REPLAY_WINDOW or event.at > now + FUTURE_SKEW:
            result.refused += 1
            continue
        if not _record_receipt(session, event_id=event.id, device_id=device.id, now=now):
            result.duplicates += 1
            continue
        customer = (
            _consented_customer(session, subject_id=event.subject_id, store=store, now=now)
            if store.live
            else None
        )
        if customer is None:
            result.refused += 1
            continue
        if _suppressed(session, customer_id=customer.id, device_id=device.id, now=now):
            result.refused += 1
            result.suppressed += 1
            continue
        live = session.scalar(
            select(Visit).where(
                Visit.customer_id == customer.id,
                Visit.store_id == store.id,
                Visit.status.in_(("live", "greeted")),
                Visit.live_until > now,
            )
        )
        result.accepted += 1
        if live is not None:
            continue  # already on the tablets: one card per visit
        visit = Visit(
            customer_id=customer.id,
            store_id=store.id,
            device_id=device.id,
            arrived_at=event.at,
            score=event.score,
            margin=event.margin,
            status="live",
            live_until=now + visit_live,
        )
        session.add(visit)
        customer.last_interaction_at = now
        session.flush()
        result.messages.append(
            cards.teaser(session, visit, customer, thumbnail_b64(session, customer, kek), now=now)
        )
    return result


def receive(
    sessions: sessionmaker[Session],
    *,
    token: str,
    events: list[ArrivalIn],
    kek: KeyProvider,
    visit_live: timedelta,
    publish: Callable[[str, dict[str, Any]], None],
    now: datetime,
) -> IngestResult:
    """One device request as one unit of work: authenticate the device, ingest its events,
    commit, then push the teasers to the store's tablets (only once the visits exist)."""
    with transaction(sessions) as session:
        device = devices.authenticate_device(session, token=token, now=now)
        result = ingest(
            session, device=device, events=events, kek=kek, visit_live=visit_live, now=now
        )
        channel = tablet_channel(device.store_id)
        for message in result.messages:
            after_commit(session, partial(publish, channel, message))
    return result
