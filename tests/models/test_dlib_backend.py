"""The dlib backend on real photos: boxes, landmarks and embeddings equal face_recognition's."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from models.backends.dlib import DlibHogDetector, DlibResnetEmbedder
from tests.models.conftest import Face

pytestmark = pytest.mark.faces

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def fr():  # type: ignore[no-untyped-def]
    """face_recognition, the reference implementation (it loads its models on import)."""
    return pytest.importorskip("face_recognition")


def _css(face: Face) -> list[tuple[int, int, int, int]]:
    return [(b.top, b.right, b.bottom, b.left) for b in face.boxes]


def test_exactly_one_face_in_each_people_photo(people: list[Face]) -> None:
    counts = {f.name: len(f.boxes) for f in people}
    assert counts == dict.fromkeys(counts, 1)


def test_scene_face_counts(scenes: dict[str, Face]) -> None:
    assert len(scenes["two_people.jpg"].boxes) == 2
    assert len(scenes["obama_and_biden.jpg"].boxes) == 3


def test_boxes_match_face_recognition(people: list[Face], scenes: dict[str, Face], fr) -> None:  # type: ignore[no-untyped-def]
    # face_recognition detects again; the smaller photos keep this quick.
    small = [f for f in people if f.image.shape[0] * f.image.shape[1] < 500_000]
    assert len(small) >= 3
    for face in [*small, *scenes.values()]:
        assert _css(face) == fr.face_locations(face.image, 1), face.name
        assert all(b.score > 0 for b in face.boxes)


def test_embeddings_equal_face_recognition(people: list[Face], scenes: dict[str, Face], fr) -> None:  # type: ignore[no-untyped-def]
    for face in [*people, *scenes.values()]:
        reference = fr.face_encodings(face.image, _css(face))
        assert len(reference) == len(face.embeddings)
        for mine, ref in zip(face.embeddings, reference, strict=True):
            assert mine.model_id == "dlib_resnet_v1"
            assert mine.vector.dtype == np.float32
            assert mine.vector.shape == (128,)
            assert float(np.abs(mine.vector - ref).max()) < 1e-6, face.name


def test_landmarks_equal_face_recognition_small_model(people: list[Face], fr) -> None:  # type: ignore[no-untyped-def]
    for face in people:
        (ref,) = fr.face_landmarks(face.image, _css(face), model="small")
        (mine,) = face.landmarks
        assert list(mine.points[0:2]) == ref["right_eye"]
        assert list(mine.points[2:4]) == ref["left_eye"]
        assert [mine.points[4]] == ref["nose_tip"]


def test_embed_without_landmarks_and_one_by_one_agree(
    scenes: dict[str, Face], embedder: DlibResnetEmbedder
) -> None:
    scene = scenes["obama_and_biden.jpg"]
    batched = embedder.embed(scene.image, scene.boxes)
    singles = [embedder.embed(scene.image, [b])[0] for b in scene.boxes]
    for a, b, c in zip(batched, singles, scene.embeddings, strict=True):
        assert np.array_equal(a.vector, b.vector)
        assert np.array_equal(a.vector, c.vector)
    assert embedder.embed(scene.image, []) == []


def test_chips_then_embed_chips_equals_embed(
    scenes: dict[str, Face], embedder: DlibResnetEmbedder
) -> None:
    scene = scenes["two_people.jpg"]
    chips = embedder.face_chips(scene.image, scene.boxes, landmarks=scene.landmarks)
    assert [c.shape for c in chips] == [(150, 150, 3)] * 2
    from_chips = embedder.embed_chips(chips)
    for a, b in zip(from_chips, scene.embeddings, strict=True):
        assert float(np.abs(a.vector - b.vector).max()) < 1e-5
    with pytest.raises(ValueError, match="chip"):
        embedder.embed_chips([scene.image])


def test_refuses_non_rgb_images(detector: DlibHogDetector, embedder: DlibResnetEmbedder) -> None:
    with pytest.raises(ValueError, match="RGB uint8"):
        detector.detect(np.zeros((100, 100), np.uint8))
    with pytest.raises(ValueError, match="RGB uint8"):
        embedder.landmarks(np.zeros((100, 100, 3), np.float32), [])


def test_loads_lazily_on_first_use(people: list[Face]) -> None:
    detector, embedder = DlibHogDetector(), DlibResnetEmbedder()
    assert (detector.loaded, embedder.loaded) == (False, False)
    face = people[0]
    boxes = detector.detect(face.image)
    assert detector.loaded
    (emb,) = embedder.embed(face.image, boxes)
    assert embedder.loaded
    assert np.array_equal(emb.vector, face.embeddings[0].vector)


def _run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60
    )


def test_missing_dlib_is_a_clear_error_at_load_not_import() -> None:
    code = (
        "import sys\n"
        "sys.modules['dlib'] = None  # as if dlib were not installed\n"
        "import models\n"
        "from models import BackendUnavailable, create_detector, create_embedder\n"
        "for backend in (create_detector('dlib_hog'), create_embedder('dlib_resnet')):\n"
        "    try:\n"
        "        backend.load()\n"
        "    except BackendUnavailable as exc:\n"
        "        print('unavailable:', exc)\n"
    )
    result = _run(code)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 2
    assert all("pip install dlib-bin" in line for line in lines)
    assert "'dlib_hog'" in lines[0]
    assert "'dlib_resnet'" in lines[1]
