"""Engine wiring with stand-in models (fast): fail closed, track mean, k-of-n, cooldown, track
end."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Literal

import numpy as np
import pytest

from edge.capture import Frame
from edge.confirm import KOfN, TrackMean
from edge.matching import ActiveGallery, OperatingPoint
from edge.pipeline import Engine
from edge.settings import EdgeSettings
from models.calibration import load_calibration
from models.matcher import GalleryIndex
from models.types import Embedding, FaceBox, RGBImage

MODEL = "fake_v1"


class FakeDetector:
    key = "fake"

    def __init__(self) -> None:
        self.calls = 0
        self.boxes: list[FaceBox] = []

    def load(self) -> None:
        return None

    def detect(self, image: RGBImage) -> list[FaceBox]:
        self.calls += 1
        return list(self.boxes)


class FakeEmbedder:
    key = "fake"
    model_id = MODEL

    def __init__(self, vector: np.ndarray) -> None:
        self.vector = vector.astype(np.float32)
        self.batches: list[int] = []

    def load(self) -> None:
        return None

    def embed(self, image: RGBImage, boxes: Sequence[FaceBox]) -> list[Embedding]:
        self.batches.append(len(boxes))
        return [Embedding(self.vector, MODEL) for _ in boxes]


class Switch:
    def __init__(self, active: ActiveGallery | None) -> None:
        self.active = active

    def current(self) -> ActiveGallery | None:
        return self.active


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


MEMBER = np.eye(8, dtype=np.float32)[0]
OTHER = np.eye(8, dtype=np.float32)[1]
FACE = FaceBox(top=40, right=110, bottom=100, left=50)  # in the half-size image: 120 px full


def _frames() -> list[Frame]:
    rng = np.random.default_rng(0)
    return [
        Frame(i, 0.0, rng.integers(0, 255, size=(360, 640, 3), dtype=np.uint8)) for i in range(40)
    ]


FRAMES = _frames()


def _engine(
    gallery: Switch,
    embedder: FakeEmbedder,
    detector: FakeDetector,
    clock: Clock,
    confirm_rule: Literal["mean", "kofn"] = "mean",
) -> Engine:
    settings = EdgeSettings(
        detect_scale=0.5,
        embed_interval=1,
        confirm_rule=confirm_rule,
        confirm_k=3,
        confirm_n=5,
        track_max_missed=1,
        cooldown_s=600,
        min_quality=0.0,
    )
    return Engine(
        settings,
        detector=detector,
        embedder=embedder,
        gallery=gallery,
        point=OperatingPoint(threshold=0.5, min_margin=0.0),
        clock=clock,
    )


def _index(*subjects: tuple[str, np.ndarray]) -> GalleryIndex:
    return GalleryIndex.build([s for s, _ in subjects], np.stack([v for _, v in subjects]), MODEL)


def test_no_current_gallery_means_no_detection_at_all() -> None:
    detector = FakeDetector()
    detector.boxes = [FACE]
    gallery = Switch(None)
    engine = _engine(gallery, FakeEmbedder(MEMBER), detector, Clock())
    for frame in FRAMES[:5]:
        assert engine.process_frame(frame) == []
    assert detector.calls == 0
    gallery.active = ActiveGallery(_index(("s-member", MEMBER)), 1)
    engine.process_frame(FRAMES[5])
    assert detector.calls == 1
    assert engine.active_tracks == 1
    gallery.active = None  # withdrawn / expired: the live track is dropped at once
    engine.process_frame(FRAMES[6])
    assert engine.active_tracks == 0


def test_track_mean_decides_at_the_second_embedding() -> None:
    """The default rule: no decision on one frame; the mean of two agreeing frames decides."""
    detector, embedder = FakeDetector(), FakeEmbedder(MEMBER)
    engine = _engine(Switch(ActiveGallery(_index(("s-m", MEMBER)), 1)), embedder, detector, Clock())
    detector.boxes = [FACE]
    results = [engine.process_frame(f) for f in FRAMES[:4]]
    assert [len(r) for r in results] == [0, 1, 0, 0]
    (event,) = results[1]
    assert event.subject_id == "s-m"
    assert event.frames == 2
    assert event.score == pytest.approx(0.0, abs=1e-6)
    assert embedder.batches == [1, 1]  # no embeddings after the decision
    snapshot = engine.metrics.snapshot()
    assert snapshot["track_means_matched"] == 1  # the first frame alone was never decided on
    assert snapshot["tracks_confirmed"] == 1


def test_k_of_n_then_cooldown_across_tracks() -> None:
    detector, clock = FakeDetector(), Clock()
    embedder = FakeEmbedder(MEMBER)
    engine = _engine(
        Switch(ActiveGallery(_index(("s-m", MEMBER)), 1)), embedder, detector, clock, "kofn"
    )
    detector.boxes = [FACE]
    results = [engine.process_frame(f) for f in FRAMES[:6]]
    assert [len(r) for r in results] == [0, 0, 1, 0, 0, 0]  # confirmed at the 3rd embedding
    event = results[2][0]
    assert event.subject_id == "s-m"
    assert event.frames == 3
    assert embedder.batches == [1, 1, 1]  # no embeddings after confirmation
    detector.boxes = []
    engine.process_frame(FRAMES[6])
    engine.process_frame(FRAMES[7])
    assert engine.active_tracks == 0  # the track ended, its evidence is gone
    # the same member comes back within the cooldown: a new track, confirmed, but no event
    detector.boxes = [FACE]
    assert sum(len(engine.process_frame(f)) for f in FRAMES[8:14]) == 0
    assert engine.metrics.snapshot()["arrivals_in_cooldown"] == 1
    detector.boxes = []
    engine.process_frame(FRAMES[14])
    engine.process_frame(FRAMES[15])
    clock.t += 600
    detector.boxes = [FACE]
    assert sum(len(engine.process_frame(f)) for f in FRAMES[16:22]) == 1


def test_stranger_is_embedded_at_most_max_times_and_forgotten() -> None:
    detector = FakeDetector()
    embedder = FakeEmbedder(OTHER)  # distance sqrt(2) to the member: no match
    engine = _engine(Switch(ActiveGallery(_index(("s-m", MEMBER)), 1)), embedder, detector, Clock())
    detector.boxes = [FACE]
    assert sum(len(engine.process_frame(f)) for f in FRAMES[:30]) == 0
    assert sum(embedder.batches) == engine.settings.max_embeds_per_track
    assert engine.match_stage.active_tracks == 1
    assert engine.finish() == []
    assert engine.active_tracks == 0
    assert engine.match_stage.active_tracks == 0


def test_new_gallery_version_rematches_the_kept_embeddings() -> None:
    detector = FakeDetector()
    embedder = FakeEmbedder(OTHER)
    gallery = Switch(ActiveGallery(_index(("s-m", MEMBER)), 1))
    engine = _engine(gallery, embedder, detector, Clock())
    detector.boxes = [FACE]
    assert engine.process_frame(FRAMES[0]) == []
    assert engine.process_frame(FRAMES[1]) == []
    # the person in front of the camera just enrolled: the new version includes them
    gallery.active = ActiveGallery(_index(("s-m", MEMBER), ("s-new", OTHER)), 2)
    events = engine.process_frame(FRAMES[2])
    assert [e.subject_id for e in events] == ["s-new"]


def test_two_faces_in_one_frame_are_embedded_in_one_batch() -> None:
    detector, embedder = FakeDetector(), FakeEmbedder(OTHER)
    engine = _engine(Switch(ActiveGallery(_index(("s-m", MEMBER)), 1)), embedder, detector, Clock())
    second = FaceBox(top=40, right=250, bottom=100, left=190)
    detector.boxes = [FACE, second]
    engine.process_frame(FRAMES[0])
    assert embedder.batches == [2]  # one call to the network for both faces
    assert engine.match_stage.active_tracks == 2


def test_a_strangers_track_that_ends_mid_stream_leaves_no_trace(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The tracker path of invariant 2: a stranger walks in, is embedded and compared, walks
    out; once the tracker ends the track (missed frames, not end of stream) nothing about them
    is held, and no log line was written about them."""
    caplog.set_level(logging.DEBUG)
    detector, embedder = FakeDetector(), FakeEmbedder(OTHER)
    engine = _engine(Switch(ActiveGallery(_index(("s-m", MEMBER)), 1)), embedder, detector, Clock())
    detector.boxes = [FACE]
    for frame in FRAMES[:4]:
        assert engine.process_frame(frame) == []
    (track,) = engine.detect_stage.tracker.tracks
    evidence = engine.match_stage._evidence[track.track_id]
    assert len(evidence) > 0  # embeddings were held while the stranger was in view
    assert len(evidence.outcomes) > 0
    detector.boxes = []
    for frame in FRAMES[4:7]:  # track_max_missed=1: ended after two empty frames
        assert engine.process_frame(frame) == []
    assert engine.active_tracks == 0
    assert engine.match_stage.active_tracks == 0
    assert len(track.boxes) == 0  # the tracker's box history is wiped
    assert len(evidence) == 0  # and so are the embeddings and match outcomes
    assert len(evidence.outcomes) == 0
    assert evidence.best() == []
    assert caplog.records == []
    assert engine.metrics.snapshot().get("arrivals", 0) == 0


def test_a_model_calibrated_without_walk_bys_is_voted_on() -> None:
    """The mean needs a track threshold measured on walk-bys; a model whose calibration has
    none (the int8 variant's, made from 11 photos) falls back to the k-of-n vote, with a log
    line, rather than matching the mean at a threshold nobody measured for it."""
    detector = FakeDetector()
    embedder = FakeEmbedder(MEMBER)
    embedder.model_id = "dlib_resnet_v1_int8"
    engine = _engine(Switch(None), embedder, detector, Clock())
    assert engine.settings.confirm_rule == "mean"
    assert isinstance(engine.match_stage.rule, KOfN)
    dlib = FakeEmbedder(MEMBER)
    dlib.model_id = "dlib_resnet_v1"  # calibrated with walk-bys: the mean, at its own threshold
    rule = _engine(Switch(None), dlib, detector, Clock()).match_stage.rule
    assert isinstance(rule, TrackMean)
    assert rule.threshold == load_calibration("dlib_resnet_v1").track_threshold(0.5) < 0.5
