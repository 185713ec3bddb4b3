"""What the recognition engine matches against, and at which operating point.

The engine asks a ``GalleryProvider`` for the ``ActiveGallery`` before it does any face work;
``None`` means matching is off (no gallery, expired, not confirmed current, credential revoked,
store not live) and then the engine does not even detect faces. ``edge.gallery.GalleryState``
is the real provider; ``StaticGallery`` serves tests and benchmarks.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import numpy.typing as npt

from consent.gallery import MemberZone
from consent.modes import DEFAULT_MODE, RecognitionMode
from models.matcher import GalleryIndex


@dataclass(frozen=True, slots=True)
class OperatingPoint:
    threshold: float
    min_margin: float


@dataclass(frozen=True, slots=True)
class ActiveGallery:
    """An installed gallery: the immutable index, its version (for re-matching on change), the
    operating point the server published with it, if any, and the store's member zone, if the
    store recorded one (it then replaces the device's own zone settings, invariant 11), and the
    store's recognition mode (``edge.modes`` enforces it). In the pass modes ``index`` is empty
    (nothing can be searched 1:N) and ``templates`` holds each pass holder's own templates for
    the 1:1 check of ``pass+face``."""

    index: GalleryIndex
    version: int
    point: OperatingPoint | None = None
    zone: MemberZone | None = None
    mode: RecognitionMode = DEFAULT_MODE
    passes: Mapping[str, str] = field(default_factory=dict)
    """Pass digest -> subject id (``pass`` and ``pass+face``)."""
    templates: Mapping[str, npt.NDArray[np.float32]] = field(default_factory=dict)
    """Subject id -> that member's templates, (n, dim) (``pass+face`` only)."""


class GalleryProvider(Protocol):
    """Thread-safe: called from the detect/track and the embed/match stages."""

    def current(self) -> ActiveGallery | None: ...


class StaticGallery:
    """A fixed gallery, always current: for tests, benchmarks and offline demos."""

    def __init__(self, index: GalleryIndex, version: int = 1) -> None:
        self._active = ActiveGallery(index, version)

    def current(self) -> ActiveGallery | None:
        return self._active


def operating_point(
    model_id: str, *, threshold: float | None = None, min_margin: float | None = None
) -> OperatingPoint:
    """Overrides where given, else the model's shipped calibration (never a guessed number).

    Raises ``LookupError`` when a value is missing and the model has no calibration.
    """
    if threshold is not None and min_margin is not None:
        return OperatingPoint(threshold, min_margin)
    from models.calibration import load_calibration

    calibration = load_calibration(model_id)
    return OperatingPoint(
        threshold if threshold is not None else calibration.threshold,
        min_margin if min_margin is not None else calibration.min_margin,
    )
