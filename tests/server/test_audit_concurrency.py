"""Concurrent writers of shared counters: many transactions at once (the thread pool of one
server process, or several server processes on PostgreSQL) append audit entries or publish
gallery versions; every one commits, nothing is lost, the chain has no gap or fork and verifies.
On SQLite writers take turns anyway; on PostgreSQL a read-then-write of the chain's head or of
a store's version would let two transactions compute the same next number."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import func, select

from consent.audit_kinds import PassIssued
from server.db.audit import AuditEntry
from server.db.recognition import GalleryPublication
from server.db.session import transaction
from server.db.stores import Store
from server.runtime import Runtime
from server.services import audit
from server.services.recognition import gallery
from tests.server.conftest import StoreFixture

WRITERS = 8
EACH = 15


def test_concurrent_appends_all_commit_and_the_chain_verifies(runtime: Runtime) -> None:
    with runtime.sessions() as session:
        before = int(session.scalar(select(func.count()).select_from(AuditEntry)) or 0)
    start = threading.Barrier(WRITERS)

    def writer(n: int) -> int:
        start.wait()  # all transactions begin together
        for i in range(EACH):
            with transaction(runtime.sessions) as session:
                audit.append(
                    session,
                    PassIssued(reason=f"concurrent {i}"),
                    actor=f"writer-{n}",
                    subject=None,
                    at=runtime.now(),
                )
        return EACH

    with ThreadPoolExecutor(WRITERS) as pool:
        written = sum(pool.map(writer, range(WRITERS)))

    assert written == WRITERS * EACH
    with runtime.sessions() as session:
        seqs = list(session.scalars(select(AuditEntry.seq).order_by(AuditEntry.seq)))
        assert len(seqs) == before + WRITERS * EACH
        assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))  # no gap, no fork
        result = audit.verify(session)
    assert result.ok, result.reason


def test_concurrent_gallery_publications_each_get_their_own_version(
    runtime: Runtime, store: StoreFixture
) -> None:
    """Two enrolments or withdrawals at once (two cashiers, two server processes) each publish
    a gallery version for the same store: every publication gets its own, none is lost."""
    with runtime.sessions() as session:
        first = session.get(Store, store.id)
        assert first is not None
        initial = first.gallery_version
    start = threading.Barrier(WRITERS)

    def publisher(n: int) -> list[int]:
        start.wait()
        versions = []
        for _ in range(5):
            with transaction(runtime.sessions) as session:
                row = session.get(Store, store.id)  # read before the others commit
                assert row is not None
                versions.append(
                    gallery.publish(
                        session, store=row, reason="test", actor=f"p{n}", now=runtime.now()
                    )
                )
        return versions

    with ThreadPoolExecutor(WRITERS) as pool:
        got = sorted(v for vs in pool.map(publisher, range(WRITERS)) for v in vs)

    assert got == list(range(initial + 1, initial + 1 + WRITERS * 5))
    with runtime.sessions() as session:
        row = session.get(Store, store.id)
        assert row is not None
        assert row.gallery_version == initial + WRITERS * 5
        published = sorted(
            session.scalars(
                select(GalleryPublication.version).where(GalleryPublication.store_id == store.id)
            )
        )
        assert published[-WRITERS * 5 :] == got
