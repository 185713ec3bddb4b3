"""A memo of a real face model's answers, for tests whose subject is not face analysis.

The models are deterministic (dlib's HOG scan, its 5-point predictor, its ResNet with
``num_jitters=1``), so the second analysis of the same pixels gives exactly the first one's
answer. This is memoisation, not a mock: the first call for an image runs the real model, and a
later call with the same pixels (sha256 of the image, its shape and dtype) and the same boxes
returns a copy of what the model returned then. The memo lives in one test process, in memory,
never on disk. Users: the server tests' analyser (tests/server/facememo.py) and the runs of the
real clip that share one detector (tests/edge/conftest.py, tests/models/test_onnx.py).

:class:`MemoDetector` has only a plain detector's attributes (``key``, ``load``, ``detect``): wrap
a detector that is neither a ``RegionFaceDetector`` nor a ``SizedFaceDetector`` (dlib's HOG), so
the edge's engine takes the same paths with the memo as without it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np

from models.types import Embedding, FaceBox, FaceDetector, FaceEmbedder, FaceLandmarks, RGBImage

_Pixels = tuple[str, tuple[int, ...], str]


def _pixels(image: RGBImage) -> _Pixels:
    """What identifies an image to a model: its pixels' digest, shape and dtype."""
    data = np.ascontiguousarray(image)
    return hashlib.sha256(data.data).hexdigest(), data.shape, data.dtype.str


class MemoDetector:
    """The real detector's boxes for each image it has seen once (a copy of the list)."""

    def __init__(self, inner: FaceDetector) -> None:
        self.inner = inner
        self.key = inner.key
        self.calls = 0  # real detections run
        self._boxes: dict[_Pixels, list[FaceBox]] = {}

    def load(self) -> None:
        self.inner.load()

    def detect(self, image: RGBImage) -> list[FaceBox]:
        key = _pixels(image)
        if key not in self._boxes:
            self.calls += 1
            self._boxes[key] = self.inner.detect(image)
        return list(self._boxes[key])  # FaceBox is frozen; the list is the caller's


class MemoEmbedder:
    """The real embedder's embeddings and landmarks for each (image, boxes) seen once. The
    vectors are copied out, as the model makes a new array on every call."""

    def __init__(self, inner: FaceEmbedder) -> None:
        landmarks = getattr(inner, "landmarks", None)
        if landmarks is None:
            raise TypeError(f"{inner.key} has no landmarks(): the analyser's quality check needs")
        self.inner = inner
        self.key = inner.key
        self.model_id = inner.model_id
        self.calls = 0  # real embeddings and landmark runs
        self._landmarks_of = landmarks
        self._embeddings: dict[tuple[_Pixels, tuple[FaceBox, ...]], list[Embedding]] = {}
        self._landmarks: dict[tuple[_Pixels, tuple[FaceBox, ...]], list[FaceLandmarks]] = {}

    def load(self) -> None:
        self.inner.load()

    def embed(self, image: RGBImage, boxes: list[FaceBox]) -> list[Embedding]:
        key = (_pixels(image), tuple(boxes))
        if key not in self._embeddings:
            self.calls += 1
            self._embeddings[key] = self.inner.embed(image, boxes)
        return [Embedding(e.vector.copy(), e.model_id) for e in self._embeddings[key]]

    def landmarks(self, image: RGBImage, boxes: Sequence[FaceBox]) -> list[FaceLandmarks]:
        key = (_pixels(image), tuple(boxes))
        if key not in self._landmarks:
            self.calls += 1
            self._landmarks[key] = list(self._landmarks_of(image, boxes))
        return list(self._landmarks[key])  # FaceLandmarks is frozen
