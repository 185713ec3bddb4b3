"""k-of-n confirmation of a track's identity, and the per-member arrival cooldown."""

from __future__ import annotations

import collections
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass


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
