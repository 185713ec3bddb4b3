"""Erasure reaches every copy (issue 18, privacy invariant 14), proved on the raw bytes.

1. After "forget me", the database's own files hold none of the customer's items: on
   PostgreSQL every file of the test database (heap, indexes, TOAST, free-space maps) and every
   WAL segment written during the test, after a CHECKPOINT and WITHOUT
   ``VACUUM FULL``; on SQLite the database file with ``-wal``/``-shm``. Searched for: name,
   e-mail, staff note, allergy text, CRM id, the embeddings (float32 bytes computed again from
   the same photos, whole and in 32-byte pieces), the thumbnail and the photos.
   Control, in the same run: a second customer whose fields are written in clear (as the code
   before migration 0007 wrote them) and erased the same way IS found by the same search (on
   PostgreSQL after erasure, in dead rows and WAL; on SQLite before it, since SQLite's
   ``secure_delete`` and WAL truncation already clean up after a delete), so the search is
   shown able to fail.
2. A ``pg_dump`` taken before the erasure and restored after the epoch's key-encryption key was
   destroyed gives nothing readable for the erased customer, while the others open again with
   their live keys (``epochs.adopt_live_keys``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select, text, update
from sqlalchemy.exc import ProgrammingError

from server.db.base import Base
from server.db.clienteling import Allergy, StaffNote
from server.db.membership import Customer, ProfileKey
from server.db.sealed import UnreadableField
from server.db.session import make_engine, make_session_factory, transaction
from server.runtime import Runtime
from server.services.membership import epochs, keys, lifecycle, lookup
from tests.databases import backend, postgres_database
from tests.server.conftest import StoreFixture
from tests.server.members import add_history, enrol_member
from tests.server.test_erasure import fill_every_customer_table
from tests.server.test_sealed_fields import join

# These tests read the database's own files and WAL: a database no other test wrote to.
pytestmark = pytest.mark.fresh_database

CONTROL = {
    "name": "Controla Klaartekst-Vermeulen",
    "email": "controla.klaartekst@example.nl",
    "note": "Klaartekst notitie: komt altijd op dinsdag",
    "allergy": "klaartekst-pinda-allergie",
}


def write_in_clear(rt: Runtime, customer_id: str) -> None:
    """Fields as the code before 0007 wrote them: UTF-8 text, no seal (legacy rows read fine)."""
    with transaction(rt.sessions) as session:
        session.execute(
            update(Base.metadata.tables["customers"])
            .where(Base.metadata.tables["customers"].c.id == customer_id)
            .values(name=CONTROL["name"].encode(), email=CONTROL["email"].encode())
        )
        session.execute(
            Base.metadata.tables["staff_notes"]
            .insert()
            .values(
                customer_id=customer_id,
                author="sales",
                body=CONTROL["note"].encode(),
                created_at=rt.now(),
            )
        )
        session.execute(
            Base.metadata.tables["allergies"]
            .insert()
            .values(
                customer_id=customer_id,
                allergen=CONTROL["allergy"].encode(),
                severity="severe",
                created_at=rt.now(),
            )
        )


def postgres_files(engine: Engine, since: float) -> dict[Path, bytes]:
    """Every file of this test's database and every WAL segment written since ``since``."""
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        try:
            data_dir = Path(str(conn.execute(text("SHOW data_directory")).scalar_one()))
        except ProgrammingError as exc:  # needs pg_read_all_settings (.ci/system-deps.sh)
            pytest.skip(f"this role may not read data_directory: {exc.orig}")
        oid = conn.execute(
            text("SELECT oid FROM pg_database WHERE datname = current_database()")
        ).scalar_one()
        # Dirty pages to the relation files (pg_checkpoint). Committed work is in the WAL
        # segment on disk already (synchronous commit), which the search reads as well.
        conn.execute(text("CHECKPOINT"))
    base = data_dir / "base" / str(oid)
    try:
        relation_files = [p for p in base.iterdir() if p.is_file()]
        segments = [
            p
            for p in (data_dir / "pg_wal").iterdir()
            if p.is_file() and len(p.name) == 24 and p.stat().st_mtime >= since - 2
        ]
        return {p: p.read_bytes() for p in [*relation_files, *segments]}
    except PermissionError as exc:
        pytest.skip(f"PostgreSQL's data directory {data_dir} is not readable here: {exc}")


def sqlite_files(rt: Runtime) -> dict[Path, bytes]:
    return {
        p: p.read_bytes() for p in sorted(rt.settings.data_dir.glob("vertrouwd.db*")) if p.is_file()
    }


def raw_files(rt: Runtime, since: float) -> dict[Path, bytes]:
    return postgres_files(rt.engine, since) if backend() == "postgres" else sqlite_files(rt)


def found(files: dict[Path, bytes], needles: list[tuple[str, bytes]]) -> dict[str, list[str]]:
    hits: dict[str, list[str]] = {}
    for label, needle in needles:
        where = [p.name for p, data in files.items() if needle in data]
        if where:
            hits[label] = where
    return hits


@pytest.mark.faces
def test_no_file_or_wal_segment_holds_an_erased_customer_but_the_same_search_finds_clear_text(
    client: TestClient, runtime: Runtime, store: StoreFixture, faces: Path
) -> None:
    started = time.time()
    member = enrol_member(runtime, store, faces, "obama")
    fill_every_customer_table(runtime, member, store)
    with transaction(runtime.sessions) as session:
        session.add(
            Allergy(customer_id=member.customer_id, allergen="Kiwi-allergeen-Q7",
                    note="Anafylaxie na kiwi, epipen in tas", severity="severe")
        )  # fmt: skip
    control = join(runtime, store, "Tijdelijk Naam", "tijdelijk@example.nl", "VT-CTRL")
    write_in_clear(runtime, control)
    other = enrol_member(runtime, store, faces, "biden")
    add_history(runtime, other, store)

    analysed = [runtime.faces.analyse(p) for p in member.photos]
    sealed_items: list[tuple[str, bytes]] = [
        ("name", member.name.encode()),
        ("e-mail", member.email.encode()),
        ("staff note", b"Prefers to be helped by Sanne"),
        ("allergy", b"Kiwi-allergeen-Q7"),
        ("allergy note", b"Anafylaxie na kiwi"),
        ("service item", b"Box of 40 pralines"),
        ("crm id", b"CRM-998877"),
        ("officer note", b"Looked like Barack Obama"),
    ]
    for i, a in enumerate(analysed):
        emb = a.embedding.vector.astype("<f4").tobytes()
        sealed_items.append((f"embedding {i}", emb))
        sealed_items += [(f"embedding {i} @{o}", emb[o : o + 32]) for o in range(0, 512, 32)]
        mid = len(a.thumbnail_jpeg) // 2
        sealed_items.append((f"thumbnail {i}", a.thumbnail_jpeg[mid : mid + 48]))
    for i, photo in enumerate(member.photos):
        mid = len(photo) // 2
        sealed_items.append((f"photo {i}", photo[mid : mid + 48]))
    clear_items = [(k, v.encode()) for k, v in CONTROL.items()]

    before = raw_files(runtime, started)
    assert sum(len(b) for b in before.values()) > 100_000
    # Sealed fields never reached the database in clear, not even while the customer exists.
    assert found(before, sealed_items) == {}
    # The control's clear text is there: the search sees what is written in clear.
    assert set(found(before, clear_items)) == set(CONTROL)

    for customer_id in (member.customer_id, control):
        with transaction(runtime.sessions) as session:
            lifecycle.erase(
                session, runtime.context(), customer_id=customer_id, actor="test",
                channel="console",
            )  # fmt: skip
    after = raw_files(runtime, started)
    assert found(after, sealed_items) == {}
    if backend() == "postgres":
        # No VACUUM FULL: the erased control's clear text survives in dead rows and WAL, so the
        # search above would have found the member's fields had they been written in clear.
        hits = found(after, clear_items)
        assert set(hits) == set(CONTROL), hits
        assert any(len(p) == 24 for ps in hits.values() for p in ps)  # in a WAL segment
    # The other member is untouched and still opens.
    with runtime.sessions() as session:
        c = session.get(Customer, other.customer_id)
        assert c is not None
        assert c.name == "Joe Biden"


@pytest.mark.skipif(backend() != "postgres", reason="pg_dump: PostgreSQL only")
def test_a_dump_from_before_the_erasure_is_unreadable_for_that_customer_once_its_epoch_is_gone(
    runtime: Runtime, store: StoreFixture, tmp_path: Path
) -> None:
    if shutil.which("pg_dump") is None or shutil.which("pg_restore") is None:
        pytest.skip("pg_dump/pg_restore not installed")
    erased = join(runtime, store, "Wilma Wisbaar", "wilma@example.nl", "VT-W")
    kept = join(runtime, store, "Karel Blijft", "karel@example.nl", "VT-K")
    with transaction(runtime.sessions) as session:
        for cid, body in ((erased, "Wilma: notitie die weg moet"), (kept, "Karel: blijft")):
            session.add(StaffNote(customer_id=cid, author="sales", body=body))
    epoch_of_dump = runtime.kek.key_id
    url = runtime.settings.resolved_database_url
    libpq = url.replace("postgresql+psycopg://", "postgresql://", 1)
    dump = tmp_path / "before-erasure.dump"
    subprocess.run(["pg_dump", "-Fc", "-f", str(dump), libpq], check=True, timeout=120)
    assert b"Wilma" not in dump.read_bytes()  # the dump itself holds ciphertext only

    now = runtime.now()
    with transaction(runtime.sessions) as session:
        lifecycle.erase(
            session, runtime.context().at(now), customer_id=erased, actor="test", channel="console"
        )
    # The epoch moves on (live keys re-wrapped), and once the backup retention has passed
    # since then, the maintenance pass destroys the epoch the dump was taken under.
    keys.rotate(runtime.sessions, kek=runtime.kek, actor="test", batch_size=10, clock=lambda: now)
    later = now + timedelta(days=runtime.settings.backup_retention_days, hours=1)
    report = epochs.run(
        runtime.sessions, kek=runtime.kek, settings=runtime.settings, actor="test", now=later
    )
    assert report.destroyed == [epoch_of_dump]
    assert epoch_of_dump not in runtime.kek.key_ids  # type: ignore[attr-defined]
    promised = epochs.unreadable_by(runtime.kek, erased_at=now, settings=runtime.settings)
    assert promised <= now + timedelta(days=epochs.promise(runtime.settings).days)

    with postgres_database() as scratch:
        scratch_libpq = scratch.replace("postgresql+psycopg://", "postgresql://", 1)
        subprocess.run(
            ["pg_restore", "--no-owner", "-d", scratch_libpq, str(dump)], check=True, timeout=120
        )
        engine = make_engine(scratch)
        restored = make_session_factory(engine, vault=runtime.vault)
        try:
            with restored() as session:
                # the erased customer's row is in the dump, and stays ciphertext: its key's
                # epoch is destroyed and the live database has no key for it
                wilma = session.get(Customer, erased)
                assert wilma is not None
                with pytest.raises(UnreadableField):
                    _ = wilma.name
                keyed = session.scalars(select(ProfileKey.kek_id)).all()
                assert set(keyed) == {epoch_of_dump}  # the whole dump is under the dead epoch
            with transaction(restored) as session, runtime.sessions() as live:
                adopted, unreadable = epochs.adopt_live_keys(session, live, kek=runtime.kek)
            assert (adopted, unreadable) == (2, 2)  # template and profile key of each
            with restored() as session:
                karel = lookup.by_loyalty_id(session, "VT-K")
                assert karel is not None
                assert karel.name == "Karel Blijft"
                notes = session.scalars(select(StaffNote).where(StaffNote.customer_id == kept))
                assert [n.body for n in notes] == ["Karel: blijft"]
                wilma = session.get(Customer, erased)
                assert wilma is not None
                with pytest.raises(UnreadableField):
                    _ = wilma.name
                with pytest.raises(UnreadableField):
                    _ = wilma.email
                note = session.scalars(select(StaffNote).where(StaffNote.customer_id == erased))
                with pytest.raises(UnreadableField):
                    _ = note.one().body
        finally:
            engine.dispose()
    assert os.path.getsize(dump) > 1000
