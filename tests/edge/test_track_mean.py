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
    # the worst frame is left out; the 3:1 mean (0.75, 0.25) is rescaled to the frames' length 1
    np.testing.assert_allclose(mean, np.array([0.75, 0.25]) / np.hypot(0.75, 0.25), rtol=1e-6)
    np.testing.assert_allclose(track_embedding(vectors, [1.0, 1.0, 1.0], best=1), [1.0, 0.0])


def test_track_embedding_keeps_the_frames_length() -> None:
    """A plain mean of differing vectors is shorter than each (and so nearer every template);
    the track mean keeps the frames' weighted length, as dlib's ~1.4-long vectors need."""
    vectors = [[1.4, 0.0], [0.0, 1.4], [0.98, 0.98]]
    mean = track_embedding(vectors, [1.0, 1.0, 2.0], best=3)
    lengths = np.linalg.norm(np.asarray(vectors), axis=1)
    expected = float((lengths * [1.0, 1.0, 2.0]).sum() / 4.0)
    assert float(np.linalg.norm(mean)) == pytest.approx(expected, rel=1e-6)
    plain = (np.asarray(vectors) * [[1.0], [1.0], [2.0]]).sum(axis=0) / 4.0
    assert float(np.linalg.norm(plain)) < 0.9 * expected  # what rescaling undoes
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

    rule = TrackMean(threshold=0.3, min_margin=0.1, best=3, min_frames=2, agree=0)
    assert rule.decide([[1.0, 0.1]], [1.0], match) is None  # too few frames: not matched
    assert seen == []
    # Each frame alone is beyond the threshold (0.35, 0.33); their mean (1, 0.01), at the
    # frames' length (about 1.056), is 0.057 away.
    frames = [[1.0, 0.35], [1.0, -0.33]]
    assert all(match(np.asarray(f, dtype=np.float32)).distance > 0.3 for f in frames)
    seen.clear()
    confirmation = rule.decide(frames, [1.0, 1.0], match)
    assert confirmation is not None
    assert confirmation.subject_id == "a"
    assert confirmation.frames == 2
    length = (np.hypot(1.0, 0.35) + np.hypot(1.0, 0.33)) / 2.0
    expected = np.array([1.0, 0.01]) * length / np.hypot(1.0, 0.01) - template
    assert confirmation.score == pytest.approx(float(np.linalg.norm(expected)), abs=1e-6)
    assert confirmation.score < 0.06
    assert len(seen) == 1  # one match for the whole track
    # A mean within the threshold but too close to a second subject is refused.
    assert TrackMean(0.3, 0.45, agree=0).decide(frames, [1.0, 1.0], match) is None
    with pytest.raises(ValueError, match="min_frames"):
        TrackMean(0.3, 0.1, best=2, min_frames=3)
    with pytest.raises(ValueError, match="agree"):
        TrackMean(0.3, 0.1, best=3, min_frames=2, agree=3)


def test_track_mean_needs_frames_that_agree() -> None:
    """A mean within the threshold of A is refused when fewer than ``agree`` of the track's
    frames had A as their own nearest: frames leaning towards B and C that average out near A
    are not a look-alike of A."""
    templates = {
        "a": np.array([1.0, 0.0, 0.0]),
        "b": np.array([0.8, 0.6, 0.0]),
        "c": np.array([0.8, -0.6, 0.0]),
    }

    def match(q: npt.NDArray[np.float32]) -> MatchOutcome:
        ranked = sorted((float(np.linalg.norm(q - t)), s) for s, t in templates.items())
        return MatchOutcome(ranked[0][1], ranked[0][0], ranked[1][0] - ranked[0][0])

    leaning = [[0.85, 0.52, 0.0], [0.85, -0.52, 0.0]]  # nearest b, then c
    assert [match(np.asarray(f, dtype=np.float32)).subject_id for f in leaning] == ["b", "c"]
    mean = match(track_embedding(leaning, [1.0, 1.0]))
    assert mean.subject_id == "a"
    assert mean.distance <= 0.3
    assert mean.margin >= 0.05
    assert TrackMean(0.3, 0.05, best=3, min_frames=2, agree=0).decide(leaning, [1, 1], match)
    assert TrackMean(0.3, 0.05, best=3, min_frames=2).decide(leaning, [1, 1], match) is None
    # frames that each point at a agree: accepted, from the mean
    own = [[0.99, 0.1, 0.0], [0.99, -0.1, 0.0]]
    confirmation = TrackMean(0.3, 0.05, best=3, min_frames=2).decide(own, [1, 1], match)
    assert confirmation is not None
    assert confirmation.subject_id == "a"
    assert confirmation.frames == 2
