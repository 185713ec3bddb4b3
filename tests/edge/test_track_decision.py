"""The track decision on real frames with the real models: the mean of a track's best
embeddings (``confirm_rule="mean"``) against single-frame votes."""

from __future__ import annotations

import queue
from pathlib import Path

import numpy as np
import pytest

from edge.confirm import track_embedding
from edge.matching import OperatingPoint, StaticGallery
from edge.metrics import EngineMetrics
from edge.pipeline import DetectJob, MatchStage
from edge.settings import EdgeSettings
from models.calibration import load_calibration
from models.images import load_image_file
from models.matcher import GalleryIndex
from models.quality import assess_face, score_for_selection
from models.types import FaceBox, RGBImage
from tests.edge.conftest import LIN, ClipRun, Models, build_index, run_clip, subject_id

# In one xdist work unit with test_engine_clip.py (SHARED in tests/conftest.py): both read the
# session's ``member_run``, one run of the models over the whole clip, made once when both
# files run in the same process.
pytestmark = [pytest.mark.faces, pytest.mark.slow]

LOOK_ALIKE = "Minnie_Mendoza/Minnie_Mendoza_0001.jpg"
"""An LFW photo of one person that lies within the door threshold of one photo of another."""
PASSER_BY = tuple(f"Charles_Bronson/Charles_Bronson_000{i}.jpg" for i in (1, 2, 3))
"""Three photos of that other person: a stranger's walk-by of three frames."""


@pytest.fixture(scope="module")
def vote_run(
    edge_models: Models, edge_faces: Path, edge_clip: Path, tmp_path_factory: pytest.TempPathFactory
) -> ClipRun:
    """The same clip and gallery as ``member_run``, decided by single-frame votes."""
    index = build_index(edge_models, edge_faces, (LIN,))
    return run_clip(
        edge_models, index, edge_clip, tmp_path_factory.mktemp("vote"), confirm_rule="kofn"
    )


def test_member_on_the_clip_is_recognised_from_the_track_mean(
    member_run: ClipRun, vote_run: ClipRun
) -> None:
    # member_run is the edge at its defaults: the track mean
    assert EdgeSettings().confirm_rule == "mean"
    mean_run = member_run
    assert [e.subject_id for e in mean_run.events] == [subject_id(LIN)]
    event = mean_run.events[0]
    assert event.frames >= EdgeSettings().confirm_min_frames
    assert mean_run.metrics["track_means_matched"] >= 1
    assert mean_run.active_tracks == 0
    assert mean_run.evidence_left == 0
    # The mean decides from the 2nd embedding; the 3-of-5 vote needs a 3rd: the member's
    # arrival costs no more embeddings (and so comes no later) than with the vote.
    assert vote_run.events
    assert vote_run.events[0].subject_id == event.subject_id
    assert vote_run.metrics.get("track_means_matched", 0) == 0  # really the vote
    assert mean_run.metrics["embeddings"] <= vote_run.metrics["embeddings"]


def _face(models: Models, path: Path) -> tuple[RGBImage, FaceBox]:
    image = load_image_file(path)
    boxes = models.detector.detect(image)
    assert boxes, path
    cx, cy = image.shape[1] / 2, image.shape[0] / 2
    box = min(boxes, key=lambda b: (b.center[0] - cx) ** 2 + (b.center[1] - cy) ** 2)
    return image, box


def _walk_by(
    models: Models, index: GalleryIndex, frames: list[tuple[RGBImage, FaceBox]], **settings: object
) -> tuple[int, EngineMetrics]:
    """Feed the frames as one track through the real embed/match stage; the arrivals made."""
    point = OperatingPoint(float(settings.pop("threshold")), 0.0)  # type: ignore[arg-type]
    edge = EdgeSettings(embed_interval=1, **settings)  # type: ignore[arg-type]
    metrics = EngineMetrics()
    stage = MatchStage(
        edge, models.embedder, StaticGallery(index), point, metrics, queue.SimpleQueue()
    )
    arrivals = 0
    for i, (image, box) in enumerate(frames):
        arrivals += len(stage.process(DetectJob(i, 0.0, rgb=image, faces=[(1, box)])))
    stage.process(DetectJob(len(frames), 0.0, ended=[1]))
    assert stage.active_tracks == 0  # the stranger's embeddings are gone with the track
    return arrivals, metrics


def test_a_look_alike_crossing_the_threshold_in_one_frame_is_refused_by_its_mean(
    edge_models: Models, edge_faces: Path
) -> None:
    lfw = edge_faces / "lfw-calib"
    if not lfw.is_dir():
        pytest.skip(f"{lfw} not found")
    member_image, member_box = _face(edge_models, lfw / LOOK_ALIKE)
    (template,) = edge_models.embedder.embed(member_image, [member_box])
    index = GalleryIndex.build(["s-member"], template.vector[None, :], template.model_id)
    frames = [_face(edge_models, lfw / p) for p in PASSER_BY]
    # What the stage will hold: the frames that pass the edge's quality gate, with their scores
    edge = EdgeSettings()
    held: list[tuple[float, np.ndarray]] = []
    for image, box in frames:
        (marks,) = edge_models.embedder.landmarks(image, [box])  # type: ignore[attr-defined]
        quality = score_for_selection(
            assess_face(image, box, marks, min_face_size=edge.min_face_size)
        )
        if quality >= edge.min_quality:
            held.append((quality, edge_models.embedder.embed(image, [box])[0].vector))
    assert len(held) >= edge.confirm_min_frames
    single = [float(np.linalg.norm(v - template.vector)) for _, v in held]
    mean_vector = track_embedding([v for _, v in held], [q for q, _ in held])
    mean = float(np.linalg.norm(mean_vector - template.vector))
    # The door threshold the model's calibration chose for 1 false match per 1,000 strangers
    # at its largest gallery: one frame of the stranger is within it, their mean is not (nor
    # within the track threshold the calibration maps it to, a little stricter still).
    calibration = load_calibration(template.model_id)
    assert calibration.open_set is not None
    assert calibration.open_set.choices
    door = calibration.open_set.choices[-1].threshold
    assert min(single) < door - 0.01, single
    assert sorted(single)[1] > door, single
    assert mean > door + 0.03, mean

    # One frame within the threshold is enough for a per-frame decision (a vote of 1 of 1) ...
    by_frame, _ = _walk_by(
        edge_models, index, frames, threshold=door, confirm_rule="kofn", confirm_k=1, confirm_n=1
    )
    assert by_frame == 1
    # ... but not for the track's mean, which is matched once it has 2 frames and then again
    # after each new one.
    by_mean, metrics = _walk_by(edge_models, index, frames, threshold=door, confirm_rule="mean")
    assert by_mean == 0
    snapshot = metrics.snapshot()
    assert snapshot["track_means_matched"] == len(held) - 1  # from the 2nd frame on
    assert snapshot.get("tracks_confirmed", 0) == 0
