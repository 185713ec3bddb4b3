"""The offline queue on disk: encrypted, ordered, durable across a restart, bounded by count and
age (oldest dropped first, counted), crash leftovers and tampered files dropped, purge leaves
nothing."""

from __future__ import annotations

import os
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from edge.events import ArrivalEvent
from edge.offline_queue import KEY_FILE, QUEUE_DIR, OfflineQueue

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


class Clock:
    def __init__(self, at: datetime = T0) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


def _event(n: int, at: datetime = T0) -> ArrivalEvent:
    return ArrivalEvent(
        subject_id=f"subj-{n:04d}-pseudonym", at=at, score=0.41, margin=0.12, frames=3
    )


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_events_are_sealed_one_file_each_and_survive_a_restart(tmp_path: Path) -> None:
    events = [_event(n, T0 + timedelta(seconds=n)) for n in range(3)]
    queue = OfflineQueue(tmp_path, now=Clock())
    assert queue.files() == []  # nothing on disk until an event has to wait
    assert not (tmp_path / KEY_FILE).exists()
    assert queue.append(events) == 3
    files = queue.files()
    assert [p.name for p in files] == [f"{n:020d}.evt" for n in (1, 2, 3)]
    assert _mode(tmp_path / QUEUE_DIR) == 0o700
    assert _mode(tmp_path / KEY_FILE) == 0o600
    assert len((tmp_path / KEY_FILE).read_bytes()) == 32
    for path, event in zip(files, events, strict=True):
        assert _mode(path) == 0o600
        raw = path.read_bytes()
        assert raw.startswith(b"VEN1")  # consent.envelope's AES-256-GCM seal
        for clear in (event.subject_id, event.id, "arrival", "2026", "0.41"):
            assert clear.encode() not in raw, clear

    again = OfflineQueue(tmp_path, now=Clock())  # the edge restarted
    assert len(again) == 3
    head = again.head(10)
    assert [q.event.to_json() for q in head] == [e.to_json() for e in events]
    later = _event(9)
    again.append([later])
    assert again.files()[-1].name == f"{4:020d}.evt"  # numbering continues after a restart
    again.remove([q.seq for q in head])
    assert [q.event.id for q in again.head(10)] == [later.id]
    again.remove([q.seq for q in again.head(10)])
    assert len(again) == 0
    assert again.files() == []  # after replay no event is left on disk


def test_full_queue_drops_the_oldest_first_and_counts(tmp_path: Path) -> None:
    events = [_event(n) for n in range(5)]
    queue = OfflineQueue(tmp_path, max_events=3, now=Clock())
    queue.append(events[:2])
    queue.append(events[2:])
    assert len(queue) == 3
    assert [q.event.id for q in queue.head(10)] == [e.id for e in events[2:]]
    assert queue.dropped == {"queue_full": 2}
    assert len(queue.files()) == 3


def test_events_past_the_age_limit_are_dropped_and_counted(tmp_path: Path) -> None:
    clock = Clock()
    queue = OfflineQueue(tmp_path, max_age_s=600, now=clock)
    stale = _event(1, T0 - timedelta(seconds=601))
    old = _event(2, T0 - timedelta(seconds=300))
    fresh = _event(3, T0)
    assert queue.append([stale, old, fresh]) == 2  # too old to be worth queueing
    assert queue.dropped == {"too_old": 1}
    clock.at = T0 + timedelta(seconds=301)  # `old` is now 601 s old
    assert [q.event.id for q in queue.head(10)] == [fresh.id]
    assert queue.dropped == {"too_old": 2}
    assert len(queue.files()) == 1
    clock.at = T0 + timedelta(seconds=601)
    restarted = OfflineQueue(tmp_path, max_age_s=600, now=clock)  # expired while switched off
    assert len(restarted) == 0
    assert restarted.dropped == {"too_old": 1}
    assert restarted.files() == []


def test_crash_leftovers_tampered_and_moved_files_are_dropped(tmp_path: Path) -> None:
    events = [_event(n) for n in range(4)]
    queue = OfflineQueue(tmp_path, now=Clock())
    queue.append(events)
    first, second, third, fourth = queue.files()
    # a write interrupted by a power cut leaves only a temporary file behind
    leftover = first.parent / ".00000000000000000005.evt.x1y2.tmp"
    leftover.write_bytes(b"half")
    raw = bytearray(second.read_bytes())
    raw[-1] ^= 1
    second.write_bytes(bytes(raw))  # tampered
    os.replace(third, third.parent / f"{9:020d}.evt")  # moved to another place in the order

    restarted = OfflineQueue(tmp_path, now=Clock())
    assert not leftover.exists()
    assert [q.event.id for q in restarted.head(10)] == [events[0].id, events[3].id]
    assert restarted.dropped == {"unreadable": 2}
    assert sorted(p.name for p in restarted.files()) == [first.name, fourth.name]


def test_a_lost_key_makes_the_backlog_unreadable_and_it_is_dropped(tmp_path: Path) -> None:
    OfflineQueue(tmp_path, now=Clock()).append([_event(1), _event(2)])
    (tmp_path / KEY_FILE).unlink()
    restarted = OfflineQueue(tmp_path, now=Clock())
    assert len(restarted) == 0
    assert restarted.dropped == {"unreadable": 2}
    assert restarted.files() == []


def test_purge_deletes_every_event_and_the_key(tmp_path: Path) -> None:
    queue = OfflineQueue(tmp_path, now=Clock())
    queue.append([_event(n) for n in range(3)])
    assert queue.purge() == 3
    assert not (tmp_path / QUEUE_DIR).exists()
    assert not (tmp_path / KEY_FILE).exists()
    assert len(OfflineQueue(tmp_path, now=Clock())) == 0


def test_bounds_are_checked(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="positive"):
        OfflineQueue(tmp_path, max_events=0)
    with pytest.raises(ValueError, match="positive"):
        OfflineQueue(tmp_path, max_age_s=0)


def test_wire_form_round_trips_and_bad_input_is_refused() -> None:
    event = _event(7)
    assert ArrivalEvent.from_json(event.to_json()) == event
    with pytest.raises(ValueError):
        ArrivalEvent.from_json({"kind": "arrival", "id": "x"})
    with pytest.raises(ValueError):
        ArrivalEvent.from_json({**event.to_json(), "kind": "other"})
