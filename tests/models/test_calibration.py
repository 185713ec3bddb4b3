"""The shipped calibration, the threshold rule, and the calibrate command on real photos."""

from __future__ import annotations

import itertools
import json
import math
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from models.backends.dlib import DlibHogDetector, DlibResnetEmbedder
from models.calibration import (
    Calibration,
    calibrate,
    calibration_path,
    choose_min_margin,
    choose_threshold,
    load_calibration,
)
from models.cli import main
from tests.models.conftest import Face


def _pair_distances(people: list[Face]) -> tuple[list[float], list[float]]:
    genuine: list[float] = []
    impostor: list[float] = []
    for a, b in itertools.combinations(people, 2):
        d = float(np.linalg.norm(a.embeddings[0].vector - b.embeddings[0].vector))
        (genuine if a.identity == b.identity else impostor).append(d)
    return genuine, impostor


def test_shipped_calibration_loads_and_is_bounded() -> None:
    c = load_calibration("dlib_resnet_v1")
    assert c.model_id == "dlib_resnet_v1"
    assert 0.0 < c.threshold < 2.0
    assert 0.0 <= c.min_margin < 2.0
    assert c.genuine.count > 0
    assert c.impostor.count > 0
    assert c.genuine.max is not None
    assert c.impostor.min is not None
    assert c.genuine.max < c.threshold < c.impostor.min
    assert c.created_at.tzinfo is not None


@pytest.mark.faces
def test_threshold_separates_real_same_and_different_people(people: list[Face]) -> None:
    c = load_calibration("dlib_resnet_v1")
    genuine, impostor = _pair_distances(people)
    assert len(genuine) == 5
    assert len(impostor) == 50
    assert max(genuine) < c.threshold < min(impostor)
    # The figures recorded in shared/faces/README.md.
    assert min(genuine) > 0.3
    assert max(genuine) < 0.55
    assert min(impostor) >= 0.70


def test_unknown_or_malformed_model_id() -> None:
    with pytest.raises(LookupError, match="no calibration"):
        load_calibration("no_such_model")
    with pytest.raises(ValueError, match="invalid model id"):
        load_calibration("../../etc/passwd")


def test_out_of_bounds_calibration_is_refused() -> None:
    data = json.loads(calibration_path("dlib_resnet_v1").read_text())
    for bad in (0.0, 2.0, -0.1, math.nan):
        with pytest.raises(ValueError, match="threshold"):
            Calibration.model_validate({**data, "threshold": bad})
    with pytest.raises(ValueError, match="extra"):
        Calibration.model_validate({**data, "note": "hand-tuned"})


def test_threshold_rule_with_few_impostor_pairs_stays_below_closest_minus_gap() -> None:
    impostor = [0.70, 0.80, 0.85, 0.90, 0.95]
    threshold, bounds = choose_threshold(impostor, 0.001, safety_gap=0.05)
    assert bounds["gap"] == pytest.approx(0.65)
    assert threshold <= 0.65
    assert threshold == math.floor(min(bounds.values()) * 1000) / 1000


def test_threshold_rule_with_many_impostor_pairs_follows_the_quantile() -> None:
    rng = np.random.default_rng(3)
    impostor = list(rng.normal(0.9, 0.08, 200_000))
    threshold, bounds = choose_threshold(impostor, 0.01, safety_gap=0.05)
    assert "gap" not in bounds, "with 2000 expected false matches the data speaks for itself"
    observed = np.mean(np.asarray(impostor) <= threshold)
    assert 0.008 < observed <= 0.01
    assert threshold == pytest.approx(0.9 - 2.326 * 0.08, abs=0.005)
    with pytest.raises(ValueError, match="impostor"):
        choose_threshold([], 0.01)


def test_min_margin_rule() -> None:
    assert choose_min_margin([0.5, 0.3]) == 0.05  # capped
    assert choose_min_margin([0.5, 0.05]) == 0.02  # half the smallest lead, rounded down
    assert choose_min_margin([-0.1]) == 0.0


@pytest.mark.faces
def test_calibrate_on_people_reproduces_the_shipped_file(
    faces_dir: Path, detector: DlibHogDetector, embedder: DlibResnetEmbedder
) -> None:
    fixed = datetime(2025, 1, 1, tzinfo=UTC)
    report = calibrate(faces_dir / "people", detector, embedder, 0.001, now=lambda: fixed)
    shipped = load_calibration("dlib_resnet_v1")
    c = report.calibration
    assert c.created_at == fixed
    assert (c.threshold, c.min_margin, c.target_fmr) == (
        shipped.threshold,
        shipped.min_margin,
        shipped.target_fmr,
    )
    assert c.genuine == shipped.genuine
    assert c.impostor == shipped.impostor
    assert (c.identities, c.images) == (6, 11)
    assert report.skipped == ()
    text = report.format()
    assert "histogram" in text
    assert f"threshold {c.threshold:.3f}" in text


@pytest.mark.faces
def test_cli_calibrate_writes_json(
    faces_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A small folder (two identities) made of links to the real photos, plus a photo with no face.
    root = tmp_path / "people"
    for who in ("obama", "biden"):
        (root / who).mkdir(parents=True)
        for photo in (faces_dir / "people" / who).iterdir():
            (root / who / photo.name).symlink_to(photo)
    (root / "obama" / "not_a_photo.png").write_bytes(b"nope")
    out = tmp_path / "cal.json"
    assert main(["calibrate", str(root), "--target-fmr", "0.01", "--output", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "genuine  n=   2" in printed
    assert "impostor n=   4" in printed
    assert "skipped obama/not_a_photo.png: the file is not an image" in printed
    written = Calibration.model_validate_json(out.read_text())
    assert written.target_fmr == 0.01
    assert written.genuine.max is not None
    assert written.impostor.min is not None
    assert written.genuine.max < written.threshold < written.impostor.min


def test_cli_refuses_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["calibrate", str(tmp_path / "missing")]) == 2
    assert "is not a folder" in capsys.readouterr().err
    assert main(["calibrate", str(tmp_path), "--target-fmr", "2"]) == 2
    with pytest.raises(SystemExit):
        main(["frobnicate"])
