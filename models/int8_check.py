"""int8 only where proven: a start-up self-check of the int8 embedder against the float one.

int8 kernels differ between CPUs (onnxruntime's x86 kernels with and without AVX-512 VNNI, ARM's
dot-product instructions), and so do their results: the same int8 model measured cosine >= 0.999
against float on one x86 machine and 0.978 on another. So the edge does not trust the int8
model until it has run it here: :func:`int8_self_check` embeds a few reference chips with both
models and passes only when every cosine is at least :data:`MIN_COSINE`.

Reference chips (:data:`REFERENCE_FILE` in the model directory, written by
``vertrouwd models install``) are *blends*: each is the pixel mean of several aligned face chips
from the install-time photos, so they look like faces to the network (realistic activation
ranges) without being anyone's photo. They never leave the model directory.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from consent.files import write_atomic
from models.types import BackendUnavailable, RGBImage

__all__ = [
    "MIN_COSINE",
    "REFERENCE_FILE",
    "Int8Check",
    "blend_reference_chips",
    "int8_self_check",
    "load_reference_chips",
    "save_reference_chips",
]

MIN_COSINE = 0.999
"""int8 embeddings must be at least this close to float ones on every reference chip."""
REFERENCE_FILE = "dlib_resnet_v1_int8.reference.npy"
"""Blended reference chips beside the models (uint8, ``(n, 150, 150, 3)``)."""


@dataclass(frozen=True, slots=True)
class Int8Check:
    """The self-check's decision and why."""

    ok: bool
    cosine_min: float | None
    chips: int
    reason: str


def blend_reference_chips(
    chips: Sequence[RGBImage], *, count: int = 8, per_blend: int = 3, seed: int = 8
) -> list[RGBImage]:
    """``count`` chips, each the mean of ``per_blend`` different chips drawn from ``chips``."""
    if len(chips) < per_blend:
        raise ValueError(f"blending needs at least {per_blend} face chips, got {len(chips)}")
    rng = np.random.default_rng(seed)
    stack = np.stack(chips).astype(np.float32)
    out = []
    for _ in range(count):
        pick = rng.choice(len(chips), size=per_blend, replace=False)
        out.append(np.clip(np.rint(stack[pick].mean(axis=0)), 0, 255).astype(np.uint8))
    return out


def save_reference_chips(model_dir: Path, chips: Sequence[RGBImage]) -> Path:
    path = Path(model_dir) / REFERENCE_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    np.save(buffer, np.stack(chips).astype(np.uint8), allow_pickle=False)
    write_atomic(path, buffer.getvalue(), mode=0o644)
    return path


def load_reference_chips(model_dir: Path | None) -> list[RGBImage]:
    from models.backends.onnx import default_model_dir

    path = (model_dir or default_model_dir()) / REFERENCE_FILE
    try:
        array = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise ValueError(f"no readable reference chips at {path}: {exc}") from exc
    if array.dtype != np.uint8 or array.ndim != 4 or array.shape[1:] != (150, 150, 3):
        raise ValueError(f"{path} does not hold 150x150 RGB chips")
    return [np.ascontiguousarray(c) for c in array]


def int8_self_check(
    model_dir: Path | None = None,
    *,
    chips: Sequence[RGBImage] | None = None,
    providers: Sequence[str] | None = None,
    threads: int = 1,
    min_cosine: float = MIN_COSINE,
) -> Int8Check:
    """Run the int8 and the float model on ``chips`` (default: the reference chips) here.

    Never raises for a missing piece: a check that cannot run is a failed check, with the
    reason (the caller then uses the float model).
    """
    from models.backends.onnx import OnnxEmbedder

    try:
        ref = list(chips) if chips is not None else load_reference_chips(model_dir)
        if not ref:
            raise ValueError("no reference chips")
        models = [
            OnnxEmbedder(model_dir=model_dir, providers=providers, threads=threads, int8=int8)
            for int8 in (False, True)
        ]
        fp, q = (np.stack([e.vector for e in m.embed_chips(ref)]) for m in models)
    except (ValueError, BackendUnavailable, OSError) as exc:
        return Int8Check(False, None, 0, f"the check could not run: {exc}")
    a, b = fp.astype(np.float64), q.astype(np.float64)
    cos = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    worst = float(cos.min())
    if worst >= min_cosine:
        return Int8Check(True, worst, len(ref), f"cosine {worst:.5f} >= {min_cosine}")
    return Int8Check(
        False,
        worst,
        len(ref),
        f"int8 differs from float on this CPU: cosine {worst:.5f} < {min_cosine} "
        f"on {len(ref)} reference chips",
    )
