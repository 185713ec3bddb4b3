"""Fictional clienteling data for the demo: a luxury sweets, deli and kitchen shop in the spirit
of ``shared/seeds`` (a candy chain that recognises its members and suggests new sweets that
respect their allergies).

``seed`` writes a catalogue of about 250 products across 19 categories and a year of sales for a
few hundred loyalty members, simulated so the data has the structure real shops see:

- each member follows one or two *personas* (coffee lover, chocoholic, baker, gourmet, tea
  drinker, liquorice fan, gift buyer, home cook) that weight the categories they shop in, and has
  a favourite brand per category;
- a member has *staples*: consumables re-bought at a personal rhythm (beans every ~3-4 weeks);
- durable goods are bought once and pull their accessories along (an espresso machine with a
  milk jug, descaler and beans; a pasta machine with tipo 00 flour);
- new arrivals (the last 60 days) get a novelty boost in their category;
- members with an allergy or a diet never buy what conflicts with it.

``populate`` gives one enrolled demo member a profile (allergy, preferences, sizes), a year of
history, an open service item, a recent durable purchase to follow up and a staff note.
Everything is deterministic: the same ``now`` and names give the same data.
"""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, insert, select
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
)
from server.db.membership import Customer
from server.services.clienteling import catalogue
from server.services.clienteling.catalogue import Restrictions
from server.services.ids import new_subject_id

# --- the catalogue ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Item:
    name: str
    allergens: tuple[str, ...] = ()
    diets: tuple[str, ...] = ()
    price: float = 0.0  # euros; 0: the category's default
    size: str | None = None
    ingredients: str | None = None


@dataclass(frozen=True)
class Category:
    name: str
    brands: tuple[str, ...]
    items: tuple[Item, ...]
    price: float
    consumable: bool
    replenish_days: int | None = None
    per_brand: bool = False  # every item in every brand (chocolate bars, teas)


V = ("vegan", "vegetarian", "halal")
VEG = ("vegetarian", "halal")
MILK_SOY = ("milk", "soy")

CATEGORIES: tuple[Category, ...] = (
    Category("chocolate", ("Puur Amsterdam", "Cacao Verde", "Chocolaterie Dubois"), (
        Item("Dark chocolate 70%", ("soy",), V),
        Item("Dark chocolate 85%", (), V),
        Item("Dark sea salt chocolate", ("soy",), V),
        Item("Dark orange chocolate", (), V),
        Item("Dark chili chocolate", (), V),
        Item("Milk chocolate 40%", MILK_SOY, VEG),
        Item("Milk caramel sea salt chocolate", MILK_SOY, VEG),
        Item("Milk hazelnut chocolate", ("milk", "hazelnut"), VEG),
        Item("White vanilla chocolate", ("milk",), VEG),
        Item("White raspberry chocolate", ("milk",), VEG),
        Item("Almond crunch chocolate", ("milk", "almond"), VEG),
        Item("Oat milk chocolate", ("gluten",), V),
        Item("Dark ginger chocolate", (), V),
        Item("Dark mint crisp chocolate", ("soy",), V),
        Item("Milk stroopwafel chocolate", ("milk", "gluten", "egg"), VEG),
        Item("Ruby chocolate", ("milk", "soy"), VEG),
        Item("Dark peanut crunch chocolate", ("peanut",), V),
        Item("Single origin Peru 72%", (), V),
    ), 4.95, True, 21, per_brand=True),
    Category("bonbons", ("Chocolaterie Dubois", "Puur Amsterdam"), (
        Item("Bonbon box 9 pieces", MILK_SOY, VEG, 14.5, "9 pcs"),
        Item("Bonbon box 16 pieces", MILK_SOY, VEG, 24.5, "16 pcs"),
        Item("Bonbon box 25 pieces", MILK_SOY, VEG, 36.0, "25 pcs"),
        Item("Hazelnut praline box", ("milk", "hazelnut"), VEG, 18.5, "12 pcs"),
        Item("Ganache selection", MILK_SOY, VEG, 21.0, "12 pcs"),
        Item("Vegan truffles", (), V, 16.5, "12 pcs", "cocoa, coconut cream, sugar"),
        Item("Champagne truffles", ("milk", "alcohol"), ("vegetarian",), 19.5, "12 pcs"),
        Item("Pistachio pralines", ("milk", "pistachio"), VEG, 19.0, "12 pcs"),
    ), 18.0, True, 35, per_brand=True),
    Category("liquorice", ("Drop Atelier", "Zoute Zaken", "Dropfabriek Zwolle"), (
        Item("Salt liquorice coins", (), V),
        Item("Double salt drops", (), V),
        Item("Sweet liquorice", (), V),
        Item("Honey liquorice", (), ("vegetarian", "halal")),
        Item("Laurel liquorice", (), V),
        Item("Liquorice allsorts", ("gluten",), ("vegetarian",)),
        Item("Mint liquorice", (), V),
        Item("Sugar-free liquorice", (), (*V, "sugar_free")),
    ), 3.95, True, 28, per_brand=True),
    Category("gums", ("Zoet & Zout", "Snoepwinkel de Kaap", "Suikerbakkerij Lof"), (
        Item("Fruit gums", (), V),
        Item("Sour cherries", (), V),
        Item("Sugar-free fruit gums", (), (*V, "sugar_free")),
        Item("Vegan bears", (), V),
        Item("Wine gums", (), ()),
        Item("Marshmallows", (), ()),
        Item("Cola bottles", (), V),
    ), 3.5, True, 30, per_brand=True),
    Category("caramel", ("Zoet & Zout",), (
        Item("Sea-salt caramels", ("milk",), VEG),
        Item("Vanilla fudge", ("milk",), VEG),
        Item("Stroopwafel caramels", ("milk", "gluten"), VEG),
        Item("Coffee caramels", ("milk",), VEG),
        Item("Vegan caramels", (), V),
        Item("Liquorice caramels", ("milk",), VEG),
    ), 6.5, True, 30),
    Category("marzipan & nougat", ("Notenhuis",), (
        Item("Almond marzipan", ("almond",), V),
        Item("Marzipan fruits", ("almond",), V, 9.5),
        Item("Pistachio nougat", ("pistachio", "egg"), ("vegetarian",)),
        Item("Montelimar nougat", ("almond", "egg"), ("vegetarian",)),
        Item("Dark marzipan bar", ("almond", "soy"), V),
    ), 7.5, True, 60),
    Category("nuts", ("Notenhuis",), (
        Item("Roasted almonds", ("almond",), V),
        Item("Salted cashews", ("cashew",), V),
        Item("Honey peanuts", ("peanut",), ("vegetarian",)),
        Item("Peanut brittle", ("peanut",), V),
        Item("Candied pecans", ("pecan",), V),
        Item("Chocolate hazelnuts", ("hazelnut", "milk"), VEG),
        Item("Mixed nuts deluxe", ("nuts",), V),
        Item("Pistachios in shell", ("pistachio",), V),
    ), 6.95, True, 30),
    Category("biscuits", ("Gouda Bakkerij", "Bakkerij Vos"), (
        Item("Stroopwafels (8)", ("gluten", "milk", "egg"), ("vegetarian",)),
        Item("Butter cookies", ("gluten", "milk", "egg"), ("vegetarian",)),
        Item("Almond speculaas", ("gluten", "milk", "almond"), ("vegetarian",)),
        Item("Gluten-free almond biscuits", ("almond", "egg"), ("vegetarian", "gluten_free")),
        Item("Chocolate chip cookies", ("gluten", "milk", "egg", "soy"), ("vegetarian",)),
        Item("Vegan oat biscuits", ("gluten",), V),
    ), 4.5, True, 21, per_brand=True),
    Category("coffee", ("Brandhuis Amsterdam", "Koffiebranderij Noord", "Bonenbar"), (
        Item("Espresso Napoli beans", (), V, size="1 kg", price=24.5),
        Item("Espresso Milano beans", (), V, size="500 g"),
        Item("Ethiopia Yirgacheffe beans", (), V, size="250 g", price=11.5),
        Item("Colombia Huila beans", (), V, size="500 g"),
        Item("Brazil Cerrado beans", (), V, size="500 g"),
        Item("Decaf Swiss water beans", (), V, size="500 g"),
        Item("House blend beans", (), V, size="1 kg", price=21.0),
        Item("Kenya AA beans", (), V, size="250 g", price=12.5),
    ), 14.5, True, 24, per_brand=True),
    Category("tea", ("Theehuis Kralingen", "Theepot & Co", "Groene Draak"), (
        Item("Earl Grey", (), V),
        Item("Sencha", (), V),
        Item("Rooibos vanilla", (), V),
        Item("Darjeeling first flush", (), V, price=14.5),
        Item("Jasmine pearls", (), V, price=16.0),
        Item("Moroccan mint", (), V),
        Item("Masala chai", (), V),
        Item("Ceremonial matcha", (), V, price=24.0),
    ), 8.95, True, 40, per_brand=True),
    Category("cheese", ("Kaasboerderij De Vijfsprong",), (
        Item("Old Gouda 48+", ("milk",), ()),
        Item("Goat cheese", ("milk",), ()),
        Item("Truffle Gouda", ("milk",), ()),
        Item("Cumin Leyden cheese", ("milk",), ()),
        Item("Blue cheese", ("milk",), ()),
        Item("Farmhouse Brie", ("milk",), ()),
        Item("Aged sheep cheese", ("milk",), ()),
    ), 8.5, True, 14),
    Category("oil & vinegar", ("Olijfhuis",), (
        Item("Koroneiki olive oil", (), V, 16.5),
        Item("Arbequina olive oil", (), V, 14.5),
        Item("Balsamic vinegar 12 years", ("sulphites",), V, 24.0),
        Item("Truffle oil", (), V),
        Item("Walnut oil", ("walnut",), V),
        Item("Sherry vinegar", ("sulphites",), V),
    ), 12.5, True, 60),
    Category("jam & honey", ("Bijenhof", "Confiturerie Lentz"), (
        Item("Strawberry jam", (), V),
        Item("Apricot jam", (), V),
        Item("Seville orange marmalade", (), V),
        Item("Forest honey", (), ("vegetarian", "halal")),
        Item("Acacia honey", (), ("vegetarian", "halal")),
        Item("Hazelnut spread", ("hazelnut", "milk"), VEG),
        Item("Speculoos spread", ("gluten", "soy"), V),
    ), 6.95, True, 45),
    Category("pantry", ("Dispensa",), (
        Item("Tagliatelle all'uovo", ("gluten", "egg"), ("vegetarian",)),
        Item("Spaghetti trafilata al bronzo", ("gluten",), V),
        Item("Tipo 00 flour", ("gluten",), V, 3.5),
        Item("Carnaroli risotto rice", (), V),
        Item("Gluten-free fusilli", (), (*V, "gluten_free")),
        Item("Madagascar vanilla pods", (), V, 9.5),
        Item("Saffron threads", (), V, 11.0),
        Item("Sea salt flakes", (), V, 5.5),
        Item("Callebaut baking callets", MILK_SOY, ("vegetarian",), 12.5),
    ), 4.95, True, 30),
    Category("syrups & cocoa", ("Siroperij Haarlem", "Puur Amsterdam"), (
        Item("Elderflower syrup", (), V),
        Item("Ginger syrup", (), V),
        Item("Hot chocolate flakes", MILK_SOY, ("vegetarian",)),
        Item("Vegan hot chocolate", (), V),
        Item("Salted caramel syrup", ("milk",), VEG),
        Item("Chai syrup", (), V),
    ), 7.95, True, 45, per_brand=True),
    Category("coffee gear", ("Brandhuis Amsterdam",), (
        Item("Espresso machine Uno", (), (), 695.0),
        Item("Espresso machine Duo dual boiler", (), (), 1495.0),
        Item("Coffee grinder Macina", (), (), 249.0),
        Item("Milk jug 600 ml", (), (), 24.95),
        Item("Tamper 58 mm", (), (), 39.0),
        Item("Pour-over set", (), (), 49.0),
        Item("Moka pot 6 cups", (), (), 45.0),
        Item("Knock box", (), (), 29.0),
    ), 49.0, False),
    Category("coffee care", ("Brandhuis Amsterdam",), (
        Item("Descaler (3 sachets)", (), (), 12.95),
        Item("Group head cleaning tablets", (), (), 14.95),
        Item("Water filter cartridges", (), (), 19.95),
    ), 14.95, True, 75),
    Category("knives", ("Snijwerk Utrecht",), (
        Item("Chef's knife 20 cm", (), (), 189.0),
        Item("Santoku 18 cm", (), (), 169.0),
        Item("Paring knife", (), (), 59.0),
        Item("Bread knife", (), (), 99.0),
        Item("Whetstone 1000/6000", (), (), 65.0),
        Item("Magnetic knife block", (), (), 89.0),
        Item("Cheese knife set", (), (), 49.0),
    ), 99.0, False),
    Category("cookware", ("Pannenhuis",), (
        Item("Copper saucepan 16 cm", (), (), 179.0),
        Item("Cast-iron casserole 24 cm", (), (), 229.0),
        Item("Carbon steel pan 28 cm", (), (), 69.0),
        Item("Stainless frying pan 24 cm", (), (), 119.0),
        Item("Carbon steel wok", (), (), 79.0),
    ), 99.0, False),
    Category("baking & machines", ("Bakgilde",), (
        Item("Springform 24 cm", (), (), 24.95),
        Item("Bread proving basket", (), (), 19.95),
        Item("Stand mixer", (), (), 549.0),
        Item("Pasta machine", (), (), 89.0),
        Item("Ice cream maker", (), (), 299.0),
        Item("Chocolate tempering set", (), (), 59.0),
        Item("Digital kitchen scale", (), (), 34.95),
    ), 39.0, False),
    Category("gifts", ("Vertrouwd Selectie",), (
        Item("Gift hamper classic", ("milk", "gluten", "hazelnut", "egg"), ("vegetarian",), 49.5),
        Item("Gift hamper vegan", ("soy",), V, 44.5),
        Item("Coffee and tea gift set", (), V, 34.5),
        Item("Liquorice tasting box", ("gluten",), ("vegetarian",), 24.5),
        Item("Chocolate tasting flight", MILK_SOY, ("vegetarian",), 29.5),
    ), 39.0, False),
)  # fmt: skip

# What the label says, where it matters (the cautious allergen scan reads it).
INGREDIENTS: dict[str, str] = {
    "Dark chocolate 70%": "cocoa mass, sugar, cocoa butter, soy lecithin",
    "Dark chocolate 85%": "cocoa mass, cocoa butter, sugar",
    "Milk hazelnut chocolate": "sugar, hazelnuts, whole milk powder, cocoa butter",
    "Oat milk chocolate": "cocoa butter, sugar, oat flour",
    "Honey liquorice": "sugar, liquorice extract, honey",
    "Liquorice allsorts": "sugar, wheat flour, liquorice, gelatine",
    "Wine gums": "glucose syrup, sugar, gelatine, fruit juice",
    "Marshmallows": "sugar, gelatine, vanilla",
    "Sea-salt caramels": "sugar, cream, butter, sea salt",
    "Vegan caramels": "sugar, coconut cream, sea salt",
    "Mixed nuts deluxe": "almonds, hazelnuts, cashews, walnuts",
}

# Durable goods pull accessories into the same sale: (probability, item name).
BUNDLES: dict[str, tuple[tuple[float, str], ...]] = {
    "Espresso machine Uno": (
        (0.7, "Milk jug 600 ml"), (0.6, "Descaler (3 sachets)"), (0.5, "Tamper 58 mm"),
    ),
    "Espresso machine Duo dual boiler": (
        (0.7, "Milk jug 600 ml"), (0.6, "Water filter cartridges"), (0.6, "Tamper 58 mm"),
    ),
    "Coffee grinder Macina": ((0.4, "Knock box"),),
    "Pasta machine": ((0.8, "Tipo 00 flour"), (0.3, "Saffron threads")),
    "Ice cream maker": ((0.7, "Madagascar vanilla pods"), (0.3, "Callebaut baking callets")),
    "Chef's knife 20 cm": ((0.5, "Whetstone 1000/6000"), (0.3, "Magnetic knife block")),
    "Santoku 18 cm": ((0.5, "Whetstone 1000/6000"),),
    "Stand mixer": ((0.6, "Springform 24 cm"), (0.5, "Callebaut baking callets")),
    "Chocolate tempering set": ((0.8, "Callebaut baking callets"),),
    "Cast-iron casserole 24 cm": ((0.3, "Carnaroli risotto rice"),),
}  # fmt: skip

PERSONAS: dict[str, dict[str, float]] = {
    "coffee": {"coffee": 6, "coffee gear": 1.2, "coffee care": 1.0, "biscuits": 1, "chocolate": 1},
    "chocoholic": {"chocolate": 6, "bonbons": 2.5, "caramel": 1, "nuts": 1, "syrups & cocoa": 1},
    "baker": {"baking & machines": 1.2, "pantry": 3, "chocolate": 1.5, "jam & honey": 1, "nuts": 1},
    "gourmet": {"cheese": 5, "oil & vinegar": 2.5, "pantry": 2, "jam & honey": 1, "knives": 0.6},
    "tea": {"tea": 6, "biscuits": 2, "jam & honey": 1.5, "bonbons": 0.5, "syrups & cocoa": 1},
    "liquorice": {"liquorice": 6, "gums": 2.5, "caramel": 1},
    "gifts": {"gifts": 2, "bonbons": 3, "marzipan & nougat": 1.5, "chocolate": 1},
    "cook": {"cookware": 1, "knives": 1, "oil & vinegar": 2, "pantry": 2.5, "cheese": 1.5},
}  # fmt: skip
# The consumable categories a persona has staples in.
STAPLES: dict[str, tuple[str, ...]] = {
    "coffee": ("coffee",),
    "chocoholic": ("chocolate",),
    "baker": ("pantry",),
    "gourmet": ("cheese", "oil & vinegar"),
    "tea": ("tea",),
    "liquorice": ("liquorice",),
    "gifts": ("bonbons",),
    "cook": ("oil & vinegar",),
}

ALLERGIES = ("peanut", "hazelnut", "nuts", "milk", "gluten", "egg", "almond", "soy")
DIETS = ("vegan", "gluten_free", "vegetarian")
SIZES = ("gift box small", "gift box large", "coffee 500 g", "coffee 1 kg", "tea 100 g")
FIRST = (
    "Anna", "Bram", "Carmen", "Daan", "Eva", "Floor", "Gijs", "Hanna", "Isa", "Jesse", "Karin",
    "Lars", "Maaike", "Noor", "Olaf", "Pien", "Quinten", "Roos", "Sanne", "Thijs", "Ilse", "Vera",
    "Willem", "Yara", "Zeger", "Fatima", "Mohamed", "Priya", "Wei", "Sofia", "Lotte", "Ruben",
)  # fmt: skip
LAST = (
    "de Vries", "Jansen", "van Dijk", "Bakker", "Visser", "Smit", "Meijer", "de Boer", "Mulder",
    "de Groot", "Bos", "Vos", "Peters", "Hendriks", "van Leeuwen", "Dekker", "Brouwer", "de Wit",
    "Dijkstra", "Smits", "de Graaf", "van der Meer", "Kok", "Jacobs", "El Amrani", "Yilmaz",
)  # fmt: skip


def _sku(category: str, brand: str, name: str) -> str:
    digest = hashlib.sha256(f"{category}|{brand}|{name}".encode()).hexdigest()[:6].upper()
    return f"VT-{category[:3].upper().replace(' ', '')}-{digest}"


@dataclass(frozen=True)
class ProductSpec:
    sku: str
    name: str
    category: str
    brand: str
    price_cents: int
    allergens: tuple[str, ...]
    diets: tuple[str, ...]
    sizes: tuple[str, ...]
    consumable: bool
    replenish_days: int | None
    ingredients: str | None
    new_days_ago: int | None  # a new arrival this many days before ``now``


def catalogue_specs() -> list[ProductSpec]:
    """The whole catalogue; about one product in twelve arrived in the last 60 days."""
    rng = random.Random(20261125)
    out: list[ProductSpec] = []
    for cat in CATEGORIES:
        brands = cat.brands if cat.per_brand else cat.brands[:1]
        for b_index, brand in enumerate(brands):
            for i_index, item in enumerate(cat.items):
                if cat.per_brand and len(brands) > 1 and (i_index + b_index) % 5 == 4:
                    continue  # not every brand makes every item
                name = f"{item.name} · {brand}" if cat.per_brand and len(brands) > 1 else item.name
                price = item.price or cat.price
                new = rng.randint(3, 58) if rng.random() < 0.085 else None
                out.append(
                    ProductSpec(
                        sku=_sku(cat.name, brand, item.name),
                        name=name,
                        category=cat.name,
                        brand=brand,
                        price_cents=round(price * 100 * (1 + 0.06 * b_index)),
                        allergens=item.allergens,
                        diets=item.diets,
                        sizes=(item.size,) if item.size else (),
                        consumable=cat.consumable,
                        replenish_days=cat.replenish_days,
                        ingredients=item.ingredients or INGREDIENTS.get(item.name),
                        new_days_ago=new,
                    )
                )
    return out


def insert_catalogue(session: Session, *, now: datetime) -> dict[str, int]:
    """Products by SKU -> id (inserts the catalogue when the table is empty)."""
    existing = dict(session.execute(select(Product.sku, Product.id)).all())
    if existing:
        return existing
    rows = [
        {
            "sku": s.sku,
            "name": s.name,
            "category": s.category,
            "brand": s.brand,
            "price_cents": s.price_cents,
            "allergens": list(s.allergens),
            "ingredients": s.ingredients,
            "diets": list(s.diets),
            "sizes": list(s.sizes),
            "consumable": s.consumable,
            "replenish_days": s.replenish_days,
            "new_arrival_at": now - timedelta(days=s.new_days_ago) if s.new_days_ago else None,
            "active": True,
            "created_at": now - timedelta(days=s.new_days_ago or 400),
            "updated_at": now,
        }
        for s in catalogue_specs()
    ]
    session.execute(insert(Product), rows)
    return dict(session.execute(select(Product.sku, Product.id)).all())


# --- simulated shoppers -----------------------------------------------------------------------


@dataclass
class Shopper:
    customer_id: str
    personas: dict[str, float]
    brands: dict[str, str]  # category -> favourite brand
    restrictions: Restrictions
    trip_every: float  # days
    allowed: frozenset[int]  # products that do not conflict with the allergy or diet
    allergy: str | None = None
    diet: str | None = None
    staples: dict[int, float] = field(default_factory=dict)  # product id -> personal interval
    owned: set[int] = field(default_factory=set)


@dataclass(frozen=True)
class SimLine:
    product_id: int
    quantity: int
    amount_cents: int
    size: str | None


@dataclass(frozen=True)
class SimSale:
    customer_id: str
    at: datetime
    lines: tuple[SimLine, ...]


class Shop:
    """The catalogue as the simulation sees it."""

    def __init__(self, session: Session, *, now: datetime) -> None:
        ids = insert_catalogue(session, now=now)
        self.now = now
        self.specs = {ids[s.sku]: s for s in catalogue_specs() if s.sku in ids}
        self.by_name = {s.name: pid for pid, s in self.specs.items()}
        self.by_category: dict[str, list[int]] = {}
        for pid, s in sorted(self.specs.items()):
            self.by_category.setdefault(s.category, []).append(pid)
        self.info = catalogue.load(session)
        # A fixed, Zipf-like appeal per product: some items simply sell better.
        rng = random.Random(4242)
        self.appeal = {pid: 1.0 / (1 + rng.random() * 6) ** 1.3 for pid in self.specs}

    def available(self, pid: int, at: datetime) -> bool:
        days = self.specs[pid].new_days_ago
        return days is None or at >= self.now - timedelta(days=days)

    def novelty(self, pid: int, at: datetime) -> float:
        days = self.specs[pid].new_days_ago
        if days is None:
            return 1.0
        age = (at - (self.now - timedelta(days=days))).days
        return 5.0 if 0 <= age <= 45 else 1.0

    def pick(self, rng: random.Random, shopper: Shopper, category: str, at: datetime) -> int | None:
        options = []
        weights = []
        for pid in self.by_category.get(category, ()):
            spec = self.specs[pid]
            if not self.available(pid, at) or pid not in shopper.allowed:
                continue
            if not spec.consumable and pid in shopper.owned:
                continue
            w = self.appeal[pid] * self.novelty(pid, at)
            if shopper.brands.get(category) == spec.brand:
                w *= 4
            options.append(pid)
            weights.append(w)
        return rng.choices(options, weights)[0] if options else None


def make_shopper(
    rng: random.Random,
    shop: Shop,
    customer_id: str,
    *,
    allergy: str | None = None,
    random_restrictions: bool = True,
) -> Shopper:
    names = sorted(PERSONAS)
    chosen = rng.sample(names, rng.choice((1, 1, 2, 2, 3)))
    personas = {p: rng.uniform(0.5, 1.0) for p in chosen}
    diet = None
    if random_restrictions:
        if allergy is None and rng.random() < 0.25:
            allergy = rng.choice(ALLERGIES)
        if rng.random() < 0.08:
            diet = rng.choice(DIETS)
    restrictions = Restrictions.of([allergy] if allergy else [], [diet] if diet else [])
    allowed = frozenset(pid for pid, info in shop.info.items() if restrictions.allows(info))
    brands = {}
    for category in CATEGORIES:
        if len(category.brands) > 1 and rng.random() < 0.7:
            brands[category.name] = rng.choice(category.brands)
    shopper = Shopper(
        customer_id, personas, brands, restrictions, rng.uniform(9, 32), allowed, allergy, diet
    )
    for persona in chosen:
        for cat in STAPLES[persona]:
            for _ in range(rng.choice((1, 1, 2))):
                pid = shop.pick(rng, shopper, cat, shop.now - timedelta(days=365))
                if pid is not None:
                    base = shop.specs[pid].replenish_days or 30
                    shopper.staples[pid] = base * rng.uniform(0.7, 1.4)
    return shopper


def simulate(
    rng: random.Random, shop: Shop, shopper: Shopper, *, start: datetime, end: datetime
) -> list[SimSale]:
    """A shopper's trips between ``start`` and ``end``, each with its basket."""
    sales: list[SimSale] = []
    last_bought: dict[int, datetime] = {
        pid: start - timedelta(days=rng.uniform(0, every)) for pid, every in shopper.staples.items()
    }
    categories = sorted({cat for p in shopper.personas for cat in PERSONAS[p]})
    weights = [
        sum(shopper.personas[p] * PERSONAS[p].get(cat, 0.0) for p in shopper.personas)
        for cat in categories
    ]
    at = start + timedelta(days=rng.uniform(0, shopper.trip_every))
    while at < end:
        basket: dict[int, int] = {}
        for pid, every in shopper.staples.items():
            if (at - last_bought[pid]).days >= every * rng.uniform(0.8, 1.1):
                basket[pid] = rng.choice((1, 1, 1, 2))
        extra = min(4, int(-math.log(1 - rng.random()) * 1.1))  # ~exponential, mean ~1.1
        for _ in range(extra if basket else max(1, extra)):
            cat = rng.choices(categories, weights)[0]
            picked = shop.pick(rng, shopper, cat, at)
            if picked is None:
                continue
            basket.setdefault(picked, 1)
            for prob, name in BUNDLES.get(shop.specs[picked].name, ()):
                acc = shop.by_name.get(name)
                if (
                    acc is not None
                    and rng.random() < prob
                    and acc in shopper.allowed
                    and (shop.specs[acc].consumable or acc not in shopper.owned)
                ):
                    basket.setdefault(acc, 1)
        if basket:
            lines = []
            for pid, qty in sorted(basket.items()):
                spec = shop.specs[pid]
                if spec.consumable:
                    last_bought[pid] = at
                    if pid not in shopper.staples and rng.random() < 0.15:
                        shopper.staples[pid] = (spec.replenish_days or 30) * rng.uniform(0.8, 1.5)
                        last_bought[pid] = at
                shopper.owned.add(pid)
                size = spec.sizes[0] if spec.sizes else None
                lines.append(SimLine(pid, qty, spec.price_cents * qty, size))
            sales.append(SimSale(shopper.customer_id, at, tuple(lines)))
        gap = rng.expovariate(1 / shopper.trip_every)
        at += timedelta(days=max(1.0, gap), hours=rng.uniform(-3, 3))
    return sales


def write_sales(
    session: Session, shop: Shop, sales: Sequence[SimSale], *, store_id: int, prefix: str
) -> int:
    """Sales and their lines, in bulk; returns the number of lines."""
    if not sales:
        return 0
    sale_rows = [
        {
            "store_id": store_id,
            "ref": f"{prefix}-{i:05d}",
            "customer_id": s.customer_id,
            "sold_at": s.at,
            "source": "demo",
            "total_cents": sum(ln.amount_cents for ln in s.lines),
            "visit_id": None,
            "created_at": s.at,
        }
        for i, s in enumerate(sales)
    ]
    ids = session.scalars(
        insert(Sale).returning(Sale.id, sort_by_parameter_order=True), sale_rows
    ).all()
    line_rows = []
    for sale_id, sale in zip(ids, sales, strict=True):
        for n, ln in enumerate(sale.lines, start=1):
            spec = shop.specs[ln.product_id]
            line_rows.append(
                {
                    "customer_id": sale.customer_id,
                    "store_id": store_id,
                    "purchased_at": sale.at,
                    "product_name": spec.name,
                    "category": spec.category,
                    "brand": spec.brand,
                    "quantity": ln.quantity,
                    "amount_cents": ln.amount_cents,
                    "sale_id": sale_id,
                    "line_no": n,
                    "product_id": ln.product_id,
                    "size": ln.size,
                }
            )
    session.execute(insert(Purchase), line_rows)
    return len(line_rows)


@dataclass(frozen=True)
class SeedSummary:
    products: int
    customers: int
    sales: int
    lines: int


def seed(
    session: Session, *, store_id: int, now: datetime, customers: int = 240, seed: int = 7
) -> SeedSummary:
    """The catalogue and ``customers`` background loyalty members with a year of sales.
    Does nothing (but report) when the catalogue is already there."""
    if session.scalar(select(func.count()).select_from(Product)):
        n = int(session.scalar(select(func.count()).select_from(Product)) or 0)
        return SeedSummary(n, 0, 0, 0)
    rng = random.Random(seed)
    shop = Shop(session, now=now)
    start = now - timedelta(days=365)
    all_sales: list[SimSale] = []
    customer_rows = []
    restrictions: list[Allergy | DietaryNeed] = []
    for i in range(customers):
        cid = f"demo{seed:02d}{i:05d}"
        name = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
        customer_rows.append(
            {
                "id": cid,
                "subject_id": new_subject_id(),
                "name": name,
                "preferred_name": name.split()[0],
                "language": "nl",
                "email": None,
                "loyalty_id": f"VT{seed:02d}{100000 + i}",
                "home_store_id": store_id,
                "created_at": start,
                "last_interaction_at": now,
            }
        )
        shopper = make_shopper(rng, shop, cid)
        all_sales.extend(simulate(rng, shop, shopper, start=start, end=now))
        if shopper.allergy:
            restrictions.append(
                Allergy(customer_id=cid, allergen=shopper.allergy, created_at=start)
            )
        if shopper.diet:
            restrictions.append(DietaryNeed(customer_id=cid, need=shopper.diet, created_at=start))
    # through the ORM, not a bulk insert: names and loyalty ids are sealed and indexed on flush
    session.add_all([Customer(**row) for row in customer_rows])
    session.flush()
    session.add_all(restrictions)
    session.flush()
    all_sales.sort(key=lambda s: s.at)
    lines = write_sales(session, shop, all_sales, store_id=store_id, prefix=f"DEMO{seed:02d}")
    return SeedSummary(len(shop.specs), customers, len(all_sales), lines)


# --- one enrolled demo member -----------------------------------------------------------------

SERVICE_STORIES = (
    ("repair", "ready", "Ice cream maker"),
    ("pickup", "ready", "Engraved chocolate gift box (order 2291)"),
    ("special_order", "open", "Valrhona Guanaja 70% callets, 3 kg"),
    ("repair", "open", "Espresso machine Uno: pump noise"),
    ("return", "ready", "Carbon steel pan 28 cm"),
)
FOLLOW_UP_ITEMS = (
    "Espresso machine Uno",
    "Pasta machine",
    "Chef's knife 20 cm",
    "Ice cream maker",
    "Coffee grinder Macina",
    "Cast-iron casserole 24 cm",
)
# A colleague's note, by the member's main category (a note that fits what they buy).
NOTES = {
    "coffee": "Training as a barista; happy to talk grind sizes.",
    "cheese": "Hosts a cheese evening every month; ask what was on the board.",
    "bonbons": "Buys for her daughter's birthday in March; likes surprises.",
    "gifts": "Buys for her daughter's birthday in March; likes surprises.",
    "tea": "Prefers loose-leaf; asks about brewing temperatures.",
    "chocolate": "Tastes everything first; offer a sample of the new arrivals.",
    "liquorice": "Loves double salt; calls the sweet kinds 'for tourists'.",
}
DEFAULT_NOTE = "Prefers to be helped by Sanne. Talks about his allotment garden."


def _rng(name: str) -> random.Random:
    return random.Random(int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big"))


def populate(
    session: Session, *, customer_id: str, name: str, store_id: int, now: datetime
) -> None:
    """A year of purchases and a profile for one enrolled member (the shop is seeded first if
    it is empty): one allergy, favourite categories and brand, a size, an open service item, a
    durable bought two weeks ago to follow up, a staff note. Never a product with that allergen."""
    seed(session, store_id=store_id, now=now)
    rng = _rng(name)
    shop = Shop(session, now=now)
    allergy = rng.choice(ALLERGIES)
    shopper = make_shopper(rng, shop, customer_id, allergy=allergy, random_restrictions=False)
    shopper.trip_every = rng.uniform(9, 16)  # a regular: a card worth reading
    sales = simulate(
        rng, shop, shopper, start=now - timedelta(days=365), end=now - timedelta(days=2)
    )
    durable = next(
        (shop.by_name[n] for n in rng.sample(FOLLOW_UP_ITEMS, len(FOLLOW_UP_ITEMS))
         if shop.by_name.get(n) is not None and shop.by_name[n] not in shopper.owned),
        None,
    )  # fmt: skip
    if durable is not None:
        spec = shop.specs[durable]
        at = now - timedelta(days=rng.randint(9, 20), hours=rng.randint(1, 6))
        sales.append(SimSale(customer_id, at, (SimLine(durable, 1, spec.price_cents, None),)))
        sales.sort(key=lambda s: s.at)
    write_sales(session, shop, sales, store_id=store_id, prefix=f"MEMBER-{customer_id[:8]}")
    session.add(
        Allergy(
            customer_id=customer_id,
            allergen=allergy,
            severity=rng.choice(("severe", "allergy")),
            note="told us at the register",
            created_at=now,
        )
    )
    counts: dict[str, int] = {}
    for s in sales:
        for ln in s.lines:
            cat = shop.specs[ln.product_id].category
            counts[cat] = counts.get(cat, 0) + 1
    top = sorted(counts, key=lambda c: -counts[c])[:2]
    for cat in top:
        session.add(Preference(customer_id=customer_id, kind="category", value=cat, created_at=now))
    brand = next((shopper.brands[c] for c in top if c in shopper.brands), None)
    if brand:
        session.add(Preference(customer_id=customer_id, kind="brand", value=brand, created_at=now))
    session.add(
        Preference(customer_id=customer_id, kind="size", value=rng.choice(SIZES), created_at=now)
    )
    kind, status, what = rng.choice(SERVICE_STORIES)
    session.add(
        ServiceItem(
            customer_id=customer_id,
            store_id=store_id,
            ref=f"SVC-{customer_id[:8]}",
            kind=kind,
            status=status,
            description=what,
            created_at=now - timedelta(days=rng.randint(6, 20)),
            updated_at=now - timedelta(days=1),
            ready_at=now - timedelta(days=1) if status == "ready" else None,
        )
    )
    session.add(
        StaffNote(
            customer_id=customer_id,
            store_id=store_id,
            author="sanne",
            body=NOTES.get(top[0] if top else "", DEFAULT_NOTE),
            created_at=now - timedelta(days=rng.randint(10, 90)),
        )
    )
    session.flush()
