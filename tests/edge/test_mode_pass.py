"""Pass mode (privacy invariant 13): a member shows their pass's QR; no frame ever reaches a face
model, no face model is loaded; unknown, forged, revoked and other-store passes send nothing."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from consent.gallery import MemberZone
from consent.passes import new_pass_token, pass_digest
from edge.capture import Frame
from edge.matching import ActiveGallery, OperatingPoint
from edge.pipeline import Engine
from edge.settings import EdgeSettings
from models.matcher import GalleryIndex
from models.types import Embedding, FaceBox, FaceLandmarks, RGBImage
from server.demo_scenes import SPOT, SPOT_MIN_FACE, Scene, pass_scene
from tests.edge.conftest import LIN

MODEL = "dlib_resnet_v1"
ZONE = MemberZone(*SPOT, min_face_size=SPOT_MIN_FACE)


class FaceModelUsed(AssertionError):
    pass


class TripwireDetector:
    """A face detector that fails the test if it is loaded or given a frame."""

    key = "tripwire"

    def load(self) -> None:
        raise FaceModelUsed("the face detector was loaded in pass mode")

    def detect(self, image: RGBImage) -> list[FaceBox]:
        raise FaceModelUsed("a frame reached the face detector in pass mode")


class TripwireEmbedder:
    """A face embedder (with landmarks, like dlib's) that fails the test if touched."""

    key = "tripwire"
    model_id = MODEL

    def load(self) -> None:
        raise FaceModelUsed("the face embedder was loaded in pass mode")

    def landmarks(self, image: RGBImage, boxes: Sequence[FaceBox]) -> list[FaceLandmarks]:
        raise FaceModelUsed("a frame reached the landmark model in pass mode")

    def embed(
        self,
        image: RGBImage,
        boxes: Sequence[FaceBox],
        *,
        landmarks: Sequence[FaceLandmarks] | None = None,
    ) -> list[Embedding]:
        raise FaceModelUsed("a frame reached the face embedder in pass mode")


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


def _pass_gallery(passes: dict[str, str], version: int = 1) -> ActiveGallery:
    empty = GalleryIndex.build([], np.zeros((0, 128), np.float32), MODEL)
    return ActiveGallery(empty, version, zone=ZONE, mode="pass", passes=passes)


def _engine(gallery: Switch, clock: Clock, **overrides: object) -> Engine:
    settings = EdgeSettings(realtime=False, cooldown_s=600).model_copy(update=overrides)
    return Engine(
        settings,
        detector=TripwireDetector(),
        embedder=TripwireEmbedder(),
        gallery=gallery,
        point=OperatingPoint(threshold=0.6, min_margin=0.05),
        clock=clock,
        now=lambda: datetime(2026, 12, 2, 9, 0, tzinfo=UTC),
    )


def _run(engine: Engine, scene: Scene, clock: Clock) -> list[list[object]]:
    """Arrivals per frame (10 frames/s on the engine's clock)."""
    per_frame: list[list[object]] = []
    for i, bgr in enumerate(scene.frames):
        clock.t = i / 10
        per_frame.append(list(engine.process_frame(Frame(i, 0.0, bgr))))
    return per_frame


@pytest.fixture(scope="module")
def tokens() -> dict[str, str]:
    return {name: new_pass_token() for name in ("lin", "other_store", "forged", "revoked")}


def test_a_valid_pass_gives_one_arrival_and_nothing_else_does(
    edge_faces: Path, tokens: dict[str, str]
) -> None:
    passes = {pass_digest(tokens["lin"]): "subj-lin"}
    scene = pass_scene(
        edge_faces,
        [
            ("rose_leslie/img1.jpg", tokens["other_store"]),  # listed by another store only
            ("obama/obama.jpg", tokens["forged"]),  # well-formed, listed nowhere
            ("biden/biden2.jpg", "https://vertrouwd.example/me/gAAAAABnot-a-pass"),
            (LIN, tokens["lin"]),
            (LIN, tokens["lin"]),  # shown again within the cooldown
        ],
    )
    clock = Clock()
    engine = _engine(Switch(_pass_gallery(passes)), clock)
    per_frame = _run(engine, scene, clock)

    arrivals = [e for found in per_frame for e in found]
    assert len(arrivals) == 1
    (event,) = arrivals
    assert event.method == "pass"  # type: ignore[attr-defined]
    assert event.subject_id == "subj-lin"  # type: ignore[attr-defined]
    assert event.pass_digest == pass_digest(tokens["lin"])  # type: ignore[attr-defined]
    assert event.face_verified is None  # type: ignore[attr-defined]
    first = next(i for i, found in enumerate(per_frame) if found)
    assert scene.parts[first] == "show-3"  # it came while Lin showed his pass

    metrics = engine.metrics.snapshot()
    assert metrics["arrivals"] == 1
    assert metrics["passes_read"] >= 2  # Lin's pass, read again later
    assert metrics["arrivals_in_cooldown"] >= 1
    assert metrics["passes_refused"] >= 2  # the other store's and the forged pass
    assert metrics["qr_codes_ignored"] >= 1  # the self-service link is no pass
    # no frame went near a face model (the tripwires would have raised), nothing was counted
    for counter in ("frames_detected", "embeddings", "identification_attempts"):
        assert metrics.get(counter, 0) == 0, counter
    assert engine.active_tracks == 0


def test_a_revoked_pass_is_refused_after_the_new_gallery(
    edge_faces: Path, tokens: dict[str, str]
) -> None:
    """Withdrawal or erasure removes the pass's digest from the next gallery version: the
    device refuses the pass from then on."""
    digest = pass_digest(tokens["revoked"])
    scene = pass_scene(edge_faces, [(LIN, tokens["revoked"])])
    gallery = Switch(_pass_gallery({digest: "subj-lin"}, version=1))
    clock = Clock()
    engine = _engine(gallery, clock, cooldown_s=0)
    assert sum(len(found) for found in _run(engine, scene, clock)) >= 1

    gallery.active = _pass_gallery({}, version=2)  # the member withdrew
    refused_before = engine.metrics.count("passes_refused")
    assert sum(len(found) for found in _run(engine, scene, clock)) == 0
    assert engine.metrics.count("passes_refused") > refused_before


def test_switching_from_door_to_pass_ends_face_work(
    edge_faces: Path, tokens: dict[str, str]
) -> None:
    """A store that moves to pass mode: from the new gallery on, not one more frame reaches a
    face model, though the device was built with them."""
    passes = {pass_digest(tokens["lin"]): "subj-lin"}
    door = ActiveGallery(
        GalleryIndex.build(["subj-lin"], np.ones((1, 128), np.float32), MODEL), 1, zone=ZONE
    )
    gallery = Switch(door)
    clock = Clock()
    engine = _engine(gallery, clock)
    frame = pass_scene(edge_faces, [(LIN, tokens["lin"])]).frames[6]
    with pytest.raises(FaceModelUsed):
        engine.process_frame(Frame(0, 0.0, frame))  # door mode does look for faces
    gallery.active = _pass_gallery(passes, version=2)
    found = engine.process_frame(Frame(1, 0.0, frame))
    assert [e.subject_id for e in found] == ["subj-lin"]
    for i in range(2, 6):
        assert engine.process_frame(Frame(i, 0.0, frame)) == []  # cooldown, and no face work


def test_a_detect_stage_without_a_router_gives_no_face_work_to_other_modes(
    edge_faces: Path, tokens: dict[str, str]
) -> None:
    """Fail closed: a stage built without the mode router (e.g. by other code) uses only
    ``door`` galleries; a pass gallery gets nothing, not even the door's face path."""
    import queue

    from edge.metrics import EngineMetrics
    from edge.pipeline import DetectStage

    metrics = EngineMetrics()
    passes = {pass_digest(tokens["lin"]): "subj-lin"}
    stage = DetectStage(
        EdgeSettings(realtime=False),
        TripwireDetector(),
        Switch(_pass_gallery(passes)),
        metrics,
        queue.SimpleQueue(),
    )
    frame = pass_scene(edge_faces, [(LIN, tokens["lin"])]).frames[6]
    assert stage.process(Frame(0, 0.0, frame)) is None
    assert metrics.count("frames_processed") == 1


def test_pass_face_without_a_calibration_compares_no_face(
    edge_faces: Path, tokens: dict[str, str]
) -> None:
    """No 1:1 threshold for the embedding model (an uncalibrated custom model): the holder's
    face is not looked at, the arrival says face_verified None, nothing crashes."""

    class Uncalibrated(TripwireEmbedder):
        model_id = "uncalibrated_v1"

    empty = GalleryIndex.build([], np.zeros((0, 128), np.float32), "uncalibrated_v1")
    gallery = ActiveGallery(
        empty,
        1,
        zone=ZONE,
        mode="pass+face",
        passes={pass_digest(tokens["lin"]): "subj-lin"},
        templates={"subj-lin": np.ones((1, 128), np.float32)},
    )
    engine = Engine(
        EdgeSettings(realtime=False),
        detector=TripwireDetector(),
        embedder=Uncalibrated(),
        gallery=Switch(gallery),
        point=OperatingPoint(threshold=0.6, min_margin=0.05),
    )
    frame = pass_scene(edge_faces, [(LIN, tokens["lin"])]).frames[6]
    (event,) = engine.process_frame(Frame(0, 0.0, frame))
    assert (event.subject_id, event.face_verified) == ("subj-lin", None)
