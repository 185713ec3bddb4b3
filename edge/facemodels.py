"""The device's face models, loaded only when the store's recognition mode needs them.

``vertrouwd edge`` builds its engine with :func:`build_engine`: the detector and embedder named
in the settings are *built* (which loads nothing, see ``models.registry``) and wrapped so that
their weights are loaded on first use, under a lock, and every load and call is counted. In
``pass`` mode nothing ever uses them (``edge.modes``), so a device in a pass-only store never
loads a face model at all, and ``/metrics`` shows it: ``face_models_loaded_total`` stays 0.
Where the installed gallery's mode does need them, the CLI loads them at start
(:meth:`FaceModels.load`), so a missing model still fails fast with exit code 4.

The lock also makes one model safe to share between the detect/track thread (the 1:1 check of
``pass+face``) and the embed/match thread.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from edge.matching import GalleryProvider
from edge.metrics import EngineMetrics
from edge.model_choice import checked_embedder_config, create_settings_detector
from edge.pipeline import Engine, LandmarkEmbedder
from edge.settings import EdgeSettings
from models.types import (
    Embedding,
    FaceBox,
    FaceDetector,
    FaceEmbedder,
    FaceLandmarks,
    RegionFaceDetector,
    RGBImage,
    SizedFaceDetector,
)

__all__ = ["FaceModels", "LazyDetector", "LazyEmbedder", "LazyRegionDetector", "build_engine"]

LOADED_COUNTER = "face_models_loaded"


class RegionSizedDetector(SizedFaceDetector, RegionFaceDetector, Protocol):
    """Both: told its smallest face, and able to search parts of an image."""


class _Lazy:
    def __init__(self, backend: FaceDetector | FaceEmbedder, metrics: EngineMetrics) -> None:
        self._backend = backend
        self._metrics = metrics
        self._lock = threading.RLock()
        self.loaded = False
        self.calls = 0
        self.key = backend.key

    def load(self) -> None:
        with self._lock:
            if not self.loaded:
                self._backend.load()
                self.loaded = True
                self._metrics.incr(LOADED_COUNTER)


class LazyDetector(_Lazy):
    """A :class:`~models.types.FaceDetector` that loads its backend on first use."""

    def __init__(self, backend: FaceDetector, metrics: EngineMetrics) -> None:
        super().__init__(backend, metrics)
        self._detector = backend

    def detect(self, image: RGBImage) -> list[FaceBox]:
        with self._lock:
            self.load()
            self.calls += 1
            return self._detector.detect(image)


class LazyRegionDetector(LazyDetector):
    """:class:`LazyDetector` for a backend told its smallest face that can also search parts
    of an image (BlazeFace): both pass through, so the engine sizes its tiles to the zone and
    searches windows around tracked faces, as with the bare backend."""

    def __init__(self, backend: RegionSizedDetector, metrics: EngineMetrics) -> None:
        super().__init__(backend, metrics)
        self._regions = backend

    @property
    def min_face(self) -> int:
        return self._regions.min_face

    @min_face.setter
    def min_face(self, value: int) -> None:
        with self._lock:
            self._regions.min_face = value

    def detect_regions(self, image: RGBImage, regions: list[FaceBox]) -> list[FaceBox]:
        with self._lock:
            self.load()
            self.calls += 1
            return self._regions.detect_regions(image, regions)


class LazyEmbedder(_Lazy):
    """A :class:`~models.types.FaceEmbedder` that loads its backend on first use."""

    def __init__(self, backend: FaceEmbedder, metrics: EngineMetrics) -> None:
        super().__init__(backend, metrics)
        self._embedder = backend
        self.model_id = backend.model_id

    def embed(self, image: RGBImage, boxes: Sequence[FaceBox]) -> list[Embedding]:
        with self._lock:
            self.load()
            self.calls += 1
            return self._embedder.embed(image, list(boxes))


class LazyLandmarkEmbedder(LazyEmbedder):
    """:class:`LazyEmbedder` for a backend that also gives landmarks (dlib's)."""

    def __init__(self, backend: LandmarkEmbedder, metrics: EngineMetrics) -> None:
        super().__init__(backend, metrics)
        self._marks = backend

    def landmarks(self, image: RGBImage, boxes: Sequence[FaceBox]) -> list[FaceLandmarks]:
        with self._lock:
            self.load()
            self.calls += 1
            return self._marks.landmarks(image, boxes)

    def embed(
        self,
        image: RGBImage,
        boxes: Sequence[FaceBox],
        *,
        landmarks: Sequence[FaceLandmarks] | None = None,
    ) -> list[Embedding]:
        with self._lock:
            self.load()
            self.calls += 1
            return self._marks.embed(image, boxes, landmarks=landmarks)


@dataclass(frozen=True)
class FaceModels:
    detector: LazyDetector
    embedder: LazyEmbedder

    @property
    def loaded(self) -> bool:
        return self.detector.loaded or self.embedder.loaded

    def load(self) -> None:
        """Load both now (fail fast where the mode needs them)."""
        self.detector.load()
        self.embedder.load()


def build_engine(
    settings: EdgeSettings,
    gallery: GalleryProvider,
    *,
    metrics: EngineMetrics | None = None,
) -> tuple[Engine, FaceModels]:
    """The engine with the settings' models built but not loaded (see the module docstring).

    ``ValueError`` for an unknown backend or option, ``LookupError`` for a model without a
    calibration (the operating point is read here)."""
    from models.registry import create_embedder

    metrics = metrics or EngineMetrics()
    built = create_settings_detector(settings)
    detector: LazyDetector
    if isinstance(built, SizedFaceDetector) and isinstance(built, RegionFaceDetector):
        detector = LazyRegionDetector(built, metrics)
    else:
        detector = LazyDetector(built, metrics)
    backend = create_embedder(checked_embedder_config(settings))
    embedder: LazyEmbedder
    if isinstance(backend, LandmarkEmbedder):
        embedder = LazyLandmarkEmbedder(backend, metrics)
    else:
        embedder = LazyEmbedder(backend, metrics)
    engine = Engine(
        settings, detector=detector, embedder=embedder, gallery=gallery, metrics=metrics
    )
    return engine, FaceModels(detector, embedder)
