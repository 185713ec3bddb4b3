"""Per-frame vs per-track decisions on synthetic walk-bys built from lfw-calib photos.

A door camera sees each person for several frames. This bench builds walk-bys from the cached
embeddings of ``lfw-calib`` (see ``bench/open_set.py``; the first run embeds the photos) with
``models.tracks.walkby_draws``: a gallery of ``--gallery`` members (people with 2 or more
photos) enrols one photo each and each member walks by with ``T`` of their other photos;
**every** person outside the gallery walks by the same way (the door sees mostly strangers).
A person with fewer than ``T`` photos repeats them (someone standing still gives the same
frame); ``strangers=distinct`` restricts the figures to strangers whose ``T`` frames are all
different photos. Frames reach the decision one by one, as on the edge, which decides after
each embedding and stops at the first acceptance:

* ``frame``: each frame decided alone (what ``models evaluate`` measures);
* ``kofn``: ``edge.confirm.KOfN``, 3 of the last 5 (k = T when T < 3);
* ``mean``: the mean of the best 3 frames from the 2nd on, no agreement asked;
* ``mean_agree``: the edge's default rule (``confirm_rule="mean"``, ``edge.confirm.TrackMean``):
  the same, and 2 of the frames have the mean's member as their own nearest.

Each is printed at the single-frame threshold and margin of the model's calibration (the mean
at the *track* threshold the calibration maps it to, ``Calibration.track_threshold``), and then
(``@fmr=<target>``) at the threshold (same margin) that keeps the stranger rate within
``--target-fmr`` (default 0.001, the issue's target), to compare members identified at equal
risk. On the first draw a sample of tracks is also fed frame by frame through the edge's own
``KOfN`` and ``TrackMean`` objects, which must decide as the replay does.

Photos of one LFW person come from different days, so a track of distinct photos varies more
than the frames of one walk-by do; repeated photos vary not at all. Lines::

    track_vote: method=<m> gallery=<N> frames=<T> strangers=<all|distinct> tir=<x> fmr=<y>
        threshold=<t> tracks=<members>/<strangers>
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import numpy.typing as npt

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edge.confirm import KOfN, MatchOutcome, TrackMean
from models.calibration import load_calibration
from models.evaluation import THRESHOLD_GRID, FaceSet, embed_folder
from models.matcher import GalleryIndex
from models.registry import create_detector, create_embedder, detector_config
from models.tracks import WalkByDraw, walkby_draws, walkby_rates
from models.types import Embedding

METHODS = ("frame", "kofn", "mean", "mean_agree")


def _faces(folder: Path, cache: Path | None) -> FaceSet:
    from models.backends.onnx import model_file

    config = detector_config("dlib_hog", upsample=1)
    description = (
        f"{config.type} "
        + " ".join(f"{k}={v}" for k, v in config.model_dump().items() if k != "type")
    ).strip()
    embedder = create_embedder("onnx" if model_file(None, int8=False).is_file() else "dlib_resnet")
    return embed_folder(
        folder,
        create_detector(config),
        embedder,
        detector_description=description,
        cache_dir=cache,
    )


def _tracks_of(
    faces: FaceSet, gallery: int, frames: int, d: int, seed: int
) -> tuple[GalleryIndex, list[tuple[str | None, list[int]]]]:
    """The same members, enrolment and walk-bys as ``walkby_draws`` draw ``d``."""
    groups = faces.by_identity()
    eligible = sorted(p for p, rows in groups.items() if len(rows) >= 2)
    rng = np.random.default_rng([seed, gallery, frames, d, 7])
    members = [eligible[i] for i in rng.choice(len(eligible), size=gallery, replace=False)]
    member_set = set(members)
    enrol: list[int] = []
    tracks: list[tuple[str | None, list[int]]] = []

    def cycle(rows: Sequence[int]) -> list[int]:
        return [int(rows[j % len(rows)]) for j in range(frames)]

    for person in members:
        order = [int(r) for r in rng.permutation(groups[person])]
        enrol.append(order[0])
        tracks.append((person, cycle(order[1:])))
    for person in sorted(p for p in groups if p not in member_set):
        tracks.append((None, cycle([int(r) for r in rng.permutation(groups[person])])))
    return GalleryIndex.build(members, faces.vectors[enrol], faces.model_id), tracks


def _kofn(
    faces: FaceSet,
    index: GalleryIndex,
    tracks: Sequence[tuple[str | None, list[int]]],
    margin: float,
    frames: int,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_]]:
    k = min(3, frames)
    found = index.match_many(
        [Embedding(faces.vectors[r], faces.model_id) for _, t in tracks for r in t]
    )
    dist = np.full(len(tracks), np.inf)
    right = np.zeros(len(tracks), dtype=bool)
    for i, (person, _) in enumerate(tracks):
        outs = found[i * frames : (i + 1) * frames]
        for step in range(1, frames + 1):
            window = outs[max(0, step - 5) : step]
            for subject in {o.subject_id for o in window}:
                agreeing = sorted(
                    o.distance for o in window if o.subject_id == subject and o.margin >= margin
                )
                if len(agreeing) >= k and agreeing[k - 1] < dist[i]:
                    dist[i] = agreeing[k - 1]
                    right[i] = subject == person
    return dist, right


def _check_with_edge(
    faces: FaceSet,
    index: GalleryIndex,
    tracks: Sequence[tuple[str | None, list[int]]],
    mean_draw: WalkByDraw,
    vote: tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_]],
    threshold: float,
    margin: float,
    frames: int,
) -> None:
    """The replays must decide as the edge's own rule objects do, fed frame by frame."""
    mean = TrackMean(threshold, margin, best=3, min_frames=min(2, frames))
    kofn = KOfN(min(3, frames), 5, threshold, margin)
    members = len(mean_draw.member_track)
    track_d = np.concatenate([mean_draw.member_track, mean_draw.other_track])

    def match(vector: npt.NDArray[np.float32]) -> MatchOutcome:
        r = index.match(Embedding(np.asarray(vector, dtype=np.float32), faces.model_id))
        return MatchOutcome(r.subject_id, r.distance, r.margin)

    for i in [*range(min(members, 150)), *range(members, min(len(tracks), members + 300))]:
        vectors = [faces.vectors[r] for r in tracks[i][1]]
        outs = [match(v) for v in vectors]
        by_mean = any(
            mean.decide(vectors[:s], [1.0] * s, match, outs[:s]) for s in range(1, frames + 1)
        )
        by_vote = any(kofn.decide(outs[:s]) for s in range(1, frames + 1))
        if by_mean != bool(track_d[i] <= threshold) or by_vote != bool(vote[0][i] <= threshold):
            raise AssertionError(f"the replay disagrees with edge.confirm on track {i}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faces", type=Path, default=Path("../shared/faces"))
    parser.add_argument("--gallery", type=int, action="append", help="default 100, 250, 500")
    parser.add_argument("--frames", type=int, default=3, help="frames per track (T)")
    parser.add_argument("--draws", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--target-fmr", type=float, default=1e-3)
    parser.add_argument("--cache", type=Path)
    args = parser.parse_args()
    with contextlib.suppress(OSError):
        os.nice(10)
    faces = _faces(args.faces / "lfw-calib", args.cache)
    cal = load_calibration(faces.model_id)
    t, m, frames = cal.threshold, cal.min_margin, args.frames
    track_t = cal.track_threshold(t)
    groups = faces.by_identity()
    eligible = sum(len(rows) >= 2 for rows in groups.values())
    print(
        f"# {len(faces.files)} faces of {len(groups)} people; {eligible} with >= 2 photos; "
        f"frame threshold {t} (track {track_t}) margin {m}; T={frames}; kofn {min(3, frames)} "
        f"of 5; mean of the best 3 from frame 2",
        flush=True,
    )
    for n in sorted(set(args.gallery or [100, 250, 500])):
        if n >= eligible:
            print(f"# gallery {n}: only {eligible} people have 2 or more photos")
            continue
        common = {"margin": m, "frames": frames, "draws": args.draws, "seed": args.seed}
        agree = walkby_draws(faces, n, agree=min(2, frames), min_frames=min(2, frames), **common)
        plain = walkby_draws(faces, n, agree=0, min_frames=min(2, frames), **common)
        votes = []
        for d in range(args.draws):
            index, tracks = _tracks_of(faces, n, frames, d, args.seed)
            vote = _kofn(faces, index, tracks, m, frames)
            if d == 0:
                _check_with_edge(faces, index, tracks, agree[0], vote, t, m, frames)
            members = len(agree[d].member_track)
            votes.append(
                replace(
                    agree[d],
                    member_track=vote[0][:members],
                    member_right=vote[1][:members],
                    other_track=vote[0][members:],
                )
            )
        by_method = {"frame": agree, "kofn": votes, "mean": plain, "mean_agree": agree}
        for subset in ("all", "distinct"):
            for method in METHODS:
                point = track_t if method.startswith("mean") else t
                _report(method, n, frames, subset, point, by_method[method], args.target_fmr)
    return 0


def _subset(draws: Sequence[WalkByDraw], subset: str) -> list[WalkByDraw]:
    if subset == "all":
        return list(draws)
    out = []
    for d in draws:
        keep = d.distinct
        frames = np.repeat(keep, d.frames)
        out.append(replace(d, other_track=d.other_track[keep], other_frame=d.other_frame[frames]))
    return out


def _report(
    method: str,
    n: int,
    frames: int,
    subset: str,
    threshold: float,
    draws: Sequence[WalkByDraw],
    target: float,
) -> None:
    per = "frame" if method == "frame" else "track"
    chosen = _subset(draws, subset)
    tir, fmr = walkby_rates(chosen, threshold, per=per)
    count = (
        f"frames={len(chosen[0].member_frame)}/{len(chosen[0].other_frame)}"
        if per == "frame"
        else f"tracks={len(chosen[0].member_track)}/{len(chosen[0].other_track)}"
    )
    head = f"track_vote: method={method} gallery={n} frames={frames} strangers={subset}"
    print(f"{head} tir={tir:.3f} fmr={fmr:.4f} threshold={threshold:.3f} {count}", flush=True)
    best = None
    for t in THRESHOLD_GRID:
        tir_t, fmr_t = walkby_rates(chosen, t, per=per)
        if fmr_t <= target:
            best = (t, tir_t, fmr_t)
    if best is None:
        print(f"{head}@fmr={target:g} none in the grid", flush=True)
        return
    t, tir_t, fmr_t = best
    print(f"{head}@fmr={target:g} tir={tir_t:.3f} fmr={fmr_t:.4f} threshold={t:.3f}", flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
