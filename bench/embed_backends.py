"""Face embedding speed: dlib's own engine against the same network in onnxruntime (float, int8).

Every face in ``people/`` and ``scenes/`` of the shared faces folder (16 faces) is cut into its
150x150 chip once (dlib's 5-point alignment, the chip every backend reads); the bench then
times the network alone, one face per call as the edge engine mostly embeds, for:

- ``dlib``: ``dlib.face_recognition_model_v1`` (the default backend; dlib's CPU engine runs one
  thread per call, so "all threads" runs one embedder per core side by side and divides the
  wall time of a round by the faces it embedded);
- ``onnx``: dlib's network converted by ``models.convert_dlib`` (affine folded into the
  convolutions), onnxruntime CPU, graph optimisation ``ORT_ENABLE_ALL``;
- ``int8``: the same quantised with ``quantize_static`` (QDQ, int8 per-channel weights, uint8
  activations, ranges from the chips of ``people/``).

Single thread pins onnxruntime's intra-op threads to 1; all threads uses one per core. Times
are medians over ``--rounds`` passes over the faces. It also prints the tuning that was measured
(onnxruntime graph optimisation levels, affine folded or not, batch of all chips) and the
embedding agreement with dlib. The models are converted into a temporary directory first
(``--model-dir`` reuses converted ones). Last line::

    embed_backends: onnx_vs_dlib=<dlib ms / onnx ms> int8_vs_dlib=<dlib ms / int8 ms> cosine_min=<x>

with single-thread per-face times (the smaller of the wall-clock and the CPU-time ratio) and the
smallest cosine between ONNX float and dlib.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from models.backends.dlib import DlibHogDetector, DlibResnetEmbedder
from models.backends.onnx import OnnxEmbedder, preprocess
from models.convert_dlib import (
    convert,
    dlib_model_path,
    quantize_int8,
    read_dlib_net,
    to_onnx,
)
from models.images import load_image_file
from models.registry import INPUT_PRESETS
from models.types import RGBImage

REPO = Path(__file__).resolve().parents[1]
Vectors = npt.NDArray[np.float64]


def load_chips(faces: Path) -> tuple[list[RGBImage], list[RGBImage]]:
    """(all chips of people/ and scenes/, the chips of people/ only)."""
    detector, embedder = DlibHogDetector(upsample=1), DlibResnetEmbedder()
    people: list[RGBImage] = []
    scenes: list[RGBImage] = []
    for folder, out in ((faces / "people", people), (faces / "scenes", scenes)):
        for file in sorted(folder.rglob("*")):
            if file.is_file():
                image = load_image_file(file)
                out += embedder.face_chips(image, detector.detect(image))
    return people + scenes, people


def median_ms(fn: Callable[[RGBImage], object], chips: Sequence[RGBImage], rounds: int) -> float:
    return median_ms_cpu(fn, chips, rounds)[0]


def median_ms_cpu(
    fn: Callable[[RGBImage], object], chips: Sequence[RGBImage], rounds: int
) -> tuple[float, float]:
    """Median wall and calling-thread CPU milliseconds per call (CPU time is what a single-
    threaded call really used: it does not grow when other processes share the cores)."""
    fn(chips[0])  # warm
    walls, cpus = [], []
    for _ in range(rounds):
        for chip in chips:
            start, start_cpu = time.perf_counter(), time.thread_time()
            fn(chip)
            walls.append(time.perf_counter() - start)
            cpus.append(time.thread_time() - start_cpu)
    return statistics.median(walls) * 1e3, statistics.median(cpus) * 1e3


def dlib_parallel_ms(chips: Sequence[RGBImage], rounds: int, workers: int) -> float:
    """Per-face wall time with ``workers`` dlib embedders embedding side by side."""
    embedders = [DlibResnetEmbedder() for _ in range(workers)]
    for e in embedders:
        e.load()
        e.embed_chips([chips[0]])
    times = []
    for _ in range(rounds):
        for i in range(0, len(chips) - workers + 1, workers):
            barrier = threading.Barrier(workers + 1)

            def work(e: DlibResnetEmbedder, chip: RGBImage, barrier: threading.Barrier) -> None:
                barrier.wait()
                e.embed_chips([chip])

            threads = [
                threading.Thread(target=work, args=(e, chips[i + k], barrier))
                for k, e in enumerate(embedders)
            ]
            for t in threads:
                t.start()
            start = time.perf_counter()
            barrier.wait()
            for t in threads:
                t.join()
            times.append((time.perf_counter() - start) / workers)
    return statistics.median(times) * 1e3


def vectors(embs: Sequence[object]) -> Vectors:
    return np.stack([np.asarray(e.vector, dtype=np.float64) for e in embs])  # type: ignore[attr-defined]


def agreement(ref: Vectors, got: Vectors) -> tuple[float, float]:
    cos = (ref * got).sum(1) / (np.linalg.norm(ref, axis=1) * np.linalg.norm(got, axis=1))
    return float(cos.min()), float(np.abs(ref - got).max())


def ort_session_ms(path: Path, level: str, chips: Sequence[RGBImage], rounds: int) -> float:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = getattr(ort.GraphOptimizationLevel, level)
    options.intra_op_num_threads = 1
    options.log_severity_level = 3
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    spec = INPUT_PRESETS["dlib"]
    return median_ms(lambda c: session.run(None, {name: preprocess([c], spec)}), chips, rounds)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faces", type=Path, default=REPO.parent / "shared" / "faces")
    parser.add_argument("--rounds", type=int, default=4, help="passes over the faces per timing")
    parser.add_argument("--model-dir", type=Path, help="reuse converted models from here")
    args = parser.parse_args(argv)
    if not (args.faces / "people").is_dir():
        print(f"faces not found at {args.faces}", file=sys.stderr)
        return 2
    cores = os.cpu_count() or 1
    load = os.getloadavg()[0]
    chips, people = load_chips(args.faces)
    print(f"{len(chips)} faces, {args.rounds} rounds, {cores} cores")

    with tempfile.TemporaryDirectory(prefix="vertrouwd-bench-") as tmp:
        model_dir = args.model_dir or Path(tmp)
        float_path = model_dir / "dlib_resnet_v1.onnx"
        int8_path = model_dir / "dlib_resnet_v1_int8.onnx"
        if args.model_dir is None:
            start = time.perf_counter()
            convert(float_path)
            spec = INPUT_PRESETS["dlib"]
            quantize_int8(float_path, int8_path, [preprocess([c], spec) for c in people])
            print(f"converted float + int8 in {time.perf_counter() - start:.1f} s")

        dlib = DlibResnetEmbedder()
        dlib.load()
        ref = vectors(dlib.embed_chips(chips))
        backends: dict[str, dict[str, float]] = {"dlib": {}, "onnx": {}, "int8": {}}
        backends["dlib"]["1"], backends["dlib"]["cpu"] = median_ms_cpu(
            lambda c: dlib.embed_chips([c]), chips, args.rounds
        )
        backends["dlib"]["all"] = (
            dlib_parallel_ms(chips, args.rounds, cores) if cores > 1 else backends["dlib"]["1"]
        )
        agree: dict[str, tuple[float, float]] = {}
        for name, int8 in (("onnx", False), ("int8", True)):
            for label, threads in (("1", 1), ("all", 0)):
                e = OnnxEmbedder(model_dir=model_dir, int8=int8, threads=threads)
                e.load()
                wall, cpu = median_ms_cpu(lambda c: e.embed_chips([c]), chips, args.rounds)  # noqa: B023
                backends[name][label] = wall
                if label == "1":
                    backends[name]["cpu"] = cpu
                if label == "all":
                    agree[name] = agreement(ref, vectors(e.embed_chips(chips)))
                    start = time.perf_counter()
                    for _ in range(args.rounds):
                        e.embed_chips(chips)
                    batch_ms = (time.perf_counter() - start) * 1e3 / (args.rounds * len(chips))
                    backends[name]["batch"] = batch_ms

        print()
        print("per-face embedding time, ms (median; network only, chip already cut)")
        print(
            f"{'backend':<8} {'1 thread':>9} {'(cpu)':>7} {'all':>9} {'batch/all':>10}"
            "  speed vs dlib: 1 thread / all"
        )
        d1, dall = backends["dlib"]["1"], backends["dlib"]["all"]
        for name, t in backends.items():
            batch = f"{t['batch']:>10.2f}" if "batch" in t else f"{'-':>10}"
            print(
                f"{name:<8} {t['1']:>9.2f} {t['cpu']:>7.2f} {t['all']:>9.2f} {batch}  "
                f"{d1 / t['1']:>6.1f}x / {dall / t['all']:.1f}x"
            )
        print(f"(load average {load:.2f} on {cores} cores before the bench)")
        print()
        for name, (cos, diff) in agree.items():
            print(
                f"{name} vs dlib on {len(chips)} faces: cosine min {cos:.7f}, max |diff| {diff:.2e}"
            )

        print()
        print("tuning, ONNX float, 1 thread, ms per face:")
        unfused = Path(tmp) / "unfused.onnx"
        unfused.write_bytes(
            to_onnx(read_dlib_net(dlib_model_path()), fold_affine=False).SerializeToString()
        )
        for level in (
            "ORT_DISABLE_ALL",
            "ORT_ENABLE_BASIC",
            "ORT_ENABLE_EXTENDED",
            "ORT_ENABLE_ALL",
        ):
            fused_ms = ort_session_ms(float_path, level, chips, max(1, args.rounds // 2))
            plain_ms = ort_session_ms(unfused, level, chips, max(1, args.rounds // 2))
            print(
                f"  {level:<20} affine folded {fused_ms:6.2f}   affine as Mul+Add {plain_ms:6.2f}"
            )

    def ratio(name: str) -> float:
        """dlib's single-thread time over ``name``'s: the smaller of the wall-clock and the
        CPU-time ratios, so a busy machine (which stretches long calls more) cannot flatter."""
        t, d = backends[name], backends["dlib"]
        return min(d["1"] / t["1"], d["cpu"] / t["cpu"])

    onnx_ratio, int8_ratio = ratio("onnx"), ratio("int8")
    print(
        f"embed_backends: onnx_vs_dlib={onnx_ratio:.1f} int8_vs_dlib={int8_ratio:.1f} "
        f"cosine_min={agree['onnx'][0]:.7f}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
