"""`vertrouwd models evaluate` and `calibrate --gallery`: open-set figures with the real pipeline.

The folder is built at test time from ../shared/faces/people (symlinks, one photo copied so its
modification time can change); the embedding cache lives in tmp_path. The real HOG detector and
dlib network run on the real photos.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from models.calibration import Calibration, calibration_path, load_calibration
from models.cli import main
from models.evaluation import (
    OpenSetDraw,
    Verification,
    choose_open_set_point,
    open_set_rates,
)

pytestmark = pytest.mark.faces

_FIELD = re.compile(r"(\w+)=(\S+)")


@pytest.fixture
def folder(faces_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "people"
    root.mkdir()
    for person in sorted((faces_dir / "people").iterdir()):
        if person.name == "obama":
            shutil.copytree(person, root / person.name)  # a real file whose mtime can change
        else:
            (root / person.name).symlink_to(person, target_is_directory=True)
    # No converted ONNX model here: the test measures dlib itself, whatever the user has made.
    monkeypatch.setenv("VERTROUWD_MODEL_DIR", str(tmp_path / "no-models"))
    return root


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, list[str]]:
    rc = main(argv)
    out = capsys.readouterr().out
    return rc, out.splitlines()


def _fields(line: str) -> dict[str, str]:
    return dict(_FIELD.findall(line))


def _evaluate(folder: Path, cache: Path, seed: int) -> list[str]:
    return [
        "evaluate",
        str(folder),
        "--gallery",
        "2",
        "--gallery",
        "4",
        "--draws",
        "4",
        "--seed",
        str(seed),
        "--cache",
        str(cache),
        "--verify-fmr",
        "0.1",
        "--verify-fmr",
        "0.001",
    ]


def test_evaluate_prints_parsable_deterministic_lines_from_the_cache(
    folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cache = tmp_path / "cache"
    rc, first = _run(_evaluate(folder, cache, seed=7), capsys)
    assert rc == 0, first
    faces = _fields(next(line for line in first if line.startswith("faces:")))
    assert faces["people"] == "6"
    assert faces["photos"] == "11"
    assert faces["embedded_now"] == "11"
    assert "embedder: dlib_resnet;" in first[0]

    open_set = [_fields(line) for line in first if line.startswith("open_set:")]
    assert [f["gallery"] for f in open_set] == ["2", "4"]
    shipped = load_calibration("dlib_resnet_v1")
    for f in open_set:
        assert f["model"] == "dlib_resnet_v1"
        assert f["enrol"] == "1"
        assert float(f["threshold"]) == shipped.threshold
        assert 0.0 <= float(f["fmr"]) <= 1.0
        assert 0.0 <= float(f["tir"]) <= 1.0
        # Real faces: the shipped point identifies members more often than it matches others.
        assert float(f["tir"]) > float(f["fmr"])
        assert int(f["member_probes"]) == 4 * int(f["gallery"])
        assert int(f["non_member_probes"]) == 4 * (6 - int(f["gallery"]))

    verify = [_fields(line) for line in first if line.startswith("verify:")]
    assert [v["fmr"] for v in verify] == ["0.1", "0.001"]
    assert 0.0 < float(verify[0]["threshold"]) < 2.0
    assert 0.0 <= float(verify[0]["gar"]) <= 1.0
    assert verify[0]["genuine_pairs"] == "5"
    assert verify[0]["impostor_pairs"] == "50"
    assert "not_measurable" in next(line for line in first if "fmr=0.001" in line)

    # Again: every embedding comes from the cache and every figure is the same.
    rc, second = _run(_evaluate(folder, cache, seed=7), capsys)
    assert rc == 0
    assert "embedded_now=0" in next(line for line in second if line.startswith("faces:"))
    assert [line for line in second if line.startswith(("open_set", "verify"))] == [
        line for line in first if line.startswith(("open_set", "verify"))
    ]
    assert list(cache.iterdir()), "the cache file should be in the --cache dir"

    # A photo that changed is embedded again; the others are not.
    photo = folder / "obama" / "obama.jpg"
    st = photo.stat()
    os.utime(photo, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    rc, third = _run(_evaluate(folder, cache, seed=3), capsys)
    assert rc == 0
    assert "embedded_now=1" in next(line for line in third if line.startswith("faces:"))


def test_evaluate_refuses_a_gallery_larger_than_the_folder_allows(
    folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["evaluate", str(folder), "--gallery", "6", "--cache", str(tmp_path / "c")]
    assert main(argv) == 2
    assert "needs 6 people with at least 2 faces; this folder has 5" in capsys.readouterr().err
    assert main(["evaluate", str(folder), "--gallery", "0"]) == 2
    assert "--gallery must be at least 1" in capsys.readouterr().err


def test_calibrate_gallery_stores_open_set_and_verify_figures(
    folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "cal.json"
    argv = [
        "calibrate",
        str(folder),
        "--gallery",
        "3",
        "--gallery",
        "2",
        "--draws",
        "3",
        "--cache",
        str(tmp_path / "cache"),
        "--target-fmr",
        "0.2",
        "--verify-fmr",
        "0.1",
        "--output",
        str(out),
    ]
    rc, lines = _run(argv, capsys)
    assert rc == 0, lines
    cal = Calibration.model_validate_json(out.read_text())
    shipped = load_calibration("dlib_resnet_v1")
    # Without --adopt the shipped operating point stays and its curve is measured.
    assert (cal.threshold, cal.min_margin) == (shipped.threshold, shipped.min_margin)
    assert cal.open_set is not None
    assert [p.gallery for p in cal.open_set.curve] == [2, 3]
    assert cal.open_set.threshold == shipped.threshold
    assert (cal.open_set.people, cal.open_set.photos, cal.open_set.draws) == (6, 11, 3)
    assert cal.open_set.impostor_pairs == 50
    for point in cal.open_set.curve:
        assert point.tir > point.fmr
        assert point.member_probes == 3 * point.gallery
    for choice in cal.open_set.choices:
        assert choice.fmr <= 0.2
    assert cal.verify_target_fmr == 0.1
    assert cal.verify_threshold == next(v.threshold for v in cal.open_set.verify if v.fmr == 0.1)
    # The track mean's threshold, from walk-bys at the largest gallery: never looser than the
    # frame threshold, and matching no more strangers' walk-bys than single frames there.
    track = cal.open_set.track
    assert track is not None
    assert (track.gallery, track.frames, track.stranger_tracks) == (3, 3, 3)
    assert track.thresholds
    for pair in track.thresholds:
        assert pair.track <= pair.frame
        assert pair.fmr <= pair.frame_fmr
    assert any(line.startswith("track: model=dlib_resnet_v1 gallery=3") for line in lines)
    # Only figures are stored: no file name, vector or image.
    text = out.read_text()
    assert "obama" not in text
    assert "biden" not in text
    # The package's own file is untouched by --output.
    assert json.loads(calibration_path("dlib_resnet_v1").read_text())["model_id"] == (
        "dlib_resnet_v1"
    )


def test_evaluate_a_held_out_half_with_a_calibration_from_the_other(
    faces_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Calibrate on one half of the people and evaluate on the other: the halves are
    disjoint, and evaluate reads the threshold and track map from the given calibration."""
    lfw = faces_dir / "lfw-calib"
    if not lfw.is_dir():
        pytest.skip(f"{lfw} not found")
    folder = tmp_path / "lfw"
    folder.mkdir()
    people = sorted(p for p in lfw.iterdir() if p.is_dir() and len(list(p.iterdir())) >= 2)[:24]
    for person in people:  # at most 3 photos each: the real models run on every one
        (folder / person.name).mkdir()
        for photo in sorted(person.iterdir())[:3]:
            (folder / person.name / photo.name).symlink_to(photo)
    cache = tmp_path / "cache"
    out = tmp_path / "half.json"
    common = ["--gallery", "4", "--draws", "2", "--cache", str(cache), "--verify-fmr", "0.1"]
    rc, lines = _run(
        ["calibrate", str(folder), "--split", "calibrate", "--adopt", "--target-fmr", "0.3",
         "--output", str(out), *common],
        capsys,
    )  # fmt: skip
    assert rc == 0, lines
    half = Calibration.model_validate_json(out.read_text())
    assert half.open_set is not None
    assert "(calibrate half)" in half.open_set.source
    seen = _fields(next(line for line in lines if line.startswith("split:")))
    rc, held = _run(
        ["evaluate", str(folder), "--split", "holdout", "--calibration", str(out), *common],
        capsys,
    )
    assert rc == 0, held
    other = _fields(next(line for line in held if line.startswith("split:")))
    assert int(seen["people"]) + int(other["people"]) == len(people)
    (line,) = [_fields(x) for x in held if x.startswith("open_set:")]
    assert float(line["threshold"]) == half.threshold
    walks = {f["per"]: f for f in (_fields(x) for x in held if x.startswith("walkby:"))}
    assert float(walks["frame"]["threshold"]) == half.threshold
    assert float(walks["track"]["threshold"]) == half.track_threshold(half.threshold)
    # a calibration of another model, or not a calibration, is refused with a reason
    bad = tmp_path / "bad.json"
    bad.write_text(out.read_text().replace('"dlib_resnet_v1"', '"other_model"'))
    assert main(["evaluate", str(folder), "--calibration", str(bad), *common]) == 2
    assert "is a calibration of 'other_model'" in capsys.readouterr().err
    bad.write_text("{}")
    assert main(["evaluate", str(folder), "--calibration", str(bad), *common]) == 2
    assert "is not a calibration" in capsys.readouterr().err


def _draw(
    member: list[float], margin: list[float], right: list[bool], other: list[float]
) -> OpenSetDraw:
    return OpenSetDraw(
        gallery=len(member),
        enrol=1,
        member_distance=np.array(member),
        member_margin=np.array(margin),
        member_right=np.array(right),
        other_distance=np.array(other),
        other_margin=np.full(len(other), 0.2),
    )


def test_open_set_rule_counts_right_wrong_and_non_members() -> None:
    d = _draw([0.4, 0.5, 0.6], [0.2, 0.01, 0.2], [True, True, False], [0.45, 0.7, 0.8, 0.9])
    r = open_set_rates([d], 0.55, 0.05)
    assert r.tir == pytest.approx(1 / 3)  # the second is too close to another member
    assert r.wrong == 0.0  # the wrong one is beyond the threshold
    assert r.fmr == pytest.approx(1 / 4)
    r = open_set_rates([d], 0.65, 0.0)
    assert r.tir == pytest.approx(2 / 3)
    assert r.wrong == pytest.approx(1 / 3)
    found = choose_open_set_point([d], 0.1)
    assert found is not None
    t, _, best = found
    assert t < 0.45  # below the closest non-member
    assert best.fmr == 0.0
    assert best.tir == pytest.approx(1 / 3)
    unreachable = [_draw([0.4], [0.2], [True], [0.1])]  # the non-member is nearest of all
    assert choose_open_set_point(unreachable, 0.1, margins=(0.0, 0.1)) is None


def test_verification_threshold_at_a_false_match_rate() -> None:
    impostor = np.sort(np.linspace(0.5, 1.5, 1000))
    v = Verification(genuine=np.array([0.3, 0.4, 0.52, 0.7]), impostor=impostor)
    t, gar = v.at_fmr(0.01)
    assert v.far(t) <= 0.01
    assert t < impostor[10]
    assert gar == 0.5  # 0.3 and 0.4 lie within t (about 0.51); 0.52 and 0.7 do not
    with pytest.raises(ValueError, match="cannot measure"):
        v.at_fmr(0.0001)
