"""Plain data shared by every backend: boxes, embeddings, and the two backend Protocols.

Backends never leak their own types (dlib rectangles, onnxruntime tensors) past this module's
types. Images are always RGB ``uint8`` arrays of shape ``(height, width, 3)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

RGBImage = npt.NDArray[np.uint8]
"""An RGB image, ``uint8``, shape ``(height, width, 3)``."""

Vector = npt.NDArray[np.float32]


@dataclass(frozen=True, slots=True)
class FaceBox:
    """A face's bounding box in pixel coordinates of the image it was found in.

    ``left``/``top`` inclusive, ``right``/``bottom`` exclusive (as dlib and face_recognition).
    """

    top: int
    right: int
    bottom: int
    left: int
    score: float = 1.0

    @property
    def width(self) -> int:
        return self.right - self.left

    @property
    def height(self) -> int:
        return self.bottom - self.top

    @property
    def size(self) -> int:
        """The smaller side in pixels: what "minimum face size" compares against."""
        return min(self.width, self.height)

    @property
    def area(self) -> int:
        return max(0, self.width) * max(0, self.height)

    @property
    def center(self) -> tuple[float, float]:
        return ((self.left + self.right) / 2.0, (self.top + self.bottom) / 2.0)

    def scaled(self, factor: float) -> FaceBox:
        """This box in an image ``factor`` times as large (e.g. back to full resolution)."""
        return FaceBox(
            top=round(self.top * factor),
            right=round(self.right * factor),
            bottom=round(self.bottom * factor),
            left=round(self.left * factor),
            score=self.score,
        )

    def translated(self, dx: int, dy: int) -> FaceBox:
        return FaceBox(self.top + dy, self.right + dx, self.bottom + dy, self.left + dx, self.score)

    def clipped(self, width: int, height: int) -> FaceBox:
        return FaceBox(
            top=max(0, self.top),
            right=min(width, self.right),
            bottom=min(height, self.bottom),
            left=max(0, self.left),
            score=self.score,
        )

    def iou(self, other: FaceBox) -> float:
        """Intersection over union with ``other`` (0.0 when they do not overlap)."""
        inter_w = min(self.right, other.right) - max(self.left, other.left)
        inter_h = min(self.bottom, other.bottom) - max(self.top, other.top)
        if inter_w <= 0 or inter_h <= 0:
            return 0.0
        inter = inter_w * inter_h
        union = self.area + other.area - inter
        return inter / union if union > 0 else 0.0


@dataclass(frozen=True, slots=True)
class Embedding:
    """A face embedding and the model that made it; embeddings of different models never mix."""

    vector: Vector = field(repr=False)
    model_id: str

    def __post_init__(self) -> None:
        if self.vector.ndim != 1:
            raise ValueError("an embedding is a 1-d vector")

    @property
    def dim(self) -> int:
        return int(self.vector.shape[0])


@runtime_checkable
class FaceDetector(Protocol):
    """Finds faces. ``load()`` loads the model (never at import time); ``detect`` is pure."""

    key: str

    def load(self) -> None: ...

    def detect(self, image: RGBImage) -> list[FaceBox]: ...


@runtime_checkable
class SizedFaceDetector(FaceDetector, Protocol):
    """A detector told the smallest face to find (pixels of the image it gets), because
    finding smaller faces costs it more (e.g. BlazeFace tiles the image for them)."""

    min_face: int


@runtime_checkable
class RegionFaceDetector(FaceDetector, Protocol):
    """A detector that can search only parts of an image, cheaper than the whole (BlazeFace:
    one network run a region instead of a tiled scan). The edge uses it around tracked faces."""

    def detect_regions(self, image: RGBImage, regions: list[FaceBox]) -> list[FaceBox]: ...


@runtime_checkable
class FaceEmbedder(Protocol):
    """Turns faces into embeddings. ``model_id`` names the model and its calibration."""

    key: str
    model_id: str

    def load(self) -> None: ...

    def embed(self, image: RGBImage, boxes: list[FaceBox]) -> list[Embedding]: ...


@dataclass(frozen=True, slots=True)
class FaceLandmarks:
    """Five facial landmarks in image pixels, in dlib's 5-point order.

    dlib's ``shape_predictor_5_face_landmarks`` gives two corners of each eye and the base of the
    nose. Sides are named as seen in the image, as face_recognition names them: points 0-1 are
    the eye on the image's right (the subject's left eye), points 2-3 the eye on the image's
    left, point 4 the base of the nose.
    """

    points: tuple[tuple[int, int], ...]

    def __post_init__(self) -> None:
        if len(self.points) != 5:
            raise ValueError(f"expected 5 landmarks, got {len(self.points)}")

    @property
    def right_eye(self) -> tuple[float, float]:
        """Centre of the eye on the image's right (mean of points 0 and 1)."""
        (x0, y0), (x1, y1) = self.points[0], self.points[1]
        return ((x0 + x1) / 2.0, (y0 + y1) / 2.0)

    @property
    def left_eye(self) -> tuple[float, float]:
        """Centre of the eye on the image's left (mean of points 2 and 3)."""
        (x0, y0), (x1, y1) = self.points[2], self.points[3]
        return ((x0 + x1) / 2.0, (y0 + y1) / 2.0)

    @property
    def nose(self) -> tuple[float, float]:
        x, y = self.points[4]
        return (float(x), float(y))


class BackendUnavailable(RuntimeError):
    """A backend's optional package is not installed; the message names what to install."""
