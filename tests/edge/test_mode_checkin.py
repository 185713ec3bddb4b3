"""Check-in mode (privacy invariant 13), real models on real photos: people who walk past the
check-in spot (beside it, far behind it, or through it without stopping) are never detected,
embedded or searched (edge counters); a member who steps into the spot and stands is
recognised, and the kiosk goes idle -> looking -> welcome -> idle. With a required trigger,
nothing at all is analysed until the kiosk's button is pressed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from consent.gallery import MemberZone
from edge.capture import Frame
from edge.events import ArrivalEvent
from edge.matching import ActiveGallery, OperatingPoint
from edge.pipeline import Engine
from edge.settings import EdgeSettings
from server.demo_scenes import SPOT, SPOT_MIN_FACE, Scene, checkin_scene
from tests.edge.conftest import LIN, Models, build_index, subject_id

ZONE = MemberZone(*SPOT, min_face_size=SPOT_MIN_FACE)
WALKERS = (LIN, "obama/obama.jpg", "rose_leslie/img1.jpg")
"""Beside the spot, far behind it, through it: two of them are members."""
FPS = 10


@dataclass
class Run:
    events: list[tuple[int, ArrivalEvent]]
    states: list[str]
    counters_after_walk_by: dict[str, float]
    metrics: dict[str, float]
    scene: Scene
    engine: Engine


def _run(models: Models, faces: Path, *, press_at: str | None = None, **overrides: object) -> Run:
    index = build_index(models, faces, (LIN, "obama/obama.jpg"))
    gallery = ActiveGallery(index, 1, zone=ZONE, mode="checkin")

    class Provider:
        def current(self) -> ActiveGallery:
            return gallery

    clock = [0.0]
    settings = EdgeSettings(realtime=False, embed_interval=2).model_copy(update=overrides)
    engine = Engine(
        settings,
        detector=models.detector,
        embedder=models.embedder,
        gallery=Provider(),
        point=OperatingPoint(threshold=0.6, min_margin=0.05),
        clock=lambda: clock[0],
        now=lambda: datetime(2026, 12, 2, 9, 0, tzinfo=UTC),
    )
    scene = checkin_scene(faces, member=LIN, walkers=WALKERS)
    last_walk = max(scene.indices("walk-by"))
    events: list[tuple[int, ArrivalEvent]] = []
    states: list[str] = []
    after_walk: dict[str, float] = {}
    for i, bgr in enumerate(scene.frames):
        clock[0] = i / FPS
        if press_at is not None and scene.parts[i] == press_at and not engine.router.kiosk.presses:
            engine.router.kiosk.press()
        events.extend((i, e) for e in engine.process_frame(Frame(i, 0.0, bgr)))
        states.append(engine.router.kiosk.snapshot().state)
        if i == last_walk:
            after_walk = engine.metrics.snapshot()
    events.extend((len(scene.frames), e) for e in engine.finish())
    return Run(events, states, after_walk, engine.metrics.snapshot(), scene, engine)


@pytest.fixture(scope="module")
def checkin(edge_models: Models, edge_faces: Path) -> Run:
    return _run(edge_models, edge_faces, checkin_welcome_s=1.0)


def test_a_walk_by_gives_zero_embeddings_and_zero_identification_attempts(checkin: Run) -> None:
    walk = checkin.counters_after_walk_by
    assert walk["frames_processed"] == max(checkin.scene.indices("walk-by")) + 1
    for counter in ("frames_detected", "embeddings", "identification_attempts", "faces_in_zone"):
        assert walk.get(counter, 0) == 0, counter
    # the walkers did change the camera's view: the presence gate saw and refused them
    assert walk["frames_checkin_skipped"] == walk["frames_processed"]
    assert all(checkin.states[i] == "idle" for i in checkin.scene.indices("walk-by"))


def test_a_member_who_steps_into_the_spot_is_recognised(checkin: Run, edge_faces: Path) -> None:
    assert [e.subject_id for _, e in checkin.events] == [subject_id(LIN)]
    ((frame, event),) = checkin.events
    assert checkin.scene.parts[frame] == "standing"
    assert event.method == "face"
    attempts = checkin.metrics["identification_attempts"]
    assert attempts == checkin.metrics["embeddings"] >= EdgeSettings().confirm_min_frames


def test_the_kiosk_goes_idle_looking_welcome_idle(checkin: Run) -> None:
    phases = [s for i, s in enumerate(checkin.states) if i == 0 or s != checkin.states[i - 1]]
    assert phases == ["idle", "looking", "welcome", "idle"]
    standing = checkin.scene.indices("standing")
    first_looking = checkin.states.index("looking")
    assert checkin.scene.parts[first_looking] == "standing"
    # welcome from the frame after the arrival (the kiosk reads the match stage's counter on
    # the next frame) for checkin_welcome_s (1 s = 10 frames at 10 frames/s)
    ((frame, _),) = checkin.events
    welcome = [i for i, s in enumerate(checkin.states) if s == "welcome"]
    assert welcome == list(range(frame + 1, frame + 11))
    assert welcome[0] <= standing[-1]


def test_with_a_required_trigger_nothing_is_analysed_until_pressed(
    edge_models: Models, edge_faces: Path
) -> None:
    untouched = _run(edge_models, edge_faces, checkin_trigger_required=True)
    assert untouched.events == []
    for counter in ("frames_detected", "embeddings", "identification_attempts"):
        assert untouched.metrics.get(counter, 0) == 0, counter
    assert set(untouched.states) == {"idle"}
    assert untouched.metrics.get("stage_seconds_presence", 0) == 0  # not even the gate ran

    pressed = _run(edge_models, edge_faces, checkin_trigger_required=True, press_at="standing")
    assert [e.subject_id for _, e in pressed.events] == [subject_id(LIN)]
    assert "welcome" in pressed.states


def test_settings_bound_the_gate() -> None:
    with pytest.raises(ValueError):
        EdgeSettings(checkin_min_fill=0)
    with pytest.raises(ValueError):
        EdgeSettings(checkin_dwell_frames=0)
    assert np.isfinite(EdgeSettings().checkin_looking_timeout_s)


def test_the_same_walk_by_is_detected_by_a_door_camera(
    checkin: Run, edge_models: Models, edge_faces: Path
) -> None:
    """The contrast that makes the zero counts above meaningful: the walk-by frames hold faces
    a door camera with the same zone would detect (the walker hurrying through the spot)."""
    index = build_index(edge_models, edge_faces, (LIN, "obama/obama.jpg"))
    door = ActiveGallery(index, 1, zone=ZONE, mode="door")

    class Provider:
        def current(self) -> ActiveGallery:
            return door

    engine = Engine(
        EdgeSettings(realtime=False),
        detector=edge_models.detector,
        embedder=edge_models.embedder,
        gallery=Provider(),
        point=OperatingPoint(threshold=0.6, min_margin=0.05),
    )
    for i in checkin.scene.indices("walk-by"):
        engine.process_frame(Frame(i, 0.0, checkin.scene.frames[i]))
    metrics = engine.metrics.snapshot()
    assert metrics["frames_detected"] > 0
    assert metrics["faces_in_zone"] > 0
