"""Face quality on real photos: a good face passes; tiny, blurred and turned faces are named."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from models.backends.dlib import DlibHogDetector, DlibResnetEmbedder
from models.quality import assess_face, frontalness, score_for_selection
from models.types import FaceLandmarks, RGBImage
from tests.models.conftest import Face

pytestmark = pytest.mark.faces


def _face(people: list[Face], name: str) -> Face:
    return next(f for f in people if f.name == name)


def test_every_real_enrolment_photo_passes(people: list[Face]) -> None:
    for face in people:
        q = assess_face(face.image, face.boxes[0], face.landmarks[0])
        assert q.ok, (face.name, q.reasons)
        assert q.reasons == ()
        assert q.face_size == face.boxes[0].size
        assert q.frontalness is not None
        assert q.frontalness > 0.6
        assert 1.0 <= score_for_selection(q) < 2.0


def test_tiny_face_is_flagged(
    people: list[Face], detector: DlibHogDetector, embedder: DlibResnetEmbedder
) -> None:
    face = _face(people, "obama/obama.jpg")  # a 267 px face
    small: RGBImage = np.asarray(
        cv2.resize(face.image, None, fx=0.2, fy=0.2, interpolation=cv2.INTER_AREA), np.uint8
    )
    (box,) = detector.detect(small)
    q = assess_face(small, box, embedder.landmarks(small, [box])[0], min_face_size=80)
    assert not q.ok
    assert q.face_size < 80
    assert f"face too small ({q.face_size} px, need 80)" in q.reasons
    assert assess_face(small, box, None, min_face_size=q.face_size).face_size == q.face_size
    assert "face too small" not in " ".join(
        assess_face(small, box, None, min_face_size=q.face_size).reasons
    )


def test_blurred_face_is_flagged(people: list[Face]) -> None:
    face = _face(people, "rose_leslie/img2.jpg")
    box, landmarks = face.boxes[0], face.landmarks[0]
    sharp = assess_face(face.image, box, landmarks)
    blurred_image: RGBImage = np.asarray(
        cv2.GaussianBlur(face.image, (0, 0), box.size / 40), np.uint8
    )
    blurred = assess_face(blurred_image, box, landmarks)
    assert sharp.ok
    assert not blurred.ok
    assert blurred.sharpness < sharp.sharpness / 10
    assert len(blurred.reasons) == 1
    assert blurred.reasons[0].startswith("face too blurred")
    assert score_for_selection(blurred) < 1.0 <= score_for_selection(sharp)


def test_frontalness_from_landmarks() -> None:
    # Eyes at x=40..60 and x=100..120 (centres 50 and 110); nose straight below the midpoint.
    def lm(nose_x: int) -> FaceLandmarks:
        return FaceLandmarks(((120, 50), (100, 50), (40, 50), (60, 50), (nose_x, 90)))

    assert frontalness(lm(80)) == pytest.approx(1.0)
    assert frontalness(lm(95)) == pytest.approx(0.5)
    assert frontalness(lm(65)) == pytest.approx(0.5)
    assert frontalness(lm(110)) == 0.0
    assert frontalness(lm(130)) == 0.0
    with pytest.raises(ValueError, match="5 landmarks"):
        FaceLandmarks(((1, 1),))


def test_turned_face_is_flagged(people: list[Face]) -> None:
    face = _face(people, "obama/obama.jpg")
    p = face.landmarks[0].points
    # Move the nose onto one eye, as in a head turned about 45 degrees.
    turned = FaceLandmarks((*p[:4], p[1]))
    q = assess_face(face.image, face.boxes[0], turned, min_frontalness=0.5)
    assert not q.ok
    assert q.reasons[0].startswith("face not looking at the camera (frontalness 0.")
