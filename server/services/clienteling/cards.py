"""The prompt card: what a salesperson sees when a member walks in.

Two-step reveal (DESIGN.md): the pushed ``teaser`` holds only the preferred name, the visit
number and the small enrolment photo; ``compose_card`` (history, preferences, allergies,
suggestions) is served only when the salesperson confirms it is that person, and that opening is
written to the audit log by the caller.

The card is read in the two seconds before saying hello, so it is ordered by what matters at
the door: allergies (prominent, never contradicted by a suggestion), what they may have come for
(open service items, ready ones first), a follow-up on a recent purchase, then the last three
purchases, favourites and sizes, a colleague's note, and two or three suggestions with a reason.

Composition reads only this customer's rows through indexes (``ix_purchases_customer_*``,
``ix_sales_customer_at``, ``ix_service_items_customer_status``, ``ix_staff_notes_customer_at``)
with grouped queries, so it stays within a few milliseconds for a customer with thousands of
purchase lines; the recommender's model is built once per database (``recommend.ModelCache``).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, is_dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from server.db.clienteling import (
    Allergy,
    DietaryNeed,
    Preference,
    Product,
    Purchase,
    Sale,
    ServiceItem,
    StaffNote,
    Visit,
)
from server.db.membership import Customer
from server.services.clienteling import recommend
from server.services.clienteling.catalogue import Restrictions
from server.services.clienteling.recommend import Recommender, Suggestion, favourites

SEVERITY_ORDER = {"severe": 0, "allergy": 1, "intolerance": 2}


@dataclass(frozen=True)
class CardSettings:
    follow_up_after_days: int = 7  # ask how a durable purchase is working out after this long
    follow_up_until_days: int = 45  # ... and no longer after this
    suggestions: int = 3
    last_purchases: int = 3
    language: str = "en"  # the staff language of the card's sentences (service, ask, reasons)


@dataclass(frozen=True)
class PurchaseLine:
    product_name: str
    category: str
    brand: str | None
    purchased_at: datetime
    size: str | None = None
    quantity: int = 1


@dataclass(frozen=True)
class AllergyLine:
    allergen: str
    severity: str
    note: str | None


@dataclass(frozen=True)
class ServiceLine:
    kind: str
    status: str
    text: str
    since: datetime


@dataclass(frozen=True)
class FollowUp:
    text: str
    product_name: str
    purchased_at: datetime


@dataclass(frozen=True)
class NoteLine:
    author: str
    body: str
    at: datetime


@dataclass(frozen=True)
class Card:
    visit_id: int
    customer_id: str
    name: str
    preferred_name: str
    visit_number: int
    last_visit_at: datetime | None
    allergies: list[str]
    preferences: dict[str, list[str]]
    last_purchases: list[PurchaseLine]
    suggestions: list[Suggestion] = field(default_factory=list)
    days_since_last_visit: int | None = None
    member_since: datetime | None = None
    allergy_details: list[AllergyLine] = field(default_factory=list)
    dietary: list[str] = field(default_factory=list)
    service_items: list[ServiceLine] = field(default_factory=list)
    follow_up: FollowUp | None = None
    favourites: dict[str, list[str]] = field(default_factory=dict)
    sizes: list[str] = field(default_factory=list)
    notes: list[NoteLine] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = encode(self)
        return out


def encode(value: Any) -> Any:
    """Dataclasses, datetimes, dicts and lists as JSON values. A dataclass field marked
    ``metadata={"wire": False}`` stays off the wire (a suggestion's facts: what its reason was
    worded from, already said in ``reason``)."""
    if is_dataclass(value) and not isinstance(value, type):
        return {
            f.name: encode(getattr(value, f.name))
            for f in fields(value)
            if f.metadata.get("wire", True)
        }
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: encode(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [encode(v) for v in value]
    return value


def visit_number(session: Session, customer_id: str) -> int:
    """Recognised visits plus sales made outside one (so a member with a year of receipts who
    was just enrolled is not on their "first visit")."""
    visits = session.scalar(select(func.count()).where(Visit.customer_id == customer_id)) or 0
    sales = (
        session.scalar(
            select(func.count()).where(Sale.customer_id == customer_id, Sale.visit_id.is_(None))
        )
        or 0
    )
    return int(visits) + int(sales)


def teaser(
    session: Session,
    visit: Visit,
    customer: Customer,
    thumbnail_b64: str | None,
    *,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The first step of the reveal: a first name and a photo, nothing else. ``expires_in_s``
    lets a tablet drop the card on time whatever its own clock says."""
    return teaser_message(
        visit_id=visit.id,
        preferred_name=customer.preferred_name,
        visit_number=visit_number(session, customer.id),
        arrived_at=visit.arrived_at,
        live_until=visit.live_until,
        status=visit.status,
        thumbnail=thumbnail_b64 if visit.method == "face" else None,
        now=now or visit.arrived_at,
        method=visit.method,
        face_verified=visit.face_verified,
    )


def teaser_message(
    *,
    visit_id: int,
    preferred_name: str,
    visit_number: int,
    arrived_at: datetime,
    live_until: datetime,
    status: str,
    thumbnail: str | None,
    now: datetime,
    method: str = "face",
    face_verified: bool | None = None,
) -> dict[str, Any]:
    """The teaser as pushed to tablets (see :func:`teaser`). ``method`` says how the member was
    recognised: ``pass`` cards carry no photo (no face was compared; the salesperson asks the
    name) and, in pass+face, ``face_verified`` (True/False; None when not checked)."""
    return {
        "type": "arrival",
        "visit_id": visit_id,
        "preferred_name": preferred_name,
        "visit_number": visit_number,
        "arrived_at": arrived_at.isoformat(),
        "live_until": live_until.isoformat(),
        "expires_in_s": max(0, int((live_until - now).total_seconds())),
        "status": status,
        "thumbnail": thumbnail,
        "method": method,
        "face_verified": face_verified,
    }


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:] if text[1:2].islower() else text


def service_text(kind: str, status: str, description: str, language: str = "en") -> str:
    ready = status == "ready"
    what = _lower_first(description)
    if language == "nl":
        return _service_text_nl(kind, ready, what, description)
    if kind == "repair":
        return f"Repair of {what} is ready" if ready else f"Repair of {what} in progress"
    if kind == "special_order":
        return f"Special order ready: {description}" if ready else f"Special order: {description}"
    if kind == "pickup":
        return f"Order ready for pickup: {description}" if ready else f"Order: {description}"
    if kind == "return":
        return f"Refund ready for the returned {what}" if ready else f"Return of {what} in progress"
    return description


def _service_text_nl(kind: str, ready: bool, what: str, description: str) -> str:
    if kind == "repair":
        return f"Reparatie van {what} is klaar" if ready else f"Reparatie van {what} loopt nog"
    if kind == "special_order":
        return (
            f"Speciale bestelling klaar: {description}"
            if ready
            else (f"Speciale bestelling: {description}")
        )
    if kind == "pickup":
        return (
            f"Bestelling klaar om op te halen: {description}"
            if ready
            else (f"Bestelling: {description}")
        )
    if kind == "return":
        return (
            f"Terugbetaling klaar voor de geretourneerde {what}"
            if ready
            else (f"Retour van {what} loopt nog")
        )
    return description


def _days(delta: timedelta) -> int:
    return max(0, int(delta.total_seconds() // 86400))


def _ago(days: int, language: str = "en") -> str:
    nl = language == "nl"
    if days == 0:
        return "vandaag" if nl else "today"
    if days == 1:
        return "gisteren" if nl else "yesterday"
    if days < 14:
        return f"{days} {'dagen geleden' if nl else 'days ago'}"
    if days < 60:
        return f"{round(days / 7)} {'weken geleden' if nl else 'weeks ago'}"
    return f"{round(days / 30.4)} {'maanden geleden' if nl else 'months ago'}"


def compose_card(
    session: Session,
    visit: Visit,
    customer: Customer,
    *,
    recommender: Recommender | None,
    now: datetime,
    settings: CardSettings | None = None,
) -> Card:
    cfg = settings or CardSettings()
    cid = customer.id

    # Allergies and diets first: they decide what may be suggested.
    allergy_rows = sorted(
        session.scalars(select(Allergy).where(Allergy.customer_id == cid)),
        key=lambda a: (SEVERITY_ORDER.get(a.severity, 9), a.allergen),
    )
    diets = sorted(
        d.need for d in session.scalars(select(DietaryNeed).where(DietaryNeed.customer_id == cid))
    )
    restrictions = Restrictions.of([a.allergen for a in allergy_rows], diets)

    prefs: dict[str, list[str]] = {}
    for pref in session.scalars(
        select(Preference).where(Preference.customer_id == cid).order_by(Preference.id)
    ):
        prefs.setdefault(pref.kind, []).append(pref.value)

    # Visits: how many, and when were they last here (a visit or a purchase before this one).
    previous_visit = session.scalar(
        select(func.max(Visit.arrived_at)).where(Visit.customer_id == cid, Visit.id != visit.id)
    )
    last_purchase_at = session.scalar(
        select(func.max(Purchase.purchased_at)).where(
            Purchase.customer_id == cid, Purchase.purchased_at < visit.arrived_at
        )
    )
    last_visit_at = max((t for t in (previous_visit, last_purchase_at) if t), default=None)

    recent = list(
        session.execute(
            select(
                Purchase.product_name,
                Purchase.category,
                Purchase.brand,
                Purchase.purchased_at,
                Purchase.size,
                Purchase.quantity,
            )
            .where(Purchase.customer_id == cid)
            .order_by(Purchase.purchased_at.desc(), Purchase.id.desc())
            .limit(max(cfg.last_purchases, 60))
        )
    )
    category_counts = dict(
        session.execute(
            select(Purchase.category, func.count())
            .where(Purchase.customer_id == cid)
            .group_by(Purchase.category)
        ).all()
    )
    brand_counts = dict(
        session.execute(
            select(Purchase.brand, func.count())
            .where(Purchase.customer_id == cid, Purchase.brand.is_not(None))
            .group_by(Purchase.brand)
        ).all()
    )
    favourite_categories = favourites(prefs.get("category", []), category_counts)
    favourite_brands = favourites(
        prefs.get("brand", []), {b: n for b, n in brand_counts.items() if b is not None}
    )
    sizes = list(dict.fromkeys([*prefs.get("size", []), *(r[4] for r in recent if r[4])]))[:3]

    service_rows = sorted(
        session.scalars(
            select(ServiceItem).where(
                ServiceItem.customer_id == cid, ServiceItem.status.in_(("open", "ready"))
            )
        ),
        key=lambda s: (s.status != "ready", -(s.updated_at.timestamp())),
    )
    service = [
        ServiceLine(
            s.kind,
            s.status,
            service_text(s.kind, s.status, s.description, cfg.language),
            s.updated_at,
        )
        for s in service_rows[:4]
    ]

    follow = session.execute(
        select(Purchase.product_name, Purchase.purchased_at)
        .join(Product, Product.id == Purchase.product_id)
        .where(
            Purchase.customer_id == cid,
            Purchase.purchased_at <= now - timedelta(days=cfg.follow_up_after_days),
            Purchase.purchased_at >= now - timedelta(days=cfg.follow_up_until_days),
            Product.consumable.is_(False),
        )
        .order_by(Purchase.amount_cents.desc(), Purchase.purchased_at.desc())
        .limit(1)
    ).first()
    follow_up = None
    if follow is not None:
        name, at = follow
        under_repair = any(name.lower() in s.text.lower() for s in service)
        if not under_repair:
            days = _days(now - at)
            ago = _ago(days, cfg.language)
            ask = (
                f"Vraag hoe de {name} bevalt (gekocht {ago})"
                if cfg.language == "nl"
                else f"Ask how the {name} is working out (bought {ago})"
            )
            follow_up = FollowUp(ask, name, at)

    notes = [
        NoteLine(n.author, n.body, n.created_at)
        for n in session.scalars(
            select(StaffNote)
            .where(StaffNote.customer_id == cid)
            .order_by(StaffNote.created_at.desc())
            .limit(2)
        )
    ]

    suggestions: list[Suggestion] = []
    if recommender is not None and cfg.suggestions > 0:
        history = recommend.history_from_db(
            session, cid, restrictions=restrictions, favourite_categories=favourite_categories
        )
        suggestions = [
            replace(s, reason=recommend.reason_text(s.kind, dict(s.facts), cfg.language))
            for s in recommender.recommend(history, k=cfg.suggestions, now=now)
        ]

    return Card(
        visit_id=visit.id,
        customer_id=cid,
        name=customer.name,
        preferred_name=customer.preferred_name,
        visit_number=visit_number(session, cid),
        last_visit_at=last_visit_at,
        days_since_last_visit=_days(now - last_visit_at) if last_visit_at else None,
        member_since=customer.created_at,
        allergies=[a.allergen for a in allergy_rows],
        allergy_details=[AllergyLine(a.allergen, a.severity, a.note) for a in allergy_rows],
        dietary=diets,
        preferences=prefs,
        service_items=service,
        follow_up=follow_up,
        last_purchases=[
            PurchaseLine(r[0], r[1], r[2], r[3], r[4], r[5]) for r in recent[: cfg.last_purchases]
        ],
        favourites={"categories": list(favourite_categories), "brands": list(favourite_brands)},
        sizes=sizes,
        notes=notes,
        suggestions=suggestions,
    )
