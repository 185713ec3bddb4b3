"""Prompt-card composition time for a customer with thousands of purchase lines, on SQLite.

Ours: ``server.services.clienteling.cards.compose_card`` (grouped queries through the customer
indexes,
only the rows the card shows are loaded). Peer, measured in the same run on the same file: the
plain ORM way, which loads every purchase line, sale and visit of the customer as objects and
works the card out in Python (same output; checked). Each composition gets a fresh session, so
neither side profits from the identity map; the recommender's model is built once for both.

    .venv/bin/python bench/card_compose.py [--lines 5000] [--runs 40]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from server import demo_data
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
from server.db.migrate import upgrade
from server.db.sealed import FieldVault, local_vault
from server.db.session import make_engine, make_session_factory, transaction
from server.services.clienteling import cards, recommend
from server.services.clienteling.catalogue import Restrictions
from server.services.clienteling.recommend import Line, Recommender
from server.services.ids import new_id, new_subject_id
from server.services.recognition import devices

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def naive_card(
    session: Session, visit: Visit, customer: Customer, *, recommender: Recommender, now: datetime
) -> cards.Card:
    """The peer: everything of the customer loaded as ORM objects, the card worked out in Python."""
    cfg = cards.CardSettings()
    cid = customer.id
    purchases = sorted(
        session.scalars(select(Purchase).where(Purchase.customer_id == cid)).all(),
        key=lambda p: (p.purchased_at, p.id),
        reverse=True,
    )
    visits = session.scalars(select(Visit).where(Visit.customer_id == cid)).all()
    sales = session.scalars(select(Sale).where(Sale.customer_id == cid)).all()
    allergies = sorted(
        session.scalars(select(Allergy).where(Allergy.customer_id == cid)).all(),
        key=lambda a: (cards.SEVERITY_ORDER.get(a.severity, 9), a.allergen),
    )
    diets = sorted(
        d.need for d in session.scalars(select(DietaryNeed).where(DietaryNeed.customer_id == cid))
    )
    prefs: dict[str, list[str]] = {}
    for p in session.scalars(
        select(Preference).where(Preference.customer_id == cid).order_by(Preference.id)
    ):
        prefs.setdefault(p.kind, []).append(p.value)
    products = {pid: session.get(Product, pid) for pid in {p.product_id for p in purchases}}
    previous = [v.arrived_at for v in visits if v.id != visit.id]
    before = [p.purchased_at for p in purchases if p.purchased_at < visit.arrived_at]
    last_visit_at = max([*previous, *before], default=None)
    cats = Counter(p.category for p in purchases)
    brands = Counter(p.brand for p in purchases if p.brand)
    fav_cats = recommend.favourites(prefs.get("category", []), cats)
    follow_up = None
    window = [
        p
        for p in purchases
        if now - timedelta(days=cfg.follow_up_until_days)
        <= p.purchased_at
        <= now - timedelta(days=cfg.follow_up_after_days)
        and p.product_id is not None
        and not products[p.product_id].consumable  # type: ignore[union-attr]
    ]
    if window:
        best = max(window, key=lambda p: (p.amount_cents, p.purchased_at))
        days = int((now - best.purchased_at).total_seconds() // 86400)
        follow_up = cards.FollowUp(
            f"Ask how the {best.product_name} is working out (bought {cards._ago(days)})",
            best.product_name,
            best.purchased_at,
        )
    service = [
        cards.ServiceLine(s.kind, s.status, cards.service_text(s.kind, s.status, s.description),
                          s.updated_at)
        for s in sorted(
            (s for s in session.scalars(select(ServiceItem).where(ServiceItem.customer_id == cid))
             if s.status in ("open", "ready")),
            key=lambda s: (s.status != "ready", -s.updated_at.timestamp()),
        )
    ][:4]  # fmt: skip
    notes = sorted(
        session.scalars(select(StaffNote).where(StaffNote.customer_id == cid)).all(),
        key=lambda n: n.created_at,
        reverse=True,
    )[:2]
    history = recommend.CustomerHistory.from_lines(
        [Line(cid, p.product_id, p.purchased_at) for p in purchases if p.product_id is not None],
        products={},
        restrictions=Restrictions.of([a.allergen for a in allergies], diets),
    )
    history = recommend.CustomerHistory(history.owned, fav_cats, history.restrictions)
    return cards.Card(
        visit_id=visit.id,
        customer_id=cid,
        name=customer.name,
        preferred_name=customer.preferred_name,
        visit_number=len(visits) + sum(1 for s in sales if s.visit_id is None),
        last_visit_at=last_visit_at,
        days_since_last_visit=int((now - last_visit_at).total_seconds() // 86400)
        if last_visit_at
        else None,
        member_since=customer.created_at,
        allergies=[a.allergen for a in allergies],
        allergy_details=[cards.AllergyLine(a.allergen, a.severity, a.note) for a in allergies],
        dietary=diets,
        preferences=prefs,
        service_items=service,
        follow_up=follow_up,
        last_purchases=[
            cards.PurchaseLine(
                p.product_name, p.category, p.brand, p.purchased_at, p.size, p.quantity
            )
            for p in purchases[: cfg.last_purchases]
        ],
        favourites={
            "categories": list(fav_cats),
            "brands": list(recommend.favourites(prefs.get("brand", []), brands)),
        },
        sizes=list(
            dict.fromkeys([*prefs.get("size", []), *(p.size for p in purchases[:60] if p.size)])
        )[:3],
        notes=[cards.NoteLine(n.author, n.body, n.created_at) for n in notes],
        suggestions=recommender.recommend(history, k=cfg.suggestions, now=now),
    )


def _vault(url: str) -> FieldVault:
    return local_vault(Path(url.removeprefix("sqlite:///")).parent / "keys")


def setup(url: str, lines: int) -> tuple[str, int]:
    upgrade(url)
    engine = make_engine(url)
    sessions = make_session_factory(engine, vault=_vault(url))
    with transaction(sessions) as session:
        store = devices.create_store(session, code="bench", name="Bench", now=NOW)
        demo_data.seed(session, store_id=store.id, now=NOW, customers=200)
        big = Customer(id=new_id(), subject_id=new_subject_id(), name="Grote Klant",
                       preferred_name="Grote", created_at=NOW - timedelta(days=1100),
                       last_interaction_at=NOW)  # fmt: skip
        session.add(big)
        session.flush()
        session.add(Allergy(customer_id=big.id, allergen="hazelnut", severity="severe"))
        session.add(Preference(customer_id=big.id, kind="category", value="chocolate"))
        shop = demo_data.Shop(session, now=NOW)
        allowed = [p for p, i in shop.info.items() if Restrictions.of(["hazelnut"]).allows(i)]
        rng = random.Random(3)
        n_sales = -(-lines // 3)
        sales = [
            demo_data.SimSale(
                big.id,
                NOW - timedelta(days=3 * 365 * (n_sales - i) / n_sales),
                tuple(demo_data.SimLine(p, 1, shop.specs[p].price_cents, shop.specs[p].sizes[0]
                                        if shop.specs[p].sizes else None)
                      for p in rng.sample(allowed, 3)),
            )
            for i in range(n_sales)
        ]  # fmt: skip
        written = demo_data.write_sales(session, shop, sales, store_id=store.id, prefix="BIG")
        visit = Visit(customer_id=big.id, store_id=store.id, arrived_at=NOW, score=0.4,
                      status="live", live_until=NOW + timedelta(minutes=30))  # fmt: skip
        session.add(visit)
        session.flush()
        print(f"customer with {written} purchase lines in {n_sales} sales; 200 other members")
        ids = big.id, visit.id
    engine.dispose()
    return ids


def measure(
    sessions: Callable[[], Session],
    compose: Callable[..., cards.Card],
    visit_id: int,
    model: Recommender,
    runs: int,
) -> tuple[list[float], cards.Card]:
    timings = []
    card = None
    for _ in range(runs):
        with sessions() as session:
            t0 = time.perf_counter()
            visit = session.get(Visit, visit_id)
            assert visit is not None
            customer = session.get(Customer, visit.customer_id)
            assert customer is not None
            card = compose(session, visit, customer, recommender=model, now=NOW)
            timings.append(time.perf_counter() - t0)
    assert card is not None
    return timings, card


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lines", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=40)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="vt-bench-card-") as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        _, visit_id = setup(url, args.lines)
        engine = make_engine(url)
        sessions = make_session_factory(engine, vault=_vault(url))
        with sessions() as session:
            model = recommend.build_from_db(session, "co_purchase", now=NOW)
        measure(sessions, cards.compose_card, visit_id, model, 3)  # warm the caches
        measure(sessions, naive_card, visit_id, model, 3)
        ours_t, ours = measure(sessions, cards.compose_card, visit_id, model, args.runs)
        peer_t, peer = measure(sessions, naive_card, visit_id, model, args.runs)
        engine.dispose()
    same = ours.as_json() == peer.as_json()
    if not same:
        print("warning: the peer's card differs from ours", file=sys.stderr)

    def stats(t: list[float]) -> tuple[float, float]:
        return statistics.median(t) * 1000, statistics.quantiles(t, n=20)[18] * 1000

    (om, op), (pm, pp) = stats(ours_t), stats(peer_t)
    print(f"ours (indexed, grouped):  median {om:.1f} ms, p95 {op:.1f} ms")
    print(f"peer (naive ORM, all rows): median {pm:.1f} ms, p95 {pp:.1f} ms")
    print(f"suggestions: {', '.join(s.title for s in ours.suggestions)}; same card: {same}")
    print(
        f"card_compose: median_ms={om:.1f} p95_ms={op:.1f} naive_median_ms={pm:.1f} "
        f"naive_p95_ms={pp:.1f} ratio={pm / om:.1f} lines={args.lines}"
    )
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
