"""Live visits as tablets see them: store-scoped, time-limited, every opening audited."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from consent.keys import KeyProvider
from server.db.models import Customer, Visit
from server.services import audit, cards
from server.services.arrivals import thumbnail_b64
from server.services.errors import BadInput, NotFound
from server.services.staff import StaffIdentity

ACTIONS = {"greeted": "greeted", "dismiss": "dismissed", "not-this-person": "not_this_person"}


def _visible_visit(session: Session, *, who: StaffIdentity, visit_id: int, now: datetime) -> Visit:
    """A visit this staff member may see: their own store, still live. Anything else is a 404
    (the same answer whether the visit exists elsewhere or not), and the attempt is audited."""
    visit = session.get(Visit, visit_id)
    if (
        visit is None
        or visit.store_id != who.store_id
        or visit.live_until <= now
        or visit.status
        in (
            "not_this_person",
            "expired",
        )
    ):
        audit.append(
            session,
            kind="access.denied",
            actor=f"staff:{who.username}",
            subject=None,
            data={"what": "visit", "id": visit_id},
            at=now,
        )
        raise NotFound("no such live visit in your store")
    return visit


def live_teasers(
    session: Session, *, who: StaffIdentity, kek: KeyProvider, now: datetime
) -> list[dict[str, Any]]:
    if who.store_id is None:
        return []
    rows = session.scalars(
        select(Visit)
        .where(
            Visit.store_id == who.store_id,
            Visit.status.in_(("live", "greeted")),
            Visit.live_until > now,
        )
        .order_by(Visit.arrived_at.desc())
    )
    out = []
    for visit in rows:
        customer = session.get(Customer, visit.customer_id)
        if customer is not None:
            msg = cards.teaser(session, visit, customer, thumbnail_b64(session, customer, kek))
            msg["status"] = visit.status
            out.append(msg)
    return out


def reveal(session: Session, *, who: StaffIdentity, visit_id: int, now: datetime) -> cards.Card:
    """Step two of the reveal; written to the access audit log (who looked at whom, when)."""
    visit = _visible_visit(session, who=who, visit_id=visit_id, now=now)
    customer = session.get(Customer, visit.customer_id)
    if customer is None:
        raise NotFound("no such live visit in your store")
    audit.append(
        session,
        kind="profile.viewed",
        actor=f"staff:{who.username}",
        subject=customer.subject_id,
        data={"visit_id": visit.id, "store_id": visit.store_id},
        at=now,
    )
    return cards.compose_card(session, visit, customer)


def act(
    session: Session, *, who: StaffIdentity, visit_id: int, action: str, now: datetime
) -> Visit:
    if action not in ACTIONS:
        raise BadInput(f"unknown action {action!r}")
    visit = _visible_visit(session, who=who, visit_id=visit_id, now=now)
    visit.status = ACTIONS[action]
    if action != "greeted":
        visit.ended_at = now
    if action == "not-this-person":
        customer = session.get(Customer, visit.customer_id)
        audit.append(
            session,
            kind="incident.reported",
            actor=f"staff:{who.username}",
            subject=customer.subject_id if customer else None,
            data={
                "visit_id": visit.id,
                "device": visit.device_id,
                "score": visit.score,
                "margin": visit.margin,
            },
            at=now,
        )
    return visit
