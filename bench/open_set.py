"""Open-set identification at store scale, with the product's own detector, embedder and rule.

Runs ``vertrouwd models evaluate`` on ``lfw-calib`` (2,848 LFW people, one folder each) at
gallery sizes 100, 250 and 500 (enrol 1; 500 is the largest that folder allows with a probe per
member), averaged over seeded draws, plus 1:1 verification at false-match rates 0.001 and
0.0001; then the largest calibrated gallery again at the door point that the model's
calibration chose for its target false-match rate (when it holds one). The embeddings are
computed once and cached (``$VERTROUWD_CACHE_DIR`` or the user's data dir): the first run
embeds 6,274 photos with dlib's network converted to ONNX (``vertrouwd models convert-dlib``,
done first when missing: same vectors, a tenth of dlib's time; about 5 minutes on 2 free
cores); later runs take about a minute each. The process runs at lowered priority (``nice``).

The last line compares with the issue's targets at gallery 500 (members identified >= 90 %
with non-members matched <= 0.1 %; 1:1 at 0.01 % false acceptance with >= 95 % genuine
acceptance)::

    open_set: targets gallery=500 tir=<x> (>=0.90) fmr=<y> (<=0.001) verify_gar@1e-4=<z> (>=0.95)

This is an accuracy benchmark: it reports the shortfall and exits 0; ``--strict`` exits 1 when a
target is missed.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from models.calibration import load_calibration
from models.cli import main as models_main


def _run(argv: list[str]) -> list[str]:
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        rc = models_main(argv)
    lines = buffer.getvalue().splitlines()
    for line in lines:
        print(line, flush=True)
    if rc != 0:
        raise SystemExit(rc)
    return lines


def _field(line: str, name: str) -> float:
    match = re.search(rf"\b{name}=(\S+)", line)
    if match is None:
        raise ValueError(f"no {name}= in {line!r}")
    return float(match.group(1))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faces", type=Path, default=Path("../shared/faces"))
    parser.add_argument("--draws", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cache", type=Path, help="embedding cache dir")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args()
    folder = args.faces / "lfw-calib"
    if not folder.is_dir():
        print(f"open_set: {folder} not found (see shared/faces/lfw-calib/README.md)")
        return 2
    with contextlib.suppress(OSError):
        os.nice(10)  # a benchmark on a shared machine yields to interactive work
    from models.backends.onnx import model_file

    if not model_file(None, int8=False).is_file():
        _run(["convert-dlib"])  # into the model dir, from the installed dlib weights
    common = ["--draws", str(args.draws), "--seed", str(args.seed)]
    if args.cache:
        common += ["--cache", str(args.cache)]
    sizes = ["--gallery", "100", "--gallery", "250", "--gallery", "500"]
    lines = _run(["evaluate", str(folder), *sizes, *common])
    calibration = load_calibration("dlib_resnet_v1")
    if calibration.open_set is not None and calibration.open_set.choices:
        choice = max(calibration.open_set.choices, key=lambda c: c.gallery)
        print(
            f"# at the door point calibrated for gallery {choice.gallery} "
            f"(target fmr {calibration.open_set.target_fmr:g}):",
            flush=True,
        )
        _run(
            [
                "evaluate",
                str(folder),
                "--gallery",
                str(choice.gallery),
                *common,
                "--threshold",
                str(choice.threshold),
                "--margin",
                str(choice.min_margin),
                "--verify-fmr",
                "0.001",
            ]
        )
    at_500 = next(line for line in lines if line.startswith("open_set:") and "gallery=500" in line)
    verify = next(line for line in lines if line.startswith("verify:") and "fmr=0.0001" in line)
    tir, fmr, gar = _field(at_500, "tir"), _field(at_500, "fmr"), _field(verify, "gar")
    print(
        f"open_set: targets gallery=500 tir={tir:.3f} (>=0.90) fmr={fmr:.4f} (<=0.001) "
        f"verify_gar@1e-4={gar:.3f} (>=0.95)"
    )
    missed = tir < 0.90 or fmr > 0.001 or gar < 0.95
    return 1 if (missed and args.strict) else 0


if __name__ == "__main__":
    raise SystemExit(main())
