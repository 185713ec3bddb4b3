"""Enrolment photo analysis: decode, exactly one face, quality, embedding, thumbnail.

The photo itself never leaves this module: callers get an embedding and a small JPEG
thumbnail (to be sealed under the customer's data key), and the decoded image is dropped.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import cv2
import numpy as np

from models.images import ImageError, decode_image
from models.quality import assess_face
from models.registry import create_detector, create_embedder
from models.types import Embedding, FaceBox, FaceDetector, FaceEmbedder, FaceLandmarks, RGBImage
from server.services.errors import BadInput

THUMBNAIL_SIDE = 96


@dataclass(frozen=True)
class AnalysedPhoto:
    embedding: Embedding
    thumbnail_jpeg: bytes = b""


class FaceAnalyser:
    """Detector + embedder for enrolment, loaded once on first use (thread-safe)."""

    def __init__(self, *, detector: str, embedder: str, min_face_size: int, max_bytes: int) -> None:
        self._detector_name = detector
        self._embedder_name = embedder
        self.min_face_size = min_face_size
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._detector: FaceDetector | None = None
        self._embedder: FaceEmbedder | None = None

    def _models(self) -> tuple[FaceDetector, FaceEmbedder]:
        with self._lock:
            if self._detector is None or self._embedder is None:
                detector = create_detector(self._detector_name)
                embedder = create_embedder(self._embedder_name)
                detector.load()
                embedder.load()
                self._detector, self._embedder = detector, embedder
            return self._detector, self._embedder

    @property
    def model_id(self) -> str:
        return self._models()[1].model_id

    def analyse(self, data: bytes, *, label: str = "photo") -> AnalysedPhoto:
        """Raises ``BadInput`` with a reason a cashier can act on."""
        try:
            image = decode_image(data, max_bytes=self.max_bytes)
        except ImageError as exc:
            raise BadInput(f"{label}: {exc.reason}") from None
        detector, embedder = self._models()
        with self._lock:  # dlib objects are not documented thread-safe
            boxes = detector.detect(image)
        if not boxes:
            raise BadInput(f"{label}: no face found; the customer should face the camera")
        if len(boxes) > 1:
            raise BadInput(
                f"{label}: {len(boxes)} faces found; exactly one person may be in the photo"
            )
        box = boxes[0].clipped(image.shape[1], image.shape[0])
        with self._lock:
            marks = _landmarks(embedder, image, box)
            quality = assess_face(image, box, marks, min_face_size=self.min_face_size)
            if not quality.ok:
                raise BadInput(f"{label}: " + "; ".join(quality.reasons))
            embedding = embedder.embed(image, [box])[0]
        return AnalysedPhoto(embedding=embedding, thumbnail_jpeg=_thumbnail(image, box))


def _landmarks(embedder: FaceEmbedder, image: RGBImage, box: FaceBox) -> FaceLandmarks | None:
    fn = getattr(embedder, "landmarks", None)
    if fn is None:
        return None
    marks = fn(image, [box])
    return marks[0] if marks else None


def _thumbnail(image: RGBImage, box: FaceBox) -> bytes:
    """A small square crop around the face, JPEG, for the salesperson's visual check."""
    h, w = image.shape[:2]
    side = int(max(box.width, box.height) * 1.6)
    cx, cy = box.center
    left = int(max(0, min(w - side, cx - side / 2)))
    top = int(max(0, min(h - side, cy - side / 2)))
    crop = image[top : top + side, left : left + side]
    small = cv2.resize(crop, (THUMBNAIL_SIDE, THUMBNAIL_SIDE), interpolation=cv2.INTER_AREA)
    ok, buf = cv2.imencode(
        ".jpg", cv2.cvtColor(small, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 80]
    )
    if not ok:  # pragma: no cover - cv2 encodes any uint8 array
        return b""
    return bytes(np.asarray(buf).tobytes())
