"""Expected false matches per 1,000 non-members, read off a calibration's open-set curve."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from models.calibration import (
    Calibration,
    OpenSetCalibration,
    OpenSetPoint,
    load_calibration,
)
from models.exposure import MODES, expected_false_matches_per_1000


def _with_curve(points: list[tuple[int, float]], verify_fmr: float | None = 1e-4) -> Calibration:
    base = load_calibration("dlib_resnet_v1")
    open_set = OpenSetCalibration(
        source="synthetic curve",
        detector="dlib_hog",
        people=10,
        photos=20,
        no_face=0,
        enrol=1,
        draws=1,
        seed=0,
        threshold=base.threshold,
        min_margin=base.min_margin,
        curve=[
            OpenSetPoint(
                gallery=n, tir=0.9, fmr=f, wrong=0.0, member_probes=n, non_member_probes=100
            )
            for n, f in points
        ],
        target_fmr=0.001,
        genuine_pairs=1,
        impostor_pairs=1,
        created_at=datetime(2026, 12, 1, tzinfo=UTC),
    )
    return base.model_copy(
        update={
            "open_set": open_set,
            "verify_threshold": 0.5 if verify_fmr else None,
            "verify_target_fmr": verify_fmr,
        }
    )


def test_door_interpolates_the_curve_and_extends_it_upwards() -> None:
    cal = _with_curve([(100, 0.02), (500, 0.06)])
    door = [expected_false_matches_per_1000(cal, n, "door") for n in (0, 50, 100, 300, 500, 900)]
    assert door == [0.0, 10.0, 20.0, 40.0, 60.0, 100.0]
    # Check-in: the same rate, per non-member who steps onto the spot.
    assert expected_false_matches_per_1000(cal, 300, "checkin") == 40.0
    # Never above 1,000 per 1,000.
    assert expected_false_matches_per_1000(cal, 10**7, "door") == 1000.0


def test_pass_modes() -> None:
    cal = _with_curve([(100, 0.02)])
    assert expected_false_matches_per_1000(cal, 500, "pass") == 0.0
    assert expected_false_matches_per_1000(cal, 500, "pass+face") == pytest.approx(0.1)
    no_verify = _with_curve([(100, 0.02)], verify_fmr=None)
    assert expected_false_matches_per_1000(no_verify, 500, "pass+face") is None


def test_unmeasured_and_bad_input() -> None:
    bare = load_calibration("dlib_resnet_v1").model_copy(update={"open_set": None})
    assert expected_false_matches_per_1000(bare, 10, "door") is None
    assert expected_false_matches_per_1000(bare, 10, "pass") == 0.0
    with pytest.raises(ValueError, match="unknown recognition mode"):
        expected_false_matches_per_1000(bare, 10, "everyone")
    with pytest.raises(ValueError, match="members"):
        expected_false_matches_per_1000(bare, -1, "door")
    assert set(MODES) == {"door", "checkin", "pass", "pass+face"}


def test_shipped_calibration_gives_a_figure_that_grows_with_members() -> None:
    cal = load_calibration("dlib_resnet_v1")
    assert cal.open_set is not None, "calibrate with --gallery on lfw-calib and --write"
    figures: list[float] = []
    for n in (1, 5, 10, 1000):
        figure = expected_false_matches_per_1000(cal, n, "door")
        assert figure is not None
        figures.append(figure)
    smallest = min(p.gallery for p in cal.open_set.curve)
    assert smallest >= 10, "the curve starts at a small gallery"
    # Below the smallest measured gallery the figure grows with every member.
    assert 0.0 < figures[0] < figures[1] < figures[2]
    # Beyond the largest it does not fall below the last measured point.
    last = max(cal.open_set.curve, key=lambda p: p.gallery)
    assert figures[3] >= round(1000.0 * last.fmr, 3)
