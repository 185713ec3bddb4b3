"""``vertrouwd models install``: converts dlib's network once into the model directory, checks it
against dlib on the real faces, does nothing the second time, and redoes a damaged file."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from models.backends.onnx import OnnxEmbedder, model_file
from models.cli import main
from models.install import MIN_COSINE, InstallReport, install_models

# One xdist work unit with the other user of the session's installed_with_faces (conftest.py;
# SHARED in tests/conftest.py).


def test_install_converts_verifies_and_is_idempotent(
    installed_with_faces: tuple[Path, InstallReport], tmp_path: Path, faces_dir: Path
) -> None:
    people = faces_dir / "people"
    installed, first = installed_with_faces  # install_models(installed, faces=people)
    model = model_file(installed, int8=False)
    assert first.float_model == model
    assert first.converted
    assert first.verified_faces == 11
    assert first.cosine_min is not None
    assert first.cosine_min >= MIN_COSINE
    assert first.detector_weights is not None
    assert first.detector_weights.is_file()
    card = json.loads(model.with_name(model.name + ".json").read_text())
    assert card["check_faces"]["faces"] == 11

    # The rest changes files: on a copy of the session's install (times kept).
    shutil.copytree(installed, tmp_path, dirs_exist_ok=True)
    model = model_file(tmp_path, int8=False)
    stamp = model.stat().st_mtime_ns

    again = install_models(tmp_path, faces=people)
    assert not again.converted
    assert again.verified_faces == 11
    assert model.stat().st_mtime_ns == stamp
    assert any("already converted" in line for line in again.lines)

    # the embedder loads what was installed
    embedder = OnnxEmbedder(model_dir=tmp_path)
    embedder.load()
    assert embedder.model_id == "dlib_resnet_v1"

    # a damaged file is converted again (and checked again)
    model.write_bytes(model.read_bytes()[:-10])
    fixed = install_models(tmp_path, faces=people)
    assert fixed.converted
    assert fixed.verified_faces == 11
    OnnxEmbedder(model_dir=tmp_path).load()


def test_install_command_reports_and_refuses_a_missing_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["install", "--model-dir", str(tmp_path), "--faces", str(tmp_path / "no")]) == 2
    assert "is not a folder" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []  # refused before anything was written
    assert main(["install", "--model-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "converted" in out
    assert "blazeface weights" in out
