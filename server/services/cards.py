"""The prompt card: what a salesperson sees when a member walks in.

Two-step reveal (DESIGN.md): the pushed ``teaser`` holds only the preferred name, the visit
number and the small enrolment photo; ``compose_card`` (history, preferences, allergies,
suggestions) is served only when the salesperson confirms it is that person, and that opening is
written to the audit log by the caller.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from server.db.models import Allergy, Customer, Preference, Purchase, Visit


@dataclass(frozen=True)
class PurchaseLine:
    product_name: str
    category: str
    brand: str | None
    purchased_at: datetime


@dataclass(frozen=True)
class Suggestion:
    title: str
    reason: str


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

    def as_json(self) -> dict[str, Any]:
        def enc(value: Any) -> Any:
            if isinstance(value, datetime):
                return value.isoformat()
            if isinstance(value, dict):
                return {k: enc(v) for k, v in value.items()}
            if isinstance(value, list):
                return [enc(v) for v in value]
            return value

        return {k: enc(v) for k, v in asdict(self).items()}


def visit_number(session: Session, customer_id: str) -> int:
    return int(session.scalar(select(func.count()).where(Visit.customer_id == customer_id)) or 0)


def teaser(
    session: Session, visit: Visit, customer: Customer, thumbnail_b64: str | None
) -> dict[str, Any]:
    """The first step of the reveal: a first name and a photo, nothing else."""
    return {
        "type": "arrival",
        "visit_id": visit.id,
        "preferred_name": customer.preferred_name,
        "visit_number": visit_number(session, customer.id),
        "arrived_at": visit.arrived_at.isoformat(),
        "live_until": visit.live_until.isoformat(),
        "thumbnail": thumbnail_b64,
    }


def _suggest(
    purchases: list[Purchase], preferences: dict[str, list[str]], allergies: list[str]
) -> list[Suggestion]:
    """A plain baseline until the recommender lands: replenish the most-bought consumable
    category, or a favourite category not bought recently; never anything naming an allergen."""
    banned = [a.lower() for a in allergies]

    def safe(text: str) -> bool:
        low = text.lower()
        return not any(a in low for a in banned)

    out: list[Suggestion] = []
    counts = Counter(p.product_name for p in purchases)
    for product, n in counts.most_common():
        if n >= 2 and safe(product):
            out.append(Suggestion(product, f"bought {n} times; may be running low"))
            break
    bought_cats = {p.category for p in purchases[:10]}
    for cat in preferences.get("category", []):
        if cat not in bought_cats and safe(cat):
            out.append(
                Suggestion(f"New in {cat}", "favourite category, nothing bought there lately")
            )
            break
    return out[:3]


def compose_card(session: Session, visit: Visit, customer: Customer) -> Card:
    purchases = list(
        session.scalars(
            select(Purchase)
            .where(Purchase.customer_id == customer.id)
            .order_by(Purchase.purchased_at.desc())
            .limit(200)
        )
    )
    prefs: dict[str, list[str]] = {}
    for pref in session.scalars(select(Preference).where(Preference.customer_id == customer.id)):
        prefs.setdefault(pref.kind, []).append(pref.value)
    allergies = [
        a.allergen
        for a in session.scalars(select(Allergy).where(Allergy.customer_id == customer.id))
    ]
    previous = session.scalar(
        select(func.max(Visit.arrived_at)).where(
            Visit.customer_id == customer.id, Visit.id != visit.id
        )
    )
    return Card(
        visit_id=visit.id,
        customer_id=customer.id,
        name=customer.name,
        preferred_name=customer.preferred_name,
        visit_number=visit_number(session, customer.id),
        last_visit_at=previous,
        allergies=allergies,
        preferences=prefs,
        last_purchases=[
            PurchaseLine(p.product_name, p.category, p.brand, p.purchased_at) for p in purchases[:3]
        ],
        suggestions=_suggest(purchases, prefs, allergies),
    )
