"""The backend registry: names, validated options, clear refusals. Builds only; loads nothing."""

from __future__ import annotations

import pytest

from models.backends.dlib import DlibHogDetector, DlibResnetEmbedder
from models.registry import (
    BlazeFaceConfig,
    DlibHogConfig,
    DlibResnetConfig,
    create_detector,
    create_embedder,
    detector_config,
    known_detectors,
    known_embedders,
)
from models.types import FaceDetector, FaceEmbedder


def test_builds_by_name_with_options() -> None:
    detector = create_detector("dlib_hog", upsample=0, threshold=0.5)
    assert isinstance(detector, DlibHogDetector)
    assert isinstance(detector, FaceDetector)
    assert (detector.upsample, detector.threshold) == (0, 0.5)
    assert not detector.loaded, "building must not load the model"

    embedder = create_embedder("dlib_resnet")
    assert isinstance(embedder, DlibResnetEmbedder)
    assert isinstance(embedder, FaceEmbedder)
    assert embedder.model_id == "dlib_resnet_v1"
    assert embedder.num_jitters == 1


def test_builds_from_config_object_and_mapping() -> None:
    from_object = create_detector(DlibHogConfig(upsample=2))
    assert isinstance(from_object, DlibHogDetector)
    assert from_object.upsample == 2
    from_mapping = create_embedder({"type": "dlib_resnet", "num_jitters": 3})
    assert isinstance(from_mapping, DlibResnetEmbedder)
    assert from_mapping.num_jitters == 3
    overridden = create_detector(DlibHogConfig(upsample=2), upsample=0)
    assert isinstance(overridden, DlibHogDetector)
    assert overridden.upsample == 0


def test_unknown_name_lists_known_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown detector 'yolo'.*dlib_hog"):
        create_detector("yolo")
    with pytest.raises(ValueError, match=r"unknown embedder 'arcface'.*dlib_resnet"):
        create_embedder({"type": "arcface"})
    assert known_detectors() == ["blazeface", "dlib_hog"]
    assert known_embedders() == ["dlib_resnet", "onnx"]


def test_options_are_validated() -> None:
    with pytest.raises(ValueError, match="upsample"):
        create_detector("dlib_hog", upsample=9)
    with pytest.raises(ValueError, match="Extra inputs"):
        create_detector("dlib_hog", upscale=1)
    with pytest.raises(ValueError, match="num_jitters"):
        create_embedder("dlib_resnet", num_jitters=0)


def test_configs_are_strict_and_documented() -> None:
    for cls in (DlibHogConfig, BlazeFaceConfig, DlibResnetConfig):
        assert cls.model_config.get("extra") == "forbid"
        for name, field in cls.model_fields.items():
            if name != "type":
                assert field.description, f"{cls.__name__}.{name} needs a description"
    assert detector_config("dlib_hog").model_dump() == {
        "type": "dlib_hog",
        "upsample": 1,
        "threshold": 0.0,
    }
