"""The store's recognition mode, enforced on the device (privacy invariant 13).

The mode comes only from the installed, signed gallery (``consent.gallery``; a gallery without
one is ``door``); the device has no setting to weaken it. ``ModeRouter.route`` is called by the
detect/track stage (``edge.pipeline.DetectStage``) for every frame *before* any face model may
see it, with the member zone's / check-in spot's pixels, and says what may happen:

* ``door``: the face path as before (motion gate, detection in the member zone, tracking,
  embedding, 1:N matching, the track decision).
* ``checkin``: the face path only while ``edge.checkin`` says a person stands in the spot (or
  the kiosk's button was pressed, with ``checkin_trigger_required``); otherwise the frame is
  dropped here, before the motion gate and the detector. The kiosk's state follows.
* ``pass`` and ``pass+face``: never the face path. The frame goes to the pass reader
  (``edge.passcheck``, OpenCV's QR detector); in ``pass`` mode no face model is reachable from
  here at all, in ``pass+face`` only for the 1:1 check of the pass holder's own templates.

When the mode changes (a new gallery), every per-mode state is dropped: tracks end, a pending
verification and the kiosk's state are reset.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from consent.gallery import MemberZone
from consent.modes import RecognitionMode, uses_passes
from edge.capture import BGRImage
from edge.checkin import KioskState, PresenceGate
from edge.events import ArrivalEvent
from edge.matching import ActiveGallery
from edge.metrics import EngineMetrics
from edge.passcheck import PassCheck
from edge.settings import EdgeSettings
from edge.zone import Roi
from models.types import FaceDetector, FaceEmbedder

log = logging.getLogger(__name__)

__all__ = ["ModeRouter", "Route", "kiosk_from_settings"]

CONFIRMED_COUNTER = "tracks_confirmed"
"""The match stage's counter of confirmed members: the kiosk says "welcome" when it grows."""


@dataclass(frozen=True, slots=True)
class Route:
    """What the mode allows for one frame: the face path, and arrivals made without it."""

    faces: bool
    arrivals: list[ArrivalEvent] = field(default_factory=list)


_FACES = Route(True)
_NOTHING = Route(False)


def kiosk_from_settings(
    settings: EdgeSettings, clock: Callable[[], float] = time.monotonic
) -> KioskState:
    return KioskState(
        trigger_required=settings.checkin_trigger_required,
        trigger_window_s=settings.checkin_trigger_window_s,
        welcome_s=settings.checkin_welcome_s,
        looking_timeout_s=settings.checkin_looking_timeout_s,
        clock=clock,
    )


class ModeRouter:
    """Per-frame decisions of the recognition mode. Owned by the detect/track thread, except
    ``kiosk`` (thread-safe, also read and pressed by the health server)."""

    def __init__(
        self,
        settings: EdgeSettings,
        metrics: EngineMetrics,
        *,
        detector: FaceDetector,
        embedder: FaceEmbedder,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.settings = settings
        self.metrics = metrics
        self._detector = detector
        self._embedder = embedder
        self.kiosk = kiosk_from_settings(settings, clock)
        self.gate = PresenceGate(
            min_fill=settings.checkin_min_fill,
            min_height=settings.checkin_min_height,
            dwell_frames=settings.checkin_dwell_frames,
            pixel_delta=settings.motion_pixel_delta,
        )
        self.passes = PassCheck(settings, metrics, clock=clock, now=now)
        self.mode: RecognitionMode | None = None
        """The mode of the gallery last routed for; None before the first or while off."""
        self._confirmed = 0
        self._model_mismatch_logged = False

    def off(self) -> None:
        """Matching is off (no current gallery): drop every per-mode state."""
        if self.mode is not None:
            self._switch(None)

    def _switch(self, mode: RecognitionMode | None) -> None:
        if mode is not None and (mode != "door" or self.mode is not None):
            log.info("recognition mode: %s", mode)  # door, the default, is not announced
        self.mode = mode
        self.passes.reset()
        self.gate.reset()
        self.kiosk.reset()
        self._confirmed = self.metrics.count(CONFIRMED_COUNTER)

    def route(self, crop: BGRImage, roi: Roi, zone: MemberZone, active: ActiveGallery) -> Route:
        """The decision for one frame of the zone (``crop``, at ``roi`` in the frame)."""
        if active.mode != self.mode:
            self._switch(active.mode)
        if active.mode == "door":
            return _FACES
        if active.mode == "checkin":
            return self._checkin(crop)
        assert uses_passes(active.mode)
        verify = None
        if active.mode == "pass+face":
            if active.index.model_id == self._embedder.model_id:
                verify = (active.templates, self._detector, self._embedder)
            elif not self._model_mismatch_logged:
                log.error("gallery model does not match the embedder; faces are not verified")
                self._model_mismatch_logged = True
        arrivals = self.passes.process(crop, roi, zone, passes=active.passes, verify=verify)
        return Route(False, arrivals) if arrivals else _NOTHING

    def _checkin(self, crop: BGRImage) -> Route:
        confirmed_now = self.metrics.count(CONFIRMED_COUNTER)
        confirmed = confirmed_now > self._confirmed
        self._confirmed = confirmed_now
        presence = None
        if self.kiosk.needs_presence:
            with self.metrics.timed("presence"):
                presence = self.gate.update(crop)
            if self.kiosk.relearn_due():
                self.gate.reset()
        if self.kiosk.step(presence, confirmed=confirmed):
            return _FACES
        self.metrics.incr("frames_checkin_skipped")
        return _NOTHING
