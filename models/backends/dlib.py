"""The default backend: dlib's HOG face detector and its ResNet 128-d face embedder.

The model files come from the ``face_recognition_models`` package; ``dlib`` itself is used
directly (``face_recognition`` is only a reference in the tests). Nothing is loaded when this
module is imported: each class loads its model in :meth:`load`, and every other method calls
:meth:`load` first if it has not run yet. A missing ``dlib`` or ``face_recognition_models``
raises :class:`~models.types.BackendUnavailable` from :meth:`load`, naming what to install.

Thread ownership: a dlib detector, shape predictor and network are not meant to be shared
between threads running at the same time. Give each worker thread its own instance (models are
small: about 30 MB in all).
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import Field

from models.backends.base import BackendConfig
from models.types import BackendUnavailable, Embedding, FaceBox, FaceLandmarks, RGBImage

__all__ = [
    "DlibAligner",
    "DlibHogConfig",
    "DlibHogDetector",
    "DlibResnetConfig",
    "DlibResnetEmbedder",
    "hog_detector",
    "resnet_embedder",
]

CHIP_SIZE = 150
"""Side of the aligned face chip the ResNet reads."""
CHIP_PADDING = 0.25
"""dlib's default padding around the face when cutting the chip."""


def _import(module: str, *, backend: str, install: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise BackendUnavailable(
            f"the {backend!r} backend needs the Python package {module!r}, which is not "
            f"installed: pip install {install}"
        ) from exc


def _import_dlib(backend: str) -> Any:
    return _import("dlib", backend=backend, install="dlib-bin")


def _import_models(backend: str) -> Any:
    return _import("face_recognition_models", backend=backend, install="face_recognition_models")


def _check_image(image: RGBImage) -> RGBImage:
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(
            f"expected an RGB uint8 image (h, w, 3), got dtype {image.dtype} shape {image.shape}"
        )
    return image if image.flags.c_contiguous else np.ascontiguousarray(image)


class DlibHogDetector:
    """dlib's frontal-face HOG + linear SVM detector.

    ``upsample``: how many times the image is doubled before searching; each doubling finds faces
    half as small (about 80 px at 0, 40 px at 1) at about 4x the cost.
    ``threshold``: dlib's ``adjust_threshold``; higher gives fewer, surer detections.
    """

    key: str = "dlib_hog"

    def __init__(self, *, upsample: int = 1, threshold: float = 0.0) -> None:
        if upsample < 0:
            raise ValueError("upsample must be >= 0")
        self.upsample = upsample
        self.threshold = threshold
        self._detector: Any = None

    @property
    def loaded(self) -> bool:
        return self._detector is not None

    def load(self) -> None:
        if self._detector is None:
            dlib = _import_dlib(self.key)
            self._detector = dlib.get_frontal_face_detector()

    def detect(self, image: RGBImage) -> list[FaceBox]:
        """Faces in ``image``, boxes trimmed to the image as face_recognition does."""
        self.load()
        img = _check_image(image)
        rects, scores, _ = self._detector.run(img, self.upsample, self.threshold)
        height, width = img.shape[:2]
        return [
            FaceBox(
                top=max(int(r.top()), 0),
                right=min(int(r.right()), width),
                bottom=min(int(r.bottom()), height),
                left=max(int(r.left()), 0),
                score=float(s),
            )
            for r, s in zip(rects, scores, strict=True)
        ]


class DlibAligner:
    """dlib's 5-point landmarks and aligned face chips: what every embedder here reads.

    The dlib embedder and the ONNX embedder both cut their chips with :meth:`face_chips`, so a
    network converted from dlib's sees exactly the pixels dlib's own does.
    """

    key: str = "dlib_5point"

    def __init__(self) -> None:
        self._dlib: Any = None
        self._predictor: Any = None

    @property
    def loaded(self) -> bool:
        return self._predictor is not None

    def load(self, *, backend: str = "dlib_5point") -> Any:
        """Load dlib and the shape predictor; returns the dlib module."""
        if self._predictor is None:
            dlib = _import_dlib(backend)
            frm = _import_models(backend)
            self._predictor = dlib.shape_predictor(frm.pose_predictor_five_point_model_location())
            self._dlib = dlib
        return self._dlib

    def landmarks(self, image: RGBImage, boxes: Sequence[FaceBox]) -> list[FaceLandmarks]:
        """The 5-point landmarks of each box (for alignment and for judging frontalness)."""
        self.load()
        img = _check_image(image)
        return [self._points(self._shape(img, box)) for box in boxes]

    def _rect(self, box: FaceBox) -> Any:
        return self._dlib.rectangle(box.left, box.top, box.right, box.bottom)

    def _shape(self, img: RGBImage, box: FaceBox) -> Any:
        return self._predictor(img, self._rect(box))

    @staticmethod
    def _points(shape: Any) -> FaceLandmarks:
        return FaceLandmarks(tuple((int(p.x), int(p.y)) for p in shape.parts()))

    def shapes(
        self,
        img: RGBImage,
        boxes: Sequence[FaceBox],
        landmarks: Sequence[FaceLandmarks] | None,
    ) -> Any:
        """dlib ``full_object_detections`` for ``boxes`` (from ``landmarks`` when given)."""
        self.load()
        dlib = self._dlib
        shapes = dlib.full_object_detections()
        if landmarks is None:
            for box in boxes:
                shapes.append(self._shape(img, box))
            return shapes
        if len(landmarks) != len(boxes):
            raise ValueError(f"{len(boxes)} boxes but {len(landmarks)} landmark sets")
        for box, lm in zip(boxes, landmarks, strict=True):
            points = dlib.points()
            for x, y in lm.points:
                points.append(dlib.point(x, y))
            shapes.append(dlib.full_object_detection(self._rect(box), points))
        return shapes

    def face_chips(
        self,
        image: RGBImage,
        boxes: Sequence[FaceBox],
        *,
        landmarks: Sequence[FaceLandmarks] | None = None,
        size: int = CHIP_SIZE,
        padding: float = CHIP_PADDING,
    ) -> list[RGBImage]:
        """Aligned ``size`` x ``size`` RGB chips, one per box (``dlib.get_face_chips``).

        The chips are face images: keep them in memory only, never write them anywhere.
        """
        self.load()
        if not boxes:
            return []
        img = _check_image(image)
        shapes = self.shapes(img, boxes, landmarks)
        chips = self._dlib.get_face_chips(img, shapes, size=size, padding=padding)
        return [np.ascontiguousarray(np.asarray(c, dtype=np.uint8)) for c in chips]


class DlibResnetEmbedder:
    """dlib's ResNet face-recognition network (128-d, Euclidean distance, LFW 99.38%).

    Each face is aligned with the 5-point shape predictor, cut into a 150x150 chip and fed to
    the network, exactly as ``face_recognition.face_encodings`` does, so the vectors equal
    face_recognition's for the same boxes. ``num_jitters > 1`` averages that many randomly
    jittered copies (slower and no longer deterministic); 1 means no jitter.
    """

    key: str = "dlib_resnet"
    model_id: str = "dlib_resnet_v1"
    dim: ClassVar[int] = 128

    def __init__(self, *, num_jitters: int = 1) -> None:
        if num_jitters < 1:
            raise ValueError("num_jitters must be >= 1")
        self.num_jitters = num_jitters
        self._aligner = DlibAligner()
        self._net: Any = None

    @property
    def loaded(self) -> bool:
        return self._net is not None

    def load(self) -> None:
        if self._net is not None:
            return
        self._aligner.load(backend=self.key)
        dlib = _import_dlib(self.key)
        frm = _import_models(self.key)
        self._net = dlib.face_recognition_model_v1(frm.face_recognition_model_location())

    # -- landmarks -------------------------------------------------------------------------

    def landmarks(self, image: RGBImage, boxes: Sequence[FaceBox]) -> list[FaceLandmarks]:
        """The 5-point landmarks of each box (for alignment and for judging frontalness)."""
        self.load()
        return self._aligner.landmarks(image, boxes)

    # -- embeddings ------------------------------------------------------------------------

    def embed(
        self,
        image: RGBImage,
        boxes: Sequence[FaceBox],
        *,
        landmarks: Sequence[FaceLandmarks] | None = None,
    ) -> list[Embedding]:
        """One embedding per box, in order; all faces of the image go through dlib in one batch.

        Pass ``landmarks`` from :meth:`landmarks` to avoid running the shape predictor twice.
        """
        self.load()
        if not boxes:
            return []
        img = _check_image(image)
        shapes = self._aligner.shapes(img, boxes, landmarks)
        vectors = self._net.compute_face_descriptor(img, shapes, self.num_jitters)
        return [self._embedding(v) for v in vectors]

    def face_chips(
        self,
        image: RGBImage,
        boxes: Sequence[FaceBox],
        *,
        landmarks: Sequence[FaceLandmarks] | None = None,
    ) -> list[RGBImage]:
        """Aligned 150x150 RGB chips, one per box, for :meth:`embed_chips` later.

        Lets a pipeline cut chips from different frames as they come and embed them together.
        The chips are face images: keep them in memory only, never write them anywhere.
        """
        self.load()
        return self._aligner.face_chips(image, boxes, landmarks=landmarks)

    def embed_chips(self, chips: Sequence[RGBImage]) -> list[Embedding]:
        """Embeddings of aligned chips from :meth:`face_chips`, in one batch through the net."""
        self.load()
        if not chips:
            return []
        batch = []
        for chip in chips:
            if chip.shape != (CHIP_SIZE, CHIP_SIZE, 3) or chip.dtype != np.uint8:
                raise ValueError(
                    f"a chip must be uint8 ({CHIP_SIZE}, {CHIP_SIZE}, 3), got {chip.shape}"
                )
            batch.append(np.ascontiguousarray(chip))
        vectors = self._net.compute_face_descriptor(batch, self.num_jitters)
        return [self._embedding(v) for v in vectors]

    def _embedding(self, vector: Any) -> Embedding:
        return Embedding(np.asarray(vector, dtype=np.float32), self.model_id)


# -- configs, chosen by name through ``models.registry`` ---------------------------------------


class DlibHogConfig(BackendConfig):
    """dlib's HOG face detector."""

    type: Literal["dlib_hog"] = "dlib_hog"
    upsample: int = Field(
        default=1,
        ge=0,
        le=3,
        description="Times the image is doubled before searching: each finds faces half as "
        "small (about 80 px at 0, 40 px at 1) at about 4x the cost.",
    )
    threshold: float = Field(
        default=0.0,
        ge=-1.0,
        le=2.0,
        description="dlib's adjust_threshold: higher gives fewer, surer detections.",
    )


class DlibResnetConfig(BackendConfig):
    """dlib's ResNet 128-d face embedder (model id ``dlib_resnet_v1``)."""

    type: Literal["dlib_resnet"] = "dlib_resnet"
    num_jitters: int = Field(
        default=1,
        ge=1,
        le=100,
        description="Randomly jittered copies averaged per face; 1 means none (deterministic). "
        "Cost grows linearly.",
    )


def hog_detector(config: DlibHogConfig) -> DlibHogDetector:
    return DlibHogDetector(upsample=config.upsample, threshold=config.threshold)


def resnet_embedder(config: DlibResnetConfig) -> DlibResnetEmbedder:
    return DlibResnetEmbedder(num_jitters=config.num_jitters)
