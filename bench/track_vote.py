"""Per-frame vs per-track decisions on synthetic walk-bys built from lfw-calib photos.

A door camera sees each person for several frames. This bench builds "tracks" from the cached
embeddings of ``lfw-calib`` (see ``bench/open_set.py``; the first run embeds the photos):

* a gallery of ``--gallery`` members (people with at least ``T + 1`` photos) enrols one photo
  each; each member walks by as a track of ``T`` of their *other* photos;
* every person outside the gallery with at least ``T`` photos walks by as a track of ``T``
  photos (the door sees mostly strangers); people with fewer photos walk by as one frame each
  and count for the per-frame figure only.

and compares, with the product's matcher and its shipped threshold and margin:

* ``frame``: each frame decided alone (one photo, one decision: what ``models evaluate``
  measures);
* ``any``: a track accepted when any of its frames is (k = 1: the cheapest per-frame system);
* ``kofn``: the edge's default vote (``edge.confirm.KOfN``, k=3 of n=5, here k of T);
* ``mean``: ``edge.confirm.TrackMean``: the mean of the track's embeddings, matched once;
* ``mean_at_kofn_fmr``: the same with the threshold (same margin) lowered until its
  false-match rate is no higher than k-of-n's, to compare members identified at equal risk.

Photos of one LFW person come from different days, so a track here varies more than the frames
of one walk-by do: the gain of aggregation is an upper bound for video. Lines::

    track_vote: method=<m> gallery=<N> frames=<T> tir=<x> fmr=<y> tracks=<members>/<others>
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edge.confirm import KOfN, MatchOutcome, TrackMean, track_embedding
from models.calibration import load_calibration
from models.evaluation import FaceSet, OpenSetDraw, choose_open_set_point, embed_folder
from models.matcher import GalleryIndex
from models.registry import create_detector, create_embedder, detector_config
from models.types import Embedding


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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faces", type=Path, default=Path("../shared/faces"))
    parser.add_argument("--gallery", type=int, action="append", help="default 100 and 250")
    parser.add_argument("--frames", type=int, default=3, help="frames per track (T)")
    parser.add_argument("--draws", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cache", type=Path)
    args = parser.parse_args()
    with contextlib.suppress(OSError):
        os.nice(10)
    faces = _faces(args.faces / "lfw-calib", args.cache)
    cal = load_calibration(faces.model_id)
    t, m, frames_per_track = cal.threshold, cal.min_margin, args.frames
    groups = faces.by_identity()
    eligible = sorted(p for p, rows in groups.items() if len(rows) >= frames_per_track + 1)
    kofn = KOfN(k=min(3, frames_per_track), n=frames_per_track, threshold=t, min_margin=m)
    mean = TrackMean(t, m, best=frames_per_track, min_frames=frames_per_track)
    print(
        f"# {len(faces.files)} faces of {len(groups)} people; {len(eligible)} with "
        f">= {frames_per_track + 1} photos; threshold {t} margin {m}; k={kofn.k} of n={kofn.n}"
    )
    for n in sorted(set(args.gallery or [100, 250])):
        if n >= len(eligible):
            print(f"# gallery {n}: only {len(eligible)} people have enough photos")
            continue
        sums: dict[str, list[float]] = {k: [0.0, 0.0] for k in ("frame", "any", "kofn", "mean")}
        counts = [0, 0]
        mean_draws: list[OpenSetDraw] = []
        for d in range(args.draws):
            rng = np.random.default_rng([args.seed, n, frames_per_track, d])
            members = [eligible[i] for i in rng.choice(len(eligible), size=n, replace=False)]
            member_set = set(members)
            subjects, rows, tracks = [], [], []
            for person in members:
                picked = [int(r) for r in rng.permutation(groups[person])]
                subjects.append(person)
                rows.append(picked[0])
                tracks.append((person, picked[1 : 1 + frames_per_track]))
            others = [p for p in sorted(groups) if p not in member_set]
            other_tracks = [
                (None, [int(r) for r in rng.permutation(groups[p])[:frames_per_track]])
                for p in others
                if len(groups[p]) >= frames_per_track
            ]
            index = GalleryIndex.build(subjects, faces.vectors[rows], faces.model_id)

            def outcome(vector: np.ndarray, index: GalleryIndex = index) -> MatchOutcome:
                r = index.match(Embedding(np.asarray(vector, dtype=np.float32), faces.model_id))
                return MatchOutcome(r.subject_id, r.distance, r.margin)

            mean_outs: list[list[tuple[MatchOutcome, bool]]] = [[], []]
            for kind, group in ((0, tracks), (1, other_tracks)):
                hits = dict.fromkeys(sums, 0.0)
                frame_total = 0
                for person, track in group:
                    outs = [outcome(faces.vectors[r]) for r in track]
                    mo = outcome(
                        track_embedding([faces.vectors[r] for r in track], [1.0] * len(track))
                    )
                    mean_outs[kind].append((mo, mo.subject_id == person))
                    votes = [o.accepted(t, m) for o in outs]

                    def good(
                        subject: str | None, person: str | None = person, kind: int = kind
                    ) -> bool:
                        return subject is not None and (kind == 1 or subject == person)

                    hits["frame"] += sum(good(v) for v in votes)
                    frame_total += len(votes)
                    hits["any"] += any(good(v) for v in votes)
                    c = kofn.decide(outs)
                    hits["kofn"] += good(c.subject_id if c else None)
                    c = mean.decide([faces.vectors[r] for r in track], [1.0] * len(track), outcome)
                    hits["mean"] += good(c.subject_id if c else None)
                for key in sums:
                    total = frame_total if key == "frame" else len(group)
                    sums[key][kind] += hits[key] / total
                counts[kind] = len(group)
            mean_draws.append(
                OpenSetDraw(
                    gallery=n,
                    enrol=1,
                    member_distance=np.array([o.distance for o, _ in mean_outs[0]]),
                    member_margin=np.array([o.margin for o, _ in mean_outs[0]]),
                    member_right=np.array([r for _, r in mean_outs[0]]),
                    other_distance=np.array([o.distance for o, _ in mean_outs[1]]),
                    other_margin=np.array([o.margin for o, _ in mean_outs[1]]),
                )
            )
        for key, (tir, fmr) in sums.items():
            print(
                f"track_vote: method={key} gallery={n} frames={frames_per_track} "
                f"tir={tir / args.draws:.3f} fmr={fmr / args.draws:.4f} "
                f"tracks={counts[0]}/{counts[1]}",
                flush=True,
            )
        # The mean at the false-match rate k-of-n reaches: its own threshold (same margin).
        kofn_fmr = sums["kofn"][1] / args.draws
        found = choose_open_set_point(mean_draws, max(kofn_fmr, 1e-6), margins=(m,))
        if found is not None:
            t_mean, _, rates = found
            print(
                f"track_vote: method=mean_at_kofn_fmr gallery={n} frames={frames_per_track} "
                f"tir={rates.tir:.3f} fmr={rates.fmr:.4f} threshold={t_mean:.3f}",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
