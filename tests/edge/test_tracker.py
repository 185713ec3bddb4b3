"""Tracker: one id across frames of a moving box; ended tracks keep nothing."""

from __future__ import annotations

import numpy as np

from edge.confirm import MatchOutcome
from edge.tracker import Tracker, TrackEvidence
from models.types import Embedding, FaceBox


def _box(x: int, y: int, size: int = 80) -> FaceBox:
    return FaceBox(top=y, right=x + size, bottom=y + size, left=x)


def test_moving_box_keeps_one_track_id() -> None:
    tracker = Tracker(iou_threshold=0.3, max_missed=3)
    ids = set()
    for step in range(20):
        update = tracker.update([_box(100 + 12 * step, 50 + 3 * step)])
        assert len(update.assigned) == 1
        ids.add(update.assigned[0][0].track_id)
    assert len(ids) == 1
    assert len(tracker) == 1
    assert tracker.tracks[0].hits == 20


def test_fast_move_without_overlap_uses_centroid_fallback() -> None:
    tracker = Tracker(iou_threshold=0.3, centroid_factor=0.6)
    first = tracker.update([_box(100, 100)]).assigned[0][0].track_id
    # jumped 45 px (more than IoU can follow for an 80 px box), still close relative to size
    moved = tracker.update([_box(145, 110)]).assigned[0][0].track_id
    assert moved == first
    # a box far away is another person
    other = tracker.update([_box(145, 110), _box(500, 100)]).assigned
    assert {t.track_id for t, _ in other} == {first, first + 1}


def test_two_people_keep_their_own_ids() -> None:
    tracker = Tracker()
    a0, b0 = (t.track_id for t, _ in tracker.update([_box(50, 50), _box(300, 50)]).assigned)
    for step in range(1, 10):
        assigned = tracker.update([_box(300 - 5 * step, 50), _box(50 + 5 * step, 50)]).assigned
        by_x = {box.left: t.track_id for t, box in assigned}
        assert by_x[50 + 5 * step] == a0
        assert by_x[300 - 5 * step] == b0


def test_track_ends_after_missed_frames_and_drops_its_data() -> None:
    tracker = Tracker(max_missed=2)
    track = tracker.update([_box(10, 10)]).assigned[0][0]
    assert tracker.update([]).ended == []
    assert tracker.update([]).ended == []
    ended = tracker.update([]).ended
    assert ended == [track.track_id]
    assert len(tracker) == 0
    assert len(track.boxes) == 0  # wiped, not just unlinked
    # a new face later gets a new id
    assert tracker.update([_box(10, 10)]).assigned[0][0].track_id != track.track_id


def test_evidence_keeps_only_the_top_n_by_quality_and_wipes() -> None:
    evidence = TrackEvidence(top_n=2, n=3)
    embeddings = [Embedding(np.full(4, i, dtype=np.float32), "m") for i in range(4)]
    for quality, embedding in zip([0.2, 0.9, 0.5, 0.1], embeddings, strict=True):
        evidence.offer(quality, embedding)
    assert [float(e.vector[0]) for e in evidence.best()] == [1.0, 2.0]
    for i in range(5):
        evidence.outcomes.append(MatchOutcome("s", 0.1 * i, 0.2))
    assert len(evidence.outcomes) == 3
    evidence.wipe()
    assert len(evidence) == 0
    assert len(evidence.outcomes) == 0
