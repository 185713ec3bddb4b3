"""The server reads the calibration of the embedder it is configured with (issue 17), not a
hard-coded model: the threshold it enrols with, the AI Act record and the false-match figures
all come from ``Runtime.calibration``."""

from __future__ import annotations

import json

import pytest

from models.calibration import load_calibration
from models.registry import create_embedder
from server.runtime import build_runtime
from server.settings import ServerSettings


def test_the_calibration_is_the_configured_embedders(settings: ServerSettings) -> None:
    for embedder, model_id in (
        ("dlib_resnet", "dlib_resnet_v1"),
        (json.dumps({"type": "onnx", "int8": True}), "dlib_resnet_v1_int8"),
    ):
        assert create_embedder(embedder).model_id == model_id
        rt = build_runtime(settings.model_copy(update={"embedder": embedder}), migrate=False)
        try:
            assert rt.calibration.model_id == model_id
            assert rt.calibration == load_calibration(model_id)
            assert rt.min_margin == rt.calibration.min_margin
        finally:
            rt.close()


def test_an_embedder_without_a_calibration_is_refused_at_start(settings: ServerSettings) -> None:
    embedder = json.dumps(
        {"type": "onnx", "model": "/nowhere/acme.onnx", "sha256": "0" * 64, "model_id": "acme_v1"}
    )
    with pytest.raises(LookupError, match="no calibration for model 'acme_v1'"):
        build_runtime(settings.model_copy(update={"embedder": embedder}), migrate=False)
