"""Confirming a track's identity (k-of-n votes, or one match of the track's mean embedding),
and the per-member arrival cooldown."""

from __future__ import annotations

import collections
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt


@dataclass(frozen=True, slots=True)
class MatchOutcome:
    """One embedding of a track compared with the gallery.

    ``subject_id`` is the nearest subject (None when the gallery is empty); ``distance`` its
    distance; ``margin`` how much farther the second-nearest *other* subject is.
    """

    subject_id: str | None
    distance: float
    margin: float

    def accepted(self, threshold: float, min_margin: float) -> str | None:
        """The subject this outcome votes for, or None."""
        if self.subject_id is None:
            return None
        if self.distance > threshold or self.margin < min_margin:
            return None
        return self.subject_id


@dataclass(frozen=True, slots=True)
class Confirmation:
    """A track confirmed as ``subject_id`` by ``frames`` agreeing embeddings."""

    subject_id: str
    frames: int
    score: float
    """Best (smallest) distance among the agreeing embeddings."""
    margin: float
    """Margin of that best embedding."""


class KOfN:
    """A track is confirmed as S when at least ``k`` of its last ``n`` outcomes accept S
    (distance <= ``threshold`` and margin >= ``min_margin``)."""

    def __init__(self, k: int, n: int, threshold: float, min_margin: float) -> None:
        if not 1 <= k <= n:
            raise ValueError("need 1 <= k <= n")
        if threshold <= 0 or min_margin < 0:
            raise ValueError("threshold must be positive and min_margin non-negative")
        self.k = k
        self.n = n
        self.threshold = threshold
        self.min_margin = min_margin

    def decide(self, outcomes: Iterable[MatchOutcome]) -> Confirmation | None:
        window = list(outcomes)[-self.n :]
        votes: dict[str, list[MatchOutcome]] = collections.defaultdict(list)
        for outcome in window:
            subject = outcome.accepted(self.threshold, self.min_margin)
            if subject is not None:
                votes[subject].append(outcome)
        best: Confirmation | None = None
        for subject, agreeing in votes.items():
            if len(agreeing) < self.k:
                continue
            top = min(agreeing, key=lambda o: o.distance)
            candidate = Confirmation(subject, len(agreeing), top.distance, top.margin)
            if best is None or (candidate.frames, -candidate.score) > (best.frames, -best.score):
                best = candidate
        return best


def track_embedding(
    vectors: Sequence[npt.ArrayLike], qualities: Sequence[float], *, best: int = 5
) -> npt.NDArray[np.float32]:
    """The quality-weighted mean of a track's ``best`` highest-quality embeddings.

    Averaging frames of one face cancels part of what varies between frames (blur, pose,
    light), so the mean lies nearer the person's own template than most single frames; a
    non-member's mean lies nearer *their* own centre, which a look-alike does not share.
    Weights are the qualities (``models.quality.score_for_selection``), floored at a small
    positive value so a track of poor frames still has a mean.
    """
    if len(vectors) != len(qualities):
        raise ValueError("one quality per embedding")
    if not vectors:
        raise ValueError("a track without embeddings has no mean")
    if best < 1:
        raise ValueError("best must be >= 1")
    order = sorted(range(len(vectors)), key=lambda i: -qualities[i])[:best]
    stack = np.stack([np.asarray(vectors[i], dtype=np.float64) for i in order])
    weights = np.maximum(np.asarray([qualities[i] for i in order], dtype=np.float64), 1e-3)
    mean: npt.NDArray[np.float64] = (weights[:, None] * stack).sum(axis=0) / weights.sum()
    return mean.astype(np.float32)


class TrackMean:
    """A track is decided once, from the mean of its best embeddings (:func:`track_embedding`),
    matched against the gallery with the same threshold and margin as a single frame.

    An alternative to :class:`KOfN` (which votes over single frames): ``bench/track_vote.py``
    measures both on synthetic walk-bys. ``match`` is the caller's gallery lookup (the edge's
    ``GalleryIndex``), so this module needs no model.
    """

    def __init__(
        self, threshold: float, min_margin: float, *, best: int = 5, min_frames: int = 2
    ) -> None:
        if threshold <= 0 or min_margin < 0:
            raise ValueError("threshold must be positive and min_margin non-negative")
        if not 1 <= min_frames <= best:
            raise ValueError("need 1 <= min_frames <= best")
        self.threshold = threshold
        self.min_margin = min_margin
        self.best = best
        self.min_frames = min_frames

    def decide(
        self,
        vectors: Sequence[npt.ArrayLike],
        qualities: Sequence[float],
        match: Callable[[npt.NDArray[np.float32]], MatchOutcome],
    ) -> Confirmation | None:
        """None until the track has ``min_frames`` embeddings, or when its mean is refused."""
        if len(vectors) < self.min_frames:
            return None
        outcome = match(track_embedding(vectors, qualities, best=self.best))
        subject = outcome.accepted(self.threshold, self.min_margin)
        if subject is None:
            return None
        frames = min(len(vectors), self.best)
        return Confirmation(subject, frames, outcome.distance, outcome.margin)


class Cooldown:
    """At most one arrival per subject per ``window_s`` seconds of ``clock``."""

    def __init__(self, window_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        if window_s < 0:
            raise ValueError("window_s must be non-negative")
        self.window_s = window_s
        self._clock = clock
        self._last: dict[str, float] = {}

    def allow(self, subject_id: str) -> bool:
        """True (and the window starts) when ``subject_id`` had no arrival within the window."""
        now = self._clock()
        self._expire(now)
        last = self._last.get(subject_id)
        if last is not None and now - last < self.window_s:
            return False
        self._last[subject_id] = now
        return True

    def _expire(self, now: float) -> None:
        stale = [s for s, t in self._last.items() if now - t >= self.window_s]
        for subject in stale:
            del self._last[subject]

    def forget(self, subject_id: str) -> None:
        """Drop a subject (e.g. withdrawn from the gallery)."""
        self._last.pop(subject_id, None)

    def __len__(self) -> int:
        return len(self._last)
