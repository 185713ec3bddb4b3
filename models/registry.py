"""Backends chosen by name, each with its own validated config class.

Every backend has a key (``"dlib_hog"``, ``"dlib_resnet"``) and a pydantic config class whose
``type`` field is ``Literal[key]``; settings files can hold such a config and the registry builds
the backend from it. An unknown name or an unknown option is a ``ValueError`` that lists what is
known. Building a backend loads nothing: call ``load()`` (or just use it) for that.

A name may also be given as a JSON object (a string starting with ``{``), so a one-line setting
such as ``VERTROUWD_EDGE_EMBEDDER='{"type": "onnx", "int8": true}'`` selects a backend with
options.

Adding a backend: write its module in ``models/backends/`` with a class satisfying
:class:`~models.types.FaceEmbedder` (or ``FaceDetector``), a config class with
``type: Literal[key]`` and a function building the one from the other; call
:func:`register_embedder` for it below, and add the config class to :data:`EmbedderConfig`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, TypeAlias

from pydantic import Field, ValidationError

from models.backends import blazeface, dlib, onnx
from models.backends.base import BackendConfig
from models.backends.blazeface import BlazeFaceConfig
from models.backends.dlib import DlibHogConfig, DlibResnetConfig
from models.backends.onnx import INPUT_PRESETS, InputSpec, OnnxEmbedderConfig
from models.types import FaceDetector, FaceEmbedder

__all__ = [
    "INPUT_PRESETS",
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


register_detector("dlib_hog", DlibHogConfig, dlib.hog_detector)
register_detector("blazeface", BlazeFaceConfig, blazeface.detector)
register_embedder("dlib_resnet", DlibResnetConfig, dlib.resnet_embedder)
register_embedder("onnx", OnnxEmbedderConfig, onnx.embedder)
