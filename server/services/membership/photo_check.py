"""Live quality feedback for one enrolment photo at the register.

The register page sends each photo as it is taken or chosen; the answer says whether the photo
would pass enrolment (exactly one face, minimum face size, sharpness, roughly frontal) and, when
not, what the cashier can do about it. Nothing is stored: the bytes are decoded, measured and
dropped; no embedding is computed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from server.services.membership.faces import FaceAnalyser, PhotoCheck

# What the cashier can do about each kind of problem (by its code, ``models.quality.Problem``).
_HINTS: dict[str, str] = {
    "no_face": "Ask the customer to look straight at the camera, face uncovered.",
    "several_faces": "Only the customer may be in the photo: ask others to step aside.",
    "too_small": "Ask the customer to step closer to the camera.",
    "too_blurred": "Hold still and make sure the face is in focus and well lit.",
    "not_frontal": "Ask the customer to face the camera straight on.",
}


@dataclass(frozen=True)
class PhotoReport:
    check: PhotoCheck
    hints: tuple[str, ...]

    def as_json(self) -> dict[str, Any]:
        c = self.check
        return {
            "ok": c.ok,
            "reasons": list(c.reasons),
            "hints": list(self.hints),
            # the same as codes and figures: the register page says them in its language
            "problems": [
                {"code": p.code, "value": round(p.value, 2), "need": round(p.need, 2)}
                for p in c.problems
            ],
            "faces": c.faces,
            "face_size": c.face_size,
            "sharpness": None if c.sharpness is None else round(c.sharpness, 1),
            "frontalness": None if c.frontalness is None else round(c.frontalness, 2),
        }


def check_photo(*, analyser: FaceAnalyser, data: bytes) -> PhotoReport:
    """Judge ``data`` as an enrolment photo. Raises ``BadInput`` when it is not an image."""
    check = analyser.check(data)
    hints = tuple(dict.fromkeys(_HINTS[p.code] for p in check.problems if p.code in _HINTS))
    return PhotoReport(check=check, hints=hints)
