"""The ONNX embedder: an embedding network run by onnxruntime on dlib-aligned face chips.

Two kinds of model:

* dlib's own ResNet, converted layer for layer by ``vertrouwd models convert-dlib``
  (:mod:`models.convert_dlib`) into the model directory, with a JSON card beside it holding its
  SHA-256. Model id ``dlib_resnet_v1``: its embeddings equal dlib's (cosine >= 0.9999, tested),
  so galleries, templates and the calibrated threshold carry over unchanged. The int8 variant
  (``--int8``) is ``dlib_resnet_v1_int8`` and has its own calibration.
* any other embedding network given as an ONNX file with its SHA-256, a model id and an input
  spec (e.g. an ArcFace-style 112x112 model); calibrate its threshold with
  ``vertrouwd models calibrate DIR --embedder onnx -o model=... -o sha256=... -o model_id=...``.

A model file whose SHA-256 differs from the expected one is refused (:class:`ModelChecksumError`)
before onnxruntime reads it. Nothing is loaded at import time; a missing ``onnxruntime`` or a
missing converted model raises :class:`~models.types.BackendUnavailable` from :meth:`load`
with the command that fixes it.

Faces are aligned by :class:`~models.backends.dlib.DlibAligner`, the chip function the dlib
embedder uses, then scaled per channel as the input spec says, batched (NCHW by default) and run
in one call. Execution providers: an ordered list from the settings (unavailable ones skipped
with a log line), else the best the installed onnxruntime offers: TensorRT, CUDA, OpenVINO,
XNNPACK, then CPU (the default everywhere).

Thread ownership: ``InferenceSession.run`` may be called from several threads, but the dlib
shape predictor may not; give each worker thread its own embedder.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal, Self

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field, model_validator

from models.backends.base import BackendConfig
from models.backends.dlib import DlibAligner
from models.types import BackendUnavailable, Embedding, FaceBox, FaceLandmarks, RGBImage

__all__ = [
    "DLIB_FLOAT_ID",
    "DLIB_INT8_ID",
    "INPUT_PRESETS",
    "InputSpec",
    "ModelChecksumError",
    "OnnxEmbedder",
    "OnnxEmbedderConfig",
    "choose_providers",
    "default_model_dir",
    "embedder",
    "model_file",
    "preprocess",
    "sha256_file",
]

DLIB_FLOAT_ID = "dlib_resnet_v1"
"""dlib's converted network: the same model id as the dlib embedder (same embeddings)."""
DLIB_INT8_ID = "dlib_resnet_v1_int8"
"""Its int8-quantised variant: different embeddings, so its own id and calibration."""

PREFERRED_PROVIDERS = (
    "TensorrtExecutionProvider",
    "CUDAExecutionProvider",
    "OpenVINOExecutionProvider",
    "XnnpackExecutionProvider",
    "CPUExecutionProvider",
)
log = logging.getLogger(__name__)


# -- config, chosen by name through ``models.registry`` ----------------------------------------


class InputSpec(BaseModel):
    """What an ONNX embedding network reads: the aligned chip and how its pixels are scaled.

    Chips are cut by dlib's 5-point alignment (``dlib.get_face_chips``, the same function the
    dlib embedder uses) at ``size`` x ``size`` with ``padding``; each channel becomes
    ``(pixel - mean) / std``. Presets: ``"dlib"`` (dlib's ResNet: 150, mean 122.782/117.001/
    104.298, std 256) and ``"arcface"`` (112, mean 127.5, std 127.5, as InsightFace models).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    size: int = Field(ge=32, le=512, description="Side of the square aligned chip, in pixels.")
    padding: float = Field(
        default=0.25,
        ge=0.0,
        le=1.0,
        description="Margin around the face in the chip, as dlib.get_face_chip's padding.",
    )
    mean: tuple[float, float, float] = Field(description="Per-channel mean, in RGB order.")
    std: tuple[float, float, float] = Field(description="Per-channel divisor, in RGB order.")
    channels: Literal["rgb", "bgr"] = Field(
        default="rgb", description="Channel order the network expects."
    )
    layout: Literal["nchw", "nhwc"] = Field(
        default="nchw", description="Tensor layout the network expects."
    )

    @model_validator(mode="after")
    def _positive_std(self) -> Self:
        if min(self.std) <= 0:
            raise ValueError("std must be positive")
        return self


INPUT_PRESETS: dict[str, InputSpec] = {
    "dlib": InputSpec(size=150, mean=(122.782, 117.001, 104.298), std=(256.0, 256.0, 256.0)),
    "arcface": InputSpec(size=112, mean=(127.5, 127.5, 127.5), std=(127.5, 127.5, 127.5)),
}

_SHA256 = r"^[0-9a-f]{64}$"
_MODEL_ID = r"^[a-z0-9][a-z0-9_.-]{0,63}$"


class OnnxEmbedderConfig(BackendConfig):
    """An embedding network in onnxruntime: dlib's converted, or any ONNX file with its checksum.

    Without ``model`` it is dlib's own network converted by ``vertrouwd models convert-dlib``
    (model id ``dlib_resnet_v1``: same embeddings, same calibration, galleries carry over), or
    its int8 variant with ``int8`` (``dlib_resnet_v1_int8``, its own calibration). With
    ``model`` it is that file, checked against ``sha256`` before loading, under ``model_id``;
    calibrate its threshold with ``vertrouwd models calibrate DIR --embedder onnx -o ...``.
    """

    type: Literal["onnx"] = "onnx"
    model: Path | None = Field(
        default=None,
        description="An ONNX embedding model file; none means dlib's converted network.",
    )
    sha256: str | None = Field(
        default=None,
        pattern=_SHA256,
        description="SHA-256 (hex) of the model file; required with model, refused on mismatch.",
    )
    model_id: str | None = Field(
        default=None,
        pattern=_MODEL_ID,
        description="Name of the model's embeddings and calibration; required with model.",
    )
    input: Literal["dlib", "arcface"] | InputSpec = Field(
        default="dlib", description="Chip size and pixel scaling: a preset name or a full spec."
    )
    normalize: bool = Field(
        default=False,
        description="L2-normalise the output (ArcFace-style models); off for dlib's network.",
    )
    int8: bool = Field(
        default=False,
        description="Use the int8-quantised variant of dlib's converted network.",
    )
    model_dir: Path | None = Field(
        default=None,
        description="Where convert-dlib wrote the converted models; none means "
        "$VERTROUWD_MODEL_DIR or the user's data dir (~/.local/share/vertrouwd/models).",
    )
    providers: tuple[str, ...] | None = Field(
        default=None,
        description="onnxruntime execution providers in order of preference (ones this build "
        "lacks are skipped with a log line; CPU is always the last fallback); none means the "
        "best available (TensorRT, CUDA, OpenVINO, XNNPACK, then CPU).",
    )
    threads: int = Field(
        default=1,
        ge=0,
        le=256,
        description="Intra-op threads per embedding call; 0 means one per physical core. 1 "
        "(default) leaves the other cores to detection: on a busy CPU more threads were "
        "measured slower.",
    )

    @model_validator(mode="after")
    def _model_needs_checksum_and_id(self) -> Self:
        if self.model is not None:
            missing = [n for n in ("sha256", "model_id") if getattr(self, n) is None]
            if missing:
                raise ValueError(f"an ONNX model file needs {' and '.join(missing)}")
            if self.int8:
                raise ValueError("int8 selects dlib's converted network; not with a model file")
            if self.model_id in ("dlib_resnet_v1", "dlib_resnet_v1_int8"):
                raise ValueError(f"model id {self.model_id!r} is reserved for dlib's network")
        elif self.sha256 is not None or self.model_id is not None:
            raise ValueError("sha256 and model_id go with a model file")
        return self

    @property
    def input_spec(self) -> InputSpec:
        return INPUT_PRESETS[self.input] if isinstance(self.input, str) else self.input


MAX_BATCH = 32
"""Chips per onnxruntime call; more are run in several calls."""


class ModelChecksumError(ValueError):
    """The model file is not the one configured: its SHA-256 differs."""


def default_model_dir() -> Path:
    """Where converted models live: ``$VERTROUWD_MODEL_DIR``, else the user's data dir."""
    env = os.environ.get("VERTROUWD_MODEL_DIR")
    if env:
        return Path(env)
    data_home = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data_home) / "vertrouwd" / "models"


def model_file(model_dir: Path | None, *, int8: bool) -> Path:
    """The path of dlib's converted network (or its int8 variant) in ``model_dir``."""
    return (model_dir or default_model_dir()) / f"{DLIB_INT8_ID if int8 else DLIB_FLOAT_ID}.onnx"


def sha256_file(path: Path) -> str:
    import hashlib

    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _import_ort() -> Any:
    try:
        return importlib.import_module("onnxruntime")
    except ImportError as exc:
        raise BackendUnavailable(
            "the 'onnx' embedder needs the Python package 'onnxruntime', which is not "
            "installed: pip install onnxruntime (or onnxruntime-gpu)"
        ) from exc


def choose_providers(requested: Sequence[str] | None, available: Sequence[str]) -> list[str]:
    """The providers to use: ``requested`` in its order, or the best available.

    A requested provider this onnxruntime build lacks (CUDA on a CPU-only board, OpenVINO
    where it is not installed) is skipped with a log line, so one setting serves a fleet of
    mixed devices. CPU is always last, as the fallback for operators another provider does
    not support.
    """
    if requested is None:
        chosen = [p for p in PREFERRED_PROVIDERS if p in available]
    else:
        chosen = [p for p in requested if p in available]
        missing = [p for p in requested if p not in available]
        if missing:
            log.warning(
                "onnxruntime here has no %s; skipped (available: %s)",
                ", ".join(missing),
                ", ".join(available),
            )
    if "CPUExecutionProvider" not in chosen:
        chosen.append("CPUExecutionProvider")
    return chosen


def preprocess(chips: Sequence[RGBImage], spec: InputSpec) -> npt.NDArray[np.float32]:
    """The network's input batch for aligned ``chips``: ``(pixel - mean) / std`` per channel.

    Computed in float32 as a subtraction then a division, which for dlib's network (std 256) is
    bit for bit what dlib's ``input_rgb_image_sized`` layer computes.
    """
    s = spec.size
    for chip in chips:
        if chip.shape != (s, s, 3) or chip.dtype != np.uint8:
            raise ValueError(f"a chip must be uint8 ({s}, {s}, 3), got {chip.shape}")
    mean = np.asarray(spec.mean, dtype=np.float32)
    std = np.asarray(spec.std, dtype=np.float32)
    batch = np.stack(chips).astype(np.float32)
    if spec.channels == "bgr":
        batch, mean, std = batch[..., ::-1], mean[::-1], std[::-1]
    batch = (batch - mean) / std
    if spec.layout == "nchw":
        batch = batch.transpose(0, 3, 1, 2)
    return np.ascontiguousarray(batch, dtype=np.float32)


class OnnxEmbedder:
    """Embeds faces with an ONNX network in onnxruntime (see the module docstring)."""

    key: str = "onnx"

    def __init__(
        self,
        *,
        model: Path | None = None,
        sha256: str | None = None,
        model_id: str | None = None,
        input_spec: InputSpec | None = None,
        normalize: bool = False,
        int8: bool = False,
        model_dir: Path | None = None,
        providers: Sequence[str] | None = None,
        threads: int = 1,
    ) -> None:
        if model is not None and (sha256 is None or model_id is None):
            raise ValueError("an ONNX model file needs its sha256 and a model_id")
        if model is not None and int8:
            raise ValueError("int8 selects dlib's converted network; not with a model file")
        if threads < 0:
            raise ValueError("threads must be >= 0")
        self.model = Path(model) if model is not None else None
        self.expected_sha256 = sha256
        self.int8 = int8
        self.model_id: str = model_id or (DLIB_INT8_ID if int8 else DLIB_FLOAT_ID)
        self.spec = input_spec or INPUT_PRESETS["dlib"]
        self.normalize = normalize
        self.model_dir = model_dir
        self.requested_providers = tuple(providers) if providers is not None else None
        self.threads = threads
        self._aligner = DlibAligner()
        self._session: Any = None
        self._input_name = ""
        self.dim: int | None = None
        self.providers: list[str] = []

    @property
    def loaded(self) -> bool:
        return self._session is not None

    @property
    def path(self) -> Path:
        """The model file this embedder runs."""
        return self.model if self.model is not None else model_file(self.model_dir, int8=self.int8)

    # -- loading ---------------------------------------------------------------------------

    def _expected_sha256(self, path: Path) -> str:
        if self.expected_sha256 is not None:
            return self.expected_sha256
        how = "vertrouwd models convert-dlib" + (" --int8 --calibration DIR" if self.int8 else "")
        if not path.is_file():
            raise BackendUnavailable(
                f"the converted model {path} does not exist: run `{how}` "
                "(or set VERTROUWD_MODEL_DIR to where it was written)"
            )
        card_file = path.with_name(path.name + ".json")
        try:
            card = json.loads(card_file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise BackendUnavailable(
                f"the model card {card_file} is missing or unreadable ({exc}): run `{how}` again"
            ) from exc
        if card.get("model_id") != self.model_id:
            raise ModelChecksumError(
                f"{card_file} describes model {card.get('model_id')!r}, not {self.model_id!r}"
            )
        card_input = InputSpec.model_validate(
            {k: v for k, v in card.get("input", {}).items() if k in InputSpec.model_fields}
        )
        if card_input != self.spec:
            raise ValueError(f"{card_file}: the model's input spec differs from the configured")
        sha = card.get("sha256")
        if not isinstance(sha, str) or len(sha) != 64:
            raise ModelChecksumError(f"{card_file} holds no valid sha256")
        return sha

    def load(self) -> None:
        if self._session is not None:
            return
        ort = _import_ort()
        path = self.path
        expected = self._expected_sha256(path)
        if not path.is_file():
            raise BackendUnavailable(f"the ONNX model file {path} does not exist")
        actual = sha256_file(path)
        if actual != expected:
            raise ModelChecksumError(
                f"refusing to load {path}: its SHA-256 is {actual}, expected {expected} "
                "(a different or damaged file)"
            )
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        if self.threads != 1:
            # waiting threads sleep instead of spinning: the edge runs detection beside this,
            # and spinning workers on a shared core made 2 threads 2x slower than 1 (measured)
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.log_severity_level = 3
        providers = choose_providers(self.requested_providers, ort.get_available_providers())
        provider_args: list[Any] = []
        for p in providers:
            if p == "XnnpackExecutionProvider":
                threads = self.threads or (os.cpu_count() or 1)
                provider_args.append((p, {"intra_op_num_threads": str(threads)}))
            else:
                provider_args.append(p)
        try:
            session = ort.InferenceSession(str(path), options, providers=provider_args)
        except Exception as exc:  # onnxruntime raises its own exception types
            raise ValueError(f"onnxruntime cannot load {path}: {exc}") from exc
        self._check_io(session, path)
        self._session = session
        self.providers = list(session.get_providers())
        self._aligner.load(backend=self.key)
        # warm up once: the first run allocates and picks kernels
        self._run(np.zeros((1, *self._input_shape()), dtype=np.float32))

    def _input_shape(self) -> tuple[int, int, int]:
        s = self.spec.size
        return (3, s, s) if self.spec.layout == "nchw" else (s, s, 3)

    def _check_io(self, session: Any, path: Path) -> None:
        inputs, outputs = session.get_inputs(), session.get_outputs()
        if len(inputs) != 1 or len(outputs) < 1:
            raise ValueError(f"{path}: expected one input and an output, got {len(inputs)} inputs")
        inp = inputs[0]
        if inp.type != "tensor(float)" or len(inp.shape) != 4:
            raise ValueError(f"{path}: the input must be a 4-d float tensor, got {inp.type}")
        for got, want in zip(inp.shape[1:], self._input_shape(), strict=True):
            if isinstance(got, int) and got != want:
                raise ValueError(
                    f"{path}: the input is {inp.shape}, the input spec says "
                    f"{self.spec.layout} {self._input_shape()}"
                )
        out = outputs[0].shape
        if len(out) != 2:
            raise ValueError(f"{path}: the output must be (batch, dim), got {out}")
        self.dim = out[1] if isinstance(out[1], int) else None
        self._input_name = inp.name

    # -- landmarks and chips ---------------------------------------------------------------

    def landmarks(self, image: RGBImage, boxes: Sequence[FaceBox]) -> list[FaceLandmarks]:
        """The 5-point landmarks of each box (dlib's shape predictor)."""
        self.load()
        return self._aligner.landmarks(image, boxes)

    def face_chips(
        self,
        image: RGBImage,
        boxes: Sequence[FaceBox],
        *,
        landmarks: Sequence[FaceLandmarks] | None = None,
    ) -> list[RGBImage]:
        """Aligned chips of the input spec's size, one per box (in memory only)."""
        self.load()
        return self._aligner.face_chips(
            image, boxes, landmarks=landmarks, size=self.spec.size, padding=self.spec.padding
        )

    # -- embeddings ------------------------------------------------------------------------

    def embed(
        self,
        image: RGBImage,
        boxes: Sequence[FaceBox],
        *,
        landmarks: Sequence[FaceLandmarks] | None = None,
    ) -> list[Embedding]:
        """One embedding per box, in order; all faces go through the network in one batch."""
        if not boxes:
            self.load()
            return []
        return self.embed_chips(self.face_chips(image, boxes, landmarks=landmarks))

    def preprocess(self, chips: Sequence[RGBImage]) -> npt.NDArray[np.float32]:
        """The network's input batch for ``chips`` (see :func:`preprocess`)."""
        return preprocess(chips, self.spec)

    def embed_chips(self, chips: Sequence[RGBImage]) -> list[Embedding]:
        """Embeddings of aligned chips from :meth:`face_chips`, batched through the network."""
        self.load()
        if not chips:
            return []
        out: list[Embedding] = []
        for start in range(0, len(chips), MAX_BATCH):
            vectors = self._run(self.preprocess(chips[start : start + MAX_BATCH]))
            out.extend(Embedding(v.copy(), self.model_id) for v in vectors)
        return out

    def _run(self, batch: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        (vectors, *_) = self._session.run(None, {self._input_name: batch})
        result = np.asarray(vectors, dtype=np.float32).reshape(len(batch), -1)
        if self.normalize:
            norms = np.linalg.norm(result, axis=1, keepdims=True)
            result = result / np.maximum(norms, np.float32(1e-12))
        return np.ascontiguousarray(result, dtype=np.float32)


def embedder(config: OnnxEmbedderConfig) -> OnnxEmbedder:
    return OnnxEmbedder(
        model=config.model,
        sha256=config.sha256,
        model_id=config.model_id,
        input_spec=config.input_spec,
        normalize=config.normalize,
        int8=config.int8,
        model_dir=config.model_dir,
        providers=config.providers,
        threads=config.threads,
    )
