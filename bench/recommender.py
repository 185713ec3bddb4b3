"""Offline evaluation of the card's suggestions on the demo data.

The demo generator (``server.demo_data.seed``) writes a year of sales into a fresh SQLite file.
The last ``--holdout-days`` are held out: both recommenders are built from the lines before the
split only, asked for ``k`` suggestions per customer as of the split, and scored on each
customer's *next purchase* (the products of their first sale day after the split). A hit is a
suggested product in that basket.

Peer: "most popular items" (distinct buyers in the 90 days before the split), under the same
rules (no allergy or diet conflicts, nothing already owned unless consumable).

    .venv/bin/python bench/recommender.py [--customers 400] [--k 3] [--seed 7]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from server import demo_data
from server.db.clienteling import Allergy, DietaryNeed, Preference
from server.db.migrate import upgrade
from server.db.sealed import local_vault
from server.db.session import make_engine, make_session_factory, transaction
from server.services.clienteling import catalogue, recommend
from server.services.clienteling.catalogue import Restrictions
from server.services.recognition import devices

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=400)
    parser.add_argument("--k", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--holdout-days", type=int, default=30)
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="vt-bench-rec-") as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        upgrade(url)
        engine = make_engine(url)
        sessions = make_session_factory(engine, vault=local_vault(Path(tmp) / "keys"))
        t0 = time.perf_counter()
        with transaction(sessions) as session:
            store = devices.create_store(session, code="bench", name="Bench", now=NOW)
            summary = demo_data.seed(
                session, store_id=store.id, now=NOW, customers=args.customers, seed=args.seed
            )
        print(
            f"demo data: {summary.products} products, {summary.customers} customers, "
            f"{summary.sales} sales, {summary.lines} lines ({time.perf_counter() - t0:.1f} s)"
        )
        split = NOW - timedelta(days=args.holdout_days)
        with sessions() as session:
            train = recommend.lines_from_db(
                session, since=split - recommend.LEARN_FROM, until=split
            )
            held = recommend.lines_from_db(session, since=split, until=NOW)
            products = catalogue.load(session)
            allergies: dict[str, list[str]] = defaultdict(list)
            for a in session.scalars(select(Allergy)):
                allergies[a.customer_id].append(a.allergen)
            diets: dict[str, list[str]] = defaultdict(list)
            for d in session.scalars(select(DietaryNeed)):
                diets[d.customer_id].append(d.need)
            preferred: dict[str, list[str]] = defaultdict(list)
            for p in session.scalars(select(Preference).where(Preference.kind == "category")):
                preferred[p.customer_id].append(p.value)
        engine.dispose()

    by_customer: dict[str, list[recommend.Line]] = defaultdict(list)
    for line in train:
        by_customer[line.customer_id].append(line)
    histories = {
        cid: recommend.CustomerHistory.from_lines(
            lines,
            products=products,
            restrictions=Restrictions.of(allergies[cid], diets[cid]),
            preferred_categories=preferred[cid],
        )
        for cid, lines in by_customer.items()
    }
    targets = recommend.next_baskets(held, start=split, end=NOW)

    results = {}
    for name in ("co_purchase", "popular"):
        t0 = time.perf_counter()
        model = recommend.build(name, train, products, now=split)
        built = time.perf_counter() - t0
        t0 = time.perf_counter()
        results[name] = recommend.evaluate(
            model, histories=histories, targets=targets, now=split, k=args.k
        )
        per = (time.perf_counter() - t0) / max(1, results[name].customers) * 1000
        r = results[name]
        print(
            f"{name:12s} hit rate {r.hit_rate:.3f} ({r.hits}/{r.customers} customers) "
            f"built in {built * 1000:.0f} ms, {per:.2f} ms per customer"
        )
    ours, peer = results["co_purchase"], results["popular"]
    ratio = ours.hit_rate / peer.hit_rate if peer.hit_rate else float("inf")
    print(
        f"recommender: hit_rate={ours.hit_rate:.3f} popular_hit_rate={peer.hit_rate:.3f} "
        f"ratio={ratio:.2f} k={args.k}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
