"""The member zone (privacy invariant 11): detection runs only inside a region of interest, and
faces smaller than ``min_face_size`` (people who did not step up to the camera) are dropped.

The zone itself is ``consent.gallery.MemberZone`` (the one type: the store records it, the
sealed gallery carries it); this module computes its pixels."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from consent.gallery import MemberZone
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


def roi_of(zone: MemberZone, width: int, height: int) -> Roi:
    """The zone in full-resolution pixels of a ``width`` x ``height`` frame (at least one pixel;
    the server's rounding slack past the frame edge is clipped)."""
    left = round(zone.x * width)
    top = round(zone.y * height)
    right = min(width, round((zone.x + zone.w) * width))
    bottom = min(height, round((zone.y + zone.h) * height))
    return Roi(left, top, max(left + 1, right), max(top + 1, bottom))


def crop(zone: MemberZone, image: npt.NDArray[np.uint8]) -> tuple[npt.NDArray[np.uint8], Roi]:
    """The zone's pixels (a view, no copy) and where they are in the full frame."""
    roi = roi_of(zone, int(image.shape[1]), int(image.shape[0]))
    return image[roi.top : roi.bottom, roi.left : roi.right], roi


def to_frame(box: FaceBox, roi: Roi, scale: float) -> FaceBox:
    """A box found in the crop scaled by ``scale``, in full-frame pixels, clipped to the zone."""
    full = box.scaled(1.0 / scale).translated(roi.left, roi.top)
    return FaceBox(
        top=max(roi.top, full.top),
        right=min(roi.right, full.right),
        bottom=min(roi.bottom, full.bottom),
        left=max(roi.left, full.left),
        score=full.score,
    )


def accepts(zone: MemberZone, box: FaceBox, roi: Roi) -> bool:
    """A full-frame box is kept when it is large enough and its centre is in the zone."""
    if box.size < zone.min_face_size:
        return False
    cx, cy = box.center
    return roi.left <= cx < roi.right and roi.top <= cy < roi.bottom


def keep(zone: MemberZone, boxes: list[FaceBox], roi: Roi) -> list[FaceBox]:
    return [box for box in boxes if accepts(zone, box, roi)]
