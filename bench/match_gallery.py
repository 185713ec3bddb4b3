"""Gallery matching speed: models.GalleryIndex against the plain face_recognition-style loop.

Builds random unit-length 128-d templates (10 templates per subject), and times one query at a
time, single-threaded (BLAS/OpenMP threads are pinned to 1 before NumPy is imported):

- ``GalleryIndex.match``: precomputed squared norms, one float32 matrix-vector product,
  ``np.minimum.reduceat`` over subject-sorted rows, exact re-scoring of the top few subjects.
- the peer, what a face_recognition user writes: ``face_distance`` (that is
  ``np.linalg.norm(gallery - q, axis=1)``) over every template, then ``np.argsort`` of the
  distances and a walk down that order to the best and the second-best *different* subject.

Both give the same best/second subjects on every query (checked). The last line is
``match_gallery: templates=100000 ms_per_query=<x> peer_ms=<y> ratio=<peer/x>``.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import math  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from functools import partial  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import numpy.typing as npt  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from models.matcher import GalleryIndex, MatchResult  # noqa: E402
from models.types import Embedding  # noqa: E402

DIM = 128
PER_SUBJECT = 10
MODEL_ID = "bench"

Matrix = npt.NDArray[np.float32]


def make_gallery(templates: int, rng: np.random.Generator) -> tuple[list[str], Matrix]:
    subjects = templates // PER_SUBJECT
    ids = [f"s{i % subjects:06d}" for i in range(templates)]
    vectors = rng.standard_normal((templates, DIM), dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return ids, vectors


def make_queries(vectors: Matrix, count: int, rng: np.random.Generator) -> list[Matrix]:
    """Half near an enrolled template (a member walking in), half random (a passer-by)."""
    out = []
    for i in range(count):
        if i % 2 == 0:
            q = vectors[rng.integers(len(vectors))] + 0.03 * rng.standard_normal(DIM)
        else:
            q = rng.standard_normal(DIM)
            q /= np.linalg.norm(q)
        out.append(q.astype(np.float32))
    return out


def peer_match(ids: list[str], vectors: Matrix, q: Matrix) -> tuple[str, float, str | None, float]:
    distances = np.linalg.norm(vectors - q, axis=1)  # face_recognition.face_distance
    order = np.argsort(distances)
    best = ids[int(order[0])]
    for row in order[1:]:
        if ids[int(row)] != best:
            return best, float(distances[order[0]]), ids[int(row)], float(distances[row])
    return best, float(distances[order[0]]), None, math.inf


def ours_match(index: GalleryIndex, q: Matrix) -> MatchResult:
    return index.match(Embedding(q, MODEL_ID))


def time_each(fn: Callable[[Matrix], object], queries: list[Matrix]) -> float:
    """Median milliseconds per call, after two warm-up calls."""
    for q in queries[:2]:
        fn(q)
    times = []
    for q in queries:
        start = time.perf_counter()
        fn(q)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def check_agree(result: MatchResult, peer: tuple[str, float, str | None, float]) -> None:
    best, best_d, second, second_d = peer
    if (result.subject_id, result.second_subject_id) != (best, second):
        raise SystemExit(f"disagreement: {result} vs peer {peer}")
    if not math.isclose(result.distance, best_d, rel_tol=1e-4, abs_tol=1e-5):
        raise SystemExit(f"distance disagreement: {result.distance} vs {best_d}")
    if not math.isclose(result.second_distance, second_d, rel_tol=1e-4, abs_tol=1e-5):
        raise SystemExit(f"second distance disagreement: {result.second_distance} vs {second_d}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=400, help="queries timed per size")
    parser.add_argument("--peer-queries", type=int, default=60, help="queries timed for the peer")
    parser.add_argument("--sizes", default="10000,50000,100000", help="template counts")
    args = parser.parse_args()
    rng = np.random.default_rng(2024)
    sizes = [int(s) for s in args.sizes.split(",")]

    print(f"single thread; {DIM}-d float32 unit templates, {PER_SUBJECT} per subject")
    print(
        f"{'templates':>10} {'subjects':>9} {'build_s':>8} {'match_ms':>9} {'many_ms/q':>10}"
        f" {'peer_ms':>8} {'ratio':>6} {'us/1k templates':>16}"
    )
    last: tuple[int, float, float] | None = None
    for n in sizes:
        ids, vectors = make_gallery(n, rng)
        start = time.perf_counter()
        index = GalleryIndex.build(ids, vectors, MODEL_ID)
        build_s = time.perf_counter() - start
        queries = make_queries(vectors, args.queries, rng)
        embeddings = [Embedding(q, MODEL_ID) for q in queries]

        for q, e in zip(queries[: args.peer_queries], embeddings, strict=False):
            check_agree(index.match(e), peer_match(ids, vectors, q))

        ms = time_each(partial(ours_match, index), queries)
        start = time.perf_counter()
        index.match_many(embeddings)
        many_ms = (time.perf_counter() - start) * 1e3 / len(embeddings)
        peer_ms = time_each(partial(peer_match, ids, vectors), queries[: args.peer_queries])
        print(
            f"{n:>10} {index.subject_count:>9} {build_s:>8.3f} {ms:>9.3f} {many_ms:>10.3f}"
            f" {peer_ms:>8.2f} {peer_ms / ms:>6.1f} {ms / n * 1e6:>16.1f}"
        )
        last = (n, ms, peer_ms)
    if last is None:
        return 2
    n, ms, peer_ms = last
    ratio = peer_ms / ms
    print(
        f"match_gallery: templates={n} ms_per_query={ms:.3f} "
        f"peer_ms={peer_ms:.3f} ratio={ratio:.1f}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
