"""Suggestions: the allergen and diet rules, the recommenders' promises on the demo data, and the
offline evaluation against "most popular items"."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from server import demo_data
from server.db.clienteling import Allergy, DietaryNeed
from server.db.session import transaction
from server.runtime import Runtime
from server.services.clienteling import catalogue, recommend
from server.services.clienteling.catalogue import ProductInfo, Restrictions
from server.services.clienteling.recommend import CustomerHistory, Line, Owned
from tests.server.conftest import StoreFixture

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
Demo = tuple[list[Line], dict[int, ProductInfo], dict[str, Restrictions]]


def product(
    pid: int,
    name: str,
    *,
    allergens: tuple[str, ...] | None = (),
    ingredients: str = "",
    diets: tuple[str, ...] = (),
    category: str = "sweets",
    consumable: bool = True,
    replenish_days: int | None = None,
    new_arrival_at: datetime | None = None,
) -> ProductInfo:
    return ProductInfo(
        id=pid,
        sku=f"P{pid}",
        name=name,
        category=category,
        brand=None,
        price_cents=500,
        allergens=allergens,
        allergen_keys=catalogue.product_allergen_keys(allergens or ()),
        text=catalogue._scan_text(f"{name} {ingredients}"),
        diets=frozenset(diets),
        consumable=consumable,
        replenish_days=replenish_days,
        new_arrival_at=new_arrival_at,
        active=True,
    )


@pytest.mark.parametrize(
    ("allergy", "item", "conflict"),
    [
        ("pinda", product(1, "Honey nuts", allergens=("peanuts",)), True),  # Dutch vs English
        ("nuts", product(2, "Marzipan", allergens=("almond",)), True),  # "nuts": every tree nut
        ("hazelnut", product(3, "Nut mix", allergens=("nuts",)), True),  # "nuts" may be any
        ("hazelnut", product(4, "Marzipan", allergens=("almond",)), False),  # another tree nut
        ("hazelnut", product(5, "Praline", allergens=(), ingredients="suiker, hazelnoten"), True),
        (
            "milk",
            product(6, "Dark 85%", allergens=(), ingredients="cocoa mass, cocoa butter"),
            False,
        ),
        ("milk", product(7, "Fudge", allergens=(), ingredients="sugar, butter"), True),
        ("melk", product(8, "Milk chocolate", allergens=("lactose",)), True),
        ("strawberry", product(9, "Strawberry gums", allergens=()), True),  # unknown word: by name
        ("peanut", product(10, "Mystery fudge", allergens=None), True),  # undeclared: never
        ("peanut", product(11, "Sea salt", allergens=()), False),
    ],
)
def test_allergen_rules_are_cautious_in_dutch_and_english(
    allergy: str, item: ProductInfo, conflict: bool
) -> None:
    assert (Restrictions.of([allergy]).conflict(item) is not None) is conflict


def test_diets_need_the_products_flag_or_exclude_the_allergen() -> None:
    vegan = Restrictions.of([], ["veganistisch"])
    assert vegan.diets == {"vegan"}
    assert vegan.allows(product(1, "Dark", diets=("vegan", "vegetarian")))
    assert not vegan.allows(product(2, "Gums with gelatine", diets=()))
    gluten_free = Restrictions.of([], ["glutenvrij"])
    assert not gluten_free.allows(product(3, "Biscuits", allergens=("wheat",)))
    assert gluten_free.allows(product(4, "Almond biscuits", allergens=("almond", "egg")))
    nothing = Restrictions.of([])
    assert nothing.allows(product(5, "Anything", allergens=None))  # no restriction, no rule


def history(
    owned: dict[int, Owned], allergies: tuple[str, ...] = (), cats: tuple[str, ...] = ()
) -> CustomerHistory:
    return CustomerHistory(owned, cats, Restrictions.of(allergies))


def test_both_recommenders_keep_the_rules() -> None:
    products = {
        1: product(1, "Beans", replenish_days=21, category="coffee"),
        2: product(2, "Machine", consumable=False, category="gear"),
        3: product(3, "Jug", consumable=False, category="gear"),
        4: product(4, "Praline", allergens=("hazelnut",), category="bonbons"),
        5: product(5, "Truffles", category="chocolate", new_arrival_at=NOW - timedelta(days=4)),
        6: product(6, "Fudge", allergens=None, category="chocolate"),
    }
    lines = [
        Line(f"c{i}", pid, NOW - timedelta(days=20 + i))
        for i in range(6)
        for pid in ((2, 3, 1) if i < 3 else (2, 4, 6))
    ]
    me = history(
        {1: Owned(3, NOW - timedelta(days=70), NOW - timedelta(days=25)),
         2: Owned(1, NOW - timedelta(days=12), NOW - timedelta(days=12))},
        allergies=("hazelnut",),
        cats=("chocolate",),
    )  # fmt: skip
    for name in ("co_purchase", "popular"):
        model = recommend.build(name, lines, products, now=NOW)
        got = model.recommend(me, k=3, now=NOW)
        titles = {s.title for s in got}
        assert "Machine" not in titles  # owned and not consumable
        assert not {"Praline", "Fudge"} & titles  # allergen; undeclared allergens
        assert all(s.reason for s in got)
    ours = {s.title: s for s in recommend.build("co_purchase", lines, products, now=NOW)
            .recommend(me, k=3, now=NOW)}  # fmt: skip
    assert ours["Beans"].kind == "replenish"
    assert ours["Jug"].kind == "co_purchase"
    assert ours["Truffles"].kind == "new_arrival"
    with pytest.raises(ValueError, match="unknown recommender"):
        recommend.build("magic", lines, products, now=NOW)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Demo:
    """The demo generator's year of sales for 200 members, read back from a real SQLite file."""
    from server.db.migrate import upgrade
    from server.db.sealed import local_vault
    from server.db.session import make_engine, make_session_factory
    from server.services.recognition import devices

    where = tmp_path_factory.mktemp("demo")
    url = f"sqlite:///{where / 'demo.db'}"
    upgrade(url)
    engine = make_engine(url)
    sessions = make_session_factory(engine, vault=local_vault(where / "keys"))
    with transaction(sessions) as session:
        store = devices.create_store(session, code="demo", name="Demo", now=NOW)
        summary = demo_data.seed(session, store_id=store.id, now=NOW, customers=200)
    assert summary.products >= 200
    assert summary.lines > 5000
    with sessions() as session:
        lines = recommend.lines_from_db(session, since=NOW - timedelta(days=400), until=NOW)
        products = catalogue.load(session)
        allergies: dict[str, list[str]] = defaultdict(list)
        for a in session.scalars(select(Allergy)):
            allergies[a.customer_id].append(a.allergen)
        diets: dict[str, list[str]] = defaultdict(list)
        for d in session.scalars(select(DietaryNeed)):
            diets[d.customer_id].append(d.need)
    engine.dispose()
    customers = {ln.customer_id for ln in lines}
    return lines, products, {c: Restrictions.of(allergies[c], diets[c]) for c in customers}


def test_demo_data_is_deterministic_and_never_sells_an_allergen_to_the_allergic(
    demo: Demo,
) -> None:
    lines, products, restrictions = demo
    assert sum(1 for r in restrictions.values() if r.any) >= 30
    for ln in lines:
        assert restrictions[ln.customer_id].allows(products[ln.product_id])
    again = demo_data.catalogue_specs()
    assert [s.sku for s in again] == [s.sku for s in demo_data.catalogue_specs()]


def test_on_the_demo_data_no_suggestion_breaks_a_rule_and_each_has_a_reason(
    demo: Demo,
) -> None:
    lines, products, restrictions = demo
    model = recommend.build("co_purchase", lines, products, now=NOW)
    by_customer: dict[str, list[Line]] = defaultdict(list)
    for ln in lines:
        by_customer[ln.customer_id].append(ln)
    kinds: set[str] = set()
    for cid, mine in by_customer.items():
        h = CustomerHistory.from_lines(mine, products=products, restrictions=restrictions[cid])
        got = model.recommend(h, k=3, now=NOW)
        assert len(got) == 3
        for s in got:
            p = products[s.product_id]
            assert restrictions[cid].allows(p), (cid, s)
            assert p.consumable or s.product_id not in h.owned, (cid, s)
            assert s.reason
            kinds.add(s.kind)
    assert {"replenish", "co_purchase"} <= kinds


def test_offline_the_recommender_beats_most_popular_on_the_next_purchase(
    demo: Demo,
) -> None:
    lines, products, restrictions = demo
    split = NOW - timedelta(days=30)
    train = [ln for ln in lines if ln.at < split]
    by_customer: dict[str, list[Line]] = defaultdict(list)
    for ln in train:
        by_customer[ln.customer_id].append(ln)
    histories = {
        c: CustomerHistory.from_lines(m, products=products, restrictions=restrictions[c])
        for c, m in by_customer.items()
    }
    targets = recommend.next_baskets(lines, start=split, end=NOW)
    ours = recommend.evaluate(
        recommend.build("co_purchase", train, products, now=split),
        histories=histories, targets=targets, now=split,
    )  # fmt: skip
    popular = recommend.evaluate(
        recommend.build("popular", train, products, now=split),
        histories=histories, targets=targets, now=split,
    )  # fmt: skip
    print(f"hit rate {ours.hit_rate:.3f} vs popular {popular.hit_rate:.3f} ({ours.customers})")
    assert ours.customers == popular.customers >= 100
    assert ours.hit_rate > 1.5 * popular.hit_rate


def test_the_model_cache_rebuilds_after_its_time(runtime: Runtime, store: StoreFixture) -> None:
    cache = recommend.ModelCache("popular", timedelta(minutes=10))
    with runtime.sessions() as session:
        first = cache.get(session, now=NOW)
        assert cache.get(session, now=NOW + timedelta(minutes=5)) is first
        assert cache.get(session, now=NOW + timedelta(minutes=11)) is not first
        cache.invalidate()
        assert cache.get(session, now=NOW + timedelta(minutes=12)) is not first
    assert recommend.for_engine(runtime.engine) is recommend.for_engine(runtime.engine)
