"""An edge cut off from the server, and an edge restarted, with the real engine on real photos,
the real server app in this process and one injected clock shared by both:

* a withdrawal while the edge is offline: the edge keeps matching only until the gallery TTL
  runs out (an arrival it makes meanwhile is refused by the server: no card), then matches
  nobody; back online it installs the new version, acknowledges it (EdgeDevice.acked_version
  and an audit entry) and matches the remaining members again;
* a restarted edge reuses its sealed gallery from disk only while it is unexpired and within
  the TTL; otherwise matching stays off until the server is reachable.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from models.registry import create_detector, create_embedder
from models.types import FaceDetector, FaceEmbedder
from server.db.audit import AuditEntry
from server.db.clienteling import Visit
from server.db.recognition import EventReceipt
from server.services.membership.faces import FaceAnalyser
from tests.faults.harness import Edge, TcpProxy, closing_all, record, wait_until
from tests.faults.live import (
    TTL_S,
    VALIDITY_S,
    LiveServer,
    arrivals,
    engine,
    frames_of,
    live_server,
)
from tests.waiting import HANG_S

pytestmark = [pytest.mark.faults, pytest.mark.faces]

LIN, OBAMA = "lin_manuel_miranda/img1.png", "obama/obama.jpg"


@pytest.fixture(scope="module")
def analyser() -> FaceAnalyser:
    return FaceAnalyser(
        detector="dlib_hog", embedder="dlib_resnet", min_face_size=80, max_bytes=12_000_000
    )


@pytest.fixture(scope="module")
def models() -> tuple[FaceDetector, FaceEmbedder]:
    detector = create_detector("dlib_hog", upsample=1)
    embedder = create_embedder("dlib_resnet")
    detector.load()
    embedder.load()
    return detector, embedder


@pytest.fixture
def live(tmp_path: Path, analyser: FaceAnalyser, faces: Path) -> Iterator[LiveServer]:
    with live_server(
        tmp_path / "server", analyser, faces, enrol=("Lin Manuel Miranda", "Barack Obama")
    ) as server:
        yield server


def _acknowledged(live: LiveServer, version: int) -> bool:
    with live.rt.sessions() as session:
        entries = session.scalars(
            select(AuditEntry).where(AuditEntry.kind == "device.acknowledged")
        ).all()
    return any(e.data.get("version") == version for e in entries)


def test_withdrawal_while_offline_fails_closed_after_the_ttl_and_is_acknowledged_once_back(
    live: LiveServer,
    models: tuple[FaceDetector, FaceEmbedder],
    faces: Path,
    tmp_path: Path,
) -> None:
    detector, embedder = models
    clock = live.clock
    lin, obama = live.members["Lin Manuel Miranda"], live.members["Barack Obama"]
    proxy = TcpProxy(live.port)  # the store's uplink
    proxy.restore()
    edge = Edge(
        server_url=proxy.url,
        enrolment_code=live.enrolment_code,
        data_dir=tmp_path / "edge",
        now=clock,
    )
    with closing_all(proxy, edge):
        edge.start()  # first poll installs the gallery, then the poll/push/sender threads
        v1 = edge.state.version
        assert v1 >= 1
        assert edge.state.status().subjects == 2
        wait_until(lambda: live.device().acked_version == v1, HANG_S, "ack of the first gallery")
        found = arrivals(engine(edge.state, detector, embedder, clock), frames_of(faces, LIN))
        assert [e.subject_id for e in found] == [lin.subject_id]  # matching works
        edge.sender.put(found[0])
        assert edge.sender.drain(HANG_S)

        # The clock stands still from here until the uplink is back: the edge is checked at
        # exact ages (see FakeClock).
        with clock.frozen():
            proxy.cut()
            wait_until(lambda: not edge.gallery.push_connected.is_set(), HANG_S, "push socket down")
            versions = live.withdraw("Lin Manuel Miranda")  # the server is fine; the edge is not
            v2 = versions["offline"]
            assert v2 > v1
            last_confirmed = edge.state.status()
            assert last_confirmed.age_s is not None

            # within the TTL the edge cannot know: it still matches Lin ...
            clock.advance(TTL_S - last_confirmed.age_s - 1.0)
            assert edge.state.current() is not None
            stale = arrivals(engine(edge.state, detector, embedder, clock), frames_of(faces, LIN))
            assert [e.subject_id for e in stale] == [lin.subject_id]
            edge.sender.put(stale[0])  # offline: to the disk queue
            wait_until(lambda: edge.sender.queued_on_disk == 1, HANG_S, "stale arrival on disk")

            # ... and one TTL after the last confirmation it matches nobody (fail closed)
            clock.advance(2.0)
            status = edge.state.status()
            assert not status.matching
            assert status.reason == "not_confirmed_current"
            off_at_age = status.age_s
            off = engine(edge.state, detector, embedder, clock)
            assert arrivals(off, frames_of(faces, LIN) + frames_of(faces, OBAMA)) == []
            assert off.metrics.counters["frames_matching_off"] == 8
            assert off.metrics.counters["frames_detected"] == 0  # no face is even looked for

        # back online: the new version is fetched, installed and acknowledged
        restored_at = time.monotonic()
        proxy.restore()
        ack_s = wait_until(
            lambda: live.device().acked_version == v2, HANG_S, "ack of the new gallery version"
        )
        assert _acknowledged(live, v2)
        assert edge.state.version == v2
        assert edge.state.status().matching
        assert edge.state.status().subjects == 1
        assert edge.sender.drain(HANG_S)
        replay_s = time.monotonic() - restored_at
        # the stale arrival reached the server and made no card: consent is withdrawn
        with live.rt.sessions() as session:
            assert session.scalar(select(func.count()).select_from(EventReceipt)) == 2
            assert session.scalar(select(func.count()).select_from(Visit)) == 1
        # Lin is no longer in the gallery; Barack still is
        again = engine(edge.state, detector, embedder, clock)
        assert arrivals(again, frames_of(faces, LIN)) == []
        assert [e.subject_id for e in arrivals(again, frames_of(faces, OBAMA))] == [
            obama.subject_id
        ]

    record(
        "withdraw_offline",
        {
            "gallery_ttl_s": TTL_S,
            "matching_at_ttl_minus_1s": True,
            "matching_off_at_age_s": round(off_at_age or 0.0, 1),
            "ack_after_uplink_back_s": round(ack_s, 2),
            "queue_replayed_after_uplink_back_s": round(replay_s, 2),
            "stale_arrival_visits": 0,
        },
    )


def test_a_restarted_edge_reuses_its_sealed_gallery_only_while_unexpired(
    live: LiveServer,
    models: tuple[FaceDetector, FaceEmbedder],
    faces: Path,
    tmp_path: Path,
) -> None:
    detector, embedder = models
    clock = live.clock
    lin = live.members["Lin Manuel Miranda"]
    data_dir = tmp_path / "edge"
    proxy = TcpProxy(live.port)
    proxy.restore()
    first = Edge(
        server_url=proxy.url, enrolment_code=live.enrolment_code, data_dir=data_dir, now=clock
    )
    assert first.gallery.poll_once() == "installed"
    sealed = data_dir / "gallery.sealed"
    assert sealed.exists()
    first.close()
    proxy.cut()  # the server is unreachable for every restart below

    def restart() -> Edge:
        edge = Edge(server_url=proxy.url, data_dir=data_dir, now=clock)
        edge.gallery.load_from_disk()
        assert edge.gallery.poll_once() == "error"
        return edge

    def matches(edge: Edge) -> list[str]:
        found = arrivals(engine(edge.state, detector, embedder, clock), frames_of(faces, LIN))
        return [e.subject_id for e in found]

    results: dict[str, str] = {}
    # Each restart is checked at an exact age: the clock moves only when the test moves it (see
    # FakeClock), not with the real seconds a loaded machine takes to restart and match.
    with closing_all(proxy), clock.frozen():
        # 1. restarted at once: the sealed copy is unexpired and within the TTL -> matching on
        edge = restart()
        assert edge.state.status().matching
        assert matches(edge) == [lin.subject_id]
        results["restart_within_ttl"] = edge.state.status().reason
        edge.close()

        # 2. restarted after the TTL (gallery not expired yet): not confirmed current -> off
        clock.advance(TTL_S + 1)
        edge = restart()
        status = edge.state.status()
        assert not status.matching
        assert status.reason == "not_confirmed_current"
        assert matches(edge) == []
        results["restart_after_ttl"] = status.reason
        edge.close()

        # 3. restarted after the gallery's expires_at: refused -> off
        clock.advance(VALIDITY_S - TTL_S)
        edge = restart()
        status = edge.state.status()
        assert not status.matching
        assert status.reason == "expired"
        assert status.version == 0  # nothing installed
        assert matches(edge) == []
        results["restart_after_expiry"] = status.reason

        # 4. the server is reachable again: a fresh gallery, matching on
        proxy.restore()
        assert edge.gallery.poll_once() == "installed"
        assert edge.state.status().matching
        assert matches(edge) == [lin.subject_id]
        results["after_server_back"] = edge.state.status().reason
        edge.close()

    record("edge_restart", {"gallery_ttl_s": TTL_S, "gallery_validity_s": VALIDITY_S, **results})
