"""Deciding a track once from the quality-weighted mean of its best embeddings."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from edge.confirm import MatchOutcome, TrackMean, track_embedding


def test_track_embedding_weights_the_best_frames() -> None:
    vectors = [[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]]
    mean = track_embedding(vectors, [3.0, 1.0, 0.5], best=2)
    assert mean.dtype == np.float32
    np.testing.assert_allclose(mean, [0.75, 0.25])  # the worst frame is left out
    np.testing.assert_allclose(track_embedding(vectors, [1.0, 1.0, 1.0], best=1), [1.0, 0.0])
    with pytest.raises(ValueError, match="one quality"):
        track_embedding(vectors, [1.0])
    with pytest.raises(ValueError, match="no mean"):
        track_embedding([], [])


def test_track_mean_matches_once_with_threshold_and_margin() -> None:
    seen: list[npt.NDArray[np.float32]] = []
    template = np.array([1.0, 0.0], dtype=np.float32)

    def match(q: npt.NDArray[np.float32]) -> MatchOutcome:
        seen.append(q)
        d = float(np.linalg.norm(q - template))
        return MatchOutcome("a", d, 0.5 - d)

    rule = TrackMean(threshold=0.3, min_margin=0.1, best=3, min_frames=2)
    assert rule.decide([[1.0, 0.1]], [1.0], match) is None  # too few frames: not matched
    assert seen == []
    # Each frame alone is beyond the threshold (0.35, 0.33); their mean is 0.01 away.
    frames = [[1.0, 0.35], [1.0, -0.33]]
    assert all(match(np.asarray(f, dtype=np.float32)).distance > 0.3 for f in frames)
    seen.clear()
    confirmation = rule.decide(frames, [1.0, 1.0], match)
    assert confirmation is not None
    assert confirmation.subject_id == "a"
    assert confirmation.frames == 2
    assert confirmation.score == pytest.approx(0.01, abs=1e-6)
    assert len(seen) == 1  # one match for the whole track
    # A mean within the threshold but too close to a second subject is refused.
    assert TrackMean(0.3, 0.495).decide(frames, [1.0, 1.0], match) is None  # margin 0.49
    with pytest.raises(ValueError, match="min_frames"):
        TrackMean(0.3, 0.1, best=2, min_frames=3)
