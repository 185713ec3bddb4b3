"""Is this face good enough to enrol or to embed? Size, sharpness and frontalness, in plain English.

Used at enrolment (a photo is refused with the reasons, which the register page shows) and on
the edge (:func:`score_for_selection` picks a track's best few frames to embed).

- ``face_size``: the smaller side of the detection box in pixels.
- ``sharpness``: variance of the Laplacian of the face crop in grayscale, after resizing the crop
  to :data:`SHARPNESS_SIDE` pixels square so that the figure does not depend on the face's size
  (a big face downscaled would otherwise look sharper than the same face small). The real
  photos in ``shared/faces`` score 60 to 1400; the same faces blurred (Gaussian, sigma = face
  size / 40) score under 10.
- ``frontalness``: 1.0 when the nose sits midway between the eyes along the eye line, falling
  to 0.0 when it reaches an eye (a head turned far aside); ``None`` without landmarks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from models.types import FaceBox, FaceLandmarks, RGBImage

__all__ = [
    "DEFAULT_MIN_FACE_SIZE",
    "DEFAULT_MIN_FRONTALNESS",
    "DEFAULT_MIN_SHARPNESS",
    "FaceQuality",
    "assess_face",
    "frontalness",
    "score_for_selection",
    "sharpness",
]

DEFAULT_MIN_FACE_SIZE = 80
"""Pixels (smaller box side). dlib's ResNet reads a 150 px chip; much below 80 px loses detail."""
DEFAULT_MIN_SHARPNESS = 30.0
"""Laplacian variance on the normalised crop: half the softest real photo measured (61), three
times the sharpest blurred one (8); see the module docstring."""
DEFAULT_MIN_FRONTALNESS = 0.5
"""About 30 degrees of head turn; enrolment photos should face the camera."""
SHARPNESS_SIDE = 128
"""Side of the square crop the sharpness is measured on."""


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a face as a code and its figures, for a page to say in its own
    language (the Dutch register); ``FaceQuality.reasons`` says the same in English (the API's
    error detail, logs). Codes: ``too_small`` (px), ``too_blurred`` (sharpness),
    ``not_frontal`` (frontalness 0..1); enrolment adds ``no_face`` and ``several_faces``."""

    code: str
    value: float
    need: float


@dataclass(frozen=True, slots=True)
class FaceQuality:
    """The measurements and the verdict; ``reasons`` is empty exactly when ``ok`` is true, and
    ``problems`` holds one code for each reason, in the same order."""

    face_size: int
    sharpness: float
    frontalness: float | None
    ok: bool
    reasons: tuple[str, ...]
    problems: tuple[Problem, ...] = ()


def sharpness(image: RGBImage, box: FaceBox) -> float:
    """Variance of the Laplacian of the face crop (grey, resized to ``SHARPNESS_SIDE``)."""
    import cv2  # local: keeps ``import models`` light

    height, width = image.shape[:2]
    b = box.clipped(width, height)
    if b.width < 2 or b.height < 2:
        return 0.0
    crop = np.ascontiguousarray(image[b.top : b.bottom, b.left : b.right])
    gray = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY)
    shrinking = min(b.width, b.height) > SHARPNESS_SIDE
    interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
    norm = cv2.resize(gray, (SHARPNESS_SIDE, SHARPNESS_SIDE), interpolation=interpolation)
    return float(cv2.Laplacian(norm, cv2.CV_64F).var())


def frontalness(landmarks: FaceLandmarks) -> float:
    """1.0 for a face looking straight at the camera, 0.0 for one turned aside (see module)."""
    ax, ay = landmarks.right_eye
    bx, by = landmarks.left_eye
    nx, ny = landmarks.nose
    ex, ey = ax - bx, ay - by
    eye_distance = math.hypot(ex, ey)
    if eye_distance < 1e-6:
        return 0.0
    mx, my = (ax + bx) / 2.0, (ay + by) / 2.0
    # Offset of the nose from the eyes' midpoint along the eye line, in half eye-distances.
    offset = ((nx - mx) * ex + (ny - my) * ey) / eye_distance / (eye_distance / 2.0)
    return float(min(1.0, max(0.0, 1.0 - abs(offset))))


def assess_face(
    image: RGBImage,
    box: FaceBox,
    landmarks: FaceLandmarks | None = None,
    *,
    min_face_size: int = DEFAULT_MIN_FACE_SIZE,
    min_sharpness: float = DEFAULT_MIN_SHARPNESS,
    min_frontalness: float = DEFAULT_MIN_FRONTALNESS,
) -> FaceQuality:
    """Measure one detected face and say, in plain English, what (if anything) is wrong.

    Without ``landmarks`` frontalness is not judged (``None``) and cannot be a reason.
    """
    height, width = image.shape[:2]
    size = box.clipped(width, height).size
    sharp = sharpness(image, box)
    front = frontalness(landmarks) if landmarks is not None else None
    reasons: list[str] = []
    problems: list[Problem] = []
    if size < min_face_size:
        reasons.append(f"face too small ({size} px, need {min_face_size})")
        problems.append(Problem("too_small", size, min_face_size))
    if sharp < min_sharpness:
        reasons.append(f"face too blurred (sharpness {sharp:.0f}, need {min_sharpness:.0f})")
        problems.append(Problem("too_blurred", sharp, min_sharpness))
    if front is not None and front < min_frontalness:
        reasons.append(
            f"face not looking at the camera (frontalness {front:.2f}, need {min_frontalness:.2f})"
        )
        problems.append(Problem("not_frontal", front, min_frontalness))
    return FaceQuality(
        face_size=size,
        sharpness=sharp,
        frontalness=front,
        ok=not reasons,
        reasons=tuple(reasons),
        problems=tuple(problems),
    )


def score_for_selection(quality: FaceQuality) -> float:
    """A score for picking a track's best frames: higher is better, acceptable faces first.

    Acceptable faces score in [1, 2), others in [0, 1); within each band bigger, sharper and more
    frontal faces score higher (each factor saturates: 160 px, sharpness 1000).
    """
    size_term = min(1.0, quality.face_size / 160.0)
    sharp_term = min(1.0, math.log1p(max(0.0, quality.sharpness)) / math.log1p(1000.0))
    front_term = quality.frontalness if quality.frontalness is not None else 0.75
    within = size_term * sharp_term * front_term
    return (1.0 if quality.ok else 0.0) + min(within, 0.999)
