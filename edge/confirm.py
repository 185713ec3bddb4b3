"""Confirming a track's identity (the match of the track's mean embedding, or k-of-n votes),
and the per-member arrival cooldown."""

from __future__ import annotations

import collections
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from models.tracks import track_embedding

__all__ = ["Confirmation", "Cooldown", "KOfN", "MatchOutcome", "TrackMean", "track_embedding"]


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


class TrackMean:
    """A track is decided from the mean of its best embeddings (:func:`track_embedding`),
    matched against the gallery with the track threshold (``models.tracks``: the mean needs
    its own, calibrated to match no more strangers than single frames at the frame threshold)
    and the same margin as a single frame.

    The edge's default rule (``confirm_rule="mean"``). After each new embedding of a track that
    has ``min_frames`` of them, the mean is matched again, so an arrival comes as soon as enough
    frames agree: the mean is within ``threshold`` with ``min_margin`` over the next member,
    *and* at least ``agree`` of the track's frames (its recent match outcomes) had that same
    member as their own nearest. The second condition costs a member little (their frames
    point at them) and refuses a stranger whose frames each lean towards a different member
    and only average out near one of them. One frame that crosses the threshold is not enough
    (a look-alike in one pose): the mean of the others pulls it back.

    ``bench/track_vote.py`` measures it against :class:`KOfN` and single frames on walk-bys.
    ``match`` is the caller's gallery lookup (the edge's ``GalleryIndex``), so this module
    needs no model.
    """

    def __init__(
        self,
        threshold: float,
        min_margin: float,
        *,
        best: int = 5,
        min_frames: int = 2,
        agree: int | None = None,
    ) -> None:
        if threshold <= 0 or min_margin < 0:
            raise ValueError("threshold must be positive and min_margin non-negative")
        if not 1 <= min_frames <= best:
            raise ValueError("need 1 <= min_frames <= best")
        agree = min_frames if agree is None else agree
        if not 0 <= agree <= min_frames:
            raise ValueError("need 0 <= agree <= min_frames")
        self.threshold = threshold
        self.min_margin = min_margin
        self.best = best
        self.min_frames = min_frames
        self.agree = agree

    def ready(self, frames: int) -> bool:
        """Whether a track holding ``frames`` embeddings is matched (has enough of them)."""
        return frames >= self.min_frames

    def accept(
        self, outcome: MatchOutcome, frames: int, outcomes: Iterable[MatchOutcome] = ()
    ) -> Confirmation | None:
        """The decision on the mean's ``outcome``; ``outcomes`` are the frames' own ones."""
        if not self.ready(frames):
            return None
        subject = outcome.accepted(self.threshold, self.min_margin)
        if subject is None:
            return None
        if self.agree and sum(o.subject_id == subject for o in outcomes) < self.agree:
            return None
        return Confirmation(subject, min(frames, self.best), outcome.distance, outcome.margin)

    def decide(
        self,
        vectors: Sequence[npt.ArrayLike],
        qualities: Sequence[float],
        match: Callable[[npt.NDArray[np.float32]], MatchOutcome],
        outcomes: Sequence[MatchOutcome] | None = None,
    ) -> Confirmation | None:
        """None until the track has ``min_frames`` embeddings, or when it is refused.

        ``outcomes`` are the frames' own outcomes; None matches each frame here.
        """
        if not self.ready(len(vectors)):
            return None
        if outcomes is None:
            outcomes = (
                [match(np.asarray(v, dtype=np.float32)) for v in vectors] if self.agree else []
            )
        mean = match(track_embedding(vectors, qualities, best=self.best))
        return self.accept(mean, len(vectors), outcomes)


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
