"""Group commit: a batch of arrival requests handled in one transaction with set-based statements
gives exactly what handling the same requests one by one gives (per-request answers, visits,
cards and their visit numbers), and one bad credential fails only its own request.

Both runs use real databases (SQLite, or PostgreSQL with ``VERTROUWD_TEST_DB=postgres``); the
batched run queues every request before the writer thread starts, so the writer takes them all
as one batch (checked through ``writer.batches``).
"""

from __future__ import annotations

import base64
import random
import threading
from collections.abc import Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, select, update

from consent.envelope import new_data_key, seal_blob
from server.db.clienteling import Sale, Visit
from server.db.membership import ConsentRecord, Customer, CustomerKey, FaceThumbnail
from server.db.recognition import Incident
from server.db.session import transaction
from server.db.stores import Store
from server.runtime import Runtime, build_runtime, utc_now
from server.services.errors import Unauthorized
from server.services.membership.enrolment import THUMBNAIL_PURPOSE
from server.services.recognition import devices
from server.services.recognition.arrival_writer import ArrivalWriter
from server.services.recognition.arrivals import (
    ArrivalIn,
    IngestResult,
    ingest_batch,
    thumbnail_b64,
)
from server.settings import ServerSettings
from tests.databases import database_url_for_tests
from tests.server.factories import make_member, make_store, register_device

pytestmark = pytest.mark.db  # its own databases (tests/databases.py)
MEMBERS = {  # name: stores the consent covers
    "Anna de Vries": ["north"],
    "Bram Jansen": ["*"],
    "Chloe Bakker": ["north", "south"],
    "Daan Visser": ["south"],
    "Eva Smit": ["north", "south"],  # her consent has ended: never a card
    "Finn de Boer": ["north"],  # "not this person" on the north camera: suppressed there
}


@dataclass
class World:
    rt: Runtime
    tokens: dict[str, str]  # device name -> bearer token
    subjects: dict[str, str]  # member name -> subject id


def _device(rt: Runtime, store_code: str, name: str) -> str:
    return register_device(rt, store_code, name).token


@contextmanager
def world(data_dir: Path) -> Iterator[World]:
    """Two live stores and one not yet live, a device in each, the members above (one with
    a year of receipts outside any visit, one already in the south store), a revoked device."""
    with database_url_for_tests(data_dir) as url:
        rt = build_runtime(ServerSettings(data_dir=data_dir, environment="test", database_url=url))
        try:
            north, south = make_store(rt, "north"), make_store(rt, "south")
            make_store(rt, "west", live=False)
            tokens = {
                name: _device(rt, store, name)
                for name, store in [("n1", "north"), ("n2", "north"), ("s1", "south")]
            }
            tokens["w1"] = _device(rt, "west", "w1")
            tokens["gone"] = _device(rt, "north", "gone")
            subjects = {}
            for name, stores in MEMBERS.items():
                subjects[name] = make_member(rt, name, stores=stores).subject_id
            now = rt.now()
            with transaction(rt.sessions) as session:
                ids = {c.name: c.id for c in session.scalars(select(Customer))}
                session.execute(
                    update(ConsentRecord)
                    .where(ConsentRecord.customer_id == ids["Eva Smit"])
                    .values(expires_at=now - timedelta(days=1))
                )
                for months in range(12):  # receipts outside a visit count towards the number
                    session.add(
                        Sale(
                            customer_id=ids["Chloe Bakker"],
                            store_id=north.id,
                            ref=f"r{months}",
                            sold_at=now - timedelta(days=30 * (months + 1)),
                            source="pos",
                            total_cents=1000,
                        )
                    )
                session.add(
                    Visit(
                        customer_id=ids["Daan Visser"],
                        store_id=south.id,
                        arrived_at=now - timedelta(minutes=5),
                        score=0.4,
                        status="live",
                        live_until=now + timedelta(minutes=25),
                    )
                )
                n1 = devices.authenticate_devices(session, tokens=[tokens["n1"]], now=now)
                session.add(
                    Incident(
                        store_id=north.id,
                        customer_id=ids["Finn de Boer"],
                        device_id=n1[tokens["n1"]].id,
                        score=0.5,
                        reported_by="sales-north",
                        reported_at=now,
                        suppress_until=now + timedelta(hours=4),
                    )
                )
                gone = devices.authenticate_devices(session, tokens=[tokens["gone"]], now=now)
                devices.revoke_device(
                    session,
                    rt.context().at(now),
                    device_id=gone[tokens["gone"]].id,
                    actor="test",
                )
            yield World(rt, tokens, subjects)
        finally:
            rt.close()


def script(subjects: dict[str, str], seed: int) -> list[tuple[str, list[ArrivalIn]]]:
    """Requests as edges send them: random members, repeated event ids (a retry after a lost
    answer), events outside the replay window, an unknown subject, several events a request."""
    rng = random.Random(seed)
    names = [*subjects, "nobody"]
    sent: list[ArrivalIn] = []
    out = []
    for _ in range(40):
        device = rng.choice(["n1", "n1", "n2", "s1", "s1", "w1", "gone"])
        events = []
        for _ in range(rng.choice([1, 1, 1, 2, 3])):
            if sent and rng.random() < 0.2:
                events.append(rng.choice(sent))
                continue
            name = rng.choice(names)
            subject = subjects.get(name, "s_" + "0" * 32)
            at = utc_now()
            if rng.random() < 0.05:
                at -= timedelta(days=2)
            event = ArrivalIn(f"e{len(sent):04d}-{seed}", subject, at, 0.4, 0.3)
            sent.append(event)
            events.append(event)
        out.append((device, events))
    return out


def _writer(rt: Runtime, published: list[tuple[str, dict[str, Any]]]) -> ArrivalWriter:
    return ArrivalWriter(
        rt.sessions,
        kek=rt.kek,
        visit_live=timedelta(seconds=rt.settings.visit_live_s),
        publish=published.extend,
    )


Answer = tuple[int, int, int, int, tuple[tuple[str, int], ...]] | str


def _answer(future: Future[IngestResult]) -> Answer:
    exc = future.exception(30)
    if exc is not None:
        return type(exc).__name__
    r = future.result()
    cards = tuple((m["preferred_name"], m["visit_number"]) for m in r.messages)
    return (r.accepted, r.duplicates, r.refused, r.suppressed, cards)


def _visits(rt: Runtime) -> list[tuple[str, str, str]]:
    with rt.sessions() as session:
        rows = session.execute(
            select(Customer, Store.code, Visit.status)
            .join(Customer, Customer.id == Visit.customer_id)
            .join(Store, Store.id == Visit.store_id)
        )
        return sorted((a.name, str(b), str(c)) for a, b, c in rows)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_one_batch_gives_what_one_request_at_a_time_gives(tmp_path: Path, seed: int) -> None:
    with world(tmp_path / "batched") as batched, world(tmp_path / "alone") as alone:
        plan_b = script(batched.subjects, seed)
        plan_a = script(alone.subjects, seed)

        published_b: list[tuple[str, dict[str, Any]]] = []
        writer = _writer(batched.rt, published_b)
        futures = [
            writer.submit(token=batched.tokens[d], events=e, now=batched.rt.now())
            for d, e in plan_b
        ]
        writer.start()  # everything is queued already: the writer takes it as one batch
        answers_b = [_answer(f) for f in futures]
        writer.stop()
        assert writer.batches == 1
        assert writer.jobs == len(plan_b)

        published_a: list[tuple[str, dict[str, Any]]] = []
        writer = _writer(alone.rt, published_a)
        writer.start()
        answers_a = []
        for d, e in plan_a:  # each request answered before the next is sent
            answers_a.append(
                _answer(writer.submit(token=alone.tokens[d], events=e, now=alone.rt.now()))
            )
        writer.stop()
        assert writer.batches == len(plan_a)

        assert answers_b == answers_a
        assert _visits(batched.rt) == _visits(alone.rt)
        assert len(published_b) == len(published_a) > 0
        # The script exercised every branch, so the comparison above means something.
        flat = [a for a in answers_b if not isinstance(a, str)]
        assert "Unauthorized" in answers_b
        assert sum(a[0] for a in flat) > 0
        assert sum(a[1] for a in flat) > 0
        assert sum(a[2] for a in flat) > 0


def test_a_batch_answers_each_request_on_its_own(tmp_path: Path) -> None:
    """The worked example: what each request in one batch gets, derived by hand."""
    with world(tmp_path / "w") as w:
        s = w.subjects
        now = w.rt.now()

        def ev(n: int, name: str) -> ArrivalIn:
            return ArrivalIn(f"hand-{n}", s[name], now, 0.4, 0.3)

        requests = [
            ("n1", [ev(1, "Anna de Vries"), ev(1, "Anna de Vries"), ev(2, "Bram Jansen")]),
            ("s1", [ev(3, "Bram Jansen"), ev(4, "Daan Visser")]),  # Bram in two stores
            ("gone", [ev(5, "Chloe Bakker")]),  # revoked: refused, writes nothing
            ("n2", [ev(6, "Chloe Bakker"), ev(7, "Anna de Vries")]),  # Anna: already carded
            ("n1", [ev(8, "Finn de Boer"), ev(9, "Eva Smit")]),  # suppressed; consent ended
            ("w1", [ev(10, "Bram Jansen")]),  # store not live
            ("n2", [ev(2, "Bram Jansen")]),  # a retry of hand-2 from another device
        ]
        published: list[tuple[str, dict[str, Any]]] = []
        writer = _writer(w.rt, published)
        futures = [writer.submit(token=w.tokens[d], events=e, now=now) for d, e in requests]
        writer.start()
        answers = [_answer(f) for f in futures]
        writer.stop()
        assert writer.batches == 1
        assert answers == [
            (2, 1, 0, 0, (("Anna", 1), ("Bram", 1))),
            (2, 0, 0, 0, (("Bram", 2),)),  # Daan was in the store already: no second card
            Unauthorized.__name__,
            (2, 0, 0, 0, (("Chloe", 13),)),  # twelve receipts outside a visit, then this one
            (0, 0, 2, 1, ()),
            (0, 0, 1, 0, ()),
            (0, 1, 0, 0, ()),
        ]
        assert _visits(w.rt) == [
            ("Anna de Vries", "north", "live"),
            ("Bram Jansen", "north", "live"),
            ("Bram Jansen", "south", "live"),
            ("Chloe Bakker", "north", "live"),
            ("Daan Visser", "south", "live"),
        ]
        # one card a new visit, each to its own store's tablets, after the commit
        with w.rt.sessions() as session:
            store_ids = dict(session.execute(select(Store.code, Store.id)).all())
        assert sorted((ch, m["preferred_name"]) for ch, m in published) == sorted(
            [
                (f"store:{store_ids['north']}:tablets", "Anna"),
                (f"store:{store_ids['north']}:tablets", "Bram"),
                (f"store:{store_ids['south']}:tablets", "Bram"),
                (f"store:{store_ids['north']}:tablets", "Chloe"),
            ]
        )


def test_two_writers_one_member_one_card(tmp_path: Path) -> None:
    """Two cameras at one entrance see the same members at the same moment and their events land
    in two server processes: two writers, two transactions, both looking for a live visit before
    either commits. One visit and one card per member. (On PostgreSQL the writers take a lock per
    member and store first; without it each inserts a visit.)"""
    names = ["Anna de Vries", "Bram Jansen", "Chloe Bakker"]
    with world(tmp_path / "w") as w:
        # SQLite: one connection a process and BEGIN IMMEDIATE, the writers take turns anyway
        concurrent = w.rt.engine.dialect.name == "postgresql"
        both = threading.Barrier(2)
        results: dict[str, list[IngestResult]] = {}

        def writer(device: str) -> None:
            with transaction(w.rt.sessions) as session:
                token = w.tokens[device]
                ref = devices.authenticate_devices(session, tokens=[token], now=utc_now())[token]
                if concurrent:  # both transactions are open: neither has committed a visit
                    both.wait(10)
                events = [
                    ArrivalIn(f"race-{device}-{n}", w.subjects[n], utc_now(), 0.4, 0.3)
                    for n in names
                ]
                results[device] = ingest_batch(
                    session,
                    [(ref, events)],
                    kek=w.rt.kek,
                    visit_live=timedelta(minutes=30),
                    now=utc_now(),
                )

        threads = [threading.Thread(target=writer, args=(d,)) for d in ("n1", "n2")]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert [r[0].accepted for r in results.values()] == [3, 3]
        cards = sorted(m["preferred_name"] for r in results.values() for m in r[0].messages)
        assert cards == ["Anna", "Bram", "Chloe"]
        north = [v for v in _visits(w.rt) if v[1] == "north"]
        assert north == [(n, "north", "live") for n in names]


def _give_photo(rt: Runtime, customer_id: str, photos: list[bytes]) -> None:
    """Enrolment photos sealed under a new data key of the customer, as enrolment seals them."""
    with transaction(rt.sessions) as session:
        consent = session.scalars(
            select(ConsentRecord).where(ConsentRecord.customer_id == customer_id)
        ).one()
        dek = new_data_key()
        session.add(
            CustomerKey(
                customer_id=customer_id,
                wrapped_dek=rt.kek.wrap(dek, context=customer_id.encode()),
                kek_id=rt.kek.key_id,
            )
        )
        for jpeg in photos:
            session.add(
                FaceThumbnail(
                    customer_id=customer_id,
                    consent_id=consent.id,
                    ciphertext=seal_blob(
                        dek, jpeg, subject_id=customer_id, purpose=THUMBNAIL_PURPOSE
                    ),
                )
            )


def test_a_face_card_carries_the_photo_opened_with_its_key(tmp_path: Path, faces: Path) -> None:
    """The teaser's photo is the member's own enrolment photo, opened with their data key: one
    card with one photo for a member with two photos, none once the key is gone (shredded),
    none on a card of a member without a photo; and the same photo as the tablet's list of
    live visits shows."""
    people = faces / "people"
    jpegs = [
        (people / "biden" / "biden.jpg").read_bytes(),
        (people / "biden" / "biden2.jpg").read_bytes(),
    ]
    with world(tmp_path / "w") as w:
        with w.rt.sessions() as session:
            ids = {c.name: c.id for c in session.scalars(select(Customer))}
        _give_photo(w.rt, ids["Anna de Vries"], [jpegs[0]])
        _give_photo(w.rt, ids["Bram Jansen"], [jpegs[1], jpegs[1]])
        _give_photo(w.rt, ids["Chloe Bakker"], [jpegs[0]])
        with transaction(w.rt.sessions) as session:  # Chloe's key destroyed: photo unreadable
            session.execute(
                delete(CustomerKey).where(CustomerKey.customer_id == ids["Chloe Bakker"])
            )
        now = w.rt.now()
        names = ["Anna de Vries", "Bram Jansen", "Chloe Bakker", "Finn de Boer"]
        events = [ArrivalIn(f"photo-{n}", w.subjects[n], now, 0.4, 0.3) for n in names]
        published: list[tuple[str, dict[str, Any]]] = []
        writer = _writer(w.rt, published)
        writer.start()
        result = writer.submit(token=w.tokens["n2"], events=events, now=now).result(30)
        writer.stop()
        assert result.accepted == 4
        photos = {m["preferred_name"]: m["thumbnail"] for m in result.messages}
        assert len(result.messages) == 4
        assert base64.b64decode(photos["Anna"]) == jpegs[0]
        assert base64.b64decode(photos["Bram"]) == jpegs[1]
        assert photos["Chloe"] is None
        assert photos["Finn"] is None
        with w.rt.sessions() as session:
            anna = session.get(Customer, ids["Anna de Vries"])
            assert anna is not None
            assert thumbnail_b64(session, anna, w.rt.kek) == photos["Anna"]
