"""Fictional clienteling data for the demo: a luxury sweets and deli shop (see shared/seeds).

Deterministic per customer name, so a demo run prints the same cards every time.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from server.db.models import Allergy, Preference, Purchase


@dataclass(frozen=True)
class Product:
    name: str
    category: str
    brand: str
    allergens: tuple[str, ...] = ()


CATALOGUE: tuple[Product, ...] = (
    Product("Hazelnut praline box", "chocolate", "Puur Amsterdam", ("hazelnut", "milk")),
    Product("Dark chocolate 85% bar", "chocolate", "Puur Amsterdam"),
    Product("Sea-salt caramels", "caramel", "Zoet & Zout", ("milk",)),
    Product("Liquorice allsorts", "liquorice", "Drop Atelier", ("gluten",)),
    Product("Salted liquorice coins", "liquorice", "Drop Atelier"),
    Product("Peanut brittle", "nuts", "Notenhuis", ("peanut",)),
    Product("Almond marzipan", "marzipan", "Notenhuis", ("almond",)),
    Product("Stroopwafels (8)", "biscuits", "Gouda Bakkerij", ("gluten", "milk", "egg")),
    Product("Sugar-free fruit gums", "gums", "Zoet & Zout"),
    Product("Vegan dark truffles", "chocolate", "Cacao Verde"),
    Product("Earl Grey tea tin", "tea", "Theehuis", ()),
    Product("Espresso beans 500 g", "coffee", "Brandhuis", ()),
    Product("Gift hamper", "gifts", "Vertrouwd Selectie", ("milk", "gluten")),
)

ALLERGENS = ("peanut", "hazelnut", "gluten", "milk", "almond", "egg")
SIZES = ("gift box small", "gift box large")


def _rng(name: str) -> random.Random:
    return random.Random(int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big"))


def populate(
    session: Session, *, customer_id: str, name: str, store_id: int, now: datetime
) -> None:
    """A year of purchases, two preferences, one allergy; never a product with that allergen."""
    rng = _rng(name)
    allergy = rng.choice(ALLERGENS)
    safe = [p for p in CATALOGUE if allergy not in p.allergens]
    favourites = rng.sample(sorted({p.category for p in safe}), 2)
    session.add(Allergy(customer_id=customer_id, allergen=allergy, note="told us at the register"))
    for cat in favourites:
        session.add(Preference(customer_id=customer_id, kind="category", value=cat))
    session.add(Preference(customer_id=customer_id, kind="brand", value=rng.choice(safe).brand))
    session.add(Preference(customer_id=customer_id, kind="size", value=rng.choice(SIZES)))
    for _ in range(rng.randint(6, 14)):
        weighted = [p for p in safe if p.category in favourites] * 3 + safe
        product = rng.choice(weighted)
        session.add(
            Purchase(
                customer_id=customer_id,
                store_id=store_id,
                purchased_at=now - timedelta(days=rng.randint(3, 360), hours=rng.randint(0, 9)),
                product_name=product.name,
                category=product.category,
                brand=product.brand,
                quantity=rng.randint(1, 3),
                amount_cents=rng.randint(450, 4500),
            )
        )
