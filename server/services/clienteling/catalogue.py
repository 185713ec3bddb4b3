"""The catalogue, and what "conflicts with this customer's allergies or diet" means.

Allergens are matched on canonical keys (the EU's 14 allergens, tree nuts by species), from
English or Dutch words, so a customer who said "pinda" is protected from a product declaring
"peanuts". The rules are deliberately cautious:

- a customer allergic to "nuts" conflicts with every tree nut; a product that declares only
  "nuts" conflicts with a customer allergic to any one tree nut;
- a product's ingredient text is scanned too, so a product whose allergen list forgot the
  hazelnut in its ingredients still conflicts;
- an allergy the table does not know ("strawberry") conflicts with any product naming it;
- a product whose allergens were never declared (``allergens IS NULL``) is never suggested to a
  customer with any allergy or dietary need.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.db.clienteling import Product

TREE_NUTS = frozenset(
    {"almond", "hazelnut", "walnut", "cashew", "pecan", "brazil_nut", "pistachio", "macadamia"}
)

# canonical key -> words (English and Dutch, singular and plural) that name it.
_WORDS: dict[str, tuple[str, ...]] = {
    "peanut": ("peanut", "peanuts", "pinda", "pindas", "pinda's", "groundnut", "arachide"),
    "nuts": ("nuts", "nut", "tree nuts", "tree nut", "noten", "noot", "notenmix"),
    "almond": ("almond", "almonds", "amandel", "amandelen", "marzipan", "marsepein"),
    "hazelnut": ("hazelnut", "hazelnuts", "hazelnoot", "hazelnoten", "gianduja", "praline"),
    "walnut": ("walnut", "walnuts", "walnoot", "walnoten"),
    "cashew": ("cashew", "cashews", "cashewnoot", "cashewnoten"),
    "pecan": ("pecan", "pecans", "pecannoot", "pecannoten"),
    "brazil_nut": ("brazil nut", "brazil nuts", "paranoot", "paranoten"),
    "pistachio": ("pistachio", "pistachios", "pistache", "pistaches"),
    "macadamia": ("macadamia", "macadamias", "macadamianoot"),
    "milk": (
        "milk", "dairy", "lactose", "melk", "zuivel", "butter", "boter", "cream", "room",
        "cheese", "kaas", "whey", "wei", "casein", "caseïne",
    ),
    "egg": ("egg", "eggs", "ei", "eieren", "eigeel", "eiwit"),
    "gluten": (
        "gluten", "wheat", "tarwe", "spelt", "rye", "rogge", "barley", "gerst", "oats", "haver",
    ),
    "soy": ("soy", "soya", "soja", "soybean", "sojabonen"),
    "sesame": ("sesame", "sesam", "sesamzaad", "tahini"),
    "fish": ("fish", "vis", "anchovy", "ansjovis", "tuna", "tonijn", "salmon", "zalm"),
    "crustaceans": ("crustaceans", "shellfish", "schaaldieren", "shrimp", "garnalen", "kreeft"),
    "molluscs": ("molluscs", "mollusks", "weekdieren", "mussels", "mosselen", "oysters"),
    "celery": ("celery", "selderij", "knolselderij"),
    "mustard": ("mustard", "mosterd"),
    "sulphites": ("sulphites", "sulfites", "sulphite", "sulfite", "sulfiet", "sulfieten"),
    "lupin": ("lupin", "lupine", "lupin flour"),
    "alcohol": ("alcohol", "liqueur", "likeur", "rum", "cognac", "whisky", "wine", "wijn"),
}  # fmt: skip
_WORD_TO_KEY = {w: key for key, words in _WORDS.items() for w in words}
ALLERGEN_KEYS = frozenset(_WORDS)

DIETS = (
    "vegan",
    "vegetarian",
    "halal",
    "kosher",
    "gluten_free",
    "lactose_free",
    "sugar_free",
    "alcohol_free",
)
_DIET_WORDS: dict[str, tuple[str, ...]] = {
    "vegan": ("vegan", "veganist", "veganistisch", "plantaardig"),
    "vegetarian": ("vegetarian", "vegetarisch", "veggie"),
    "halal": ("halal",),
    "kosher": ("kosher", "koosjer"),
    "gluten_free": ("gluten_free", "gluten-free", "gluten free", "glutenvrij", "coeliac", "celiac"),
    "lactose_free": ("lactose_free", "lactose-free", "lactose free", "lactosevrij", "dairy-free"),
    "sugar_free": ("sugar_free", "sugar-free", "sugar free", "suikervrij", "diabetic"),
    "alcohol_free": ("alcohol_free", "alcohol-free", "alcohol free", "alcoholvrij", "no alcohol"),
}  # fmt: skip
_DIET_WORD_TO_KEY = {w: key for key, words in _DIET_WORDS.items() for w in words}
# A diet that rules out an allergen key outright; the others need the product to be flagged.
_DIET_EXCLUDES = {"gluten_free": "gluten", "lactose_free": "milk", "alcohol_free": "alcohol"}
_DIET_NEEDS_FLAG: dict[str, frozenset[str]] = {
    "vegan": frozenset({"vegan"}),
    "vegetarian": frozenset({"vegetarian", "vegan"}),
    "halal": frozenset({"halal"}),
    "kosher": frozenset({"kosher"}),
    "sugar_free": frozenset({"sugar_free"}),
}


def _clean(word: str) -> str:
    return re.sub(r"\s+", " ", word.strip().lower())


def allergen_key(word: str) -> str:
    """The canonical key for an allergen word; unknown words stay themselves (lower case)."""
    w = _clean(word)
    return _WORD_TO_KEY.get(w, w)


def diet_key(word: str) -> str | None:
    """The canonical diet for a word (``"veganistisch"`` -> ``"vegan"``), or ``None``."""
    return _DIET_WORD_TO_KEY.get(_clean(word))


def customer_allergen_keys(words: Iterable[str]) -> frozenset[str]:
    """What a customer must avoid: "nuts" widens to every tree nut."""
    keys = {allergen_key(w) for w in words if w.strip()}
    if "nuts" in keys:
        keys |= TREE_NUTS
    return frozenset(keys)


def product_allergen_keys(words: Iterable[str]) -> frozenset[str]:
    """What a product contains: a tree nut is also "nuts"; bare "nuts" may be any tree nut."""
    keys = {allergen_key(w) for w in words if w.strip()}
    if "nuts" in keys:  # unspecified: assume any of them
        keys |= TREE_NUTS
    if keys & TREE_NUTS:
        keys.add("nuts")
    return frozenset(keys)


# Phrases that name an allergen word without containing it ("cocoa butter" is not dairy):
# rewritten before the ingredient scan.
_NEUTRAL = {
    "cocoa butter": "cocoa fat",
    "cacao butter": "cocoa fat",
    "shea butter": "shea fat",
    "peanut butter": "peanut paste",
    "coconut milk": "coconut drink",
    "coconut cream": "coconut paste",
    "almond milk": "almond drink",
    "oat milk": "oats drink",
    "soy milk": "soy drink",
    "rice milk": "rice drink",
}


def _scan_text(text: str) -> str:
    out = _clean(text)
    for phrase, neutral in _NEUTRAL.items():
        out = out.replace(phrase, neutral)
    return out


@dataclass(frozen=True)
class ProductInfo:
    """A product as the recommender and the card see it (plain data, no session)."""

    id: int
    sku: str
    name: str
    category: str
    brand: str | None
    price_cents: int
    allergens: tuple[str, ...] | None
    allergen_keys: frozenset[str]
    text: str  # name + ingredients, lower case, for the cautious scan
    diets: frozenset[str]
    consumable: bool
    replenish_days: int | None
    new_arrival_at: datetime | None
    active: bool

    @classmethod
    def of(cls, p: Product) -> ProductInfo:
        allergens = tuple(p.allergens) if p.allergens is not None else None
        return cls(
            id=p.id,
            sku=p.sku,
            name=p.name,
            category=p.category,
            brand=p.brand,
            price_cents=p.price_cents,
            allergens=allergens,
            allergen_keys=product_allergen_keys(allergens or ()),
            text=_scan_text(f"{p.name} {p.ingredients or ''}"),
            diets=frozenset(p.diets or ()),
            consumable=p.consumable,
            replenish_days=p.replenish_days,
            new_arrival_at=p.new_arrival_at,
            active=p.active,
        )


@dataclass(frozen=True)
class Restrictions:
    """A customer's allergies and dietary needs, ready to test products against."""

    allergen_keys: frozenset[str] = frozenset()
    diets: frozenset[str] = frozenset()

    @classmethod
    def of(cls, allergies: Iterable[str], diets: Iterable[str] = ()) -> Restrictions:
        diet_keys = frozenset(k for k in (diet_key(d) for d in diets) if k)
        extra = {_DIET_EXCLUDES[d] for d in diet_keys if d in _DIET_EXCLUDES}
        return cls(customer_allergen_keys([*allergies, *extra]), diet_keys)

    @property
    def any(self) -> bool:
        return bool(self.allergen_keys or self.diets)

    def conflict(self, product: ProductInfo) -> str | None:
        """Why ``product`` is unsafe or unsuitable for this customer, or ``None`` if it is fine."""
        if not self.any:
            return None
        if product.allergens is None:
            return "allergens not declared"
        hit = self.allergen_keys & product.allergen_keys
        if hit:
            return f"contains {', '.join(sorted(hit))}"
        if self._scan is not None:
            found = self._scan.search(product.text)
            if found:
                return f"ingredients mention {found.group(0)}"
        for diet in self.diets:
            needs = _DIET_NEEDS_FLAG.get(diet)
            if needs and not needs & product.diets:
                return f"not {diet.replace('_', '-')}"
        return None

    @cached_property
    def _scan(self) -> re.Pattern[str] | None:
        """One pattern for every word that names one of the customer's allergens."""
        words = {w for key in self.allergen_keys for w in _WORDS.get(key, (key,))}
        if not words:
            return None
        alternation = "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))
        return re.compile(rf"(?<![a-zà-ÿ])(?:{alternation})(?![a-zà-ÿ])")

    def allows(self, product: ProductInfo) -> bool:
        return self.conflict(product) is None


def load(session: Session, *, active_only: bool = False) -> dict[int, ProductInfo]:
    query = select(Product)
    if active_only:
        query = query.where(Product.active.is_(True))
    return {p.id: ProductInfo.of(p) for p in session.scalars(query)}


def by_sku(session: Session, sku: str) -> Product | None:
    return session.scalar(select(Product).where(Product.sku == sku))
