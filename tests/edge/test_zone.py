"""Member zone: crop to the ROI, map boxes back, drop small or outside faces."""

from __future__ import annotations

import numpy as np
import pytest

from consent.gallery import MemberZone
from edge import zone as zones
from edge.zone import Roi
from models.types import FaceBox


def test_crop_is_the_roi_only() -> None:
    image = np.zeros((100, 200, 3), dtype=np.uint8)
    image[20:80, 50:150] = 255
    zone = MemberZone(x=0.25, y=0.2, w=0.5, h=0.6)
    crop, roi = zones.crop(zone, image)
    assert roi == Roi(50, 20, 150, 80)
    assert crop.shape == (60, 100, 3)
    assert int(crop.min()) == 255  # nothing from outside the zone


def test_boxes_map_back_to_full_resolution() -> None:
    zone = MemberZone(x=0.25, y=0.2, w=0.5, h=0.6)
    roi = Roi(50, 20, 150, 80)
    assert zones.roi_of(zone, 200, 100) == roi
    # found in the half-size crop at (10..30, 5..25)
    full = zones.to_frame(FaceBox(top=5, right=30, bottom=25, left=10), roi, scale=0.5)
    assert (full.left, full.top, full.right, full.bottom) == (70, 30, 110, 70)


def test_small_faces_and_faces_outside_are_dropped() -> None:
    zone = MemberZone(x=0.0, y=0.0, w=0.5, h=1.0, min_face_size=60)
    roi = zones.roi_of(zone, 640, 360)
    big_inside = FaceBox(top=50, right=200, bottom=130, left=120)  # 80 px, centre inside
    small_inside = FaceBox(top=50, right=160, bottom=100, left=110)  # 50 px
    big_outside = FaceBox(top=50, right=500, bottom=130, left=420)  # centre x=460 > 320
    kept = zones.keep(zone, [big_inside, small_inside, big_outside], roi)
    assert kept == [big_inside]


def test_zone_must_lie_inside_the_frame() -> None:
    with pytest.raises(ValueError):
        MemberZone(x=0.6, w=0.5)
    with pytest.raises(ValueError):
        MemberZone(w=0.0)
