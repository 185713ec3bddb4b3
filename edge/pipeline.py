"""The recognition engine: motion gate -> detect on the downscaled zone -> track -> quality ->
embed -> match -> track decision (the mean of the track's best frames) -> cooldown ->
``ArrivalEvent``.

Two ways to run it, sharing the same stage code:

* ``Engine.process_frame(frame)`` / ``Engine.run_file(path)``: synchronous, one thread; used
  by tests and benchmarks.
* ``Pipeline``: four threads joined by bounded queues with one stop event and ``shutdown()``:
  capture -> detect/track -> embed/match -> publish. Each stage's state is owned by its thread:
  ``DetectStage`` (motion gate, zone, tracker) by the detect/track thread, ``MatchStage``
  (track evidence, the track decision, cooldown) by the embed/match thread. The only thing
  flowing back is a ``SimpleQueue`` of track ids that need no more embeddings.

The store's recognition mode (invariant 13) is applied by ``edge.modes.ModeRouter`` in the
detect/track stage before the motion gate: in ``checkin`` mode frames reach the face path only
while someone stands in the check-in spot; in the pass modes never (the router reads passes and
its arrivals travel in ``DetectJob.arrivals``).

Privacy (invariant 2): nothing about an unmatched face is logged, written or sent. Face pixels
leave the detect stage only as the member-zone crop, and only for tracks that may still be
embedded; embeddings live in the track's evidence until the track ends, then are dropped. Log
lines carry counts only.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol, runtime_checkable

import cv2
import numpy as np

from consent.gallery import MemberZone
from edge import zone as zones
from edge.capture import BGRImage, Frame, FrameSource, LatestFrameSlot
from edge.confirm import Confirmation, Cooldown, KOfN, MatchOutcome, TrackMean, track_embedding
from edge.events import ArrivalEvent, EventSink
from edge.matching import ActiveGallery, GalleryProvider, OperatingPoint, operating_point
from edge.metrics import EngineMetrics
from edge.modes import ModeRouter, Route
from edge.motion import MotionGate
from edge.settings import EdgeSettings
from edge.tracker import Tracker, TrackEvidence
from edge.zone import Roi
from models.calibration import load_calibration
from models.quality import assess_face, score_for_selection
from models.types import (
    Embedding,
    FaceBox,
    FaceDetector,
    FaceEmbedder,
    FaceLandmarks,
    RegionFaceDetector,
    RGBImage,
    SizedFaceDetector,
)

log = logging.getLogger(__name__)

EventSinkFn = Callable[[ArrivalEvent], None]


@runtime_checkable
class LandmarkEmbedder(Protocol):
    """An embedder that also gives 5-point landmarks and accepts them back (dlib's does)."""

    key: str
    model_id: str

    def load(self) -> None: ...

    def landmarks(self, image: RGBImage, boxes: Sequence[FaceBox]) -> list[FaceLandmarks]: ...

    def embed(
        self,
        image: RGBImage,
        boxes: Sequence[FaceBox],
        *,
        landmarks: Sequence[FaceLandmarks] | None = None,
    ) -> list[Embedding]: ...


@dataclass(slots=True)
class DetectJob:
    """Work for the embed/match stage from one frame.

    ``rgb`` is the member-zone crop (None when no face needs embedding); ``faces`` are
    ``(track_id, box)`` with boxes in crop coordinates; ``ended`` are track ids that ended;
    ``arrivals`` were made without the face path (pass arrivals) and are only passed on.
    """

    frame_index: int
    timestamp: float
    rgb: RGBImage | None = None
    faces: list[tuple[int, FaceBox]] = field(default_factory=list)
    ended: list[int] = field(default_factory=list)
    end_of_stream: bool = False
    arrivals: list[ArrivalEvent] = field(default_factory=list)


def _rgb(bgr: BGRImage) -> RGBImage:
    """A contiguous RGB copy of a BGR image (dlib reads RGB)."""
    return np.ascontiguousarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), dtype=np.uint8)


def _merge_overlapping(windows: list[FaceBox]) -> list[FaceBox]:
    """Overlapping windows become their bounding box (one network run instead of two)."""
    merged = list(windows)
    changed = True
    while changed:
        changed = False
        for i, a in enumerate(merged):
            for j in range(i + 1, len(merged)):
                b = merged[j]
                if a.iou(b) > 0.0:
                    merged[i] = FaceBox(
                        top=min(a.top, b.top),
                        right=max(a.right, b.right),
                        bottom=max(a.bottom, b.bottom),
                        left=min(a.left, b.left),
                    )
                    del merged[j]
                    changed = True
                    break
            if changed:
                break
    return merged


class DetectStage:
    """Motion gate, member zone, detection on the downscaled crop, tracking. One thread."""

    def __init__(
        self,
        settings: EdgeSettings,
        detector: FaceDetector,
        gallery: GalleryProvider,
        metrics: EngineMetrics,
        done: queue.SimpleQueue[int],
        router: ModeRouter | None = None,
    ) -> None:
        self.settings = settings
        self.detector = detector
        self.gallery = gallery
        self.metrics = metrics
        self._done = done
        self.router = router
        """Applies the store's recognition mode; without one only a ``door`` gallery is used
        (fail closed: no other mode's gallery gets face work from a stage that cannot enforce
        it)."""
        self.settings_zone = MemberZone(
            settings.zone_x,
            settings.zone_y,
            settings.zone_w,
            settings.zone_h,
            min_face_size=settings.min_face_size,
        )
        """The device's own zone: used while the installed gallery carries no store zone."""
        self.zone = self.settings_zone
        """The active zone: the store's (from the gallery) when it has one, else the device's."""
        self._size_detector()
        self.motion = MotionGate(
            threshold=settings.motion_threshold,
            pixel_delta=settings.motion_pixel_delta,
            hold_frames=settings.motion_hold_frames,
        )
        self.tracker = Tracker(
            iou_threshold=settings.track_iou, max_missed=settings.track_max_missed
        )
        self._since_full = 0
        """Frames searched in part (track windows, motion) since the last whole-zone search."""

    def _drain_done(self) -> None:
        while True:
            try:
                track_id = self._done.get_nowait()
            except queue.Empty:
                return
            track = self.tracker.get(track_id)
            if track is not None:
                track.finished = True

    def process(self, frame: Frame) -> DetectJob | None:
        self.metrics.incr("frames_processed")
        self._drain_done()
        active = self.gallery.current()
        if active is None:
            # fail closed: without a current gallery no face is even looked for
            self.metrics.incr("frames_matching_off")
            if self.router is not None:
                self.router.off()
            if len(self.tracker):
                self.motion.reset()
                return DetectJob(frame.index, frame.timestamp, ended=self.tracker.end_all())
            return None
        self._use_zone(active.zone or self.settings_zone)

        crop, roi = zones.crop(self.zone, frame.bgr)
        if self.router is not None:
            route = self.router.route(crop, roi, self.zone, active)
        else:
            route = Route(active.mode == "door")
        if not route.faces:  # the mode allows no face work on this frame
            ended = self.tracker.end_all() if len(self.tracker) else []
            if ended:
                self.motion.reset()
            if ended or route.arrivals:
                return DetectJob(frame.index, frame.timestamp, ended=ended, arrivals=route.arrivals)
            return None
        scale = self.settings.detect_scale
        with self.metrics.timed("motion"):
            # the gate reads the downscaled zone (the detector's, made here once): scaling the
            # full-resolution zone to the gate's 160 px cost it three times as much
            small = crop
            if scale != 1.0:
                size = (max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale)))
                small = np.asarray(cv2.resize(crop, size, interpolation=cv2.INTER_AREA), np.uint8)
            run = self.motion.update(small, tracks_alive=len(self.tracker) > 0)
        if not run:
            self.metrics.incr("frames_motion_skipped")
            return None

        rgb_crop: RGBImage | None = None
        with self.metrics.timed("detect"):
            windows = self._track_windows(roi)
            if windows is None:
                part = self._motion_part(small.shape[1], small.shape[0])
                if part is None:
                    found = self.detector.detect(_rgb(small))
                    self._since_full = 0
                else:
                    # only where the scene changed (people move): often one tile instead of
                    # the whole zone's three; the whole zone is still searched every Nth frame
                    x0, y0, x1, y1 = part
                    found = [
                        b.translated(x0, y0)
                        for b in self.detector.detect(_rgb(small[y0:y1, x0:x1]))
                    ]
                    self._since_full += 1
                    self.metrics.incr("frames_detected_motion")
                boxes = [zones.to_frame(b, roi, scale) for b in found]
            else:
                # windows are cut from the full-resolution zone: a small face keeps its detail
                # (scaled down into the network's input, not up from the downscaled zone)
                assert isinstance(self.detector, RegionFaceDetector)
                rgb_crop = _rgb(crop)
                found = self.detector.detect_regions(rgb_crop, windows)
                self._since_full += 1
                self.metrics.incr("frames_detected_windows")
                boxes = [zones.to_frame(b, roi, 1.0) for b in found]
            boxes = zones.keep(self.zone, boxes, roi)
        self.metrics.incr("frames_detected")
        self.metrics.incr("faces_in_zone", len(boxes))

        with self.metrics.timed("track"):
            update = self.tracker.update(boxes)
        job = DetectJob(frame.index, frame.timestamp, ended=update.ended)
        wanted = [(t.track_id, box) for t, box in update.assigned if not t.finished]
        if wanted:
            job.rgb = rgb_crop if rgb_crop is not None else _rgb(crop)
            job.faces = [(tid, box.translated(-roi.left, -roi.top)) for tid, box in wanted]
        if job.faces or job.ended:
            return job
        return None

    def _track_windows(self, roi: Roi) -> list[FaceBox] | None:
        """The windows to search on this frame (zone-crop pixels), or None for the
        whole zone: that is searched every ``detect_full_every`` frames, whenever nothing is
        tracked, and always with a detector that cannot search parts of an image."""
        tracks = self.tracker.tracks
        if (
            not tracks
            or self._since_full + 1 >= self.settings.detect_full_every
            or not isinstance(self.detector, RegionFaceDetector)
            # a face the last frame's search missed (dark, blurred, turned away) is looked for
            # in the whole zone again rather than lost in its window
            or any(t.missed for t in tracks)
        ):
            return None
        windows: list[FaceBox] = []
        for track in tracks:
            box = track.box
            cx, cy = box.center
            if len(track.boxes) >= 2:  # where it is heading: the last step again
                px, py = track.boxes[-2].center
                cx, cy = 2 * cx - px, 2 * cy - py
            half = max(box.width, box.height) * self.settings.track_window / 2
            x0, y0 = cx - half - roi.left, cy - half - roi.top
            x1, y1 = cx + half - roi.left, cy + half - roi.top
            windows.append(
                FaceBox(top=round(y0), right=round(x1), bottom=round(y1), left=round(x0))
            )
        return _merge_overlapping(windows)

    def _motion_part(self, width: int, height: int) -> tuple[int, int, int, int] | None:
        """The part of the downscaled zone where the motion gate saw change, with a margin of
        two minimum faces (x0, y0, x1, y1), or None for the whole zone: that is searched
        every ``detect_full_every`` frames (a face that came in and stood still), when the
        gate knows no place (first frame), and when the change covers most of the zone."""
        region = self.motion.region
        if region is None or self._since_full + 1 >= self.settings.detect_full_every:
            return None
        margin = 2 * self.zone.min_face_size * self.settings.detect_scale
        x0 = max(0, int(region[0] * width - margin))
        y0 = max(0, int(region[1] * height - margin))
        x1 = min(width, int(region[2] * width + margin) + 1)
        y1 = min(height, int(region[3] * height + margin) + 1)
        if (x1 - x0) * (y1 - y0) > 0.6 * width * height:
            return None
        return x0, y0, x1, y1

    def _use_zone(self, zone: MemberZone) -> None:
        """Switch to ``zone`` (the store's decision from the gallery wins over the settings)."""
        if zone == self.zone:
            return
        source = "settings" if zone is self.settings_zone else "store gallery"
        log.info(
            "member zone from %s: x=%.3f y=%.3f w=%.3f h=%.3f min_face_size=%d",
            source,
            zone.x,
            zone.y,
            zone.w,
            zone.h,
            zone.min_face_size,
        )
        self.zone = zone
        self._size_detector()
        self.motion.reset()  # the crop changed shape: a fresh background

    def _size_detector(self) -> None:
        """Tell a detector that searches harder for smaller faces the zone's minimum face size
        in the pixels it sees (the downscaled crop): smaller faces are dropped by the zone
        anyway (the zone compares the detector's own box), so it need not look for them."""
        if isinstance(self.detector, SizedFaceDetector):
            scaled = self.zone.min_face_size * self.settings.detect_scale
            self.detector.min_face = max(1, int(scaled))

    def finish(self) -> DetectJob:
        """End of stream: every track ends."""
        return DetectJob(-1, time.monotonic(), ended=self.tracker.end_all(), end_of_stream=True)

    @property
    def active_tracks(self) -> int:
        return len(self.tracker)


class MatchStage:
    """Quality gate, batched embedding, matching, the track decision (the track's mean, or
    k-of-n votes: ``settings.confirm_rule``), cooldown. One thread."""

    def __init__(
        self,
        settings: EdgeSettings,
        embedder: FaceEmbedder,
        gallery: GalleryProvider,
        point: OperatingPoint,
        metrics: EngineMetrics,
        done: queue.SimpleQueue[int],
        *,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        point_fixed: bool = True,
    ) -> None:
        self.settings = settings
        self.embedder = embedder
        self.gallery = gallery
        self.metrics = metrics
        self._done = done
        self._now = now
        self._clock = clock
        self._no_track_map_logged = False
        self.rule = self._make_rule(point)
        self._base_rule = self.rule
        self._point_fixed = point_fixed
        """True when the operating point was set locally; else a gallery's own point wins."""
        self.cooldown = Cooldown(settings.cooldown_s, clock=clock)
        self._evidence: dict[int, TrackEvidence] = {}
        self._version: int | None = None
        self._model_mismatch_logged = False

    def _make_rule(self, point: OperatingPoint) -> KOfN | TrackMean:
        """The track decision at ``point`` (the single-frame operating point in force).

        The mean lies nearer everyone than single frames do, so it gets its own threshold: the
        model's calibration maps the frame threshold in force to the one at which walk-bys
        match no more strangers (``models.tracks``). A calibration measured without walk-bys
        has no such map: then the tracks are voted on (k-of-n) rather than matched with a
        threshold nobody measured. A model with no calibration at all runs on thresholds set
        by hand, which the mean then uses as given.
        """
        s = self.settings
        kofn = KOfN(s.confirm_k, s.confirm_n, point.threshold, point.min_margin)
        if s.confirm_rule == "kofn":
            return kofn
        threshold = point.threshold
        try:
            calibration = load_calibration(self.embedder.model_id)
        except (LookupError, ValueError):
            calibration = None
        if calibration is not None:
            if not calibration.has_track_map:
                if not self._no_track_map_logged:
                    log.warning(
                        "the calibration of %s has no walk-by map: tracks are decided by "
                        "k-of-n votes (run `vertrouwd models calibrate DIR --gallery N --write`)",
                        self.embedder.model_id,
                    )
                    self._no_track_map_logged = True
                return kofn
            threshold = calibration.track_threshold(point.threshold)
        return TrackMean(
            threshold, point.min_margin, best=s.top_n_embeddings, min_frames=s.confirm_min_frames
        )

    @property
    def active_tracks(self) -> int:
        return len(self._evidence)

    def _drop(self, track_id: int) -> None:
        evidence = self._evidence.pop(track_id, None)
        if evidence is not None:
            evidence.wipe()

    def drop_all(self) -> None:
        for track_id in list(self._evidence):
            self._drop(track_id)

    def _on_new_gallery(self, active: ActiveGallery) -> None:
        """Outcomes against an old gallery are stale: re-match the kept best embeddings."""
        self._version = active.version
        self.rule = self._base_rule
        if active.point is not None and not self._point_fixed:
            self.rule = self._make_rule(active.point)
        for evidence in self._evidence.values():
            evidence.outcomes.clear()
            best = evidence.best()
            if best and evidence.confirmed is None:
                for result in active.index.match_many(best):
                    evidence.outcomes.append(
                        MatchOutcome(result.subject_id, result.distance, result.margin)
                    )

    def process(self, job: DetectJob) -> list[ArrivalEvent]:
        for track_id in job.ended:
            self._drop(track_id)
        if job.timestamp > 0:
            self.metrics.observe_lag(max(0.0, self._clock() - job.timestamp))
        if not job.faces or job.rgb is None:
            return []
        active = self.gallery.current()
        if active is None:
            self.drop_all()
            return []
        if active.index.model_id != self.embedder.model_id:
            if not self._model_mismatch_logged:
                log.error("gallery model does not match the embedder; matching is off")
                self._model_mismatch_logged = True
            self.drop_all()
            return []
        if active.version != self._version:
            self._on_new_gallery(active)

        max_embeds = self.settings.max_embeds_per_track
        candidates: list[tuple[int, FaceBox, TrackEvidence]] = []
        for track_id, box in job.faces:
            evidence = self._evidence.get(track_id)
            if evidence is None:
                evidence = TrackEvidence(
                    top_n=self.settings.top_n_embeddings, n=self.settings.confirm_n
                )
                self._evidence[track_id] = evidence
            if evidence.confirmed is not None or evidence.embeds >= max_embeds:
                continue
            last = evidence.last_embedded
            if last is not None and job.frame_index - last < self.settings.embed_interval:
                continue
            candidates.append((track_id, box, evidence))
        if not candidates:
            return []

        rgb = job.rgb
        with self.metrics.timed("quality"):
            boxes = [box for _, box, _ in candidates]
            marks: list[FaceLandmarks] | None = None
            if isinstance(self.embedder, LandmarkEmbedder):
                marks = self.embedder.landmarks(rgb, boxes)
            chosen: list[tuple[int, FaceBox, TrackEvidence, float, FaceLandmarks | None]] = []
            for i, (track_id, box, evidence) in enumerate(candidates):
                mark = marks[i] if marks is not None else None
                quality = assess_face(rgb, box, mark, min_face_size=self.settings.min_face_size)
                score = score_for_selection(quality)
                if score >= self.settings.min_quality:
                    chosen.append((track_id, box, evidence, score, mark))
        self.metrics.incr("faces_below_quality", len(candidates) - len(chosen))
        if not chosen:
            return []

        with self.metrics.timed("embed"):
            chosen_boxes = [c[1] for c in chosen]
            if marks is not None and isinstance(self.embedder, LandmarkEmbedder):
                chosen_marks = [c[4] for c in chosen if c[4] is not None]
                embeddings = self.embedder.embed(rgb, chosen_boxes, landmarks=chosen_marks)
            else:
                embeddings = self.embedder.embed(rgb, chosen_boxes)
        self.metrics.incr("embeddings", len(embeddings))
        self.metrics.incr("identification_attempts", len(embeddings))
        with self.metrics.timed("match"):
            results = active.index.match_many(embeddings)

        for (_, _, evidence, score, _), embedding, result in zip(
            chosen, embeddings, results, strict=True
        ):
            evidence.embeds += 1
            evidence.last_embedded = job.frame_index
            if evidence.first_seen is None:
                evidence.first_seen = job.timestamp
            evidence.offer(score, embedding)
            evidence.outcomes.append(
                MatchOutcome(result.subject_id, result.distance, result.margin)
            )
        tracks = [(track_id, evidence) for track_id, _, evidence, _, _ in chosen]
        rule = self.rule
        if isinstance(rule, TrackMean):
            decisions = self._decide_means(rule, [e for _, e in tracks], active)
        else:
            decisions = [rule.decide(evidence.outcomes) for _, evidence in tracks]

        events: list[ArrivalEvent] = []
        for (track_id, evidence), confirmation in zip(tracks, decisions, strict=True):
            if confirmation is None:
                if evidence.embeds >= max_embeds:
                    self._done.put(track_id)
                continue
            evidence.confirmed = confirmation.subject_id
            self._done.put(track_id)
            self.metrics.incr("tracks_confirmed")
            if not self.cooldown.allow(confirmation.subject_id):
                self.metrics.incr("arrivals_in_cooldown")
                continue
            event = ArrivalEvent(
                subject_id=confirmation.subject_id,
                at=self._now(),
                score=confirmation.score,
                margin=confirmation.margin,
                frames=confirmation.frames,
            )
            self.metrics.incr("arrivals")
            # the member's pseudonym (the edge never knows a name) and how sure the match was
            log.info(
                "arrival: subject %s score %.3f margin %.3f frames %d track age %.1f s (event %s)",
                event.subject_id, event.score, event.margin, event.frames,
                job.timestamp - (evidence.first_seen or job.timestamp), event.id,
            )  # fmt: skip
            events.append(event)
        return events

    def _decide_means(
        self, rule: TrackMean, tracks: list[TrackEvidence], active: ActiveGallery
    ) -> list[Confirmation | None]:
        """Each track's mean (once it holds enough embeddings), matched in one batch."""
        decisions: list[Confirmation | None] = [None] * len(tracks)
        ready = [i for i, evidence in enumerate(tracks) if rule.ready(len(evidence))]
        if not ready:
            return decisions
        means = []
        for i in ready:
            held = tracks[i].best_with_quality()
            vector = track_embedding(
                [e.vector for _, e in held], [q for q, _ in held], best=rule.best
            )
            means.append(Embedding(vector, self.embedder.model_id))
        with self.metrics.timed("match"):
            results = active.index.match_many(means)
        self.metrics.incr("track_means_matched", len(means))
        for i, result in zip(ready, results, strict=True):
            evidence = tracks[i]
            outcome = MatchOutcome(result.subject_id, result.distance, result.margin)
            decisions[i] = rule.accept(outcome, len(evidence), evidence.outcomes)
        return decisions


class Engine:
    """The recognition engine with its models loaded. See the module docstring.

    ``Engine(settings, detector=..., embedder=..., gallery=StaticGallery(index))`` with loaded
    (or loadable) models; ``Engine.from_settings(settings, gallery)`` builds and loads the models
    named in the settings (``edge.facemodels.build_engine`` builds them to load only when the
    store's mode needs them: what the CLI uses). Thresholds: ``settings.match_threshold`` /
    ``min_margin`` override the model's calibration; ``point`` overrides both.
    """

    def __init__(
        self,
        settings: EdgeSettings,
        *,
        detector: FaceDetector,
        embedder: FaceEmbedder,
        gallery: GalleryProvider,
        point: OperatingPoint | None = None,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        metrics: EngineMetrics | None = None,
    ) -> None:
        self.settings = settings
        self.detector = detector
        self.embedder = embedder
        self.gallery = gallery
        fixed = point is not None or (
            settings.match_threshold is not None or settings.min_margin is not None
        )
        self.point = point or operating_point(
            embedder.model_id, threshold=settings.match_threshold, min_margin=settings.min_margin
        )
        self.metrics = metrics or EngineMetrics()
        self._done: queue.SimpleQueue[int] = queue.SimpleQueue()
        self.router = ModeRouter(
            settings, self.metrics, detector=detector, embedder=embedder, clock=clock, now=now
        )
        """Applies the gallery's recognition mode; ``router.kiosk`` is the check-in kiosk."""
        self.detect_stage = DetectStage(
            settings, detector, gallery, self.metrics, self._done, self.router
        )
        self.match_stage = MatchStage(
            settings,
            embedder,
            gallery,
            self.point,
            self.metrics,
            self._done,
            clock=clock,
            now=now,
            point_fixed=fixed,
        )

    @classmethod
    def from_settings(cls, settings: EdgeSettings, gallery: GalleryProvider) -> Engine:
        from edge.model_choice import build_models

        detector, embedder = build_models(settings)
        return cls(settings, detector=detector, embedder=embedder, gallery=gallery)

    @property
    def active_tracks(self) -> int:
        """Tracks held by either stage (0 after ``finish()``)."""
        return max(self.detect_stage.active_tracks, self.match_stage.active_tracks)

    def process_frame(self, frame: Frame) -> list[ArrivalEvent]:
        """Run one frame through every stage in this thread; the arrivals it confirmed."""
        job = self.detect_stage.process(frame)
        if job is None:
            return []
        return [*job.arrivals, *self.match_stage.process(job)]

    def finish(self) -> list[ArrivalEvent]:
        """End of stream: every track ends and its data is dropped."""
        return self.match_stage.process(self.detect_stage.finish())

    def run_file(
        self,
        path: str | Path,
        *,
        realtime: bool = False,
        max_frames: int | None = None,
        on_arrival: EventSinkFn | None = None,
    ) -> list[ArrivalEvent]:
        """Process a video file synchronously; returns every arrival.

        ``realtime=False`` processes every frame in order. ``realtime=True`` plays the file at
        its own frame rate through a ``LatestFrameSlot`` and skips frames the engine is too slow
        for, as it would with a camera.
        """
        events: list[ArrivalEvent] = []

        def emit(found: list[ArrivalEvent]) -> None:
            events.extend(found)
            if on_arrival is not None:
                for event in found:
                    on_arrival(event)

        self.metrics.reset_clock()
        if not realtime:
            source = FrameSource(str(path), reconnect=False)
            for count, frame in enumerate(source.frames()):
                if max_frames is not None and count >= max_frames:
                    source.stop.set()
                    break
                self.metrics.incr("frames_captured")
                self.metrics.add_time("capture", source.last_read_s)
                emit(self.process_frame(frame))
            emit(self.finish())
            return events

        stop = threading.Event()
        slot = LatestFrameSlot(self.settings.queue_size, drop_stale=True)
        source = FrameSource(str(path), reconnect=False, pace=True, stop=stop)
        source.check()
        reader = threading.Thread(
            target=_capture_loop, args=(source, slot, self.metrics, max_frames), daemon=True
        )
        reader.start()
        try:
            while True:
                latest = slot.get(timeout=1.0)
                if latest is not None:
                    emit(self.process_frame(latest))
                elif slot.closed:
                    break
        finally:
            stop.set()
            slot.close()
            reader.join(5)
            self.metrics.incr("frames_dropped", slot.dropped)
        emit(self.finish())
        return events


def _capture_loop(
    source: FrameSource, slot: LatestFrameSlot, metrics: EngineMetrics, max_frames: int | None
) -> None:
    """Capture stage: read frames into the slot until the source ends or stops."""
    try:
        for count, frame in enumerate(source.frames()):
            if max_frames is not None and count >= max_frames:
                break
            metrics.incr("frames_captured")
            metrics.add_time("capture", source.last_read_s)
            if not slot.put(frame):
                break
    except Exception:
        log.exception("capture stage failed")
    finally:
        slot.close()


class Pipeline:
    """The threaded engine: capture -> detect/track -> embed/match -> publish.

    Stages are joined by bounded queues and share one stop event. ``start()`` starts them;
    ``wait()`` blocks until the source ended and every stage drained (files) or until
    ``shutdown()``; ``shutdown()`` stops all stages and joins their threads.
    """

    def __init__(
        self,
        engine: Engine,
        source: FrameSource,
        sink: EventSink,
        *,
        realtime: bool,
        max_frames: int | None = None,
        stop: threading.Event | None = None,
    ) -> None:
        self.engine = engine
        self.source = source
        self.sink = sink
        self.stop = stop or source.stop
        self.source.stop = self.stop
        self.max_frames = max_frames
        self.metrics = engine.metrics
        self.slot = LatestFrameSlot(engine.settings.queue_size, drop_stale=realtime)
        self.jobs: queue.Queue[DetectJob] = queue.Queue(maxsize=2)
        self.arrivals: queue.Queue[ArrivalEvent | None] = queue.Queue(maxsize=64)
        self.finished = threading.Event()
        self._threads: list[threading.Thread] = []

    @property
    def frames_dropped(self) -> int:
        return self.slot.dropped

    def start(self) -> None:
        self.metrics.reset_clock()
        specs: list[tuple[str, Callable[[], None]]] = [
            ("edge-capture", self._capture),
            ("edge-detect", self._detect),
            ("edge-match", self._match),
            ("edge-publish", self._publish),
        ]
        for name, target in specs:
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def wait(self, timeout: float | None = None) -> bool:
        return self.finished.wait(timeout)

    def shutdown(self, timeout: float = 5.0) -> None:
        self.stop.set()
        self.slot.close()
        for thread in self._threads:
            thread.join(timeout)
        self.engine.match_stage.drop_all()
        self.engine.detect_stage.tracker.end_all()

    def _put(self, q: queue.Queue[DetectJob], item: DetectJob) -> bool:
        while not self.stop.is_set():
            try:
                q.put(item, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def _capture(self) -> None:
        _capture_loop(self.source, self.slot, self.metrics, self.max_frames)

    def _detect(self) -> None:
        stage = self.engine.detect_stage
        try:
            while not self.stop.is_set():
                frame = self.slot.get(timeout=0.2)
                if frame is None:
                    if self.slot.closed:
                        break
                    continue
                job = stage.process(frame)
                if job is not None:
                    self._put(self.jobs, job)
        except Exception:
            log.exception("detect stage failed")
            self.stop.set()
        finally:
            self.metrics.incr("frames_dropped", self.slot.dropped)
            end = stage.finish()
            if not self._put(self.jobs, end):
                # shutting down: the match stage drops all evidence itself anyway
                with contextlib.suppress(queue.Full):
                    self.jobs.put_nowait(end)

    def _match(self) -> None:
        stage = self.engine.match_stage
        try:
            while True:
                try:
                    job = self.jobs.get(timeout=0.2)
                except queue.Empty:
                    if self.stop.is_set():
                        break
                    continue
                for event in [*job.arrivals, *stage.process(job)]:
                    try:
                        self.arrivals.put_nowait(event)
                    except queue.Full:
                        self.metrics.incr("events_dropped")
                if job.end_of_stream:
                    break
        except Exception:
            log.exception("embed/match stage failed")
            self.stop.set()
        finally:
            stage.drop_all()
            self.arrivals.put(None)

    def _publish(self) -> None:
        try:
            while (event := self.arrivals.get()) is not None:
                with self.metrics.timed("publish"):
                    self.sink.put(event)
        finally:
            self.finished.set()
