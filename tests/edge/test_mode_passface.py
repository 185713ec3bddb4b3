"""pass+face: after a valid pass, the face at the spot is compared 1:1 with that member's own
templates only (real models, real photos): the holder is verified, a borrower is not (even one
whose own face is enrolled), a member without a face gets no verdict, and no face is ever
searched among all members."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from consent.gallery import MemberZone
from consent.passes import new_pass_token, pass_digest
from edge.capture import Frame
from edge.events import ArrivalEvent
from edge.matching import ActiveGallery, OperatingPoint
from edge.passcheck import verification_threshold
from edge.pipeline import Engine
from edge.settings import EdgeSettings
from models.images import load_image_file
from models.matcher import GalleryIndex
from server.demo_scenes import SPOT, SPOT_MIN_FACE, pass_scene
from tests.edge.conftest import Models

ZONE = MemberZone(*SPOT, min_face_size=SPOT_MIN_FACE)


def _template(models: Models, faces: Path, photo: str) -> np.ndarray:
    image = load_image_file(faces / "people" / photo)
    boxes = models.detector.detect(image)
    assert len(boxes) == 1
    return np.asarray(models.embedder.embed(image, boxes)[0].vector, np.float32)[None, :]


@pytest.fixture(scope="module")
def arrivals(edge_models: Models, edge_faces: Path) -> tuple[list[ArrivalEvent], dict[str, float]]:
    rose, kit, no_face = new_pass_token(), new_pass_token(), new_pass_token()
    templates = {
        # enrolled from a different photo than the one shown at the spot
        "subj-rose": _template(edge_models, edge_faces, "rose_leslie/img2.jpg"),
        "subj-kit": _template(edge_models, edge_faces, "kit_harington/john2.jpeg"),
    }
    model_id = edge_models.embedder.model_id
    gallery = ActiveGallery(
        GalleryIndex.build([], np.zeros((0, 128), np.float32), model_id),
        1,
        zone=ZONE,
        mode="pass+face",
        passes={
            pass_digest(rose): "subj-rose",
            pass_digest(kit): "subj-kit",
            pass_digest(no_face): "subj-noface",
        },
        templates=templates,
    )

    class Provider:
        def current(self) -> ActiveGallery:
            return gallery

    clock = [0.0]
    # 10 frames/s on the engine's clock; one arrival per pass per 1.5 s: each person's showing
    # (1.2 s) gives one arrival, the next person (1.6 s later) gets their own
    engine = Engine(
        EdgeSettings(realtime=False, cooldown_s=1.5),
        detector=edge_models.detector,
        embedder=edge_models.embedder,
        gallery=Provider(),
        point=OperatingPoint(threshold=0.6, min_margin=0.05),
        now=lambda: datetime(2026, 12, 2, 9, 0, tzinfo=UTC),
        clock=lambda: clock[0],
    )
    scene = pass_scene(
        edge_faces,
        [
            ("rose_leslie/img1.jpg", rose),  # the holder herself
            ("kit_harington/john1.jpeg", rose),  # Kit borrowed Rose's pass
            ("biden/biden2.jpg", no_face),  # a member without a face template
        ],
        showing=12,
    )
    events: list[ArrivalEvent] = []
    for i, bgr in enumerate(scene.frames):
        clock[0] = i / 10
        events.extend(engine.process_frame(Frame(i, 0.0, bgr)))
    return events, engine.metrics.snapshot()


def test_the_holder_is_verified_a_borrower_is_not(
    arrivals: tuple[list[ArrivalEvent], dict[str, float]],
) -> None:
    events, _ = arrivals
    assert [(e.subject_id, e.method, e.face_verified) for e in events] == [
        ("subj-rose", "pass", True),
        ("subj-rose", "pass", False),
        ("subj-noface", "pass", None),
    ]
    threshold = verification_threshold("dlib_resnet_v1")
    print(
        f"pass+face 1:1 distance: holder {events[0].score:.3f}, borrower {events[1].score:.3f}"
        f" (threshold {threshold})"
    )
    assert events[0].score <= threshold < events[1].score
    assert all(e.pass_digest is not None for e in events)


def test_faces_are_only_ever_compared_one_to_one(
    arrivals: tuple[list[ArrivalEvent], dict[str, float]],
) -> None:
    _, metrics = arrivals
    assert metrics.get("identification_attempts", 0) == 0  # never searched among members
    assert metrics["verification_attempts"] >= 2
    assert metrics["embeddings"] == metrics["verification_attempts"]
    assert metrics["passes_face_verified"] == 1
    assert metrics["passes_face_not_verified"] == 1


def test_the_verification_threshold_comes_from_the_calibration() -> None:
    from models.calibration import load_calibration

    calibration = load_calibration("dlib_resnet_v1")
    expected = getattr(calibration, "verify_threshold", None) or calibration.threshold
    assert verification_threshold("dlib_resnet_v1") == expected
    with pytest.raises(LookupError):
        verification_threshold("no_such_model_v9")
