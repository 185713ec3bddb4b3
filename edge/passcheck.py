"""Pass arrivals (``pass`` and ``pass+face`` modes): read a membership pass, look it up in the
installed gallery's passes, and send one arrival per member per cooldown.

``PassReader`` decodes QR codes with OpenCV (``cv2.QRCodeDetectorAruco``) on the check-in
spot's pixels and keeps only texts that :func:`consent.passes.parse_pass_token` accepts.
``PassCheck`` owns the rest, in the detect/track thread (it is called by
``edge.modes.ModeRouter``):

* a pass whose digest the gallery lists → an arrival with ``method="pass"``;
* anything else (another store's pass, a revoked or forged one, a self-service link, a product
  QR) → nothing sent, counted as ``passes_refused``; the text itself is never logged or kept;
* ``pass``: the face detector and embedder are never touched (the router does not even hold
  them in this mode: ``edge.facemodels`` loads them only when a mode needs them);
* ``pass+face`` and the holder enrolled a face: for up to ``pass_face_frames`` frames after the
  pass was read, the largest face at the spot is embedded and compared 1:1 with *that member's*
  templates only (never searched among others); ``face_verified`` is True as soon as one of up
  to ``pass_face_embeddings`` comparisons is within :func:`verification_threshold`, else False.
  A holder without a template gets ``face_verified=None`` at once, like every ``pass`` arrival.

The verification threshold has one home, :func:`verification_threshold`: the model
calibration's ``verify_threshold`` (a 1:1 operating point) when the calibration has one, else
the calibration's ``threshold``, whose target false-match rate is per comparison of one probe
with one enrolled template, i.e. already a 1:1 figure.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache

import cv2
import numpy as np
import numpy.typing as npt

from consent.gallery import MemberZone
from consent.passes import parse_pass_token, pass_digest
from edge import zone as zones
from edge.capture import BGRImage
from edge.confirm import Cooldown
from edge.events import ArrivalEvent
from edge.metrics import EngineMetrics
from edge.settings import EdgeSettings
from edge.zone import Roi
from models.quality import assess_face
from models.types import FaceBox, FaceDetector, FaceEmbedder, RGBImage

log = logging.getLogger(__name__)

__all__ = ["PassCheck", "PassReader", "verification_threshold"]

Templates = npt.NDArray[np.float32]


@cache
def verification_threshold(model_id: str) -> float:
    """The largest embedding distance accepted when comparing a face with one member's own
    templates (1:1). ``LookupError`` when the model has no calibration."""
    from models.calibration import load_calibration

    calibration = load_calibration(model_id)
    verify = getattr(calibration, "verify_threshold", None)
    if isinstance(verify, int | float) and not isinstance(verify, bool) and 0.0 < verify < 2.0:
        return float(verify)
    return float(calibration.threshold)


class PassReader:
    """QR codes in an image → canonical pass tokens. Everything else is only counted."""

    def __init__(self) -> None:
        # The ArUco-based detector finds small or tilted codes the classic one misses.
        self._detector = cv2.QRCodeDetectorAruco()

    def read(self, bgr: BGRImage) -> tuple[list[str], int]:
        """``(pass tokens, other decoded QR texts)`` found in ``bgr``."""
        grey = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY) if bgr.ndim == 3 else bgr
        try:
            found, texts, _, _ = self._detector.detectAndDecodeMulti(grey)
        except cv2.error:
            return [], 0
        if not found:
            return [], 0
        tokens: list[str] = []
        others = 0
        for text in texts:
            if not text:
                continue  # a code was located but not decoded
            token = parse_pass_token(text)
            if token is None:
                others += 1
            elif token not in tokens:
                tokens.append(token)
        return tokens, others


@dataclass
class _Verification:
    """A pass read in ``pass+face`` mode, waiting for its holder's face."""

    subject_id: str
    digest: str
    templates: Templates
    threshold: float
    frames_left: int
    frames_read: int = 1
    distances: list[float] = field(default_factory=list)


class PassCheck:
    """Passes → arrivals for one device. Owned by the detect/track thread (see module doc)."""

    def __init__(
        self,
        settings: EdgeSettings,
        metrics: EngineMetrics,
        *,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.settings = settings
        self.metrics = metrics
        self._now = now
        self.reader = PassReader()
        self.cooldown = Cooldown(settings.cooldown_s, clock=clock)
        self._pending: _Verification | None = None
        self._no_threshold_logged = False

    @property
    def verifying(self) -> bool:
        return self._pending is not None

    def reset(self) -> None:
        """Forget a pending verification (mode or gallery changed, matching off)."""
        if self._pending is not None:
            self._pending.templates = np.zeros((0, 0), np.float32)
        self._pending = None

    def process(
        self,
        crop: BGRImage,
        roi: Roi,
        zone: MemberZone,
        *,
        passes: Mapping[str, str],
        verify: tuple[Mapping[str, Templates], FaceDetector, FaceEmbedder] | None,
    ) -> list[ArrivalEvent]:
        """One frame of the spot. ``verify`` (the members' own templates and the face models)
        is given only in ``pass+face`` mode; in ``pass`` mode it is None and no face model is
        reachable from here."""
        if self._pending is not None and verify is not None:
            return self._verify_step(crop, roi, zone, verify[1], verify[2])
        self._pending = None
        with self.metrics.timed("passes"):
            tokens, others = self.reader.read(crop)
        self.metrics.incr("qr_codes_ignored", others)
        events: list[ArrivalEvent] = []
        for token in tokens:
            digest = pass_digest(token)
            subject_id = passes.get(digest)
            if subject_id is None:
                self.metrics.incr("passes_refused")
                continue
            self.metrics.incr("passes_read")
            if not self.cooldown.allow(subject_id):
                self.metrics.incr("arrivals_in_cooldown")
                continue
            own = verify[0].get(subject_id) if verify is not None else None
            threshold = self._threshold(verify[2]) if verify is not None else None
            if own is not None and len(own) and verify is not None and threshold is not None:
                # One verification at a time; a second pass in the same frame (rare) is read
                # again on a later frame: it has not taken its cooldown slot yet.
                self._pending = _Verification(
                    subject_id, digest, own, threshold, frames_left=self.settings.pass_face_frames
                )
                return [*events, *self._verify_step(crop, roi, zone, verify[1], verify[2])]
            events.append(self._arrival(subject_id, digest, None, score=0.0, frames=1))
        return events

    def _verify_step(
        self,
        crop: BGRImage,
        roi: Roi,
        zone: MemberZone,
        detector: FaceDetector,
        embedder: FaceEmbedder,
    ) -> list[ArrivalEvent]:
        pending = self._pending
        assert pending is not None
        pending.frames_left -= 1
        distance = self._compare(crop, roi, zone, detector, embedder, pending.templates)
        if distance is not None:
            pending.distances.append(distance)
        best = min(pending.distances, default=None)
        if best is not None and best <= pending.threshold:
            verified: bool | None = True
        elif len(pending.distances) >= self.settings.pass_face_embeddings or (
            pending.frames_left <= 0
        ):
            verified = False
        else:
            return []
        self._pending = None
        self.metrics.incr("passes_face_verified" if verified else "passes_face_not_verified")
        return [
            self._arrival(
                pending.subject_id,
                pending.digest,
                verified,
                score=best if best is not None else 0.0,
                frames=max(1, len(pending.distances)),
            )
        ]

    def _threshold(self, embedder: FaceEmbedder) -> float | None:
        """The 1:1 threshold of the embedder's model; None (logged once) for a model without a
        calibration: no face is then compared at all and the arrival says ``None``."""
        try:
            return verification_threshold(embedder.model_id)
        except LookupError:
            if not self._no_threshold_logged:
                log.error("no calibration for the embedding model: pass holders' faces unverified")
                self._no_threshold_logged = True
            return None

    def _compare(
        self,
        crop: BGRImage,
        roi: Roi,
        zone: MemberZone,
        detector: FaceDetector,
        embedder: FaceEmbedder,
        templates: Templates,
    ) -> float | None:
        """The 1:1 distance of the largest good face at the spot to the holder's templates."""
        scale = self.settings.detect_scale
        rgb = np.ascontiguousarray(cv2.cvtColor(crop, cv2.COLOR_BGR2RGB), dtype=np.uint8)
        with self.metrics.timed("detect"):
            small: RGBImage = rgb
            if scale != 1.0:
                size = (max(1, round(rgb.shape[1] * scale)), max(1, round(rgb.shape[0] * scale)))
                small = np.asarray(cv2.resize(rgb, size, interpolation=cv2.INTER_AREA), np.uint8)
            found = detector.detect(small)
        self.metrics.incr("frames_detected")
        boxes = zones.keep(zone, [zones.to_frame(b, roi, scale) for b in found], roi)
        if not boxes:
            return None
        face: FaceBox = max(boxes, key=lambda b: b.area).translated(-roi.left, -roi.top)
        quality = assess_face(rgb, face, None, min_face_size=zone.min_face_size)
        if not quality.ok:
            self.metrics.incr("faces_below_quality")
            return None
        with self.metrics.timed("embed"):
            embedding = embedder.embed(rgb, [face])[0]
        self.metrics.incr("embeddings")
        self.metrics.incr("verification_attempts")
        vector = np.asarray(embedding.vector, dtype=np.float64)
        diff = templates.astype(np.float64) - vector
        return float(np.sqrt(np.min(np.einsum("ij,ij->i", diff, diff))))

    def _arrival(
        self, subject_id: str, digest: str, verified: bool | None, *, score: float, frames: int
    ) -> ArrivalEvent:
        event = ArrivalEvent(
            subject_id=subject_id,
            at=self._now(),
            score=score,
            margin=0.0,
            frames=frames,
            method="pass",
            pass_digest=digest,
            face_verified=verified,
        )
        self.metrics.incr("arrivals")
        log.info("pass arrival (event %s, face verified: %s)", event.id, verified)
        return event
