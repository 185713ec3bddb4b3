"""Live visits as tablets see them: store-scoped, time-limited, every opening audited.

Who may see what (privacy invariant 7): a member's card, profile and history are shown only to
staff of the store that recognised them (sales, cashier, or an admin signed in to that store),
and only while the visit is live. Anything else answers 404 — the same whether the visit or
customer exists elsewhere or not — and the attempt is written to the audit log as
``access.denied``. The privacy officer audits; they do not look at live customers (403).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from consent.audit_kinds import IncidentReported, ProfileViewed
from consent.keys import KeyProvider
from server.db.clienteling import Preference, Purchase, Sale, ServiceItem, StaffNote, Visit
from server.db.membership import Customer
from server.db.recognition import Incident
from server.services import audit, localtime
from server.services.clienteling import cards
from server.services.clienteling.recommend import Recommender
from server.services.errors import BadInput, NotFound
from server.services.ids import token_digest
from server.services.numbers import finite_or_none
from server.services.recognition.arrivals import thumbnail_b64
from server.services.staff import access
from server.services.staff.accounts import StaffIdentity

ACTIONS = {"greeted": "greeted", "dismiss": "dismissed", "not-this-person": "not_this_person"}
TABLET_ROLES = ("sales", "cashier", "admin")
# A visit on the tablets: not ended, not refused, not past its time.
SHOWN = ("live", "greeted")


def _deny(
    session: Session,
    who: StaffIdentity,
    *,
    what: str,
    ref: object = None,
    subject: str | None = None,
    now: datetime,
) -> None:
    """Audit a refusal (``access.record_denial``); the caller raises it with ``keep_writes``."""
    access.record_denial(
        session, who, what=what, now=now, subject=subject, id=None if ref is None else str(ref)
    )


def require_tablet(session: Session, who: StaffIdentity, *, what: str, now: datetime) -> None:
    """Only store staff look at live members; the attempt by anyone else is audited."""
    if who.role not in TABLET_ROLES or who.store_id is None:
        raise access.deny(
            session, who, what=what, reason=f"the {who.role} role does not see live visits", now=now
        )


def _is_shown(visit: Visit, now: datetime) -> bool:
    return visit.status in SHOWN and visit.ended_at is None and visit.live_until > now


def _visible_visit(session: Session, *, who: StaffIdentity, visit_id: int, now: datetime) -> Visit:
    """A visit this staff member may see: their own store, still live. Anything else is a 404
    (the same answer whether the visit exists elsewhere or not), and the attempt is audited."""
    require_tablet(session, who, what="visit", now=now)
    visit = session.get(Visit, visit_id)
    if visit is None or visit.store_id != who.store_id or not _is_shown(visit, now):
        _deny(session, who, what="visit", ref=visit_id, now=now)
        raise NotFound("no such live visit in your store", keep_writes=True)
    return visit


def live_teasers(
    session: Session, *, who: StaffIdentity, kek: KeyProvider, now: datetime
) -> list[dict[str, Any]]:
    """Every card that should be on this store's tablets now, newest first (the catch-up a
    tablet asks for after (re)connecting)."""
    require_tablet(session, who, what="live visits", now=now)
    rows = session.scalars(
        select(Visit)
        .where(
            Visit.store_id == who.store_id,
            Visit.status.in_(SHOWN),
            Visit.ended_at.is_(None),
            Visit.live_until > now,
        )
        .order_by(Visit.arrived_at.desc())
    )
    out = []
    for visit in rows:
        customer = session.get(Customer, visit.customer_id)
        if customer is not None:
            photo = thumbnail_b64(session, customer, kek) if visit.method == "face" else None
            msg = cards.teaser(session, visit, customer, photo)
            msg["expires_in_s"] = max(0, int((visit.live_until - now).total_seconds()))
            out.append(msg)
    return out


def tablet_ref(session_token: str | None, user_agent: str | None) -> dict[str, str]:
    """How the access log names the tablet an opening came from, without keeping a secret:
    ``session``, the first 12 hex digits of the sign-in session's digest (the key of its
    ``staff_sessions`` row), and ``agent``, the kind of browser with a short hash of its full
    user-agent string (the same tablet shows the same hash)."""
    out: dict[str, str] = {}
    if session_token:
        out["session"] = token_digest(session_token)[:12]
    if user_agent:
        ua = user_agent[:512]
        device = next((name for key, name in _DEVICES if key in ua), "unknown device")
        browser = next((name for key, name in _BROWSERS if key in ua), "browser")
        digest = hashlib.sha256(ua.encode("utf-8", "replace")).hexdigest()[:6]
        out["agent"] = f"{browser} on {device} #{digest}"
    return out


_DEVICES = (
    ("iPad", "iPad"),
    ("iPhone", "iPhone"),
    ("Android", "Android"),
    ("Windows", "Windows"),
    ("Macintosh", "Mac"),
    ("CrOS", "ChromeOS"),
    ("Linux", "Linux"),
)
_BROWSERS = (
    ("Edg/", "Edge"),
    ("Firefox/", "Firefox"),
    ("Chrome/", "Chrome"),
    ("Safari/", "Safari"),
)


def _viewed(session: Session, who: StaffIdentity, customer: Customer, visit: Visit, what: str,
            now: datetime, tablet: dict[str, str] | None = None) -> None:  # fmt: skip
    tablet = tablet or {}
    viewed = ProfileViewed(
        visit_id=visit.id,
        store_id=visit.store_id,
        what=what,
        session=tablet.get("session"),
        agent=tablet.get("agent"),
    )
    audit.append(
        session, viewed, actor=f"staff:{who.username}", subject=customer.subject_id, at=now
    )


def reveal(
    session: Session,
    *,
    who: StaffIdentity,
    visit_id: int,
    now: datetime,
    recommender: Recommender | None = None,
    settings: cards.CardSettings | None = None,
    tablet: dict[str, str] | None = None,
) -> cards.Card:
    """Step two of the reveal; written to the access audit log (who looked at whom, when, from
    which tablet: :func:`tablet_ref`)."""
    visit = _visible_visit(session, who=who, visit_id=visit_id, now=now)
    customer = session.get(Customer, visit.customer_id)
    if customer is None:
        raise NotFound("no such live visit in your store")
    _viewed(session, who, customer, visit, "card", now, tablet)
    return cards.compose_card(
        session, visit, customer, recommender=recommender, now=now, settings=settings
    )


@dataclass(frozen=True)
class Profile:
    """What a tap on the card opens: the card plus the longer history."""

    card: cards.Card
    purchases: list[cards.PurchaseLine]
    service_items: list[cards.ServiceLine]
    notes: list[cards.NoteLine]
    preferences: dict[str, list[str]] = field(default_factory=dict)
    lifetime: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = cards.encode(self)
        return out


def profile(
    session: Session,
    *,
    who: StaffIdentity,
    visit_id: int,
    now: datetime,
    recommender: Recommender | None = None,
    settings: cards.CardSettings | None = None,
    tablet: dict[str, str] | None = None,
) -> Profile:
    visit = _visible_visit(session, who=who, visit_id=visit_id, now=now)
    customer = session.get(Customer, visit.customer_id)
    if customer is None:
        raise NotFound("no such live visit in your store")
    _viewed(session, who, customer, visit, "profile", now, tablet)
    card = cards.compose_card(
        session, visit, customer, recommender=recommender, now=now, settings=settings
    )
    purchases = [
        cards.PurchaseLine(p.product_name, p.category, p.brand, p.purchased_at, p.size, p.quantity)
        for p in session.scalars(
            select(Purchase)
            .where(Purchase.customer_id == customer.id)
            .order_by(Purchase.purchased_at.desc(), Purchase.id.desc())
            .limit(30)
        )
    ]
    service = [
        cards.ServiceLine(
            s.kind,
            s.status,
            cards.service_text(
                s.kind, s.status, s.description, (settings or cards.CardSettings()).language
            ),
            s.updated_at,
        )
        for s in session.scalars(
            select(ServiceItem)
            .where(ServiceItem.customer_id == customer.id)
            .order_by(ServiceItem.updated_at.desc())
            .limit(10)
        )
    ]
    notes = [
        cards.NoteLine(n.author, n.body, n.created_at)
        for n in session.scalars(
            select(StaffNote)
            .where(StaffNote.customer_id == customer.id)
            .order_by(StaffNote.created_at.desc())
            .limit(10)
        )
    ]
    prefs: dict[str, list[str]] = {}
    for p in session.scalars(select(Preference).where(Preference.customer_id == customer.id)):
        prefs.setdefault(p.kind, []).append(p.value)
    count, spent, first = session.execute(
        select(func.count(), func.coalesce(func.sum(Sale.total_cents), 0), func.min(Sale.sold_at))
        .where(Sale.customer_id == customer.id)
    ).one()  # fmt: skip
    lifetime = {"sales": int(count), "spent_cents": int(spent), "first_sale_at": first}
    return Profile(card, purchases, service, notes, prefs, lifetime)


def profile_by_customer(
    session: Session,
    *,
    who: StaffIdentity,
    customer_id: str,
    now: datetime,
    recommender: Recommender | None = None,
    settings: cards.CardSettings | None = None,
    tablet: dict[str, str] | None = None,
) -> Profile:
    """A profile URL by customer id: allowed only while that customer's visit is live in the
    staff member's own store."""
    require_tablet(session, who, what="customer", now=now)
    visit = session.scalar(
        select(Visit)
        .where(
            Visit.customer_id == customer_id,
            Visit.store_id == who.store_id,
            Visit.status.in_(SHOWN),
            Visit.ended_at.is_(None),
            Visit.live_until > now,
        )
        .order_by(Visit.arrived_at.desc())
        .limit(1)
    )
    if visit is None:
        known = session.get(Customer, customer_id)
        _deny(session, who, what="customer", subject=known.subject_id if known else None, now=now)
        raise NotFound("no such customer in your store right now", keep_writes=True)
    return profile(
        session,
        who=who,
        visit_id=visit.id,
        now=now,
        recommender=recommender,
        settings=settings,
        tablet=tablet,
    )


def act(
    session: Session,
    *,
    who: StaffIdentity,
    visit_id: int,
    action: str,
    now: datetime,
    suppress_for: timedelta = timedelta(hours=4),
) -> Visit:
    """greeted: the card stays (marked) on every tablet; dismiss: it leaves every tablet (a
    greeted visit stays counted as greeted); not-this-person: it leaves every tablet at once,
    an incident is opened for the privacy officer, and that customer's arrivals from that
    camera are suppressed for ``suppress_for``."""
    if action not in ACTIONS:
        raise BadInput(f"unknown action {action!r}; one of {', '.join(ACTIONS)}")
    visit = _visible_visit(session, who=who, visit_id=visit_id, now=now)
    if action == "greeted":
        visit.status = "greeted"
        return visit
    visit.ended_at = now
    if action == "dismiss":
        if visit.status != "greeted":
            visit.status = "dismissed"
        return visit
    visit.status = "not_this_person"
    customer = session.get(Customer, visit.customer_id)
    incident = Incident(
        store_id=visit.store_id,
        visit_id=visit.id,
        customer_id=visit.customer_id,
        device_id=visit.device_id,
        score=visit.score,
        margin=finite_or_none(visit.margin),
        reported_by=who.username,
        reported_at=now,
        suppress_until=now + suppress_for if visit.device_id and suppress_for else None,
        outcome="open",
    )
    session.add(incident)
    session.flush()
    audit.append(
        session,
        IncidentReported(
            incident_id=incident.id,
            visit_id=visit.id,
            device=visit.device_id,
            score=visit.score,
            margin=incident.margin,
            suppressed_until=incident.suppress_until.isoformat()
            if incident.suppress_until
            else None,
        ),
        actor=f"staff:{who.username}",
        subject=customer.subject_id if customer else None,
        at=now,
    )
    return visit


def visit_message(visit: Visit, who: StaffIdentity) -> dict[str, Any]:
    """What every tablet of the store is told after an action."""
    return {
        "type": "visit",
        "visit_id": visit.id,
        "status": visit.status,
        "ended": visit.ended_at is not None,
        "by": who.display_name,
    }


def add_note(
    session: Session, *, who: StaffIdentity, visit_id: int, body: str, now: datetime
) -> StaffNote:
    body = body.strip()
    if not body:
        raise BadInput("a note needs some text")
    if len(body) > 500:
        raise BadInput("a note is at most 500 characters")
    visit = _visible_visit(session, who=who, visit_id=visit_id, now=now)
    note = StaffNote(
        customer_id=visit.customer_id,
        store_id=visit.store_id,
        author=who.username,
        body=body,
        created_at=now,
    )
    session.add(note)
    session.flush()
    return note


# --- store metrics ----------------------------------------------------------------------------


@dataclass(frozen=True)
class DayMetrics:
    day: str
    arrivals: int
    greeted: int
    not_this_person: int
    with_purchase: int


@dataclass(frozen=True)
class StoreMetrics:
    since: datetime
    until: datetime
    arrivals: int
    members: int  # different members recognised (one member visiting twice counts once)
    greeted: int
    dismissed: int
    not_this_person: int
    visits_with_purchase: int
    greeted_with_purchase: int
    revenue_during_visits_cents: int
    open_incidents: int
    days: list[DayMetrics]

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = cards.encode(self)

        def rate(n: int, d: int) -> float | None:
            return round(n / d, 3) if d else None

        out["greeted_rate"] = rate(self.greeted, self.arrivals)
        out["not_this_person_rate"] = rate(self.not_this_person, self.arrivals)
        out["purchase_rate"] = rate(self.visits_with_purchase, self.arrivals)
        out["greeted_purchase_rate"] = rate(self.greeted_with_purchase, self.greeted)
        return out


def store_metrics(
    session: Session, *, who: StaffIdentity, now: datetime, tz: tzinfo, days: int = 30
) -> StoreMetrics:
    """Counts only: arrivals, greeted and "not this person" rates, visits with a purchase
    (sales linked to a live visit: the card was on the tablets while they shopped). Days are
    the store's calendar days in ``tz`` (an arrival at 00:30 local belongs to that day, not to
    the UTC day before)."""
    if who.store_id is None:
        raise access.deny(
            session,
            who,
            what="store metrics",
            reason="metrics are per store; sign in with a store account",
            now=now,
        )
    since = now - timedelta(days=days)
    visits = session.execute(
        select(Visit.id, Visit.arrived_at, Visit.status, Visit.customer_id).where(
            Visit.store_id == who.store_id, Visit.arrived_at >= since, Visit.arrived_at <= now
        )
    ).all()
    bought = dict(
        session.execute(
            select(Sale.visit_id, func.sum(Sale.total_cents))
            .join(Visit, Visit.id == Sale.visit_id)
            .where(Visit.store_id == who.store_id, Visit.arrived_at >= since)
            .group_by(Sale.visit_id)
        ).all()
    )
    open_incidents = session.scalar(
        select(func.count()).where(Incident.store_id == who.store_id, Incident.outcome == "open")
    )
    per_day: dict[str, list[int]] = {}
    today = localtime.day_of(now, tz)
    for d in range(days - 1, -1, -1):
        per_day[(today - timedelta(days=d)).isoformat()] = [0, 0, 0, 0]
    for vid, arrived, status, _ in visits:
        row = per_day.setdefault(localtime.day_of(arrived, tz).isoformat(), [0, 0, 0, 0])
        row[0] += 1
        row[1] += status == "greeted"
        row[2] += status == "not_this_person"
        row[3] += vid in bought
    status_of = {vid: status for vid, _, status, _ in visits}
    return StoreMetrics(
        since=since,
        until=now,
        arrivals=len(visits),
        members=len({customer for *_, customer in visits}),
        greeted=sum(1 for s in status_of.values() if s == "greeted"),
        dismissed=sum(1 for s in status_of.values() if s == "dismissed"),
        not_this_person=sum(1 for s in status_of.values() if s == "not_this_person"),
        visits_with_purchase=sum(1 for v in status_of if v in bought),
        greeted_with_purchase=sum(
            1 for v, s in status_of.items() if v in bought and s == "greeted"
        ),
        revenue_during_visits_cents=int(sum(v or 0 for k, v in bought.items() if k in status_of)),
        open_incidents=int(open_incidents or 0),
        # every day of the period ("30 days" is 30 rows)
        days=[DayMetrics(day, *vals) for day, vals in sorted(per_day.items())][-days:],
    )
