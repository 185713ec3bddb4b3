"""Check-in mode: a cheap presence gate on the check-in spot, and the kiosk's visible state.

In ``checkin`` mode the camera looks at a marked spot (the store's zone, close range) and the
face detector runs only while a person *stands in* that spot (privacy invariant 13): people who
walk past it, or through it without stopping, are never detected, embedded or searched.

``PresenceGate`` decides that from pixels alone, no face model: a slowly learned background of
the empty spot (a small grey copy), a foreground mask against it, and three checks on the
largest foreground blob: it fills at least ``checkin_min_fill`` of the spot, it is at least
``checkin_min_height`` of the spot's height (a person close to the camera, not someone far
behind), and its centre is in the middle of the spot; *standing* means present for
``checkin_dwell_frames`` frames in a row with the blob's centre drifting less than
``_MAX_DRIFT`` of the spot's width over them (a walker crossing the spot moves further).
The background learns only while the spot is empty, and is re-learnt when a check-in ends
without anyone leaving (an object left on the spot, a change of light).

``KioskState`` is what the screen beside the spot shows: ``idle`` → ``looking`` (someone
stands in the spot, or pressed the kiosk's button) → ``welcome`` (a member was confirmed) →
``idle`` after ``checkin_welcome_s``. No name, id or picture ever: the kiosk stands in public
view, and must show a non-member nothing identifying. With ``checkin_trigger_required`` nothing
is analysed at all (not even the presence gate) until the button is pressed; a press opens a
``checkin_trigger_window_s`` window. Thread-safety: the detect/track thread calls
:meth:`KioskState.step`; the health server's threads call :meth:`press` and :meth:`snapshot`;
a lock guards the fields.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np
import numpy.typing as npt

from edge.capture import BGRImage

__all__ = ["KioskSnapshot", "KioskState", "Presence", "PresenceGate"]

KioskPhase = Literal["idle", "looking", "welcome"]

_WIDTH = 96
"""Side the spot is reduced to: a person filling the spot is thousands of pixels here."""
_ALPHA = 0.05
_MAX_DRIFT = 0.15
_CENTRE = (0.2, 0.8)
"""The blob's centre must lie in this horizontal band of the spot."""


@dataclass(frozen=True, slots=True)
class Presence:
    present: bool
    standing: bool
    fill: float
    height: float


_EMPTY = Presence(False, False, 0.0, 0.0)


class PresenceGate:
    """Is someone standing in the spot? Pixels only; see the module docstring. One thread."""

    def __init__(
        self, *, min_fill: float, min_height: float, dwell_frames: int, pixel_delta: int
    ) -> None:
        self.min_fill = min_fill
        self.min_height = min_height
        self.dwell_frames = dwell_frames
        self.pixel_delta = pixel_delta
        self._background: npt.NDArray[np.float32] | None = None
        self._centres: deque[float] = deque(maxlen=dwell_frames)
        self._kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3))

    def reset(self) -> None:
        """Learn the background again from the next frame."""
        self._background = None
        self._centres.clear()

    def _grey(self, bgr: BGRImage) -> npt.NDArray[np.float32]:
        h, w = int(bgr.shape[0]), int(bgr.shape[1])
        scale = min(1.0, _WIDTH / max(1, w))
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        small = cv2.resize(bgr, size, interpolation=cv2.INTER_AREA)
        grey = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY) if small.ndim == 3 else small
        return np.asarray(cv2.GaussianBlur(grey, (5, 5), 0), dtype=np.float32)

    def update(self, spot: BGRImage) -> Presence:
        grey = self._grey(spot)
        if self._background is None or self._background.shape != grey.shape:
            self._background = grey.copy()
            self._centres.clear()
            return _EMPTY
        mask = (np.abs(grey - self._background) >= self.pixel_delta).astype(np.uint8)
        mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, self._kernel)
        count, _labels, stats, centroids = cv2.connectedComponentsWithStats(mask, connectivity=8)
        height_px, width_px = grey.shape
        fill = float(np.count_nonzero(mask)) / mask.size
        present, height, centre = False, 0.0, 0.0
        if count > 1:
            largest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
            height = float(stats[largest, cv2.CC_STAT_HEIGHT]) / height_px
            centre = float(centroids[largest][0]) / width_px
            present = (
                fill >= self.min_fill
                and height >= self.min_height
                and _CENTRE[0] <= centre <= _CENTRE[1]
            )
        if present:
            self._centres.append(centre)
        else:
            self._centres.clear()
            # learn the empty spot (slowly, so a person stepping in stands out for long)
            cv2.accumulateWeighted(grey, self._background, _ALPHA)
        standing = (
            present
            and len(self._centres) >= self.dwell_frames
            and max(self._centres) - min(self._centres) < _MAX_DRIFT
        )
        return Presence(present, standing, fill, height)


@dataclass(frozen=True, slots=True)
class KioskSnapshot:
    """What the kiosk page may show: a phase and whether a button press is needed."""

    state: KioskPhase
    trigger_required: bool
    seconds_in_state: float


class KioskState:
    """The kiosk's state machine; see the module docstring."""

    def __init__(
        self,
        *,
        trigger_required: bool,
        trigger_window_s: float,
        welcome_s: float,
        looking_timeout_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.trigger_required = trigger_required
        self.trigger_window_s = trigger_window_s
        self.welcome_s = welcome_s
        self.looking_timeout_s = looking_timeout_s
        self._clock = clock
        self._lock = threading.Lock()
        self._phase: KioskPhase = "idle"
        self._since = clock()
        self._armed_until: float | None = None
        self._wait_for_empty = False
        self.presses = 0

    def _enter(self, phase: KioskPhase, now: float) -> None:
        self._phase = phase
        self._since = now

    def press(self) -> None:
        """The kiosk's button (or an HTTP call): look now, for the trigger window."""
        with self._lock:
            now = self._clock()
            self.presses += 1
            if self._phase == "welcome":
                return
            self._armed_until = now + self.trigger_window_s
            self._wait_for_empty = False
            self._enter("looking", now)

    def reset(self) -> None:
        """Back to idle (mode changed, matching off)."""
        with self._lock:
            self._armed_until = None
            self._wait_for_empty = False
            self._enter("idle", self._clock())

    @property
    def needs_presence(self) -> bool:
        """Whether the presence gate may run now (never while a trigger is awaited)."""
        with self._lock:
            return not self.trigger_required or self._phase == "looking"

    def step(self, presence: Presence | None, *, confirmed: bool) -> bool:
        """Advance on one frame; True when face detection may run on it.

        ``presence`` is the gate's verdict (None when the gate did not run: trigger mode);
        ``confirmed`` is True when a member was confirmed since the last frame.
        """
        with self._lock:
            now = self._clock()
            present = presence is not None and presence.present
            if presence is not None and not presence.present:
                self._wait_for_empty = False
            if self._phase == "welcome":
                if now - self._since >= self.welcome_s:
                    self._wait_for_empty = True  # the welcomed member is not looked at again
                    self._enter("idle", now)
                return False
            if self._phase == "looking":
                if confirmed:
                    self._armed_until = None
                    self._enter("welcome", now)
                    return False
                if self.trigger_required:
                    if self._armed_until is None or now >= self._armed_until:
                        self._armed_until = None
                        self._enter("idle", now)
                        return False
                    return True
                if now - self._since >= self.looking_timeout_s:
                    self._wait_for_empty = True  # nobody recognised: stop looking at them
                    self._enter("idle", now)
                    return False
                if not present:
                    self._enter("idle", now)
                    return False
                return True
            # idle
            if self.trigger_required or self._wait_for_empty:
                return False
            if presence is not None and presence.standing:
                self._enter("looking", now)
                return True
            return False

    def relearn_due(self) -> bool:
        """Idle and still waiting for the spot to empty after a whole looking timeout: what
        the gate sees is probably no person (an object left there, a change of light), so the
        caller re-learns the background; the wait ends."""
        with self._lock:
            now = self._clock()
            due = (
                self._phase == "idle"
                and self._wait_for_empty
                and now - self._since >= self.looking_timeout_s
            )
            if due:
                self._wait_for_empty = False
            return due

    def snapshot(self) -> KioskSnapshot:
        with self._lock:
            now = self._clock()
            phase = self._phase
            if phase == "welcome" and now - self._since >= self.welcome_s:
                phase = "idle"  # shown idle on time even when no frame arrives
            return KioskSnapshot(phase, self.trigger_required, max(0.0, now - self._since))
