"""The high-resolution schedule: at 1080p the engine detects on the downscaled zone (BlazeFace,
tiled for the zone's minimum face size) and cuts the face for landmarks and embedding from the
full-resolution frame. A member whose face is 60-70 px in a 1080p frame is found and arrives."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from edge import zone as zones
from edge.capture import Frame
from edge.matching import StaticGallery
from edge.pipeline import DetectJob, Engine
from edge.settings import EdgeSettings
from models.backends.blazeface import BlazeFaceDetector
from models.images import load_image_file
from models.types import FaceBox, RGBImage
from tests.edge.conftest import Models, build_index, subject_id

pytestmark = [pytest.mark.faces]

MEMBER = "obama/obama2.jpg"
ENROLLED = "obama/obama.jpg"


def _face_patch(faces: Path, rel: str, face_px: int, models: Models) -> tuple[RGBImage, FaceBox]:
    """The photo around its face, scaled so the dlib box is ``face_px`` wide, and that box."""
    image = load_image_file(faces / "people" / rel)
    (box,) = models.detector.detect(image)
    m = box.size
    top, left = max(0, box.top - m), max(0, box.left - m)
    crop = image[top : box.bottom + m, left : box.right + m]
    f = face_px / box.width
    size = (round(crop.shape[1] * f), round(crop.shape[0] * f))
    patch = np.asarray(cv2.resize(crop, size, interpolation=cv2.INTER_AREA), np.uint8)
    inner = FaceBox(
        top=round((box.top - top) * f),
        right=round((box.right - left) * f),
        bottom=round((box.bottom - top) * f),
        left=round((box.left - left) * f),
    )
    return patch, inner


def _frames(patch: RGBImage, count: int) -> list[Frame]:
    """A 1080p scene: a textured background, the face drifting right a few pixels a frame."""
    rng = np.random.default_rng(3)
    background = cv2.GaussianBlur(rng.integers(40, 200, (1080, 1920, 3), dtype=np.uint8), (0, 0), 6)
    frames = []
    for i in range(count):
        frame = background.copy()
        x, y = 1210 + 4 * i, 560
        frame[y : y + patch.shape[0], x : x + patch.shape[1]] = patch
        frames.append(Frame(i, float(i) / 25.0, np.ascontiguousarray(frame[..., ::-1])))
    return frames


@pytest.fixture(scope="module")
def blazeface() -> BlazeFaceDetector:
    d = BlazeFaceDetector()
    d.load()
    return d


@pytest.mark.parametrize("face_px", [60, 72])
def test_small_face_at_1080p_is_detected_and_cut_from_full_resolution(
    edge_models: Models, edge_faces: Path, blazeface: BlazeFaceDetector, face_px: int
) -> None:
    patch, _ = _face_patch(edge_faces, MEMBER, face_px, edge_models)
    index = build_index(edge_models, edge_faces, (ENROLLED,))
    settings = EdgeSettings(realtime=False, detect_scale=0.5, min_face_size=int(face_px * 0.9))
    engine = Engine(
        settings, detector=blazeface, embedder=edge_models.embedder, gallery=StaticGallery(index)
    )
    # the engine told the detector the zone's minimum face in the pixels it sees
    assert blazeface.min_face == int(settings.min_face_size * 0.5)
    job: DetectJob | None = None
    for frame in _frames(patch, 2):
        job = engine.detect_stage.process(frame)
    assert job is not None
    assert job.rgb is not None
    assert job.rgb.shape == (1080, 1920, 3)  # the full-resolution zone crop, not the small one
    ((_, box),) = job.faces
    assert abs(box.size - face_px) <= face_px * 0.35
    assert box.left >= 1210
    assert box.right <= 1210 + 4 + patch.shape[1]


def test_member_with_a_70px_face_in_1080p_arrives(
    edge_models: Models, edge_faces: Path, blazeface: BlazeFaceDetector
) -> None:
    patch, _ = _face_patch(edge_faces, MEMBER, 70, edge_models)
    index = build_index(edge_models, edge_faces, (ENROLLED,))
    settings = EdgeSettings(realtime=False, min_face_size=60)
    engine = Engine(
        settings, detector=blazeface, embedder=edge_models.embedder, gallery=StaticGallery(index)
    )
    events = []
    for frame in _frames(patch, 24):
        events.extend(engine.process_frame(frame))
    events.extend(engine.finish())
    assert [e.subject_id for e in events] == [subject_id(ENROLLED)]
    assert engine.metrics.snapshot()["embeddings"] >= settings.confirm_min_frames


def _stage(
    blazeface: BlazeFaceDetector, edge_models: Models, edge_faces: Path, **overrides: object
) -> Engine:
    index = build_index(edge_models, edge_faces, (ENROLLED,))
    settings = EdgeSettings(realtime=False, min_face_size=60, **overrides)  # type: ignore[arg-type]
    return Engine(
        settings, detector=blazeface, embedder=edge_models.embedder, gallery=StaticGallery(index)
    )


def test_a_tracked_face_is_searched_in_a_window_between_whole_zone_searches(
    edge_models: Models, edge_faces: Path, blazeface: BlazeFaceDetector
) -> None:
    """Once a face is tracked, three frames in four search only a window around it (one
    short-range run instead of the 1080p zone's tiles); it is found on every frame, in one
    track, with boxes like the whole-zone search's."""
    patch, _ = _face_patch(edge_faces, MEMBER, 72, edge_models)
    engine = _stage(blazeface, edge_models, edge_faces, detect_full_every=4)
    stage = engine.detect_stage
    whole_runs: list[int] = []
    window_runs: list[int] = []
    tracks: set[int] = set()
    sizes: list[int] = []
    for frame in _frames(patch, 12):
        before = blazeface.inferences
        windowed = stage._track_windows(zones.roi_of(stage.zone, 1920, 1080)) is not None
        job = stage.process(frame)
        (window_runs if windowed else whole_runs).append(blazeface.inferences - before)
        assert job is not None, frame.index
        assert len(job.faces) == 1, frame.index
        ((track_id, box),) = job.faces
        tracks.add(track_id)
        sizes.append(box.size)
    assert len(tracks) == 1
    assert len(window_runs) == 9
    assert set(window_runs) == {1}
    assert min(whole_runs) >= 3  # whole 1080p zone: the whole-image pass and its tiles
    assert max(sizes) <= 1.4 * min(sizes)
    assert engine.metrics.snapshot()["frames_detected_windows"] == 9


def test_a_face_coming_in_is_searched_where_the_scene_changed(
    edge_models: Models, edge_faces: Path, blazeface: BlazeFaceDetector
) -> None:
    """Nothing tracked and a face appears: the frame is searched only around the change
    (one network run here, not the 1080p zone's tiles) and the face is found there."""
    patch, _ = _face_patch(edge_faces, MEMBER, 72, edge_models)
    frames = _frames(patch, 8)
    empty = _frames(np.zeros((1, 1, 3), np.uint8), 2)  # the background alone (a 1 px patch)
    engine = _stage(blazeface, edge_models, edge_faces, detect_full_every=8)
    stage = engine.detect_stage
    for frame in empty:
        assert stage.process(frame) is None
    before = blazeface.inferences
    job = stage.process(frames[0])
    assert blazeface.inferences - before == 1
    assert engine.metrics.snapshot()["frames_detected_motion"] == 1
    assert job is not None
    ((_, box),) = job.faces
    assert abs(box.size - 72) <= 72 * 0.35
    assert box.left >= 1210
    assert box.right <= 1210 + patch.shape[1]
