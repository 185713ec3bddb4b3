"""The member zone (privacy invariant 11): detection runs only inside a region of interest, and
faces smaller than ``min_face_size`` (people who did not step up to the camera) are dropped."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from models.types import FaceBox


@dataclass(frozen=True, slots=True)
class Roi:
    """A rectangle in full-resolution pixels; ``right``/``bottom`` exclusive."""

    left: int
    top: int
    right: int
    bottom: int

    @property
    def width(self) -> int:
        return self.right - self.left

    @property
    def height(self) -> int:
        return self.bottom - self.top


@dataclass(frozen=True, slots=True)
class MemberZone:
    """ROI as fractions of the frame (``x``, ``y``, ``w``, ``h``) plus a minimum face size."""

    x: float = 0.0
    y: float = 0.0
    w: float = 1.0
    h: float = 1.0
    min_face_size: int = 60

    def __post_init__(self) -> None:
        if not (0.0 <= self.x < 1.0 and 0.0 <= self.y < 1.0):
            raise ValueError("zone origin must lie inside the frame")
        if not (self.w > 0.0 and self.h > 0.0):
            raise ValueError("zone must have a positive size")
        if self.x + self.w > 1.0 + 1e-9 or self.y + self.h > 1.0 + 1e-9:
            raise ValueError("zone must lie inside the frame")
        if self.min_face_size < 1:
            raise ValueError("min_face_size must be positive")

    def roi(self, width: int, height: int) -> Roi:
        left = round(self.x * width)
        top = round(self.y * height)
        right = min(width, round((self.x + self.w) * width))
        bottom = min(height, round((self.y + self.h) * height))
        return Roi(left, top, max(left + 1, right), max(top + 1, bottom))

    def crop(self, image: npt.NDArray[np.uint8]) -> tuple[npt.NDArray[np.uint8], Roi]:
        """The zone's pixels (a view, no copy) and where they are in the full frame."""
        roi = self.roi(int(image.shape[1]), int(image.shape[0]))
        return image[roi.top : roi.bottom, roi.left : roi.right], roi

    def to_frame(self, box: FaceBox, roi: Roi, scale: float) -> FaceBox:
        """A box found in the crop scaled by ``scale``, in full-frame pixels, clipped to the
        zone."""
        full = box.scaled(1.0 / scale).translated(roi.left, roi.top)
        return FaceBox(
            top=max(roi.top, full.top),
            right=min(roi.right, full.right),
            bottom=min(roi.bottom, full.bottom),
            left=max(roi.left, full.left),
            score=full.score,
        )

    def accepts(self, box: FaceBox, roi: Roi) -> bool:
        """A full-frame box is kept when it is large enough and its centre is in the zone."""
        if box.size < self.min_face_size:
            return False
        cx, cy = box.center
        return roi.left <= cx < roi.right and roi.top <= cy < roi.bottom

    def filter(self, boxes: list[FaceBox], roi: Roi) -> list[FaceBox]:
        return [box for box in boxes if self.accepts(box, roi)]
