"""``vertrouwd models ...``: model maintenance commands (wired in by the server's CLI).

``calibrate DIR [--target-fmr X] [--safety-gap G] [--upsample N] [--embedder SPEC [-o K=V ...]]
[--write | --output FILE]`` measures a detector and embedder on a folder with one subfolder per
identity, prints the distance distributions and the chosen operating point, and with ``--write``
stores it as the model's shipped calibration (``models/calibration/<model_id>.json``). SPEC is
a backend name or a JSON object; ``-o key=value`` sets one of its options (the value is read as
JSON when it parses, else as text), e.g. ``--embedder onnx -o int8=true`` or
``--embedder onnx -o model=arcface.onnx -o sha256=... -o model_id=arcface_r50 -o input=arcface``.

``convert-dlib [--out FILE] [--int8 --calibration DIR]`` converts dlib's face embedding network
from the installed face_recognition_models package to ONNX (no download) into the model
directory (``$VERTROUWD_MODEL_DIR``, default ``~/.local/share/vertrouwd/models``), checks it
against dlib on a synthetic batch, and with ``--int8`` also writes the int8 variant, quantised
with face chips from the photos in DIR (read in memory, never stored).

``install [--faces DIR] [--model-dir DIR]`` makes the fast defaults ready, idempotently: converts
dlib's network unless it is already there, checks it against dlib on the real faces in DIR
(cosine >= 0.9999), and finds the BlazeFace weights (see :mod:`models.install`).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from models.calibration import (
    DEFAULT_SAFETY_GAP,
    DEFAULT_TARGET_FMR,
    calibrate,
    save_calibration,
)
from models.registry import create_detector, create_embedder, detector_config
from models.types import BackendUnavailable

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vertrouwd models", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    cal = sub.add_parser(
        "calibrate",
        help="measure genuine/impostor distances on DIR and choose the threshold",
        description="DIR holds one subfolder per identity, each with photos of one face.",
    )
    cal.add_argument("dir", type=Path, metavar="DIR")
    cal.add_argument(
        "--target-fmr",
        type=float,
        default=DEFAULT_TARGET_FMR,
        help=f"false-match rate to aim for (default {DEFAULT_TARGET_FMR:g})",
    )
    cal.add_argument(
        "--safety-gap",
        type=float,
        default=DEFAULT_SAFETY_GAP,
        help=f"distance kept below the closest impostor pair (default {DEFAULT_SAFETY_GAP:g})",
    )
    cal.add_argument("--detector", default="dlib_hog", help="detector backend (default dlib_hog)")
    cal.add_argument(
        "--embedder",
        default="dlib_resnet",
        help="embedder backend name or JSON spec (default dlib_resnet)",
    )
    cal.add_argument(
        "-o",
        "--embedder-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="an embedder option, e.g. -o int8=true or -o model=FILE (repeatable)",
    )
    cal.add_argument("--upsample", type=int, default=1, help="detector upsampling (default 1)")
    out = cal.add_mutually_exclusive_group()
    out.add_argument(
        "--write", action="store_true", help="store the result as the model's calibration"
    )
    out.add_argument("--output", type=Path, help="write the calibration JSON to this file")

    conv = sub.add_parser(
        "convert-dlib",
        help="convert dlib's face embedding network to ONNX (same embeddings)",
        description="Reads dlib_face_recognition_resnet_model_v1.dat from the installed "
        "face_recognition_models package; downloads nothing.",
    )
    conv.add_argument(
        "--out",
        type=Path,
        help="the ONNX file, or a directory to write dlib_resnet_v1.onnx into "
        "(default: the model directory)",
    )
    conv.add_argument(
        "--int8",
        action="store_true",
        help="also write the int8-quantised variant (dlib_resnet_v1_int8.onnx) beside it",
    )
    conv.add_argument(
        "--calibration",
        type=Path,
        metavar="DIR",
        help="photos of faces (searched recursively) whose chips set the int8 ranges",
    )
    inst = sub.add_parser(
        "install",
        help="make the default models ready (convert, verify on real faces); idempotent",
    )
    inst.add_argument(
        "--faces", type=Path, metavar="DIR", help="face photos to verify the conversion on"
    )
    inst.add_argument(
        "--model-dir", type=Path, help="where the models go (default: the model directory)"
    )
    return parser


def _install(args: argparse.Namespace) -> int:
    from models.install import install_models

    try:
        report = install_models(args.model_dir, faces=args.faces)
    except (ValueError, BackendUnavailable, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for line in report.lines:
        print(line)
    return 0


def _option(text: str) -> tuple[str, Any]:
    key, sep, raw = text.partition("=")
    if not sep or not key:
        raise ValueError(f"embedder option {text!r} is not KEY=VALUE")
    try:
        value: Any = json.loads(raw)
    except ValueError:
        value = raw
    return key.strip(), value


def _calibrate(args: argparse.Namespace) -> int:
    if not 0.0 < args.target_fmr < 1.0:
        print("error: --target-fmr must be between 0 and 1", file=sys.stderr)
        return 2
    try:
        config = detector_config(args.detector, upsample=args.upsample)
        detector = create_detector(config)
        options = dict(_option(o) for o in args.embedder_option)
        embedder = create_embedder(args.embedder, **options)
        description = f"{config.type} " + " ".join(
            f"{k}={v}" for k, v in config.model_dump().items() if k != "type"
        )
        report = calibrate(
            args.dir,
            detector,
            embedder,
            args.target_fmr,
            safety_gap=args.safety_gap,
            detector_description=description.strip(),
        )
    except (ValueError, BackendUnavailable) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(report.format())
    if args.write or args.output:
        path = save_calibration(report.calibration, args.output)
        print(f"wrote {path}")
    return 0


def _convert(args: argparse.Namespace) -> int:
    from models.convert_dlib import (
        calibration_chips,
        compare_with_dlib,
        convert,
        quantize_int8,
    )
    from models.onnx_backend import model_file, preprocess
    from models.registry import INPUT_PRESETS

    if args.calibration is not None and not args.int8:
        print("error: --calibration is for --int8", file=sys.stderr)
        return 2
    if args.int8 and args.calibration is None:
        print(
            "error: --int8 needs --calibration DIR: photos of faces whose chips set the int8 "
            "ranges (the chips stay in memory)",
            file=sys.stderr,
        )
        return 2
    out: Path = args.out or model_file(None, int8=False)
    if out.is_dir():
        out = model_file(out, int8=False)
    try:
        card = convert(out)
        check = card["check"]
        print(f"wrote {out} (sha256 {card['sha256']})")
        print(
            f"checked against dlib: cosine {check['cosine_min']:.7f}, "
            f"max |difference| {check['max_abs_diff']:.2e}"
        )
        if args.int8:
            chips = calibration_chips(args.calibration)
            batches = [preprocess([chip], INPUT_PRESETS["dlib"]) for chip in chips]
            int8_out = out.with_name(f"{out.stem}_int8{out.suffix}")
            card8 = quantize_int8(out, int8_out, batches)
            print(f"wrote {int8_out} (sha256 {card8['sha256']}), ranges from {len(chips)} faces")
            cosine, diff = compare_with_dlib(int8_out, chips)
            print(f"int8 against dlib on those faces: cosine {cosine:.5f}, max |diff| {diff:.4f}")
    except (ValueError, BackendUnavailable, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "calibrate":
        return _calibrate(args)
    if args.command == "convert-dlib":
        return _convert(args)
    if args.command == "install":
        return _install(args)
    return 2  # pragma: no cover - argparse refuses unknown commands


if __name__ == "__main__":
    raise SystemExit(main())
