"""The store's recognition mode: how members are recognised, chosen at go-live.

The mode travels inside the sealed gallery (``consent.gallery``) and the edge device enforces it
(privacy invariant 13). The helpers below are the one place that says what each mode may do, so
the server (go-live, publication, ``/privacy``, records) and the edge (which models to load,
which frames to analyse) cannot disagree.

=============  =================  =============  ==============================================
mode           face search (1:N)  passes (QR)    face models loaded
=============  =================  =============  ==============================================
``door``       yes, member zone   no             yes
``checkin``    yes, only while a  no             yes (detection only while someone stands in
               person stands in                  the check-in spot)
               the check-in spot
``pass``       never              yes            never: no frame reaches a face model
``pass+face``  never (1:1 only)   yes            yes, only to verify the pass holder's own face
=============  =================  =============  ==============================================
"""

from __future__ import annotations

from typing import Final, Literal, TypeGuard, get_args

__all__ = [
    "DEFAULT_MODE",
    "RECOGNITION_MODES",
    "RecognitionMode",
    "is_recognition_mode",
    "loads_face_models",
    "parse_mode",
    "uses_face_search",
    "uses_face_verification",
    "uses_passes",
]

RecognitionMode = Literal["door", "checkin", "pass", "pass+face"]
RECOGNITION_MODES: Final[tuple[RecognitionMode, ...]] = get_args(RecognitionMode)
DEFAULT_MODE: Final[RecognitionMode] = "door"
"""What a gallery without a mode means: the behaviour before modes existed."""


def is_recognition_mode(value: object) -> TypeGuard[RecognitionMode]:
    return isinstance(value, str) and value in RECOGNITION_MODES


def parse_mode(value: object) -> RecognitionMode:
    """``value`` as a :data:`RecognitionMode`; ``ValueError`` naming the valid modes otherwise."""
    if is_recognition_mode(value):
        return value
    raise ValueError(f"recognition mode must be one of {', '.join(RECOGNITION_MODES)}")


def uses_face_search(mode: RecognitionMode) -> bool:
    """Whether a face is searched among all members (1:N identification)."""
    return parse_mode(mode) in ("door", "checkin")


def uses_passes(mode: RecognitionMode) -> bool:
    """Whether members are recognised by their pass (QR)."""
    return parse_mode(mode) in ("pass", "pass+face")


def uses_face_verification(mode: RecognitionMode) -> bool:
    """Whether the face of a pass holder is compared 1:1 with that member's own templates."""
    return parse_mode(mode) == "pass+face"


def loads_face_models(mode: RecognitionMode) -> bool:
    """Whether the device may load a face detector/embedder at all (never in ``pass``)."""
    return parse_mode(mode) != "pass"
