"""Fixtures for the edge tests: real faces, real models, and one run of the real clip per
gallery per session (the models on the clip are the slow part)."""

from __future__ import annotations

import logging
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from edge.events import ArrivalEvent
from edge.matching import StaticGallery
from edge.pipeline import Engine
from edge.settings import EdgeSettings
from models.images import load_image_file
from models.matcher import GalleryIndex
from models.registry import create_detector, create_embedder
from models.types import FaceDetector, FaceEmbedder
from tests.facememo import MemoDetector

REPO = Path(__file__).resolve().parents[2]
FACES = REPO.parent / "shared" / "faces"
CLIP = FACES / "video" / "short_hamilton_clip.mp4"
LIN = "lin_manuel_miranda/img1.png"
STRANGERS = ("obama/obama.jpg", "biden/biden.jpg")


@pytest.fixture(scope="session")
def edge_faces() -> Path:
    if not (FACES / "people").is_dir():
        pytest.skip(f"real face data not found at {FACES} (../shared/faces from the repo root)")
    return FACES


@pytest.fixture(scope="session")
def edge_clip(edge_faces: Path) -> Path:
    if not CLIP.is_file():
        pytest.skip(f"real clip not found at {CLIP}")
    return CLIP


@dataclass(frozen=True)
class Models:
    detector: FaceDetector
    embedder: FaceEmbedder


@pytest.fixture(scope="session")
def edge_models() -> Models:
    """dlib's HOG detector and network. The detector's boxes are memoised per image
    (tests/facememo.py): the clip's 275 frames are scanned once a session, not once per run of
    the engine over them (the member's, the strangers', the threaded pipeline's), where the
    scan was most of each run's time. The engine's paths are the same with the memo (HOG is
    neither a region nor a sized detector); the embedder runs on every face."""
    detector = create_detector("dlib_hog", upsample=1)
    embedder = create_embedder("dlib_resnet")
    detector.load()
    embedder.load()
    return Models(MemoDetector(detector), embedder)


@pytest.fixture(scope="session")
def installed_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default models installed (as `make models` does) into a fresh directory."""
    from models.install import install_models

    out = tmp_path_factory.mktemp("models")
    install_models(out)
    return out


@pytest.fixture
def default_models(installed_model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """EdgeSettings' default models (BlazeFace, dlib's network in onnxruntime) can load."""
    monkeypatch.setenv("VERTROUWD_MODEL_DIR", str(installed_model_dir))
    return installed_model_dir


def subject_id(relpath: str) -> str:
    """A pseudonymous id for a person folder (what a gallery would carry)."""
    return "subj-" + format(abs(hash(relpath.split("/")[0])) % 10**8, "08d")


def build_index(models: Models, faces: Path, people: tuple[str, ...]) -> GalleryIndex:
    ids: list[str] = []
    vectors: list[np.ndarray] = []
    for rel in people:
        image = load_image_file(faces / "people" / rel)
        boxes = models.detector.detect(image)
        assert len(boxes) == 1, rel
        ids.append(subject_id(rel))
        vectors.append(models.embedder.embed(image, boxes)[0].vector)
    return GalleryIndex.build(ids, np.stack(vectors), models.embedder.model_id)


class ListHandler(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{record.name} {record.levelname} {record.getMessage()} {record.args!r}")


@dataclass
class ClipRun:
    """What one run of the engine over the real clip produced and left behind."""

    events: list[ArrivalEvent]
    metrics: dict[str, float]
    log_lines: list[str]
    new_files: list[Path]
    active_tracks: int
    evidence_left: int
    seconds: float
    subject_ids: tuple[str, ...]


def clip_settings(data_dir: Path) -> EdgeSettings:
    return EdgeSettings(data_dir=data_dir, realtime=False, source=str(CLIP))


def _files_under(*roots: Path) -> set[Path]:
    found: set[Path] = set()
    for root in roots:
        for dirpath, dirnames, filenames in os.walk(root):
            found.update(Path(dirpath) / d for d in dirnames)
            found.update(Path(dirpath) / f for f in filenames)
    return found


def run_clip(
    models: Models, index: GalleryIndex, clip: Path, workdir: Path, **overrides: object
) -> ClipRun:
    """Run the engine on the clip with every log record captured and a private temp dir."""
    data_dir = workdir / "data"
    tmp_dir = workdir / "tmp"
    data_dir.mkdir(parents=True)
    tmp_dir.mkdir()
    before = _files_under(data_dir, tmp_dir)
    handler = ListHandler()
    root = logging.getLogger()
    old_level, old_tempdir = root.level, tempfile.tempdir
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    tempfile.tempdir = str(tmp_dir)
    try:
        settings = clip_settings(data_dir).model_copy(update=overrides)
        engine = Engine(
            settings,
            detector=models.detector,
            embedder=models.embedder,
            gallery=StaticGallery(index),
        )
        started = time.perf_counter()
        events = engine.run_file(clip, realtime=False)
        seconds = time.perf_counter() - started
    finally:
        tempfile.tempdir = old_tempdir
        root.setLevel(old_level)
        root.removeHandler(handler)
    return ClipRun(
        events=events,
        metrics=engine.metrics.snapshot(),
        log_lines=handler.lines,
        new_files=sorted(_files_under(data_dir, tmp_dir) - before),
        active_tracks=engine.active_tracks,
        evidence_left=engine.match_stage.active_tracks,
        seconds=seconds,
        subject_ids=index.subject_ids,
    )


@pytest.fixture(scope="session")
def member_run(
    edge_models: Models, edge_faces: Path, edge_clip: Path, tmp_path_factory: pytest.TempPathFactory
) -> ClipRun:
    index = build_index(edge_models, edge_faces, (LIN,))
    return run_clip(edge_models, index, edge_clip, tmp_path_factory.mktemp("member"))


@pytest.fixture(scope="session")
def stranger_run(
    edge_models: Models, edge_faces: Path, edge_clip: Path, tmp_path_factory: pytest.TempPathFactory
) -> ClipRun:
    index = build_index(edge_models, edge_faces, STRANGERS)
    return run_clip(edge_models, index, edge_clip, tmp_path_factory.mktemp("stranger"))
