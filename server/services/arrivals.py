"""Arrival events from edge devices -> visits -> teaser cards for the store's tablets.

An event names only a pseudonymous subject id. It becomes a visit only when that subject's
consent is still active, unexpired and covers the device's store; otherwise it is dropped
(a stale gallery on a device must not produce a card). Events are idempotent by their id, and
events outside the replay window are refused.
"""

from __future__ import annotations

import base64
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

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
from server.services import cards
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


def _consent_covers(session: Session, customer: Customer, store: Store, now: datetime) -> bool:
    for record in session.scalars(
        select(ConsentRecord).where(
            ConsentRecord.customer_id == customer.id,
            ConsentRecord.status == "active",
            ConsentRecord.expires_at > now,
        )
    ):
        if "*" in record.scope or store.code in record.scope:
            return True
    return False


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
    thumb = session.scalar(select(FaceThumbnail).where(FaceThumbnail.customer_id == customer.id))
    key = session.get(CustomerKey, customer.id)
    if thumb is None or key is None:
        return None
    dek = kek.unwrap(key.wrapped_dek, context=customer.id.encode())
    jpeg = open_blob(dek, thumb.ciphertext, subject_id=customer.id, purpose=THUMBNAIL_PURPOSE)
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
        try:
            with session.begin_nested():
                session.add(EventReceipt(id=event.id, device_id=device.id, received_at=now))
        except IntegrityError:
            result.duplicates += 1
            continue
        customer = session.scalar(select(Customer).where(Customer.subject_id == event.subject_id))
        if customer is None or not store.live or not _consent_covers(session, customer, store, now):
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
