"""Backends chosen by name, each with its own validated config class.

Every backend has a key (``"dlib_hog"``, ``"dlib_resnet"``) and a pydantic config class whose
``type`` field is ``Literal[key]``; settings files can hold such a config and the registry builds
the backend from it. An unknown name or an unknown option is a ``ValueError`` that lists what is
known. Building a backend loads nothing: call ``load()`` (or just use it) for that.

Adding a backend (e.g. an ``"onnx"`` embedder that runs a converted network with onnxruntime):
write its module with a class satisfying :class:`~models.types.FaceEmbedder`, a config class
``OnnxEmbedderConfig(type: Literal["onnx"], path, sha256, ...)``, and call
:func:`register_embedder` for it below; add the config class to :data:`EmbedderConfig`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from models.types import FaceDetector, FaceEmbedder

__all__ = [
    "BackendConfig",
    "DetectorConfig",
    "DlibHogConfig",
    "DlibResnetConfig",
    "EmbedderConfig",
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


# One member each today; they become ``Annotated[A | B, Field(discriminator="type")]`` unions
# when a second backend of the kind arrives, so settings can hold any of them.
DetectorConfig: TypeAlias = DlibHogConfig
EmbedderConfig: TypeAlias = DlibResnetConfig


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


def _dlib_resnet(config: DlibResnetConfig) -> FaceEmbedder:
    from models.dlib_backend import DlibResnetEmbedder

    return DlibResnetEmbedder(num_jitters=config.num_jitters)


register_detector("dlib_hog", DlibHogConfig, _dlib_hog)
register_embedder("dlib_resnet", DlibResnetConfig, _dlib_resnet)
