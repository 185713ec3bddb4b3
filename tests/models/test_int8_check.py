"""int8 only where proven: the self-check's decision follows the measured cosines on this CPU,
its reference chips are blends (no one's photo), and the edge falls back to float, saying why,
when the check fails or cannot run."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import numpy as np
import pytest

from edge.model_choice import build_models, checked_embedder_config
from edge.settings import EdgeSettings
from models.backends.onnx import DLIB_FLOAT_ID, DLIB_INT8_ID, OnnxEmbedder
from models.convert_dlib import calibration_chips
from models.install import InstallReport
from models.int8_check import (
    MIN_COSINE,
    REFERENCE_FILE,
    int8_self_check,
    load_reference_chips,
)
from models.registry import OnnxEmbedderConfig

# One xdist work unit with the other user of the session's installed_with_faces (conftest.py;
# SHARED in tests/conftest.py).


@pytest.fixture
def installed(installed_with_faces: tuple[Path, InstallReport]) -> Path:
    """The session's ``install_models(..., faces=people)`` (tests/models/conftest.py)."""
    out, report = installed_with_faces
    assert report.int8_quantized
    return out


def _spec(model_dir: Path) -> str:
    return OnnxEmbedderConfig(int8=True, model_dir=model_dir).model_dump_json()


def test_decision_follows_the_measured_cosines(installed: Path) -> None:
    chips = load_reference_chips(installed)
    assert len(chips) == 8
    fp = np.stack([e.vector for e in OnnxEmbedder(model_dir=installed).embed_chips(chips)])
    q = np.stack(
        [e.vector for e in OnnxEmbedder(model_dir=installed, int8=True).embed_chips(chips)]
    )
    a, b = fp.astype(np.float64), q.astype(np.float64)
    worst = float(((a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)).min())
    check = int8_self_check(installed)
    assert check.chips == 8
    assert check.cosine_min == pytest.approx(worst, abs=1e-6)
    assert check.ok == (worst >= MIN_COSINE)
    # the same models against an impossible bar: refused, with the figure in the reason
    strict = int8_self_check(installed, min_cosine=1.0)
    assert not strict.ok
    assert "differs from float on this CPU" in strict.reason


def test_reference_chips_are_blends_not_photos(installed: Path, faces_dir: Path) -> None:
    reference = np.stack(load_reference_chips(installed)).astype(np.int16)
    faces = np.stack(calibration_chips(faces_dir / "people")).astype(np.int16)
    # every reference chip is far from every real face chip (mean absolute pixel difference)
    diffs = np.abs(reference[:, None] - faces[None]).mean(axis=(2, 3, 4))
    assert diffs.min() > 5.0
    assert len({r.tobytes() for r in reference.astype(np.uint8)}) == len(reference)


def test_missing_reference_means_float_with_a_reason(
    installed: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    bare = tmp_path / "models"
    shutil.copytree(installed, bare)
    (bare / REFERENCE_FILE).unlink()
    check = int8_self_check(bare)
    assert not check.ok
    assert "could not run" in check.reason
    settings = EdgeSettings(embedder=_spec(bare))
    with caplog.at_level(logging.WARNING, logger="edge.model_choice"):
        config = checked_embedder_config(settings)
    assert isinstance(config, OnnxEmbedderConfig)
    assert not config.int8
    assert any("float model is" in r.getMessage() for r in caplog.records)
    _, embedder = build_models(settings)
    assert embedder.model_id == DLIB_FLOAT_ID


def test_edge_uses_int8_exactly_when_the_check_passes(installed: Path) -> None:
    check = int8_self_check(installed)
    _, embedder = build_models(EdgeSettings(embedder=_spec(installed)))
    assert embedder.model_id == (DLIB_INT8_ID if check.ok else DLIB_FLOAT_ID)


def test_edge_providers_setting_reaches_the_embedder(
    installed: Path, caplog: pytest.LogCaptureFixture
) -> None:
    spec = OnnxEmbedderConfig(model_dir=installed).model_dump_json()
    wanted = ("CUDAExecutionProvider", "OpenVINOExecutionProvider", "CPUExecutionProvider")
    settings = EdgeSettings(embedder=spec, onnx_providers=wanted)
    config = checked_embedder_config(settings)
    assert isinstance(config, OnnxEmbedderConfig)
    assert config.providers == wanted
    with caplog.at_level(logging.WARNING, logger="models.backends.onnx"):
        _, embedder = build_models(settings)
    assert isinstance(embedder, OnnxEmbedder)
    import onnxruntime as ort

    available = ort.get_available_providers()
    assert embedder.providers == [p for p in wanted if p in available]
    if "CUDAExecutionProvider" not in available:  # a CPU-only machine: skipped, and said so
        assert any("no CUDAExecutionProvider" in r.getMessage() for r in caplog.records)
    # the embedder's own providers option wins over the edge-wide setting
    own = OnnxEmbedderConfig(model_dir=installed, providers=("CPUExecutionProvider",))
    chosen = checked_embedder_config(
        EdgeSettings(embedder=own.model_dump_json(), onnx_providers=wanted)
    )
    assert isinstance(chosen, OnnxEmbedderConfig)
    assert chosen.providers == ("CPUExecutionProvider",)
