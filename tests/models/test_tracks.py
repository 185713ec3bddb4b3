"""The track mean's own threshold (models.tracks) and the two halves of a face set."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from models.calibration import (
    Calibration,
    DistanceStats,
    OpenSetCalibration,
    OpenSetPoint,
    TrackCalibration,
    TrackThreshold,
)
from models.evaluation import FaceSet
from models.tracks import WalkByDraw, track_thresholds, walkby_draws, walkby_rates


def _draw(
    member_track: list[float], other_track: list[float], other_frame: list[float]
) -> WalkByDraw:
    return WalkByDraw(
        gallery=2,
        frames=2,
        member_track=np.array(member_track),
        member_right=np.ones(len(member_track), dtype=bool),
        other_track=np.array(other_track),
        member_frame=np.array([0.4, 0.5, 0.45, 0.7]),
        member_frame_right=np.array([True, True, True, False]),
        other_frame=np.array(other_frame),
        distinct=np.ones(len(other_track), dtype=bool),
    )


def test_rates_per_track_and_per_frame() -> None:
    draw = _draw([0.3, 0.45], [0.42, 0.6, np.inf, 0.5], [0.5, 0.55, 0.62, 0.7, 0.9, 0.44, 1, 1])
    assert walkby_rates([draw], 0.5) == (1.0, 0.5)  # 0.42 and 0.5 of four strangers
    assert walkby_rates([draw], 0.44) == (0.5, 0.25)
    tir, fmr = walkby_rates([draw], 0.5, per="frame")
    assert tir == 0.75  # the 0.7 frame is beyond, and it named the wrong member anyway
    assert fmr == 2 / 8
    with pytest.raises(ValueError, match="per"):
        walkby_rates([draw], 0.5, per="walk")


def test_track_threshold_matches_no_more_strangers_than_frames() -> None:
    # Strangers' means lie nearer the members than their single frames: at the frame
    # threshold 0.55 a quarter of the frames match, and the track threshold that matches no
    # more walk-bys than that is 0.49 (0.42 is in, 0.5 would make it half).
    draw = _draw([0.3, 0.45], [0.42, 0.5, 0.6, 0.8], [0.5, 0.55, 0.62, 0.7, 0.9, 0.95, 1, 1])
    grid = [round(0.3 + 0.01 * i, 2) for i in range(41)]
    pairs = dict(track_thresholds([draw], [0.55, 0.3], grid))
    assert pairs[0.55] == 0.49
    assert walkby_rates([draw], pairs[0.55])[1] <= walkby_rates([draw], 0.55, per="frame")[1]
    assert pairs[0.3] == 0.3  # no stranger under 0.42 either: capped at the frame threshold


def _calibration(pairs: list[tuple[float, float]] | None) -> Calibration:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    track = None
    if pairs is not None:
        track = TrackCalibration(
            gallery=10,
            frames=3,
            best=3,
            min_frames=2,
            agree=2,
            member_tracks=10,
            stranger_tracks=20,
            thresholds=[
                TrackThreshold(frame=f, track=t, fmr=0.0, frame_fmr=0.0, tir=1.0, frame_tir=1.0)
                for f, t in pairs
            ],
            rule="test",
        )
    open_set = OpenSetCalibration(
        source="t",
        detector="d",
        people=30,
        photos=60,
        no_face=0,
        enrol=1,
        draws=1,
        seed=0,
        threshold=0.6,
        min_margin=0.05,
        curve=[
            OpenSetPoint(gallery=10, tir=1, fmr=0, wrong=0, member_probes=1, non_member_probes=1)
        ],
        target_fmr=0.001,
        genuine_pairs=1,
        impostor_pairs=1,
        track=track,
        created_at=now,
    )
    return Calibration(
        model_id="m",
        threshold=0.6,
        min_margin=0.05,
        target_fmr=0.001,
        observed_fmr=0.0,
        observed_fnmr=0.0,
        genuine=DistanceStats(count=0),
        impostor=DistanceStats(count=0),
        identities=30,
        images=60,
        dataset="t",
        detector="d",
        rule="t",
        created_at=now,
        open_set=open_set,
    )


def test_calibration_maps_a_frame_threshold_to_the_track_threshold() -> None:
    cal = _calibration([(0.4, 0.38), (0.5, 0.46), (0.6, 0.55)])
    assert cal.track_threshold(0.5) == 0.46
    assert cal.track_threshold(0.55) == pytest.approx(0.505)
    assert cal.track_threshold(0.65) == pytest.approx(0.60)  # the last gap, carried on
    assert cal.track_threshold(0.3) == pytest.approx(0.28)  # the first gap, carried back
    # never looser than the frame threshold, whatever the map says
    assert _calibration([(0.5, 0.52)]).track_threshold(0.5) == 0.5
    # a model without a measured map keeps the frame threshold
    assert _calibration(None).track_threshold(0.5) == 0.5


def _face_set(people: int, photos: int) -> FaceSet:
    ids = tuple(f"person_{p:03d}" for p in range(people) for _ in range(photos))
    rng = np.random.default_rng(1)
    centres = rng.normal(size=(people, 8))
    vectors = np.repeat(centres, photos, axis=0) + 0.05 * rng.normal(size=(len(ids), 8))
    return FaceSet(
        model_id="m",
        identities=ids,
        files=tuple(f"{who}/{i}.jpg" for i, who in enumerate(ids)),
        vectors=vectors.astype(np.float32),
        people=people,
        no_face=0,
        embedded=0,
    )


def test_split_gives_two_disjoint_halves_fixed_by_name() -> None:
    faces = _face_set(200, 2)
    a, b = faces.split("calibrate"), faces.split("holdout")
    assert set(a.identities).isdisjoint(b.identities)
    assert set(a.identities) | set(b.identities) == set(faces.identities)
    assert len(a.files) + len(b.files) == len(faces.files)
    assert 70 <= a.people <= 130  # about half
    # the half of a person depends on their name only, not on who else is in the folder
    fewer = FaceSet(
        model_id="m",
        identities=faces.identities[:100],
        files=faces.files[:100],
        vectors=faces.vectors[:100],
        people=50,
        no_face=0,
        embedded=0,
    )
    assert set(fewer.split("holdout").identities) == set(b.identities) & set(fewer.identities)
    with pytest.raises(ValueError, match="unknown split"):
        faces.split("train")


def test_walkby_draws_replay_the_edge_rule_on_separated_people() -> None:
    faces = _face_set(40, 4)
    draws = walkby_draws(faces, 10, margin=0.05, frames=3, draws=2)
    assert len(draws) == 2
    assert all(len(d.member_track) == 10 and len(d.other_track) == 30 for d in draws)
    assert all(len(d.other_frame) == 30 * 3 for d in draws)
    assert all(d.distinct.all() for d in draws)  # 4 photos: a member has 3 others
    # well separated people: every member is identified, no stranger is matched
    assert walkby_rates(draws, 0.5) == (1.0, 0.0)
    assert walkby_draws(faces, 10, margin=0.05, frames=3, draws=2)[1].member_track.tolist() == (
        draws[1].member_track.tolist()
    )  # seeded
    with pytest.raises(ValueError, match="needs 40 people"):
        walkby_draws(faces, 40, margin=0.05)
