"""Event sender: batches with the credential, bounded queue, retries with the same ids."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import httpx

from edge.capture import Backoff
from edge.events import ArrivalEvent
from edge.sender import EventSender
from tests.edge.fakeserver import TOKEN, FakeServer
from tests.waiting import HANG_S


def _event(n: int) -> ArrivalEvent:
    return ArrivalEvent(
        subject_id=f"s-{n}", at=datetime(2026, 1, 1, tzinfo=UTC), score=0.4, margin=0.1, frames=3
    )


def test_events_go_in_batches_with_only_the_allowed_fields(tmp_path: Path) -> None:
    server = FakeServer(tmp_path)
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return server.handle(request)

    with httpx.Client(transport=httpx.MockTransport(handle)) as client:
        sender = EventSender(server_url="http://s.test", token=TOKEN, client=client, batch_size=2)
        for n in range(3):
            sender.put(_event(n))
        assert sender.send_once()
        assert sender.send_once()
    assert sender.pending == 0
    assert sender.sent == 3
    assert len(seen) == 2
    assert seen[0].headers["Authorization"] == f"Bearer {TOKEN}"
    body = json.loads(seen[0].content)
    assert len(body["events"]) == 2
    for event in server.events:
        assert set(event) == {"id", "kind", "subject_id", "at", "score", "margin", "frames"}
    assert [e["subject_id"] for e in server.events] == ["s-0", "s-1", "s-2"]


def test_full_queue_drops_the_oldest_and_counts(tmp_path: Path) -> None:
    with FakeServer(tmp_path).client() as client:
        sender = EventSender(server_url="http://s.test", token=TOKEN, client=client, max_queue=3)
        for n in range(5):
            sender.put(_event(n))
        assert sender.dropped == 2
        assert sender.pending == 3
        sender.send_once()
    assert sender.sent == 3


def test_failures_back_off_and_retry_with_the_same_ids(tmp_path: Path) -> None:
    server = FakeServer(tmp_path)
    server.fail_events = 3
    waits: list[float] = []

    def record(delay: float) -> bool:
        waits.append(delay)
        return False

    with server.client() as client:
        sender = EventSender(
            server_url="http://s.test",
            token=TOKEN,
            client=client,
            backoff=Backoff(initial=1.0, maximum=3.0, jitter=0.0),
            wait=record,
        )
        event = _event(7)
        sender.put(event)
        sender.start()
        try:
            assert sender.drain(HANG_S)
        finally:
            sender.shutdown()
    assert waits == [1.0, 2.0, 3.0]
    assert server.event_posts == 4
    assert [e["id"] for e in server.events] == [event.id]
    assert sender.failures == 3
    assert sender.sent == 1


def test_resent_event_is_a_duplicate_not_a_second_arrival(tmp_path: Path) -> None:
    server = FakeServer(tmp_path)
    event = _event(1)
    with server.client() as client:
        first = EventSender(server_url="http://s.test", token=TOKEN, client=client)
        first.put(event)
        first.send_once()
        again = EventSender(server_url="http://s.test", token=TOKEN, client=client)
        again.put(event)  # e.g. the answer was lost and the event is replayed
        again.send_once()
    assert len(server.events) == 1
    assert again.duplicates == 1


def test_unauthorised_reports_and_drops_the_events(tmp_path: Path) -> None:
    server = FakeServer(tmp_path)
    server.revoked = True
    calls: list[str] = []
    with server.client() as client:
        sender = EventSender(
            server_url="http://s.test",
            token=TOKEN,
            client=client,
            on_unauthorized=lambda: calls.append("revoked"),
        )
        sender.put(_event(1))
        assert sender.send_once() is False
        sender.put(_event(2))  # after revocation nothing is kept
    assert calls == ["revoked"]
    assert sender.revoked
    assert sender.pending == 0
    assert sender.dropped_by_reason == {"revoked": 2}
