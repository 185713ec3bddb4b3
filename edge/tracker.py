"""Face tracker: IoU association with a centroid-distance fallback.

A person keeps one track across frames. What a track holds is split between two owners so
that each pipeline stage owns its own state without locks:

* ``Track`` (owned by the detect/track stage): box history, missed-frame count, how many
  embeddings were scheduled, whether it is finished (confirmed);
* ``TrackEvidence`` (owned by the embed/match stage): a small top-N buffer of the best frames'
  embeddings by quality, and the last n match outcomes.

Nothing else is kept. When a track ends (missed too many frames, or ``end()``), all of its data
is dropped; an unmatched track leaves nothing behind.
"""

from __future__ import annotations

import collections
import heapq
import itertools
from dataclasses import dataclass, field

from edge.confirm import MatchOutcome
from models.types import Embedding, FaceBox


@dataclass(slots=True)
class Track:
    track_id: int
    boxes: collections.deque[FaceBox]
    missed: int = 0
    hits: int = 1
    embeds_scheduled: int = 0
    finished: bool = False
    """True once confirmed (or given up): no more embeddings are computed for it."""

    @property
    def box(self) -> FaceBox:
        return self.boxes[-1]

    def wipe(self) -> None:
        self.boxes.clear()


@dataclass(slots=True)
class TrackUpdate:
    assigned: list[tuple[Track, FaceBox]] = field(default_factory=list)
    """Each track seen in this frame with its box in this frame."""
    ended: list[int] = field(default_factory=list)
    """Ids of tracks that ended now; their data is already dropped."""


class Tracker:
    """Associates each frame's boxes with live tracks. Used by one thread."""

    def __init__(
        self,
        *,
        iou_threshold: float = 0.3,
        max_missed: int = 8,
        centroid_factor: float = 0.6,
        history: int = 16,
    ) -> None:
        self.iou_threshold = iou_threshold
        self.max_missed = max_missed
        self.centroid_factor = centroid_factor
        self.history = history
        self._tracks: dict[int, Track] = {}
        self._ids = itertools.count(1)

    @property
    def tracks(self) -> list[Track]:
        return list(self._tracks.values())

    def __len__(self) -> int:
        return len(self._tracks)

    def get(self, track_id: int) -> Track | None:
        return self._tracks.get(track_id)

    def update(self, boxes: list[FaceBox]) -> TrackUpdate:
        result = TrackUpdate()
        live = list(self._tracks.values())
        unmatched_tracks = {t.track_id for t in live}
        unmatched_boxes = set(range(len(boxes)))

        # 1. greedy IoU association, best overlaps first
        pairs = [
            (t.box.iou(b), t.track_id, j)
            for t in live
            for j, b in enumerate(boxes)
            if t.box.iou(b) >= self.iou_threshold
        ]
        pairs.sort(key=lambda p: -p[0])
        for _, tid, j in pairs:
            if tid in unmatched_tracks and j in unmatched_boxes:
                self._extend(tid, boxes[j], result)
                unmatched_tracks.discard(tid)
                unmatched_boxes.discard(j)

        # 2. centroid fallback for fast moves (no overlap, but close relative to face size)
        dists: list[tuple[float, int, int]] = []
        for tid in unmatched_tracks:
            last = self._tracks[tid].box
            reach = (
                self.centroid_factor * max(last.width, last.height) * (1 + self._tracks[tid].missed)
            )
            for j in unmatched_boxes:
                d = _distance(last, boxes[j])
                if d <= reach and _similar_size(last, boxes[j]):
                    dists.append((d, tid, j))
        dists.sort()
        for _, tid, j in dists:
            if tid in unmatched_tracks and j in unmatched_boxes:
                self._extend(tid, boxes[j], result)
                unmatched_tracks.discard(tid)
                unmatched_boxes.discard(j)

        # 3. tracks not seen: count a miss, end after max_missed
        for tid in unmatched_tracks:
            track = self._tracks[tid]
            track.missed += 1
            if track.missed > self.max_missed:
                self.end(tid)
                result.ended.append(tid)

        # 4. new tracks for boxes nobody claimed
        for j in sorted(unmatched_boxes):
            track = Track(next(self._ids), collections.deque([boxes[j]], maxlen=self.history))
            self._tracks[track.track_id] = track
            result.assigned.append((track, boxes[j]))
        return result

    def _extend(self, track_id: int, box: FaceBox, result: TrackUpdate) -> None:
        track = self._tracks[track_id]
        track.boxes.append(box)
        track.missed = 0
        track.hits += 1
        result.assigned.append((track, box))

    def end(self, track_id: int) -> None:
        """End a track now and drop everything it held."""
        track = self._tracks.pop(track_id, None)
        if track is not None:
            track.wipe()

    def end_all(self) -> list[int]:
        ids = list(self._tracks)
        for tid in ids:
            self.end(tid)
        return ids


def _distance(a: FaceBox, b: FaceBox) -> float:
    (ax, ay), (bx, by) = a.center, b.center
    return float(((ax - bx) ** 2 + (ay - by) ** 2) ** 0.5)


def _similar_size(a: FaceBox, b: FaceBox) -> bool:
    sa, sb = max(1, a.size), max(1, b.size)
    return 0.5 <= sa / sb <= 2.0


class TrackEvidence:
    """What the embed/match stage keeps for one live track: the top-N embeddings by quality
    and the last n match outcomes. Dropped when the track ends."""

    __slots__ = (
        "_best", "_seq", "confirmed", "embeds", "first_seen", "last_embedded", "outcomes", "top_n",
    )  # fmt: skip

    def __init__(self, *, top_n: int, n: int) -> None:
        self.top_n = top_n
        self._best: list[tuple[float, int, Embedding]] = []  # min-heap by quality
        self._seq = itertools.count()
        self.outcomes: collections.deque[MatchOutcome] = collections.deque(maxlen=n)
        self.confirmed: str | None = None
        self.embeds = 0
        """Embeddings computed for this track so far (bounded by max_embeds_per_track)."""
        self.last_embedded: int | None = None
        """Frame index of the latest embedding."""
        self.first_seen: float | None = None
        """Timestamp of the frame of the first embedding (the track's age in the log)."""

    def offer(self, quality: float, embedding: Embedding) -> None:
        item = (quality, next(self._seq), embedding)
        if len(self._best) < self.top_n:
            heapq.heappush(self._best, item)
        elif quality > self._best[0][0]:
            heapq.heapreplace(self._best, item)

    def best(self) -> list[Embedding]:
        """Held embeddings, best quality first."""
        return [e for _, e in self.best_with_quality()]

    def best_with_quality(self) -> list[tuple[float, Embedding]]:
        """Held ``(quality, embedding)`` pairs, best quality first (for the track mean)."""
        return [(q, e) for q, _, e in sorted(self._best, key=lambda i: (-i[0], i[1]))]

    def __len__(self) -> int:
        return len(self._best)

    def wipe(self) -> None:
        self._best.clear()
        self.outcomes.clear()
        self.confirmed = None
        self.embeds = 0
        self.last_embedded = None
