"""``vertrouwd models ...``: model maintenance commands (wired in by the server's CLI).

``calibrate DIR [--target-fmr X] [--safety-gap G] [--upsample N] [--embedder SPEC [-o K=V ...]]
[--write | --output FILE]`` measures a detector and embedder on a folder with one subfolder per
identity, prints the distance distributions and the chosen operating point, and with ``--write``
stores it as the model's shipped calibration (``models/calibration/<model_id>.json``). SPEC is
a backend name or a JSON object; ``-o key=value`` sets one of its options (the value is read as
JSON when it parses, else as text), e.g. ``--embedder onnx -o int8=true`` or
``--embedder onnx -o model=arcface.onnx -o sha256=... -o model_id=arcface_r50 -o input=arcface``.

With ``--gallery N`` (repeatable) calibrate also measures open-set identification on many
people (see ``evaluate``), chooses the threshold and margin meeting ``--target-fmr`` per
passer-by at each gallery size, the 1:1 ``verify_threshold`` at ``--verify-fmr``, and stores
those figures and the data they came from (counts, draws, seed, source; no image or embedding)
in the model's calibration; ``--adopt`` also makes the point for the largest N the threshold.

``evaluate DIR --gallery N [--gallery N ...] [--enrol K] [--draws D] [--seed S] [--cache DIR]
[--embedder SPEC]`` measures open-set identification with the detector, embedder and matching
rule of the product (:mod:`models.evaluation`): one ``open_set:`` line per gallery size and
``verify:`` lines for 1:1 verification. Embeddings are cached per photo (model id, detector,
path, size, mtime) in ``--cache`` (default ``$VERTROUWD_CACHE_DIR`` or the user's data dir).

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
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from models.calibration import (
    DEFAULT_SAFETY_GAP,
    DEFAULT_TARGET_FMR,
    Calibration,
    OpenSetCalibration,
    OpenSetChoice,
    OpenSetPoint,
    TrackCalibration,
    TrackThreshold,
    VerifyPoint,
    calibrate,
    load_calibration,
    save_calibration,
)
from models.evaluation import (
    SPLITS,
    THRESHOLD_GRID,
    FaceSet,
    choose_open_set_point,
    default_cache_dir,
    embed_folder,
    open_set_draws,
    open_set_rates,
    verification,
)
from models.registry import BackendConfig, create_detector, create_embedder, detector_config
from models.tracks import track_thresholds, walkby_draws, walkby_rates
from models.types import BackendUnavailable, FaceEmbedder

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
    cal.add_argument(
        "--gallery",
        type=int,
        action="append",
        metavar="N",
        help="also measure open-set identification at N members (repeatable) and choose the "
        "threshold and margin meeting --target-fmr per passer-by at the largest N",
    )
    _open_set_options(cal)
    cal.add_argument(
        "--verify-fmr",
        type=float,
        default=1e-4,
        help="with --gallery: false-match rate of the 1:1 verify_threshold (default 0.0001)",
    )
    cal.add_argument(
        "--adopt",
        action="store_true",
        help="with --gallery: make the chosen open-set point the model's threshold and margin "
        "(without it the shipped threshold is kept and its curve measured)",
    )
    out = cal.add_mutually_exclusive_group()
    out.add_argument(
        "--write", action="store_true", help="store the result as the model's calibration"
    )
    out.add_argument("--output", type=Path, help="write the calibration JSON to this file")

    ev = sub.add_parser(
        "evaluate",
        help="open-set identification and 1:1 verification on DIR with the product's pipeline",
        description="DIR holds one subfolder per person. Per draw, N members with at least "
        "K+1 faces enrol K photos each; one other photo of each member and one photo of every "
        "other person are matched with the matcher's rule (distance <= threshold and margin "
        ">= min margin). Prints one open_set line per gallery size and verify lines (1:1).",
    )
    ev.add_argument("dir", type=Path, metavar="DIR")
    ev.add_argument(
        "--gallery", type=int, action="append", required=True, metavar="N", help="repeatable"
    )
    _open_set_options(ev)
    ev.add_argument("--detector", default="dlib_hog", help="detector backend (default dlib_hog)")
    ev.add_argument("--upsample", type=int, default=1, help="detector upsampling (default 1)")
    ev.add_argument(
        "--embedder",
        default="dlib_resnet",
        help="embedder backend name or JSON spec (default dlib_resnet; run through its ONNX "
        "conversion when `vertrouwd models convert-dlib` has made it: same vectors, faster)",
    )
    ev.add_argument("-o", "--embedder-option", action="append", default=[], metavar="KEY=VALUE")
    ev.add_argument(
        "--threshold", type=float, help="distance threshold (default: the model's calibration)"
    )
    ev.add_argument(
        "--margin", type=float, help="minimum margin (default: the model's calibration)"
    )
    ev.add_argument(
        "--calibration",
        type=Path,
        metavar="FILE",
        help="take the threshold, margin and track map from this calibration JSON (e.g. one "
        "made by `calibrate --split calibrate --output FILE`) instead of the shipped one",
    )
    ev.add_argument(
        "--verify-fmr",
        type=float,
        action="append",
        help="false-match rates for the verify lines (default 0.001 and 0.0001)",
    )

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


def _open_set_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--enrol", type=int, default=1, metavar="K", help="photos enrolled per member")
    p.add_argument(
        "--split",
        choices=SPLITS,
        help="use only one of two disjoint halves of DIR's people (fixed by each folder's name): "
        "calibrate on one, evaluate on the other",
    )
    p.add_argument(
        "--track-frames",
        type=int,
        default=3,
        metavar="T",
        help="frames of a synthetic walk-by (several photos of one person) for the track-mean "
        "figures (models.tracks); 0 leaves them out (default 3)",
    )
    p.add_argument("--draws", type=int, default=5, help="seeded galleries averaged (default 5)")
    p.add_argument("--seed", type=int, default=0, help="seed of the draws (default 0)")
    p.add_argument(
        "--cache",
        type=Path,
        metavar="DIR",
        help="embedding cache dir (default $VERTROUWD_CACHE_DIR or the user's data dir); "
        "holds embeddings of DIR's photos, keep it out of the repository",
    )


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
    if args.gallery:
        return _calibrate_open_set(args)
    if args.adopt:
        print("error: --adopt needs --gallery", file=sys.stderr)
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


def _embedder_for_evaluation(spec: str, options: dict[str, Any]) -> tuple[FaceEmbedder, str]:
    """The embedder to measure with, and a line saying which one ran.

    dlib's network runs through its ONNX conversion when that has been made: the vectors are
    the same (cosine 1.0000000 in convert-dlib's check, same model id) at a tenth of the time.
    """
    if spec == "dlib_resnet" and not options:
        from models.backends.onnx import model_file

        if model_file(None, int8=False).is_file():
            try:
                onnx = create_embedder("onnx")
                onnx.load()
            except (ValueError, BackendUnavailable):
                pass
            else:
                return onnx, "onnx (dlib_resnet_v1 converted by `vertrouwd models convert-dlib`)"
    embedder = create_embedder(spec, **options)
    embedder.load()
    return embedder, str(spec)


def _faces(args: argparse.Namespace) -> tuple[FaceSet, str]:
    """Embed DIR (through the cache) for evaluate and calibrate --gallery; prints what ran."""
    config = detector_config(args.detector, upsample=args.upsample)
    detector = create_detector(config)
    detector.load()
    description = _describe(config)
    options = dict(_option(o) for o in args.embedder_option)
    embedder, used = _embedder_for_evaluation(args.embedder, options)
    cache = args.cache or default_cache_dir()
    print(f"embedder: {used}; detector: {description}; cache: {cache}", flush=True)
    faces = embed_folder(
        args.dir,
        detector,
        embedder,
        detector_description=description,
        cache_dir=cache,
        progress=stderr_progress(),
    )
    print(
        f"faces: people={faces.people} photos={len(faces.files)} no_face={faces.no_face} "
        f"embedded_now={faces.embedded}",
        flush=True,
    )
    if args.split:
        faces = faces.split(args.split)
        print(f"split: {args.split} people={faces.people} photos={len(faces.files)}", flush=True)
    return faces, description


def stderr_progress(every: int = 500) -> Callable[[int, int], None]:
    """A progress callback printing ``faces: n/total`` to stderr every ``every`` photos."""

    def report(n: int, total: int) -> None:
        if n % every == 0 or n == total:
            print(f"faces: {n}/{total}", file=sys.stderr, flush=True)

    return report


def _describe(config: BackendConfig) -> str:
    return (
        f"{config.type} "
        + " ".join(f"{k}={v}" for k, v in config.model_dump().items() if k != "type")
    ).strip()


def _check_open_set_args(args: argparse.Namespace) -> str | None:
    if any(n < 1 for n in args.gallery):
        return "--gallery must be at least 1"
    if args.enrol < 1 or args.draws < 1:
        return "--enrol and --draws must be at least 1"
    if args.track_frames < 0:
        return "--track-frames must be 0 (off) or more"
    return None


def _open_set_line(model_id: str, n: int, enrol: int, t: float, m: float, r: Any) -> str:
    return (
        f"open_set: model={model_id} gallery={n} enrol={enrol} tir={r.tir:.3f} fmr={r.fmr:.4f} "
        f"threshold={t:.3f} margin={m:.2f} wrong={r.wrong:.4f} "
        f"member_probes={r.member_probes} non_member_probes={r.other_probes}"
    )


def _evaluate(args: argparse.Namespace) -> int:
    problem = _check_open_set_args(args)
    fmrs = args.verify_fmr or [1e-3, 1e-4]
    if problem is None and not all(0.0 < f < 1.0 for f in fmrs):
        problem = "--verify-fmr must be between 0 and 1"
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    try:
        faces, _ = _faces(args)
        threshold, margin = args.threshold, args.margin
        shipped = _calibration_for(faces.model_id, args.calibration)
        if threshold is None or margin is None:
            threshold = shipped.threshold if threshold is None else threshold
            margin = shipped.min_margin if margin is None else margin
        for n in sorted(set(args.gallery)):
            draws = open_set_draws(faces, n, enrol=args.enrol, draws=args.draws, seed=args.seed)
            rates = open_set_rates(draws, threshold, margin)
            print(_open_set_line(faces.model_id, n, args.enrol, threshold, margin, rates))
        if args.track_frames:
            track_threshold = shipped.track_threshold(threshold)
            for n in sorted(set(args.gallery)):
                walks = walkby_draws(
                    faces, n, margin=margin, frames=args.track_frames, draws=args.draws,
                    seed=args.seed,
                )  # fmt: skip
                for per, t in (("frame", threshold), ("track", track_threshold)):
                    tir, fmr = walkby_rates(walks, t, per=per)
                    print(
                        f"walkby: model={faces.model_id} gallery={n} frames={args.track_frames} "
                        f"per={per} tir={tir:.3f} fmr={fmr:.4f} threshold={t:.3f} "
                        f"margin={margin:.2f}"
                    )
        pairs = verification(faces)
        counts = f"genuine_pairs={len(pairs.genuine)} impostor_pairs={len(pairs.impostor)}"
        for fmr in sorted(fmrs, reverse=True):
            if len(pairs.impostor) * fmr < 1.0 or not len(pairs.genuine):
                print(f"verify: model={faces.model_id} fmr={fmr:g} not_measurable {counts}")
                continue
            t, gar = pairs.at_fmr(fmr)
            print(
                f"verify: model={faces.model_id} fmr={fmr:g} threshold={t:.3f} gar={gar:.3f} "
                + counts
            )
    except (ValueError, LookupError, BackendUnavailable) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def _calibration_for(model_id: str, file: Path | None) -> Calibration:
    """The shipped calibration of ``model_id``, or the one in ``file``."""
    if file is None:
        return load_calibration(model_id)
    try:
        calibration = Calibration.model_validate_json(file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ValueError(f"cannot read {file}: {exc.strerror or exc}") from exc
    except ValidationError as exc:
        raise ValueError(f"{file} is not a calibration: {exc.error_count()} problems") from exc
    if calibration.model_id != model_id:
        raise ValueError(f"{file} is a calibration of {calibration.model_id!r}, not {model_id!r}")
    return calibration


def _track_calibration(
    args: argparse.Namespace, faces: FaceSet, gallery: int, margin: float
) -> TrackCalibration:
    """Walk-bys at ``gallery`` members: the track threshold for each frame threshold."""
    frames = args.track_frames
    walks = walkby_draws(
        faces, gallery, margin=margin, frames=frames, draws=args.draws, seed=args.seed
    )
    frame_grid = [round(0.40 + 0.01 * i, 2) for i in range(31)]
    pairs = track_thresholds(walks, frame_grid, THRESHOLD_GRID)
    if not pairs:
        raise ValueError("no track threshold matches as few strangers as single frames do")
    points = []
    for frame_t, track_t in pairs:
        tir, fmr = walkby_rates(walks, track_t)
        frame_tir, frame_fmr = walkby_rates(walks, frame_t, per="frame")
        points.append(
            TrackThreshold(
                frame=frame_t,
                track=track_t,
                fmr=round(fmr, 5),
                frame_fmr=round(frame_fmr, 5),
                tir=round(tir, 4),
                frame_tir=round(frame_tir, 4),
            )
        )
        print(
            f"track: model={faces.model_id} gallery={gallery} frames={frames} "
            f"frame_threshold={frame_t:.3f} frame_tir={frame_tir:.3f} frame_fmr={frame_fmr:.4f} "
            f"track_threshold={track_t:.3f} track_tir={tir:.3f} track_fmr={fmr:.4f}"
        )
    return TrackCalibration(
        gallery=gallery,
        frames=frames,
        best=3,
        min_frames=2,
        agree=2,
        member_tracks=len(walks[0].member_track),
        stranger_tracks=len(walks[0].other_track),
        thresholds=points,
        rule=(
            "track = the largest threshold at which strangers' walk-bys (the mean of the best "
            "3 frames from the 2nd on, 2 frames agreeing) are matched no more often than "
            "single frames at the frame threshold, with the calibration's margin"
        ),
    )


def _calibrate_open_set(args: argparse.Namespace) -> int:
    """``calibrate DIR --gallery N ...``: open-set and 1:1 operating points from many people."""
    problem = _check_open_set_args(args)
    if problem is None and not 0.0 < args.verify_fmr < 1.0:
        problem = "--verify-fmr must be between 0 and 1"
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    try:
        faces, detector = _faces(args)
        base = load_calibration(faces.model_id)
        sizes = sorted(set(args.gallery))
        draws = {
            n: open_set_draws(faces, n, enrol=args.enrol, draws=args.draws, seed=args.seed)
            for n in sizes
        }
        choices: list[OpenSetChoice] = []
        for n in sizes:
            found = choose_open_set_point(draws[n], args.target_fmr)
            if found is None:
                print(f"choice: gallery={n} target_fmr={args.target_fmr:g} none in the grid")
                continue
            t, m, r = found
            choices.append(
                OpenSetChoice(gallery=n, threshold=t, min_margin=m, tir=r.tir, fmr=r.fmr)
            )
            print(
                f"choice: model={faces.model_id} gallery={n} target_fmr={args.target_fmr:g} "
                f"threshold={t:.3f} margin={m:.2f} tir={r.tir:.3f} fmr={r.fmr:.4f}"
            )
        threshold, margin = base.threshold, base.min_margin
        if args.adopt:
            largest = [c for c in choices if c.gallery == sizes[-1]]
            if not largest:
                print("error: --adopt: no point meets the target at the largest gallery")
                return 2
            threshold, margin = largest[0].threshold, largest[0].min_margin
        curve = []
        for n in sizes:
            r = open_set_rates(draws[n], threshold, margin)
            print(_open_set_line(faces.model_id, n, args.enrol, threshold, margin, r))
            curve.append(
                OpenSetPoint(
                    gallery=n,
                    tir=round(r.tir, 4),
                    fmr=round(r.fmr, 5),
                    wrong=round(r.wrong, 5),
                    member_probes=r.member_probes,
                    non_member_probes=r.other_probes,
                )
            )
        pairs = verification(faces)
        verify = []
        for fmr in sorted({1e-3, args.verify_fmr}, reverse=True):
            if fmr != args.verify_fmr and len(pairs.impostor) * fmr < 1.0:
                continue  # the 0.001 point is for the record; only --verify-fmr is required
            t, gar = pairs.at_fmr(fmr)
            verify.append(VerifyPoint(fmr=fmr, threshold=t, gar=round(gar, 4)))
            print(f"verify: model={faces.model_id} fmr={fmr:g} threshold={t:.3f} gar={gar:.3f}")
        verify_threshold = next(v.threshold for v in verify if v.fmr == args.verify_fmr)
        track = _track_calibration(args, faces, sizes[-1], margin) if args.track_frames else None
        now = datetime.now(UTC).replace(microsecond=0)
        root = Path(args.dir)
        open_set = OpenSetCalibration(
            source=(
                f"{root.name}/{f' ({args.split} half)' if args.split else ''}: "
                f"{faces.people} people, {len(faces.files)} photos with a face"
            ),
            detector=detector,
            people=faces.people,
            photos=len(faces.files),
            no_face=faces.no_face,
            enrol=args.enrol,
            draws=args.draws,
            seed=args.seed,
            threshold=threshold,
            min_margin=margin,
            curve=curve,
            target_fmr=args.target_fmr,
            choices=[
                c.model_copy(update={"tir": round(c.tir, 4), "fmr": round(c.fmr, 5)})
                for c in choices
            ],
            genuine_pairs=len(pairs.genuine),
            impostor_pairs=len(pairs.impostor),
            verify=verify,
            track=track,
            created_at=now,
        )
        result = base.model_copy(
            update={
                "threshold": threshold,
                "min_margin": margin,
                "verify_threshold": verify_threshold,
                "verify_target_fmr": args.verify_fmr,
                "open_set": open_set,
            }
        )
        result = Calibration.model_validate(result.model_dump())
    except (ValueError, LookupError, BackendUnavailable) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.write or args.output:
        path = save_calibration(result, args.output)
        print(f"wrote {path}")
    return 0


def _convert(args: argparse.Namespace) -> int:
    from models.backends.onnx import model_file, preprocess
    from models.convert_dlib import (
        calibration_chips,
        compare_with_dlib,
        convert,
        quantize_int8,
    )
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
    if args.command == "evaluate":
        return _evaluate(args)
    if args.command == "convert-dlib":
        return _convert(args)
    if args.command == "install":
        return _install(args)
    return 2  # pragma: no cover - argparse refuses unknown commands


if __name__ == "__main__":
    raise SystemExit(main())
