"""Vertrouwd's face models: detect faces, embed them, match embeddings, judge photo quality.

A small, verb-named API over plain data (see :mod:`models.types`)::

    from models import create_detector, create_embedder, decode_image, GalleryIndex

    detector, embedder = create_detector("dlib_hog"), create_embedder("dlib_resnet")
    image = decode_image(upload_bytes)            # ImageError with a reason if unacceptable
    boxes = detector.detect(image)
    embeddings = embedder.embed(image, boxes)
    calibration = load_calibration(embedder.model_id)
    result = index.match(embeddings[0])
    if calibration.accepts(result): ...

Importing this package loads no model and does not import dlib or OpenCV; backends load in
``load()`` (or on first use). This package imports no other Vertrouwd package.
"""

from models.calibration import (
    Calibration,
    CalibrationReport,
    calibrate,
    load_calibration,
    save_calibration,
)
from models.images import ImageError, decode_image, load_image_file
from models.matcher import GalleryIndex, MatchResult
from models.quality import FaceQuality, assess_face, score_for_selection
from models.registry import (
    DetectorConfig,
    EmbedderConfig,
    create_detector,
    create_embedder,
    known_detectors,
    known_embedders,
)
from models.types import (
    BackendUnavailable,
    Embedding,
    FaceBox,
    FaceDetector,
    FaceEmbedder,
    FaceLandmarks,
    RGBImage,
)

__all__ = [
    "BackendUnavailable",
    "Calibration",
    "CalibrationReport",
    "DetectorConfig",
    "EmbedderConfig",
    "Embedding",
    "FaceBox",
    "FaceDetector",
    "FaceEmbedder",
    "FaceLandmarks",
    "FaceQuality",
    "GalleryIndex",
    "ImageError",
    "MatchResult",
    "RGBImage",
    "assess_face",
    "calibrate",
    "create_detector",
    "create_embedder",
    "decode_image",
    "known_detectors",
    "known_embedders",
    "load_calibration",
    "load_image_file",
    "save_calibration",
    "score_for_selection",
]
