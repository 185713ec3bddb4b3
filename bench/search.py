"""Customer search at chain scale: blind indexes (issue 18) against the old plaintext search.

Ours: ``server.services.membership.customer_admin.search`` as the register calls it (an admin,
every store): the blind indexes (HMAC of name-word prefixes, exact e-mail and loyalty id) find
the matches, the database ranks them (most recently seen first), and only the page of 25 is
opened under its profile keys, sorted by name and summarised (consent state read). Peer,
measured in the same run on the same database: the search before issue 18, ``ILIKE '%q%'`` on
plaintext name, preferred name and e-mail (plus loyalty id equality), ordered by name, on a
plaintext copy of the same customers. Queries: a surname prefix with a first name ("anna vri"),
and an exact e-mail, each of an existing customer.

On PostgreSQL the tables are vacuumed and analysed after the bulk load, the state autovacuum
reaches on its own soon after a load (and ``vertrouwd import`` analyses at once): the planner
needs the statistics, and index-only scans of the search terms need the visibility map.
``--fresh`` measures right after the load instead, as the bench did before.

    .venv/bin/python bench/search.py [--customers 100000] [--queries 200] [--database-url URL]
                                     [--fresh]

Prints p50/p95 wall time and CPU time per query for both, the load average, and one line with
the p95 ratios.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Column, Engine, MetaData, String, Table, insert, or_, select, text
from sqlalchemy.orm import Session, sessionmaker

from consent.envelope import new_data_key
from consent.fields import name_terms, seal_field
from server.db.membership import Customer, CustomerSearchTerm, ProfileKey
from server.db.migrate import upgrade
from server.db.sealed import FieldVault, local_vault, profile_key_context
from server.db.session import make_engine, make_session_factory
from server.services.membership import customer_admin
from server.services.staff.accounts import StaffIdentity

NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)
ADMIN = StaffIdentity(0, "bench", "Bench", "admin", None)  # searches every store
FIRST = ("Anna", "Bram", "Carmen", "Daan", "Eva", "Floor", "Gijs", "Hanna", "Isa", "Jesse",
         "Karin", "Lars", "Maaike", "Noor", "Olaf", "Pien", "Roos", "Sanne", "Thijs", "Vera",
         "Willem", "Yara", "Fatima", "Mohamed", "Priya", "Wei", "Sofia", "Lotte", "Ruben",
         "Ilse")  # fmt: skip
SYLLABLES = ("van", "der", "berg", "hof", "man", "dijk", "stra", "kamp", "veld", "huis", "broek",
             "meer", "bos", "ling", "ker", "sen", "ma", "de", "wit", "groot", "hout",
             "mol")  # fmt: skip

plain = MetaData()
PLAIN = Table(  # the pre-issue-18 columns, for the peer
    "bench_plain_customers",
    plain,
    Column("id", String(32), primary_key=True),
    Column("name", String(200)),
    Column("preferred_name", String(100)),
    Column("email", String(254)),
    Column("loyalty_id", String(64)),
)


def surname(rng: random.Random) -> str:
    return "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 3))).capitalize()


def fill(
    sessions: sessionmaker[Session], vault: FieldVault, n: int, seed: int
) -> list[tuple[str, str]]:
    """``n`` customers, sealed and indexed as the server writes them (in bulk), and the same
    customers in clear in the peer's table; (name, e-mail) of each."""
    rng = random.Random(seed)
    people: list[tuple[str, str]] = []
    with sessions() as session, session.begin():
        plain.create_all(session.connection())
        for start in range(0, n, 5000):
            customers, pkeys, terms, clear = [], [], [], []
            for i in range(start, min(n, start + 5000)):
                cid = f"b{i:09d}"
                first, last = rng.choice(FIRST), surname(rng)
                name, email = f"{first} {last}", f"{first}.{last}.{i}@example.nl".lower()
                people.append((name, email))
                dek = new_data_key()

                def sealed(column: str, value: str, cid: str = cid, dek: bytes = dek) -> bytes:
                    return seal_field(dek, value, table="customers", column=column, row_id=cid,
                                      customer_id=cid)  # fmt: skip

                customers.append({
                    "id": cid, "subject_id": f"s{i}", "name_sealed": sealed("name", name),
                    "preferred_name_sealed": sealed("preferred_name", first),
                    "email_sealed": sealed("email", email),
                    "loyalty_id_sealed": sealed("loyalty_id", f"VT{i}"),
                    "email_bidx": vault.email_index(email),
                    "loyalty_bidx": vault.id_index("loyalty", f"VT{i}"), "language": "nl",
                    "created_at": NOW, "last_interaction_at": NOW,
                })  # fmt: skip
                pkeys.append({
                    "customer_id": cid, "kek_id": vault.kek.key_id, "created_at": NOW,
                    "wrapped_dek": vault.kek.wrap(dek, context=profile_key_context(cid)),
                })  # fmt: skip
                terms += [
                    {"customer_id": cid, "term": vault.term_index(t)}
                    for t in name_terms(name, first)
                ]
                clear.append({"id": cid, "name": name, "preferred_name": first, "email": email,
                              "loyalty_id": f"VT{i}"})  # fmt: skip
            session.execute(insert(Customer), customers)
            session.execute(insert(ProfileKey), pkeys)
            session.execute(insert(CustomerSearchTerm), terms)
            session.execute(insert(PLAIN), clear)
    return people


def settle(engine: Engine) -> None:
    """VACUUM (ANALYZE) the searched tables, as autovacuum would soon after the load."""
    if engine.dialect.name != "postgresql":
        return
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        for table in ("customers", "customer_search_terms", "profile_keys", PLAIN.name):
            conn.execute(text(f"VACUUM (ANALYZE) {table}"))


def ours(session: Session, q: str) -> list[str]:
    return [c.name for c in customer_admin.search(session, who=ADMIN, q=q, now=NOW)]


def peer(session: Session, q: str) -> list[str]:
    like = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    rows = session.execute(
        select(PLAIN.c.name)
        .where(
            or_(
                PLAIN.c.name.ilike(like, escape="\\"),
                PLAIN.c.preferred_name.ilike(like, escape="\\"),
                PLAIN.c.email.ilike(like, escape="\\"),
                PLAIN.c.loyalty_id == q,
            )
        )
        .order_by(PLAIN.c.name, PLAIN.c.id)
        .limit(25)
    )
    return [r.name for r in rows]


def measure(
    sessions: sessionmaker[Session], fn: Callable[[Session, str], list[str]], queries: list[str]
) -> tuple[list[float], list[float], list[list[str]]]:
    wall, cpu, results = [], [], []
    for q in queries:
        with sessions() as session:  # a request: fresh session, fresh key cache
            w0, c0 = time.perf_counter(), time.process_time()
            results.append(fn(session, q))
            wall.append((time.perf_counter() - w0) * 1000)
            cpu.append((time.process_time() - c0) * 1000)
    return wall, cpu, results


def p95(xs: list[float]) -> float:
    return statistics.quantiles(xs, n=20)[-1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--seed", type=int, default=18)
    parser.add_argument("--database-url", help="an empty database (default: a SQLite file)")
    parser.add_argument(
        "--fresh", action="store_true", help="measure right after the bulk load (no VACUUM)"
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="vt-bench-search-") as tmp:
        url = args.database_url or f"sqlite:///{Path(tmp) / 'bench.db'}"
        upgrade(url)
        engine = make_engine(url)
        vault = local_vault(Path(tmp) / "keys")
        sessions = make_session_factory(engine, vault=vault)
        t0 = time.perf_counter()
        people = fill(sessions, vault, args.customers, args.seed)
        print(f"{args.customers} customers sealed and indexed in {time.perf_counter() - t0:.0f} s"
              f" ({engine.dialect.name})")  # fmt: skip
        if not args.fresh:
            settle(engine)
        rng = random.Random(args.seed + 1)
        picks = [people[rng.randrange(len(people))] for _ in range(args.queries)]
        kinds = {
            "name": [f"{n.split()[0]} {n.split()[1][:4]}" for n, _ in picks],
            "e-mail": [e for _, e in picks],
        }
        state = "fresh" if args.fresh or engine.dialect.name != "postgresql" else "vacuumed"
        line = [f"search, {args.customers} customers, {engine.dialect.name} ({state}):"]
        for kind, queries in kinds.items():
            measure(sessions, ours, queries[:10])  # warm both
            measure(sessions, peer, queries[:10])
            o_wall, o_cpu, o_res = measure(sessions, ours, queries)
            p_wall, p_cpu, p_res = measure(sessions, peer, queries)
            # same customers found (the peer's substring search may find more)
            for (name, _), got in zip(picks, o_res, strict=True):
                assert name in got or len(got) == 25, (name, got)
            print(f"  {kind:6} blind index p50 {statistics.median(o_wall):6.2f} ms  "
                  f"p95 {p95(o_wall):6.2f} ms  cpu p95 {p95(o_cpu):6.2f} ms | plaintext ILIKE "
                  f"p50 {statistics.median(p_wall):6.2f} ms  p95 {p95(p_wall):6.2f} ms  "
                  f"cpu p95 {p95(p_cpu):6.2f} ms")  # fmt: skip
            line.append(f"{kind} p95 {p95(o_wall):.1f} ms vs {p95(p_wall):.1f} ms "
                        f"(ratio {p95(o_wall) / p95(p_wall):.2f})")  # fmt: skip
            del p_res
        engine.dispose()
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(" ".join(line[:1]) + " " + "; ".join(line[1:]) + f" (target p95 <= 50 ms; load {load})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
