"""The sender against a real HTTP server on loopback that is stopped and started: events go to
the encrypted disk queue while it is unreachable (refused connection, 503, lost answer) and are
replayed in order, each exactly once, with nothing left on disk; a restarted edge replays what
the previous run queued; 401 deletes the backlog and its key."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import numpy as np
import pytest

from edge.capture import Backoff
from edge.cli import connect_server
from edge.events import ArrivalEvent
from edge.gallery import GalleryState
from edge.health import render_prometheus
from edge.offline_queue import KEY_FILE, QUEUE_DIR, OfflineQueue
from edge.provision import load_or_create_keys, register
from edge.sender import EventSender
from edge.settings import EdgeSettings
from tests.edge.eventserver import TOKEN, EventServer, wait_until
from tests.edge.fakeserver import CODE, FakeServer
from tests.waiting import HANG_S


def _event(n: int) -> ArrivalEvent:
    return ArrivalEvent(
        subject_id=f"subj-{n:04d}", at=datetime.now(UTC), score=0.4, margin=0.2, frames=3
    )


@pytest.fixture
def server() -> Iterator[EventServer]:
    srv = EventServer()
    srv.start()
    yield srv
    srv.stop()


def _sender(url: str, data_dir: Path, client: httpx.Client, **kwargs: object) -> EventSender:
    return EventSender(
        server_url=url,
        token=TOKEN,
        client=client,
        batch_size=4,
        backoff=Backoff(initial=0.02, maximum=0.1, jitter=0.0),
        offline=OfflineQueue(data_dir),
        **kwargs,  # type: ignore[arg-type]
    )


def test_outage_goes_to_disk_and_is_replayed_in_order_exactly_once(
    server: EventServer, tmp_path: Path
) -> None:
    with httpx.Client(timeout=2) as client:
        sender = _sender(server.url, tmp_path, client)
        sender.start()
        try:
            before = [_event(n) for n in range(3)]
            for e in before:
                sender.put(e)
            assert sender.drain(HANG_S)
            assert not (tmp_path / QUEUE_DIR).exists()  # online: nothing touches the disk
            assert not (tmp_path / KEY_FILE).exists()

            server.stop()
            during = [_event(n) for n in range(3, 14)]
            for e in during:
                sender.put(e)
            wait_until(lambda: sender.queued_on_disk == len(during), HANG_S, "events on disk")
            assert sender.offline
            files = sender.offline_queue.files() if sender.offline_queue else []
            assert len(files) == len(during)
            for path, e in zip(files, during, strict=True):
                assert e.subject_id.encode() not in path.read_bytes()

            server.start()  # same port
            after = [_event(n) for n in range(14, 16)]
            for e in after:
                sender.put(e)
            assert sender.drain(HANG_S)
        finally:
            sender.shutdown()
    expected = [e.id for e in before + during + after]
    assert server.ids() == expected  # in order, none lost
    assert server.duplicates == 0
    assert sender.replayed >= len(during)
    assert sender.sent == len(expected)
    assert sender.pending == 0
    assert list((tmp_path / QUEUE_DIR).iterdir()) == []  # nothing left after the replay
    assert sender.dropped_by_reason == {}


def test_while_backing_off_new_events_are_on_disk_at_once_and_wake_retries_now(
    server: EventServer, tmp_path: Path
) -> None:
    server.stop()
    with httpx.Client(timeout=2) as client:
        sender = _sender(server.url, tmp_path, client)
        sender.backoff = Backoff(initial=60.0, maximum=60.0, jitter=0.0)  # a long backoff
        sender.start()
        try:
            sender.put(_event(1))
            wait_until(lambda: sender.queued_on_disk == 1, HANG_S, "first event on disk")
            assert sender.failures == 1
            sender.put(_event(2))  # the sender is waiting out its 60 s backoff
            wait_until(lambda: sender.queued_on_disk == 2, HANG_S, "second event on disk")
            assert sender.failures == 1  # written to disk without another attempt
            server.start()
            sender.wake()  # e.g. the gallery poll reached the server again
            assert sender.drain(HANG_S)
        finally:
            sender.shutdown()
    assert len(server.ids()) == 2
    assert sender.replayed == 2


def test_503_queues_and_waits_at_least_retry_after(server: EventServer, tmp_path: Path) -> None:
    server.mode = "503"
    server.retry_after = "7"
    waits: list[float] = []

    def record(delay: float) -> bool:
        waits.append(delay)
        server.mode = "ok"  # the database is back before the next attempt
        return False

    with httpx.Client(timeout=2) as client:
        sender = _sender(server.url, tmp_path, client, wait=record)
        sender.backoff = Backoff(initial=0.02, maximum=10.0, jitter=0.0)
        events = [_event(n) for n in range(3)]
        for e in events:
            sender.put(e)
        sender.start()
        try:
            assert sender.drain(HANG_S)
        finally:
            sender.shutdown()
    assert waits == [7.0]  # the server's Retry-After, not the 0.02 s backoff
    assert server.ids() == [e.id for e in events]
    assert sender.replayed == 3
    assert sender.failures == 1


def test_a_lost_answer_is_resent_and_counted_once(server: EventServer, tmp_path: Path) -> None:
    server.mode = "drop_answer"  # the server stores the batch, the answer never arrives
    with httpx.Client(timeout=2) as client:
        sender = _sender(server.url, tmp_path, client)
        events = [_event(n) for n in range(3)]
        for e in events:
            sender.put(e)
        assert sender.send_once() is False
        assert sender.queued_on_disk == 3
        assert sender.send_once() is True  # replayed from disk
    assert server.batches == [[e.id for e in events]] * 2
    assert server.ids() == [e.id for e in events]
    assert server.duplicates == 3
    assert sender.duplicates == 3
    assert sender.queued_on_disk == 0


def test_a_restarted_edge_replays_what_the_last_run_queued(
    server: EventServer, tmp_path: Path
) -> None:
    server.stop()
    events = [_event(n) for n in range(6)]
    with httpx.Client(timeout=2) as client:
        first = _sender(server.url, tmp_path, client)
        for e in events[:4]:
            first.put(e)
        assert first.send_once() is False  # unreachable: to disk
        for e in events[4:]:
            first.put(e)  # still in memory when the edge is stopped
        first.shutdown()  # keeps them on disk too
        assert first.queued_on_disk == 6

        server.start()
        second = _sender(server.url, tmp_path, client)  # a new process on the same data dir
        assert second.pending == 6
        second.start()
        try:
            assert second.drain(HANG_S)
        finally:
            second.shutdown()
    assert server.ids() == [e.id for e in events]
    assert server.duplicates == 0
    assert second.replayed == 6
    assert list((tmp_path / QUEUE_DIR).iterdir()) == []


def test_revoked_credential_deletes_the_backlog_and_its_key(
    server: EventServer, tmp_path: Path
) -> None:
    server.stop()
    revoked: list[bool] = []
    with httpx.Client(timeout=2) as client:
        sender = _sender(server.url, tmp_path, client, on_unauthorized=lambda: revoked.append(True))
        for n in range(5):
            sender.put(_event(n))
        assert sender.send_once() is False
        assert sender.queued_on_disk == 5
        server.mode = "401"
        server.start()
        assert sender.send_once() is False
        sender.put(_event(99))
    assert revoked == [True]
    assert sender.revoked
    assert sender.pending == 0
    assert not (tmp_path / QUEUE_DIR).exists()
    assert not (tmp_path / KEY_FILE).exists()
    assert server.events == []
    assert sender.dropped_by_reason == {"revoked": 6}


def test_a_batch_the_server_refuses_for_good_is_dropped_and_counted(
    server: EventServer, tmp_path: Path
) -> None:
    server.stop()
    with httpx.Client(timeout=2) as client:
        sender = _sender(server.url, tmp_path, client)
        sender.put(_event(1))
        sender.send_once()
        server.mode = "422"
        server.start()
        assert sender.send_once() is True
    assert sender.pending == 0
    assert sender.dropped_by_reason == {"rejected": 1}


def test_full_queues_and_old_events_show_in_the_metrics(tmp_path: Path) -> None:
    with httpx.Client(timeout=2) as client:
        sender = EventSender(
            server_url="http://127.0.0.1:9",
            token=TOKEN,
            client=client,
            max_queue=2,
            offline=OfflineQueue(tmp_path, max_events=3),
        )
        for n in range(3):
            sender.put(_event(n))  # memory holds 2: one dropped
        sender.spill()
        for n in range(3, 5):
            sender.put(_event(n))
        sender.spill()  # disk holds 3: one more dropped
    old = ArrivalEvent(
        subject_id="s", at=datetime(2020, 1, 1, tzinfo=UTC), score=0.4, margin=0.2, frames=3
    )
    sender.put(old)
    sender.spill()
    assert sender.dropped_by_reason == {"queue_full": 2, "too_old": 1}
    values = {f"events_dropped_{k}": float(v) for k, v in sender.dropped_by_reason.items()}
    text = render_prometheus({**values, "events_queued_on_disk": sender.queued_on_disk})
    assert 'vertrouwd_edge_events_dropped_total{reason="queue_full"} 2.0\n' in text
    assert 'vertrouwd_edge_events_dropped_total{reason="too_old"} 1.0\n' in text
    assert text.count("# TYPE vertrouwd_edge_events_dropped_total counter") == 1
    assert "vertrouwd_edge_events_queued_on_disk 3.0\n" in text


def test_a_refused_gallery_poll_also_deletes_the_event_backlog(tmp_path: Path) -> None:
    """The link that ``vertrouwd edge`` builds: whichever side meets the 401 first, matching
    stops and the sealed gallery and the queued events (with their key) are deleted."""
    server = FakeServer(tmp_path)
    data = tmp_path / "edge"
    with server.client() as client:
        identity = register(
            server_url="http://s.test", enrolment_code=CODE, name="d", data_dir=data, client=client
        )
    server.publish({"subj-a": np.ones(128, dtype=np.float32)})
    state = GalleryState(ttl_s=600)
    settings = EdgeSettings(source="0", server_url="http://s.test", data_dir=data)
    link = connect_server(
        settings, identity=identity, keys=load_or_create_keys(data), state=state,
        clients=server.client,
    )  # fmt: skip
    try:
        assert link.gallery.poll_once() == "installed"
        assert (data / "gallery.sealed").exists()
        server.fail_events = 1000  # 503: the events wait on disk
        link.sender.put(_event(1))
        assert link.sender.send_once() is False
        assert link.sender.queued_on_disk == 1

        server.revoked = True
        assert link.gallery.poll_once() == "revoked"
        assert state.status().reason == "credential_revoked"
        assert link.sender.revoked
        assert link.sender.pending == 0
        assert not (data / "gallery.sealed").exists()
        assert not (data / QUEUE_DIR).exists()
        assert not (data / KEY_FILE).exists()
        link.sender.put(_event(2))
        link.sender.spill()
        assert not (data / QUEUE_DIR).exists()  # nothing is written after the revocation
    finally:
        link.close()
    assert server.events == []
