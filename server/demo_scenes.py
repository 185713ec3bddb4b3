"""Deterministic check-in and pass scenes for the demo and the tests, built in memory.

Built from the real photos in ``../shared/faces/people`` (head and shoulders cut around the
face, a plain torso below) on a plain synthetic shop wall, and from a membership pass rendered
as a QR code with the ``qrcode`` package (the same as the receipts). Nothing here is ever
committed: :func:`write_video` writes a scene to a temporary file for ``vertrouwd edge``.

Geometry (fractions of a 960x540 frame): the check-in spot is :data:`SPOT`, the middle of the
frame; a person who steps into it stands at its centre with a face of about 130 px (about
260 px at 1080p, close range); walkers pass beside it, far behind it (small), or through it
without stopping.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import qrcode

from models.images import load_image_file

__all__ = [
    "FACE_BOXES",
    "FRAME_SIZE",
    "SPOT",
    "SPOT_MIN_FACE",
    "Scene",
    "checkin_scene",
    "pass_card",
    "pass_scene",
    "write_video",
]

BGR = npt.NDArray[np.uint8]

FRAME_SIZE = (960, 540)
"""Width, height of every scene frame."""
SPOT = (0.35, 0.0, 0.3, 1.0)
"""The check-in spot (x, y, w, h): the store's zone in check-in and pass scenes."""
SPOT_MIN_FACE = 90
"""Minimum face side in the spot at this resolution (180 px at 1080p)."""

FACE_BOXES: dict[str, tuple[int, int, int, int]] = {
    "alex_lacamoire/img1.jpg": (206, 598, 527, 277),
    "alex_lacamoire/img2.png": (150, 339, 305, 184),
    "biden/biden.jpg": (241, 740, 562, 419),
    "biden/biden2.jpg": (297, 913, 759, 451),
    "kit_harington/john1.jpeg": (110, 812, 239, 683),
    "kit_harington/john2.jpeg": (98, 469, 284, 283),
    "lin_manuel_miranda/img1.png": (170, 562, 491, 241),
    "obama/obama.jpg": (142, 617, 409, 349),
    "obama/obama2.jpg": (290, 438, 558, 171),
    "rose_leslie/img1.jpg": (112, 884, 379, 617),
    "rose_leslie/img2.jpg": (171, 438, 439, 171),
}
"""Face boxes (top, right, bottom, left) in the shared photos, as dlib's HOG detector
(upsample 1) finds them: where to cut a head and shoulders out of each photo."""


@dataclass(frozen=True)
class Scene:
    """Frames and, for each frame, which part of the scene it belongs to."""

    frames: list[BGR]
    parts: list[str]

    def indices(self, part: str) -> list[int]:
        return [i for i, p in enumerate(self.parts) if p == part]


def _wall() -> BGR:
    """A plain shop wall with shelves: smooth, so only people make the spot change."""
    width, height = FRAME_SIZE
    ramp = np.linspace(150, 190, width, dtype=np.float32)
    wall = np.repeat(ramp[None, :], height, axis=0)
    frame = np.stack([wall * 0.95, wall, wall * 1.05], axis=2).clip(0, 255).astype(np.uint8)
    for x0 in (20, 740):
        cv2.rectangle(frame, (x0, 80), (x0 + 190, 430), (95, 110, 130), thickness=-1)
        for y in (160, 240, 320):
            cv2.line(frame, (x0, y), (x0 + 190, y), (60, 70, 85), thickness=4)
    cv2.rectangle(frame, (0, 470), (width, height), (120, 125, 135), thickness=-1)  # floor
    return frame


def person(faces: Path, photo: str | None, face_px: int) -> BGR:
    """Head and shoulders from ``photo`` with the face ``face_px`` wide, on a plain torso;
    ``photo=None`` draws a faceless silhouette (a member who enrolled without a face)."""
    if photo is None:
        width, head_h = round(face_px * 5 / 3), round(face_px * 11 / 6)
        blank = np.ascontiguousarray(_wall()[:head_h, :width])
        centre = (width // 2, head_h // 2)
        axes = (face_px // 2, round(face_px * 0.65))
        cv2.ellipse(blank, centre, axes, 0, 0, 360, (120, 140, 170), thickness=-1)
        coat = np.empty((head_h * 2, width, 3), np.uint8)
        coat[:] = (90, 60, 40)
        return np.ascontiguousarray(np.concatenate([blank, coat], axis=0))
    top, right, bottom, left = FACE_BOXES[photo]
    rgb = load_image_file(faces / "people" / photo)
    side = right - left
    h, w = rgb.shape[:2]
    y0, y1 = max(0, top - side // 2), min(h, bottom + side // 3)
    x0, x1 = max(0, left - side // 3), min(w, right + side // 3)
    head = cv2.cvtColor(np.ascontiguousarray(rgb[y0:y1, x0:x1]), cv2.COLOR_RGB2BGR)
    scale = face_px / side
    size = (max(1, round(head.shape[1] * scale)), max(1, round(head.shape[0] * scale)))
    head = cv2.resize(head, size, interpolation=cv2.INTER_AREA)
    torso_h = head.shape[0] * 2
    torso = np.empty((torso_h, head.shape[1], 3), np.uint8)
    torso[:] = (70, 55, 45)  # a dark coat
    return np.ascontiguousarray(np.concatenate([head, torso], axis=0))


def _paste(frame: BGR, sprite: BGR, cx: int, top: int) -> None:
    """Paste ``sprite`` with its top centre at (``cx``, ``top``), clipped to the frame."""
    h, w = sprite.shape[:2]
    fh, fw = frame.shape[:2]
    x0, y0 = cx - w // 2, top
    sx0, sy0 = max(0, -x0), max(0, -y0)
    fx0, fy0 = max(0, x0), max(0, y0)
    fx1, fy1 = min(fw, x0 + w), min(fh, y0 + h)
    if fx1 <= fx0 or fy1 <= fy0:
        return
    frame[fy0:fy1, fx0:fx1] = sprite[sy0 : sy0 + (fy1 - fy0), sx0 : sx0 + (fx1 - fx0)]


def pass_card(text: str, module_px: int = 5) -> BGR:
    """``text`` as the QR code on a white card (what the receipt or a phone shows)."""
    code = qrcode.QRCode(
        error_correction=qrcode.constants.ERROR_CORRECT_M, border=4, box_size=module_px
    )
    code.add_data(text)
    code.make(fit=True)
    grey = np.asarray(code.make_image().convert("L"), dtype=np.uint8)
    return np.ascontiguousarray(cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR))


def _spot_centre() -> int:
    return round((SPOT[0] + SPOT[2] / 2) * FRAME_SIZE[0])


def checkin_scene(
    faces: Path,
    *,
    member: str,
    walkers: Sequence[str],
    empty: int = 8,
    standing: int = 20,
) -> Scene:
    """Walkers who never step into the spot, then ``member`` who steps in and stands.

    Parts: ``empty`` (the spot as the camera learns it), ``walk-by`` (one walker beside the
    spot at close range, one far behind it, one hurrying through it), ``step-in``, ``standing``,
    ``gone``.
    """
    wall = _wall()
    frames: list[BGR] = []
    parts: list[str] = []

    def add(part: str, frame: BGR) -> None:
        frames.append(frame)
        parts.append(part)

    for _ in range(empty):
        add("empty", wall.copy())
    spot_left = round(SPOT[0] * FRAME_SIZE[0])
    spot_right = round((SPOT[0] + SPOT[2]) * FRAME_SIZE[0])
    if walkers:
        beside = person(faces, walkers[0], 130)
        for i in range(10):  # close to the camera, left of the spot: never inside it
            frame = wall.copy()
            _paste(frame, beside, 60 + i * 9, 60)
            add("walk-by", frame)
        far = person(faces, walkers[1 % len(walkers)], 34)
        for i in range(12):  # far behind the spot, crossing it: small
            frame = wall.copy()
            _paste(frame, far, 200 + i * 50, 250)
            add("walk-by", frame)
        through = person(faces, walkers[2 % len(walkers)], 120)
        for i in range(9):  # close, hurrying through the spot without stopping
            frame = wall.copy()
            _paste(frame, through, spot_left - 120 + i * 60, 50)
            add("walk-by", frame)
        for _ in range(4):
            add("empty", wall.copy())
    sprite = person(faces, member, 130)
    centre = _spot_centre()
    for i in range(3):  # stepping in from the right
        frame = wall.copy()
        _paste(frame, sprite, spot_right + 60 - (i + 1) * (spot_right + 60 - centre) // 3, 40)
        add("step-in", frame)
    for _ in range(standing):
        frame = wall.copy()
        _paste(frame, sprite, centre, 40)
        add("standing", frame)
    for _ in range(6):
        add("gone", wall.copy())
    return Scene(frames, parts)


def pass_scene(
    faces: Path, shows: Sequence[tuple[str | None, str]], *, showing: int = 12, empty: int = 4
) -> Scene:
    """People stepping up one after another, each showing a QR code at chest height.

    ``shows`` is ``(photo, qr_text)`` per person (``photo=None``: a faceless silhouette); the
    part of each person's frames is ``show-<i>``, with ``empty`` frames of the empty spot
    between them (part ``empty``).
    """
    wall = _wall()
    frames: list[BGR] = []
    parts: list[str] = []
    centre = _spot_centre()
    for _ in range(empty):
        frames.append(wall.copy())
        parts.append("empty")
    for n, (photo, text) in enumerate(shows):
        sprite = person(faces, photo, 130)
        card = pass_card(text)
        head_h = sprite.shape[0] // 3
        for _ in range(showing):
            frame = wall.copy()
            _paste(frame, sprite, centre, 20)
            _paste(frame, card, centre, 20 + head_h + 10)
            frames.append(frame)
            parts.append(f"show-{n}")
        for _ in range(empty):
            frames.append(wall.copy())
            parts.append("empty")
    return Scene(frames, parts)


def write_video(scene: Scene, path: Path, fps: float = 10.0) -> Path:
    """The scene as a lossless-enough video file for ``vertrouwd edge --source`` (MJPG AVI;
    temporary files only, never committed)."""
    width, height = FRAME_SIZE
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), fps, (width, height))
    if not writer.isOpened():
        raise RuntimeError(f"cannot write a video to {path}")
    try:
        for frame in scene.frames:
            writer.write(frame)
    finally:
        writer.release()
    return path
