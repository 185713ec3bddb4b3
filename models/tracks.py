"""Deciding a walk-by from the mean of its frames, and how its threshold is calibrated.

The edge decides a track from :func:`track_embedding`, the quality-weighted mean of its best
embeddings (``edge.confirm.TrackMean``). Averaging removes part of the frame-to-frame noise
from *every* distance: a member's mean lies nearer their template, and a stranger's mean lies
nearer whichever member they resemble too. So the single-frame threshold does not carry over:
at the same threshold the mean matches about as many strangers as single frames do, or more.
:func:`walkby_draws` replays synthetic walk-bys (several photos of one person as the frames of
a track) through the edge's rule with the threshold left open, and :func:`track_thresholds`
maps each single-frame threshold to the largest track threshold at which no more strangers'
walk-bys are matched than single frames at that threshold. The edge applies that map to
whatever single-frame threshold is in force (``Calibration.track_threshold``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from models.evaluation import FaceSet
from models.matcher import GalleryIndex
from models.types import Embedding

__all__ = [
    "WalkByDraw",
    "track_embedding",
    "track_thresholds",
    "walkby_draws",
    "walkby_rates",
]


def track_embedding(
    vectors: Sequence[npt.ArrayLike], qualities: Sequence[float], *, best: int = 5
) -> npt.NDArray[np.float32]:
    """The quality-weighted mean of a track's ``best`` highest-quality embeddings, rescaled to
    the frames' own (quality-weighted) length.

    Averaging frames of one face cancels part of what varies between frames (blur, pose,
    light), so the mean lies nearer the person's own template than most single frames.
    Weights are the qualities (``models.quality.score_for_selection``), floored at a small
    positive value so a track of poor frames still has a mean.

    Why rescale: a plain mean of vectors pointing in slightly different directions is shorter
    than each of them, and a shorter query lies nearer *every* template (dlib's vectors are
    about 1.4 long). Rescaling keeps the mean where single embeddings live; for a model with
    unit-length embeddings it is plain L2 normalisation.
    """
    if len(vectors) != len(qualities):
        raise ValueError("one quality per embedding")
    if not vectors:
        raise ValueError("a track without embeddings has no mean")
    if best < 1:
        raise ValueError("best must be >= 1")
    order = sorted(range(len(vectors)), key=lambda i: -qualities[i])[:best]
    stack = np.stack([np.asarray(vectors[i], dtype=np.float64) for i in order])
    weights = np.maximum(np.asarray([qualities[i] for i in order], dtype=np.float64), 1e-3)
    mean: npt.NDArray[np.float64] = (weights[:, None] * stack).sum(axis=0) / weights.sum()
    length = float(np.linalg.norm(mean))
    if length > 0.0:
        scale = float((weights * np.linalg.norm(stack, axis=1)).sum() / weights.sum())
        mean *= scale / length
    return mean.astype(np.float32)


@dataclass(frozen=True)
class WalkByDraw:
    """One drawn gallery and its walk-bys, with the threshold left open.

    ``*_track``: per track, the smallest threshold at which the edge's rule accepts it (``inf``:
    at none, e.g. its margin is too small); ``member_right``: whether that acceptance names the
    member. ``*_frame``: the same for each single frame (distance, or ``inf`` when the margin is
    too small), ``member_frame_right`` whether its nearest member is the right one.
    ``distinct``: stranger tracks whose frames are all different photos.
    """

    gallery: int
    frames: int
    member_track: npt.NDArray[np.float64]
    member_right: npt.NDArray[np.bool_]
    other_track: npt.NDArray[np.float64]
    member_frame: npt.NDArray[np.float64]
    member_frame_right: npt.NDArray[np.bool_]
    other_frame: npt.NDArray[np.float64]
    distinct: npt.NDArray[np.bool_]


def _cycle(rows: Sequence[int], frames: int) -> list[int]:
    return [int(rows[j % len(rows)]) for j in range(frames)]


def walkby_draws(
    faces: FaceSet,
    gallery: int,
    *,
    margin: float,
    frames: int = 3,
    best: int = 3,
    min_frames: int = 2,
    agree: int = 2,
    draws: int = 5,
    seed: int = 0,
) -> list[WalkByDraw]:
    """Draw ``draws`` galleries of ``gallery`` members (seeded) and replay every walk-by.

    Members are people with at least 2 faces; each enrols one and walks by with ``frames`` of
    their other faces (seeded order, repeated when they have fewer: someone standing still).
    *Every* person outside the gallery walks by the same way with their own faces (the door
    sees mostly strangers). Frames reach the rule one by one, as on the edge: from the
    ``min_frames``-th on, the mean of the ``best`` frames so far (equal qualities: LFW has no
    video quality) is matched, and it counts when its margin is at least ``margin`` and at
    least ``agree`` of the frames so far had the mean's member as their own nearest.
    """
    if gallery < 1 or frames < 1 or draws < 1:
        raise ValueError("gallery, frames and draws must be at least 1")
    if not 1 <= min_frames <= min(best, frames):
        raise ValueError("need 1 <= min_frames <= min(best, frames)")
    groups = faces.by_identity()
    eligible = sorted(p for p, rows in groups.items() if len(rows) >= 2)
    if gallery > len(eligible) or gallery >= len(groups):
        raise ValueError(
            f"a gallery of {gallery} needs {gallery} people with at least 2 faces and someone "
            f"left outside it; this folder has {len(eligible)} such people of {len(groups)}"
        )
    out: list[WalkByDraw] = []
    for d in range(draws):
        rng = np.random.default_rng([seed, gallery, frames, d, 7])
        members = [eligible[i] for i in rng.choice(len(eligible), size=gallery, replace=False)]
        member_set = set(members)
        enrol: list[int] = []
        tracks: list[tuple[str | None, list[int]]] = []
        for person in members:
            order = [int(r) for r in rng.permutation(groups[person])]
            enrol.append(order[0])
            tracks.append((person, _cycle(order[1:], frames)))
        for person in sorted(p for p in groups if p not in member_set):
            tracks.append((None, _cycle([int(r) for r in rng.permutation(groups[person])], frames)))
        index = GalleryIndex.build(members, faces.vectors[enrol], faces.model_id)
        out.append(_replay(faces, index, tracks, gallery, margin, frames, best, min_frames, agree))
    return out


def _replay(
    faces: FaceSet,
    index: GalleryIndex,
    tracks: list[tuple[str | None, list[int]]],
    gallery: int,
    margin: float,
    frames: int,
    best: int,
    min_frames: int,
    agree: int,
) -> WalkByDraw:
    model = faces.model_id
    singles = index.match_many(
        [Embedding(faces.vectors[r], model) for _, track in tracks for r in track]
    )
    means = index.match_many(
        [
            Embedding(
                track_embedding([faces.vectors[r] for r in track[:step]], [1.0] * step, best=best),
                model,
            )
            for _, track in tracks
            for step in range(min_frames, frames + 1)
        ]
    )
    steps = frames - min_frames + 1
    track_d = np.full(len(tracks), np.inf)
    track_right = np.zeros(len(tracks), dtype=bool)
    frame_d = np.full(len(tracks) * frames, np.inf)
    frame_right = np.zeros(len(tracks) * frames, dtype=bool)
    for i, (person, _) in enumerate(tracks):
        outs = singles[i * frames : (i + 1) * frames]
        for j, o in enumerate(outs):
            if o.margin >= margin:
                frame_d[i * frames + j] = o.distance
            frame_right[i * frames + j] = o.subject_id == person
        for s in range(steps):
            mo = means[i * steps + s]
            seen = outs[: min_frames + s]
            if mo.margin < margin or mo.distance >= track_d[i]:
                continue
            if sum(o.subject_id == mo.subject_id for o in seen) < agree:
                continue
            track_d[i] = mo.distance
            track_right[i] = mo.subject_id == person
    is_member = np.array([p is not None for p, _ in tracks])
    per_frame = np.repeat(is_member, frames)
    return WalkByDraw(
        gallery=gallery,
        frames=frames,
        member_track=track_d[is_member],
        member_right=track_right[is_member],
        other_track=track_d[~is_member],
        member_frame=frame_d[per_frame],
        member_frame_right=frame_right[per_frame],
        other_frame=frame_d[~per_frame],
        distinct=np.array([len(set(t)) == len(t) for p, t in tracks if p is None]),
    )


def walkby_rates(
    draws: Sequence[WalkByDraw], threshold: float, *, per: str = "track"
) -> tuple[float, float]:
    """Members identified and strangers matched at ``threshold`` (mean over draws), per track
    (``per="track"``) or per single frame (``per="frame"``)."""
    if not draws:
        raise ValueError("no draws")
    if per not in ("track", "frame"):
        raise ValueError("per is 'track' or 'frame'")
    tir: list[float] = []
    fmr: list[float] = []
    for d in draws:
        if per == "track":
            m, right, o = d.member_track, d.member_right, d.other_track
        else:
            m, right, o = d.member_frame, d.member_frame_right, d.other_frame
        tir.append(float(np.mean((m <= threshold) & right)))
        fmr.append(float(np.mean(o <= threshold)))
    return float(np.mean(tir)), float(np.mean(fmr))


def track_thresholds(
    draws: Sequence[WalkByDraw], frame_thresholds: Sequence[float], grid: Sequence[float]
) -> list[tuple[float, float]]:
    """For each single-frame threshold, the largest track threshold of ``grid`` (at most the
    frame threshold itself) at which no more strangers' walk-bys are matched than single frames
    are at the frame threshold (``(frame, track)`` pairs; a frame threshold whose rate no grid
    point meets is left out)."""
    track_fmr = [(t, walkby_rates(draws, t)[1]) for t in sorted(grid)]
    out: list[tuple[float, float]] = []
    for ft in frame_thresholds:
        target = walkby_rates(draws, ft, per="frame")[1]
        fitting = [t for t, fmr in track_fmr if fmr <= target]
        if fitting:  # never looser than the frame threshold (small samples can say so)
            out.append((ft, min(ft, max(fitting))))
    return out
