"""Arrival events: the face form is unchanged on the wire; pass arrivals carry the method, the
pass digest and the 1:1 result, and survive the offline queue's round trip."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from consent.passes import new_pass_token, pass_digest
from edge.events import ArrivalEvent
from edge.offline_queue import OfflineQueue

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
DIGEST = pass_digest(new_pass_token())


def _pass_event(face_verified: bool | None) -> ArrivalEvent:
    return ArrivalEvent(
        subject_id="subj-1",
        at=T0,
        score=0.0,
        margin=0.0,
        frames=2,
        method="pass",
        pass_digest=DIGEST,
        face_verified=face_verified,
    )


def test_a_face_arrival_keeps_its_wire_form() -> None:
    event = ArrivalEvent(subject_id="subj-1", at=T0, score=0.4, margin=0.1, frames=3)
    wire = event.to_json()
    assert set(wire) == {"id", "kind", "subject_id", "at", "score", "margin", "frames"}
    assert ArrivalEvent.from_json(wire).method == "face"
    explicit = {**wire, "method": "face"}
    assert ArrivalEvent.from_json(explicit) == event


@pytest.mark.parametrize("verified", [True, False, None])
def test_a_pass_arrival_round_trips(verified: bool | None) -> None:
    event = _pass_event(verified)
    wire = event.to_json()
    assert wire["method"] == "pass"
    assert wire["pass_digest"] == DIGEST
    assert wire["face_verified"] is verified
    assert ArrivalEvent.from_json(wire) == event
    assert "subj-1" not in repr(event)
    assert DIGEST not in repr(event)


def test_pass_arrivals_survive_the_offline_queue(tmp_path: Path) -> None:
    queue = OfflineQueue(tmp_path, now=lambda: T0)
    events = [_pass_event(True), _pass_event(None)]
    assert queue.append(events) == 2
    raw = b"".join(p.read_bytes() for p in queue.files())
    assert DIGEST.encode() not in raw  # sealed on disk like every queued event
    again = OfflineQueue(tmp_path, now=lambda: T0)
    assert [q.event for q in again.head(10)] == events


@pytest.mark.parametrize(
    "changes",
    [
        {"method": "pass"},  # no digest
        {"method": "pass", "pass_digest": "abc"},
        {"method": "pass", "pass_digest": DIGEST.upper()},
        {"method": "face", "pass_digest": DIGEST},
        {"method": "face", "face_verified": True},
        {"method": "qr"},
    ],
)
def test_inconsistent_events_are_refused(changes: dict[str, Any]) -> None:
    base: dict[str, Any] = {
        "subject_id": "subj-1",
        "at": T0,
        "score": 0.0,
        "margin": 0.0,
        "frames": 1,
    }
    with pytest.raises(ValueError):
        ArrivalEvent(**base, **changes)


@pytest.mark.parametrize("verified", ["yes", 1, 0])
def test_the_wire_form_refuses_a_non_boolean_face_result(verified: object) -> None:
    wire = _pass_event(None).to_json()
    wire["face_verified"] = verified
    with pytest.raises(ValueError):
        ArrivalEvent.from_json(wire)
