"""``vertrouwd models ...``: model maintenance commands (wired in by the server's CLI).

``calibrate DIR [--target-fmr X] [--safety-gap G] [--upsample N] [--write | --output FILE]``
measures the default detector and embedder on a folder with one subfolder per identity,
prints the distance distributions and the chosen operating point, and with ``--write`` stores
it as the model's shipped calibration (``models/calibration/<model_id>.json``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

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
        "--embedder", default="dlib_resnet", help="embedder backend (default dlib_resnet)"
    )
    cal.add_argument("--upsample", type=int, default=1, help="detector upsampling (default 1)")
    out = cal.add_mutually_exclusive_group()
    out.add_argument(
        "--write", action="store_true", help="store the result as the model's calibration"
    )
    out.add_argument("--output", type=Path, help="write the calibration JSON to this file")
    return parser


def _calibrate(args: argparse.Namespace) -> int:
    if not 0.0 < args.target_fmr < 1.0:
        print("error: --target-fmr must be between 0 and 1", file=sys.stderr)
        return 2
    try:
        config = detector_config(args.detector, upsample=args.upsample)
        detector = create_detector(config)
        embedder = create_embedder(args.embedder)
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


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "calibrate":
        return _calibrate(args)
    return 2  # pragma: no cover - argparse refuses unknown commands


if __name__ == "__main__":
    raise SystemExit(main())
