"""The CLI's lazily loaded models behave as the bare backends in the engine: BlazeFace behind
the lazy wrapper is still sized to the zone's minimum face (its tiles) and still searches
windows around tracked faces (without the pass-through, a device would look only for faces
of about a twelfth of the frame)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edge.facemodels import LazyDetector, LazyRegionDetector, build_engine
from edge.matching import StaticGallery
from edge.settings import EdgeSettings
from models.backends.onnx import DLIB_FLOAT_ID
from models.matcher import GalleryIndex
from models.types import FaceBox, RegionFaceDetector, SizedFaceDetector

pytestmark = [pytest.mark.faces]


def _gallery() -> StaticGallery:
    return StaticGallery(GalleryIndex.build(["s"], np.ones((1, 128), np.float32), DLIB_FLOAT_ID))


def test_blazeface_behind_the_lazy_wrapper_is_sized_and_searches_windows(
    default_models: Path, tmp_path: Path
) -> None:
    settings = EdgeSettings(data_dir=tmp_path, detect_scale=0.5, min_face_size=80)
    engine, models = build_engine(settings, _gallery())
    detector = engine.detect_stage.detector
    assert isinstance(detector, LazyRegionDetector)
    assert isinstance(detector, SizedFaceDetector)
    assert isinstance(detector, RegionFaceDetector)
    assert detector.min_face == 40  # 80 px at the 0.5 detect scale, passed to the backend
    assert detector._regions.min_face == 40
    assert not models.loaded  # sizing loads nothing
    image = np.full((240, 320, 3), 128, np.uint8)
    assert detector.detect_regions(image, [FaceBox(10, 110, 110, 10)]) == []
    assert models.detector.loaded
    assert detector.calls == 1


def test_hog_behind_the_lazy_wrapper_claims_neither(default_models: Path, tmp_path: Path) -> None:
    settings = EdgeSettings(data_dir=tmp_path, detector="dlib_hog")
    engine, _ = build_engine(settings, _gallery())
    detector = engine.detect_stage.detector
    assert type(detector) is LazyDetector
    assert not isinstance(detector, SizedFaceDetector)
    assert not isinstance(detector, RegionFaceDetector)
