"""Enrolment photo analysis: decode, exactly one face, quality, embedding, thumbnail.

The photo itself never leaves this module: callers get an embedding and a small JPEG
thumbnail (to be sealed under the customer's data key), and the decoded image is dropped.

Decoding and analysis run in a bounded :class:`~server.services.workpool.WorkPool` (a full pool
or a job past its time budget is a 503, never a pile-up), and what a photo may cost is bounded
before it is decoded: over ``max_pixels`` (from the header) it is refused, over
``analysis_pixels`` it is analysed scaled down (a JPEG decoded at a reduced scale).

``max_pixels`` defaults to 16 MP: a phone camera saves 12 MP (4032x3024) by default, some
Android phones 16 MP (4608x3456, 15.9 MP), and a register webcam at most 4K (8.3 MP); nothing a
cashier takes needs more. ``analysis_pixels`` defaults to 4 MP: an enrolment face fills a large
part of the frame, so even a 16 MP photo scaled to 4 MP keeps it far above ``min_face_size``,
and the embedder aligns every face to 150x150 anyway.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import cv2
import numpy as np

from models.images import ImageError, decode_image
from models.quality import Problem, assess_face
from models.registry import create_detector, create_embedder
from models.types import Embedding, FaceBox, FaceDetector, FaceEmbedder, FaceLandmarks, RGBImage
from server.services.errors import BadInput
from server.services.workpool import WorkPool

THUMBNAIL_SIDE = 96
MAX_PIXELS = 16_000_000
ANALYSIS_PIXELS = 4_000_000


@dataclass(frozen=True)
class PhotoCheck:
    """The verdict on one enrolment photo: ``reasons`` is empty exactly when ``ok`` is true.

    Measurements are those of :func:`models.quality.assess_face` for the one face found; with
    no face or several faces they are ``None`` and ``faces`` says how many were found.
    """

    ok: bool
    reasons: tuple[str, ...]
    faces: int
    face_size: int | None = None
    sharpness: float | None = None
    frontalness: float | None = None
    # the reasons as codes and figures, in the same order (the register says them in its
    # language)
    problems: tuple[Problem, ...] = ()

    @classmethod
    def refused(cls, faces: int, reason: str, problem: Problem) -> PhotoCheck:
        return cls(ok=False, reasons=(reason,), faces=faces, problems=(problem,))


@dataclass(frozen=True)
class AnalysedPhoto:
    embedding: Embedding
    thumbnail_jpeg: bytes = b""


class FaceAnalyser:
    """Detector + embedder for enrolment, loaded once on first use (thread-safe)."""

    def __init__(
        self,
        *,
        detector: str,
        embedder: str,
        min_face_size: int,
        max_bytes: int,
        max_pixels: int = MAX_PIXELS,
        analysis_pixels: int = ANALYSIS_PIXELS,
        workers: int = 2,
        waiting: int = 4,
        budget_s: float = 60.0,
    ) -> None:
        self._detector_name = detector
        self._embedder_name = embedder
        self.min_face_size = min_face_size
        self.max_bytes = max_bytes
        self.max_pixels = max_pixels
        self.analysis_pixels = analysis_pixels
        self.pool = WorkPool(
            name="photo analysis", workers=workers, waiting=waiting, budget_s=budget_s
        )
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

    def check(self, data: bytes) -> PhotoCheck:
        """Judge one photo the way :meth:`analyse` would, without embedding or keeping it.

        Raises ``BadInput`` only when the bytes are not a usable image; a photo with no face,
        several faces or a poor face comes back with ``ok=False`` and the reasons.
        """
        return self.pool.run(self._check, data)

    def analyse(self, data: bytes, *, label: str = "photo") -> AnalysedPhoto:
        """Raises ``BadInput`` with a reason a cashier can act on (``Unavailable``, 503, when the
        pool is full or the photo takes past the time budget)."""
        return self.pool.run(self._analyse, data, label)

    def _check(self, data: bytes) -> PhotoCheck:
        return self._inspect(data, label=None).check

    def _analyse(self, data: bytes, label: str) -> AnalysedPhoto:
        inspected = self._inspect(data, label=label)
        if not inspected.check.ok or inspected.box is None:
            raise BadInput(f"{label}: " + "; ".join(inspected.check.reasons))
        _detector, embedder = self._models()
        with self._lock:
            embedding = embedder.embed(inspected.image, [inspected.box])[0]
        return AnalysedPhoto(
            embedding=embedding, thumbnail_jpeg=_thumbnail(inspected.image, inspected.box)
        )

    def _inspect(self, data: bytes, *, label: str | None) -> _Inspected:
        try:
            image = decode_image(
                data,
                max_bytes=self.max_bytes,
                max_pixels=self.max_pixels,
                fit_pixels=self.analysis_pixels,
            )
        except ImageError as exc:
            raise BadInput(f"{label}: {exc.reason}" if label else exc.reason) from None
        detector, embedder = self._models()
        with self._lock:  # dlib objects are not documented thread-safe
            boxes = detector.detect(image)
        if not boxes:
            reason = "no face found; the customer should face the camera"
            return _Inspected(image, None, PhotoCheck.refused(0, reason, Problem("no_face", 0, 1)))
        if len(boxes) > 1:
            reason = f"{len(boxes)} faces found; exactly one person may be in the photo"
            problem = Problem("several_faces", len(boxes), 1)
            return _Inspected(image, None, PhotoCheck.refused(len(boxes), reason, problem))
        box = boxes[0].clipped(image.shape[1], image.shape[0])
        with self._lock:
            marks = _landmarks(embedder, image, box)
            quality = assess_face(image, box, marks, min_face_size=self.min_face_size)
        check = PhotoCheck(
            ok=quality.ok,
            reasons=quality.reasons,
            problems=quality.problems,
            faces=1,
            face_size=quality.face_size,
            sharpness=quality.sharpness,
            frontalness=quality.frontalness,
        )
        return _Inspected(image, box, check)


@dataclass(frozen=True)
class _Inspected:
    image: RGBImage
    box: FaceBox | None
    check: PhotoCheck


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
