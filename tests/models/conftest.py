"""Shared fixtures: the real photos in ../shared/faces and the dlib models, loaded once."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from models.backends.dlib import DlibHogDetector, DlibResnetEmbedder
from models.images import load_image_file
from models.install import InstallReport, install_models
from models.types import Embedding, FaceBox, FaceLandmarks, RGBImage

FACES = Path(__file__).resolve().parents[2].parent / "shared" / "faces"


@dataclass(frozen=True)
class Face:
    """One real photo with its detections, landmarks and embeddings."""

    name: str  # "obama/obama.jpg"
    identity: str
    path: Path
    image: RGBImage
    boxes: list[FaceBox]
    landmarks: list[FaceLandmarks]
    embeddings: list[Embedding]


@pytest.fixture(scope="session")
def faces_dir() -> Path:
    if not FACES.is_dir():
        pytest.skip(f"real face photos not found at {FACES} (see shared/faces/README.md)")
    return FACES


@pytest.fixture(scope="session")
def detector() -> DlibHogDetector:
    d = DlibHogDetector(upsample=1)
    d.load()
    return d


@pytest.fixture(scope="session")
def embedder() -> DlibResnetEmbedder:
    e = DlibResnetEmbedder()
    e.load()
    return e


def _analyse(
    path: Path, name: str, identity: str, d: DlibHogDetector, e: DlibResnetEmbedder
) -> Face:
    image = load_image_file(path)
    boxes = d.detect(image)
    landmarks = e.landmarks(image, boxes)
    return Face(
        name, identity, path, image, boxes, landmarks, e.embed(image, boxes, landmarks=landmarks)
    )


@pytest.fixture(scope="session")
def people(faces_dir: Path, detector: DlibHogDetector, embedder: DlibResnetEmbedder) -> list[Face]:
    """Every photo in people/, analysed once per test session."""
    out = []
    for folder in sorted(p for p in (faces_dir / "people").iterdir() if p.is_dir()):
        for file in sorted(folder.iterdir()):
            out.append(
                _analyse(file, f"{folder.name}/{file.name}", folder.name, detector, embedder)
            )
    assert len(out) == 11, "shared/faces/people should hold 11 photos (see its README)"
    return out


@pytest.fixture(scope="session")
def scenes(
    faces_dir: Path, detector: DlibHogDetector, embedder: DlibResnetEmbedder
) -> dict[str, Face]:
    """The group photos in scenes/, analysed once per test session."""
    return {
        f.name: _analyse(f, f.name, "", detector, embedder)
        for f in sorted((faces_dir / "scenes").iterdir())
    }


@pytest.fixture(scope="session")
def installed_with_faces(
    tmp_path_factory: pytest.TempPathFactory, faces_dir: Path
) -> tuple[Path, InstallReport]:
    """``vertrouwd models install --faces people/`` into a fresh directory, once per session
    (test_install.py and test_int8_check.py share one xdist group for it): dlib's network
    converted and checked against dlib on the 11 real faces, the int8 model quantised with
    them, its self-check's reference chips. Finding the faces' chips is the slow part (~15 s
    of CPU a run). Read-only: a test that changes the files works on a copy."""
    out = tmp_path_factory.mktemp("installed-with-faces")
    return out, install_models(out, faces=faces_dir / "people")
