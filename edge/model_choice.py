"""Which models the edge runs: the backends its settings name, with int8 only where proven.

An int8 embedder is used only after :func:`models.int8_check.int8_self_check` passed on this
CPU (its kernels differ between CPUs); otherwise the edge logs why and runs the float model.
Both have their own model ids, so a gallery made for one is refused by the other (logged by
the match stage), never silently compared.
"""

from __future__ import annotations

import logging

from edge.settings import EdgeSettings
from models.registry import (
    BackendConfig,
    OnnxEmbedderConfig,
    create_detector,
    create_embedder,
    detector_config,
    embedder_config,
)
from models.types import FaceDetector, FaceEmbedder

log = logging.getLogger(__name__)

__all__ = ["build_models", "checked_embedder_config", "create_settings_detector"]


def create_settings_detector(settings: EdgeSettings) -> FaceDetector:
    """The configured detector, not loaded; ``detector_upsample`` is dlib_hog's option only."""
    config = detector_config(settings.detector)
    if config.type == "dlib_hog":
        return create_detector(config, upsample=settings.detector_upsample)
    return create_detector(config)


def checked_embedder_config(settings: EdgeSettings) -> BackendConfig:
    """The embedder config to run: the configured one with the settings' execution providers,
    and int8 off when its self-check fails."""
    from models.int8_check import int8_self_check

    config = embedder_config(settings.embedder)
    if not isinstance(config, OnnxEmbedderConfig):
        return config
    if config.providers is None and settings.onnx_providers is not None:
        config = config.model_copy(update={"providers": settings.onnx_providers})
    if not config.int8:
        return config
    check = int8_self_check(config.model_dir, providers=config.providers, threads=config.threads)
    if check.ok:
        log.info("int8 embedder passed its self-check on this CPU (%s)", check.reason)
        return config
    log.warning("int8 embedder not used, the float model is (%s)", check.reason)
    return config.model_copy(update={"int8": False})


def build_models(settings: EdgeSettings) -> tuple[FaceDetector, FaceEmbedder]:
    """Build and load the detector and embedder the settings name."""
    detector = create_settings_detector(settings)
    embedder = create_embedder(checked_embedder_config(settings))
    detector.load()
    embedder.load()
    return detector, embedder
