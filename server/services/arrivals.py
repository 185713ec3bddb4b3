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
from typing import Any, cast

from sqlalchemy import Table, bindparam, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from consent.envelope import open_blob
from consent.keys import KeyProvider
from server.db.clienteling import Incident
from server.db.models import (
    ConsentRecord,
    Customer,
    CustomerKey,
    EventReceipt,
    FaceThumbnail,
    Visit,
)
from server.services import cards
from server.services.devices import DeviceRef
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


_VISITS = cast(Table, Visit.__table__)
_CUSTOMERS = cast(Table, Customer.__table__)
_RECEIPTS = cast(Table, EventReceipt.__table__)

# The hot path of every store runs these statements for each arrival. They are built once,
# with bind parameters, so a request pays only for execution (building a SQLAlchemy statement
# costs about as much as running it on SQLite).
_MEMBER = (
    select(Customer.id, Customer.preferred_name, ConsentRecord.scope)
    .join(ConsentRecord, ConsentRecord.customer_id == Customer.id)
    .where(
        Customer.subject_id == bindparam("subject_id"),
        ConsentRecord.status == "active",
        ConsentRecord.expires_at > bindparam("now"),
    )
)
_SUPPRESSED = (
    select(Incident.id)
    .where(
        Incident.customer_id == bindparam("customer_id"),
        Incident.device_id == bindparam("device_id"),
        Incident.suppress_until > bindparam("now"),
    )
    .limit(1)
)
_LIVE_VISIT = (
    select(Visit.id)
    .where(
        Visit.customer_id == bindparam("customer_id"),
        Visit.store_id == bindparam("store_id"),
        Visit.status.in_(("live", "greeted")),
        Visit.live_until > bindparam("now"),
    )
    .limit(1)
)
_NEW_VISIT = (
    insert(_VISITS)
    .values(
        customer_id=bindparam("customer_id"),
        store_id=bindparam("store_id"),
        device_id=bindparam("device_id"),
        arrived_at=bindparam("arrived_at"),
        score=bindparam("score"),
        margin=bindparam("margin"),
        status="live",
        live_until=bindparam("live_until"),
    )
    .returning(_VISITS.c.id)
)
_TOUCH_CUSTOMER = (
    update(_CUSTOMERS)
    .where(_CUSTOMERS.c.id == bindparam("customer_id"))
    .values(last_interaction_at=bindparam("now"))
)
_THUMBNAIL = (
    select(FaceThumbnail.ciphertext, CustomerKey.wrapped_dek)
    .join(CustomerKey, CustomerKey.customer_id == FaceThumbnail.customer_id)
    .where(FaceThumbnail.customer_id == bindparam("customer_id"))
    .limit(1)
)
_RECEIPT_VALUES: dict[str, Any] = {
    "id": bindparam("event_id"),
    "device_id": bindparam("device_id"),
    "received_at": bindparam("now"),
}
_RECEIPT = {
    "sqlite": sqlite_insert(_RECEIPTS)
    .values(**_RECEIPT_VALUES)
    .on_conflict_do_nothing(index_elements=["id"])
    .returning(_RECEIPTS.c.id),
    "postgresql": pg_insert(_RECEIPTS)
    .values(**_RECEIPT_VALUES)
    .on_conflict_do_nothing(index_elements=["id"])
    .returning(_RECEIPTS.c.id),
}


def _consented_member(
    session: Session, *, subject_id: str, store_code: str, now: datetime
) -> tuple[str, str] | None:
    """(customer id, preferred name) if an active, unexpired consent covers the store."""
    for customer_id, preferred_name, scope in session.execute(
        _MEMBER, {"subject_id": subject_id, "now": now}
    ):
        if "*" in scope or store_code in scope:
            return str(customer_id), str(preferred_name)
    return None


def _record_receipt(session: Session, *, event_id: str, device_id: str, now: datetime) -> bool:
    """Remember an event id; False when it was seen before. ``INSERT … ON CONFLICT DO NOTHING``
    on SQLite and PostgreSQL (no savepoint round trip); a savepoint elsewhere."""
    params = {"event_id": event_id, "device_id": device_id, "now": now}
    stmt = _RECEIPT.get(session.get_bind().dialect.name)
    if stmt is not None:
        return session.execute(stmt, params).first() is not None
    try:
        with session.begin_nested():
            session.add(EventReceipt(id=event_id, device_id=device_id, received_at=now))
    except IntegrityError:
        return False
    return True


def _thumbnail(session: Session, customer_id: str, kek: KeyProvider) -> str | None:
    row = session.execute(_THUMBNAIL, {"customer_id": customer_id}).first()
    if row is None:
        return None
    dek = kek.unwrap(row.wrapped_dek, context=customer_id.encode())
    jpeg = open_blob(dek, row.ciphertext, subject_id=customer_id, purpose=THUMBNAIL_PURPOSE)
    return base64.b64encode(jpeg).decode()


def thumbnail_b64(session: Session, customer: Customer, kek: KeyProvider) -> str | None:
    """The enrolment photo, opened with the customer's data key (gone once shredded)."""
    return _thumbnail(session, customer.id, kek)


def ingest(
    session: Session,
    *,
    device: DeviceRef,
    events: list[ArrivalIn],
    kek: KeyProvider,
    visit_live: timedelta,
    now: datetime,
) -> IngestResult:
    result = IngestResult()
    for event in events:
        if event.at < now - REPLAY_WINDOW or event.at > now + FUTURE_SKEW:
            result.refused += 1
            continue
        if not _record_receipt(session, event_id=event.id, device_id=device.id, now=now):
            result.duplicates += 1
            continue
        member = (
            _consented_member(
                session, subject_id=event.subject_id, store_code=device.store_code, now=now
            )
            if device.store_live
            else None
        )
        if member is None:
            result.refused += 1
            continue
        customer_id, preferred_name = member
        who = {"customer_id": customer_id, "device_id": device.id, "now": now}
        # A salesperson said "not this person" for this customer on this camera lately: the
        # camera may keep confusing someone with them, so it makes no card until the time is up.
        if session.execute(_SUPPRESSED, who).first() is not None:
            result.refused += 1
            result.suppressed += 1
            continue
        result.accepted += 1
        live = {"customer_id": customer_id, "store_id": device.store_id, "now": now}
        if session.execute(_LIVE_VISIT, live).first() is not None:
            continue  # already on the tablets: one card per visit
        live_until = now + visit_live
        visit_id = session.execute(
            _NEW_VISIT,
            {
                "customer_id": customer_id,
                "store_id": device.store_id,
                "device_id": device.id,
                "arrived_at": event.at,
                "score": event.score,
                "margin": event.margin,
                "live_until": live_until,
            },
        ).scalar_one()
        session.execute(_TOUCH_CUSTOMER, {"customer_id": customer_id, "now": now})
        result.messages.append(
            cards.teaser_message(
                visit_id=int(visit_id),
                preferred_name=preferred_name,
                visit_number=cards.visit_number(session, customer_id),
                arrived_at=event.at,
                live_until=live_until,
                status="live",
                thumbnail=_thumbnail(session, customer_id, kek),
                now=now,
            )
        )
    return result
