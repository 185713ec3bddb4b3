"""Motion gate: detection runs only when something in the member zone changes, or while a
track is alive. Owned by the detect/track stage's thread."""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt


class MotionGate:
    """Frame differencing against a running average of a small grey copy of the zone.

    ``update`` returns True when detection should run: on the first frame, when at least
    ``threshold`` of the pixels differ by ``pixel_delta`` grey levels from the background,
    for ``hold_frames`` frames after that, and whenever ``tracks_alive`` is True.
    """

    def __init__(
        self,
        *,
        threshold: float = 0.002,
        pixel_delta: int = 18,
        hold_frames: int = 5,
        width: int = 160,
        alpha: float = 0.2,
    ) -> None:
        if not 0.0 <= threshold <= 1.0:
            raise ValueError("threshold is a fraction")
        self.threshold = threshold
        self.pixel_delta = pixel_delta
        self.hold_frames = hold_frames
        self.width = width
        self.alpha = alpha
        self._background: npt.NDArray[np.float32] | None = None
        self._hold = 0
        self.last_fraction = 0.0
        self.region: tuple[float, float, float, float] | None = None
        """Where the last motion was: the changed pixels' bounding box as fractions of the
        image (left, top, right, bottom), kept through the hold; None before any motion was
        seen (the first frame: everything is new)."""

    def reset(self) -> None:
        self._background = None
        self._hold = 0
        self.region = None

    def _grey(self, bgr: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
        h, w = int(bgr.shape[0]), int(bgr.shape[1])
        scale = min(1.0, self.width / max(1, w))
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        small = cv2.resize(bgr, size, interpolation=cv2.INTER_AREA)
        grey = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY) if small.ndim == 3 else small
        blurred = cv2.GaussianBlur(grey, (5, 5), 0)
        return np.asarray(blurred, dtype=np.float32)

    def update(self, bgr: npt.NDArray[np.uint8], *, tracks_alive: bool = False) -> bool:
        grey = self._grey(bgr)
        if self._background is None or self._background.shape != grey.shape:
            self._background = grey
            self._hold = self.hold_frames
            self.last_fraction = 1.0
            self.region = None
            return True
        diff = np.abs(grey - self._background)
        changed = diff >= self.pixel_delta
        self.last_fraction = float(np.count_nonzero(changed)) / diff.size
        cv2.accumulateWeighted(grey, self._background, self.alpha)
        moving = self.last_fraction >= self.threshold and self.last_fraction > 0.0
        if moving:
            self._hold = self.hold_frames
            x, y, w, h = cv2.boundingRect(changed.astype(np.uint8))
            gh, gw = changed.shape
            self.region = (x / gw, y / gh, (x + w) / gw, (y + h) / gh)
            return True
        if tracks_alive:
            return True
        if self._hold > 0:
            self._hold -= 1
            return True
        return False
