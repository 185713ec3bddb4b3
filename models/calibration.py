"""Measured operating points: each embedding model ships a calibration with its threshold.

A :class:`Calibration` is stored as ``models/calibration/<model_id>.json`` inside the package and
read with :func:`load_calibration`. It is made by :func:`calibrate` (``vertrouwd models calibrate
DIR --write``) from a folder of real photos with one subfolder per identity: every pair of faces
of the same identity gives a *genuine* distance, every pair of different identities an
*impostor* distance, and the threshold is chosen from those (see :func:`choose_threshold`).
"""

from __future__ import annotations

import json
import math
import re
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from models.images import ImageError, load_image_file
from models.matcher import MatchResult
from models.types import FaceDetector, FaceEmbedder

__all__ = [
    "DEFAULT_SAFETY_GAP",
    "DEFAULT_TARGET_FMR",
    "Calibration",
    "CalibrationReport",
    "DistanceStats",
    "OpenSetCalibration",
    "OpenSetChoice",
    "OpenSetPoint",
    "TrackCalibration",
    "TrackThreshold",
    "VerifyPoint",
    "calibrate",
    "calibration_path",
    "choose_min_margin",
    "choose_threshold",
    "load_calibration",
    "save_calibration",
]

DEFAULT_TARGET_FMR = 1e-3
"""Target false-match rate per comparison (one probe against one enrolled template)."""
DEFAULT_SAFETY_GAP = 0.05
"""Distance kept between the threshold and the closest impostor pair ever measured."""
MAX_MIN_MARGIN = 0.05
"""The margin required between the best and second subject never exceeds this."""

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff"})
_MODEL_ID = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")


class DistanceStats(BaseModel):
    """Summary of a set of distances (all ``None`` when there are none)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    count: int = Field(ge=0)
    min: float | None = None
    p5: float | None = None
    median: float | None = None
    p95: float | None = None
    max: float | None = None

    @classmethod
    def of(cls, distances: Sequence[float]) -> DistanceStats:
        if not distances:
            return cls(count=0)
        arr = np.asarray(distances, dtype=np.float64)
        p5, median, p95 = (float(v) for v in np.percentile(arr, [5, 50, 95]))
        return cls(
            count=len(arr),
            min=round(float(arr.min()), 4),
            p5=round(p5, 4),
            median=round(median, 4),
            p95=round(p95, 4),
            max=round(float(arr.max()), 4),
        )


class OpenSetPoint(BaseModel):
    """Open-set identification at one gallery size, averaged over seeded draws."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    gallery: int = Field(ge=1, description="Members in the gallery.")
    tir: float = Field(ge=0.0, le=1.0, description="Members identified as themselves.")
    fmr: float = Field(ge=0.0, le=1.0, description="Non-members matched to some member.")
    wrong: float = Field(ge=0.0, le=1.0, description="Members matched to another member.")
    member_probes: int = Field(ge=0)
    non_member_probes: int = Field(ge=0)


class OpenSetChoice(BaseModel):
    """The threshold and margin that meet a target FMR per passer-by at one gallery size."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    gallery: int = Field(ge=1)
    threshold: float = Field(gt=0.0, lt=2.0)
    min_margin: float = Field(ge=0.0, lt=2.0)
    tir: float = Field(ge=0.0, le=1.0)
    fmr: float = Field(ge=0.0, le=1.0)


class VerifyPoint(BaseModel):
    """1:1 verification (one claimed identity) at a false-match rate."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    fmr: float = Field(gt=0.0, lt=1.0)
    threshold: float = Field(gt=0.0, lt=2.0)
    gar: float = Field(ge=0.0, le=1.0, description="Same-person pairs accepted.")


class TrackThreshold(BaseModel):
    """A single-frame threshold and the track threshold that matches no more strangers."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    frame: float = Field(gt=0.0, lt=2.0, description="Threshold for one frame.")
    track: float = Field(gt=0.0, lt=2.0, description="Threshold for the mean of a track.")
    fmr: float = Field(ge=0.0, le=1.0, description="Strangers' walk-bys matched at ``track``.")
    frame_fmr: float = Field(ge=0.0, le=1.0, description="Single frames matched at ``frame``.")
    tir: float = Field(ge=0.0, le=1.0, description="Members' walk-bys identified at ``track``.")
    frame_tir: float = Field(ge=0.0, le=1.0, description="Members' frames identified.")


class TrackCalibration(BaseModel):
    """How the mean of a walk-by's frames is thresholded (``models.tracks``), measured on
    synthetic walk-bys (several photos of one person as its frames) at one gallery size."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    gallery: int = Field(ge=1, description="Members in the gallery the map was measured at.")
    frames: int = Field(ge=1, description="Frames (photos) per walk-by.")
    best: int = Field(ge=1, description="Best frames the mean is made of.")
    min_frames: int = Field(ge=1, description="Frames before the mean is matched.")
    agree: int = Field(ge=0, description="Frames that must have the mean's member as nearest.")
    member_tracks: int = Field(ge=0)
    stranger_tracks: int = Field(ge=0)
    thresholds: list[TrackThreshold] = Field(
        min_length=1, description="Frame threshold -> track threshold, by frame threshold."
    )
    rule: str


class OpenSetCalibration(BaseModel):
    """How the model does at a door: measured on many people, with the data it came from.

    ``curve`` is measured at the calibration's own ``threshold`` and ``min_margin`` (the
    operating point the edge uses), so the expected false matches of a store can be read off
    it at the store's number of members; ``choices`` are the operating points that would meet
    ``target_fmr`` at each gallery size. No image or embedding is kept: only counts and rates.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    source: str = Field(description="The folder measured and what it holds.")
    detector: str
    people: int = Field(ge=0)
    photos: int = Field(ge=0, description="Photos with a face, one face each.")
    no_face: int = Field(ge=0, description="Photos left out: the detector found no face.")
    enrol: int = Field(ge=1, description="Photos enrolled per member.")
    draws: int = Field(ge=1, description="Seeded galleries averaged per size.")
    seed: int
    threshold: float = Field(gt=0.0, lt=2.0, description="Operating point of the curve.")
    min_margin: float = Field(ge=0.0, lt=2.0)
    curve: list[OpenSetPoint] = Field(min_length=1, description="By gallery size, ascending.")
    target_fmr: float = Field(gt=0.0, lt=1.0)
    choices: list[OpenSetChoice] = Field(default_factory=list)
    genuine_pairs: int = Field(ge=0, description="Same-person pairs behind the 1:1 figures.")
    impostor_pairs: int = Field(ge=0)
    verify: list[VerifyPoint] = Field(default_factory=list)
    track: TrackCalibration | None = Field(
        default=None, description="The track mean's threshold for each frame threshold."
    )
    created_at: datetime


class Calibration(BaseModel):
    """A model's measured operating point and the evidence behind it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model_id: str = Field(pattern=_MODEL_ID.pattern, description="The embedding model measured.")
    threshold: float = Field(
        gt=0.0, lt=2.0, description="Largest Euclidean distance accepted as the same person."
    )
    min_margin: float = Field(
        ge=0.0,
        lt=2.0,
        description="Least lead of the best subject over the second-best different subject.",
    )
    target_fmr: float = Field(gt=0.0, lt=1.0, description="False-match rate aimed for.")
    observed_fmr: float = Field(ge=0.0, le=1.0, description="Impostor pairs within threshold.")
    observed_fnmr: float = Field(ge=0.0, le=1.0, description="Genuine pairs beyond threshold.")
    genuine: DistanceStats
    impostor: DistanceStats
    identities: int = Field(ge=0)
    images: int = Field(ge=0)
    dataset: str = Field(description="What was measured: folder, identities, images.")
    detector: str = Field(description="The detector and options that found the faces.")
    rule: str = Field(description="How the threshold and margin were chosen.")
    created_at: datetime
    verify_threshold: float | None = Field(
        default=None,
        gt=0.0,
        lt=2.0,
        description="Largest distance accepted when verifying one claimed identity (1:1).",
    )
    verify_target_fmr: float | None = Field(
        default=None, gt=0.0, lt=1.0, description="False-match rate verify_threshold is set for."
    )
    open_set: OpenSetCalibration | None = Field(
        default=None, description="Open-set identification measured on many people."
    )

    def accepts(self, result: MatchResult) -> bool:
        """Whether ``result`` is a match at this operating point."""
        return result.accepted(self.threshold, self.min_margin)

    @property
    def has_track_map(self) -> bool:
        """Whether walk-bys were measured (``calibrate --gallery N``): the track threshold map."""
        return self.open_set is not None and self.open_set.track is not None

    def track_threshold(self, frame_threshold: float) -> float:
        """The threshold for a track's mean that matches no more strangers than single frames
        at ``frame_threshold`` (interpolated in the measured map; never above
        ``frame_threshold``). Without a measured map: ``frame_threshold`` itself."""
        track = self.open_set.track if self.open_set is not None else None
        if track is None:
            return frame_threshold
        pairs = sorted((p.frame, p.track) for p in track.thresholds)
        frames = [f for f, _ in pairs]
        if frame_threshold <= frames[0]:
            mapped = frame_threshold - (frames[0] - pairs[0][1])
        elif frame_threshold >= frames[-1]:
            mapped = frame_threshold - (frames[-1] - pairs[-1][1])
        else:
            mapped = float(np.interp(frame_threshold, frames, [t for _, t in pairs]))
        return round(max(1e-3, min(frame_threshold, mapped)), 4)


def calibration_path(model_id: str) -> Path:
    """Where the calibration of ``model_id`` is shipped inside the package."""
    if not _MODEL_ID.match(model_id):
        raise ValueError(f"invalid model id {model_id!r}")
    return Path(str(resources.files("models"))) / "calibration" / f"{model_id}.json"


def load_calibration(model_id: str) -> Calibration:
    """The shipped calibration of ``model_id``; ``LookupError`` when the model has none."""
    path = calibration_path(model_id)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise LookupError(
            f"no calibration for model {model_id!r}: run `vertrouwd models calibrate DIR --write`"
        ) from exc
    try:
        calibration = Calibration.model_validate_json(text)
    except ValidationError as exc:
        raise ValueError(f"calibration file {path} is invalid: {exc}") from exc
    if calibration.model_id != model_id:
        raise ValueError(f"calibration file {path} is for model {calibration.model_id!r}")
    return calibration


def save_calibration(calibration: Calibration, path: Path | None = None) -> Path:
    """Write ``calibration`` as JSON (by default into the package, for its model id)."""
    target = path or calibration_path(calibration.model_id)
    target.parent.mkdir(parents=True, exist_ok=True)
    payload = calibration.model_dump(mode="json")
    target.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    return target


def choose_threshold(
    impostor: Sequence[float],
    target_fmr: float,
    *,
    safety_gap: float = DEFAULT_SAFETY_GAP,
) -> tuple[float, dict[str, float]]:
    """The threshold for ``target_fmr``: the smallest (most cautious) of up to three bounds.

    1. ``empirical``: with ``N`` impostor distances, at most ``k = floor(target_fmr * N)`` of
       them may lie within the threshold, so it sits just below the ``(k+1)``-th smallest.
    2. ``gaussian``: the ``target_fmr`` quantile of a normal distribution fitted to the impostor
       distances (mean and sample standard deviation); it extrapolates the tail that few pairs
       cannot show, and guards the empirical quantile against an unlucky sample.
    3. ``gap`` (only with few pairs, when ``k == 0``: the data cannot show a single false match
       at the rate aimed for): the closest impostor pair minus ``safety_gap``, so that a person
       a little closer to someone enrolled than anyone measured is still refused.

    The result is rounded *down* to 0.001. The genuine distances do not move the threshold:
    when they lie above it, the calibration reports the false non-match rate instead of
    loosening the threshold (a missed greeting is cheaper than greeting the wrong person).
    Returns the threshold and the bounds (by name) that were compared.
    """
    if not impostor:
        raise ValueError("no impostor pairs: need faces of at least two identities")
    if not 0.0 < target_fmr < 1.0:
        raise ValueError("target_fmr must be in (0, 1)")
    ordered = sorted(impostor)
    k = math.floor(target_fmr * len(ordered))
    bounds = {"empirical": ordered[k] - 1e-3 if k < len(ordered) else ordered[-1]}
    if k == 0:
        bounds["gap"] = ordered[0] - safety_gap
    if len(ordered) >= 2 and statistics.stdev(ordered) > 0:
        fit = statistics.NormalDist(statistics.fmean(ordered), statistics.stdev(ordered))
        bounds["gaussian"] = fit.inv_cdf(target_fmr)
    threshold = math.floor(min(bounds.values()) * 1000.0) / 1000.0
    if not 0.0 < threshold < 2.0:
        raise ValueError(f"no usable threshold: the bounds are {bounds}")
    return threshold, bounds


def choose_min_margin(genuine_margins: Sequence[float]) -> float:
    """Half the smallest lead a genuine probe had over the nearest other identity, capped.

    ``genuine_margins`` holds, for each face that has another face of its own identity, the
    distance to the nearest other identity minus the distance to its own nearest. Requiring half
    the smallest such lead (at most :data:`MAX_MIN_MARGIN`), rounded down to 0.01, refuses
    ambiguous matches between two enrolled people without refusing any measured genuine one.
    """
    if not genuine_margins:
        return MAX_MIN_MARGIN
    smallest = max(0.0, min(genuine_margins))
    return math.floor(min(MAX_MIN_MARGIN, smallest / 2.0) * 100.0) / 100.0


@dataclass(frozen=True)
class _Face:
    identity: str
    file: str
    vector: npt.NDArray[np.float32] = field(repr=False)


@dataclass(frozen=True)
class CalibrationReport:
    """The outcome of :func:`calibrate`: the calibration and every distance behind it."""

    calibration: Calibration
    genuine: tuple[tuple[str, str, float], ...]
    impostor: tuple[tuple[str, str, float], ...]
    bounds: dict[str, float]
    skipped: tuple[tuple[str, str], ...]

    @property
    def genuine_distances(self) -> list[float]:
        return [d for _, _, d in self.genuine]

    @property
    def impostor_distances(self) -> list[float]:
        return [d for _, _, d in self.impostor]

    def format(self) -> str:
        """A plain-text report for a terminal."""
        c = self.calibration
        lines = [
            f"calibration of {c.model_id} on {c.dataset}",
            f"detector: {c.detector}",
            "",
            _stats_line("genuine ", c.genuine),
            _stats_line("impostor", c.impostor),
            "",
            "histogram (G = same person, I = different people):",
            *_histogram(self.genuine_distances, self.impostor_distances),
            "",
            "threshold bounds: "
            + ", ".join(f"{name} {value:.3f}" for name, value in sorted(self.bounds.items())),
            f"threshold {c.threshold:.3f} for target FMR {c.target_fmr:g}; "
            f"min margin {c.min_margin:.2f}",
            f"observed: FMR {c.observed_fmr:.4f} ({c.impostor.count} impostor pairs), "
            f"FNMR {c.observed_fnmr:.4f} ({c.genuine.count} genuine pairs)",
        ]
        if self.genuine:
            a, b, d = max(self.genuine, key=lambda g: g[2])
            lines.append(f"farthest genuine pair: {d:.4f}  {a} ~ {b}")
        if self.impostor:
            a, b, d = min(self.impostor, key=lambda g: g[2])
            lines.append(f"closest impostor pair: {d:.4f}  {a} ~ {b}")
        if c.observed_fnmr > 0:
            lines.append(
                "warning: some same-person pairs lie beyond the threshold; "
                "they would not be recognised"
            )
        for file, reason in self.skipped:
            lines.append(f"skipped {file}: {reason}")
        return "\n".join(lines)


def calibrate(
    folder: Path,
    detector: FaceDetector,
    embedder: FaceEmbedder,
    target_fmr: float = DEFAULT_TARGET_FMR,
    *,
    safety_gap: float = DEFAULT_SAFETY_GAP,
    detector_description: str | None = None,
    now: Callable[[], datetime] | None = None,
) -> CalibrationReport:
    """Measure genuine and impostor distances on ``folder`` and choose the operating point.

    ``folder`` holds one subfolder per identity, each with one or more photos of exactly one
    face (a photo with no face or several faces is skipped and listed in the report). Every pair
    of faces is compared once. See :func:`choose_threshold` and :func:`choose_min_margin` for
    the rules.
    """
    root = Path(folder)
    if not root.is_dir():
        raise ValueError(f"{root} is not a folder")
    detector.load()
    embedder.load()
    faces: list[_Face] = []
    skipped: list[tuple[str, str]] = []
    identities = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    for person in identities:
        for file in sorted(person.iterdir()):
            if file.suffix.lower() not in IMAGE_SUFFIXES:
                continue
            name = f"{person.name}/{file.name}"
            try:
                image = load_image_file(file)
            except ImageError as exc:
                skipped.append((name, exc.reason))
                continue
            boxes = detector.detect(image)
            if len(boxes) != 1:
                skipped.append((name, f"{len(boxes)} faces found, need exactly 1"))
                continue
            (embedding,) = embedder.embed(image, boxes)
            if embedding.model_id != embedder.model_id:
                raise ValueError("the embedder returned another model's embedding")
            faces.append(_Face(person.name, name, embedding.vector))
    if len({f.identity for f in faces}) < 2:
        raise ValueError(f"need faces of at least two identities in {root}, found {len(faces)}")

    genuine: list[tuple[str, str, float]] = []
    impostor: list[tuple[str, str, float]] = []
    vectors = np.stack([f.vector for f in faces]).astype(np.float64)
    dist = np.sqrt(((vectors[:, None, :] - vectors[None, :, :]) ** 2).sum(axis=2))
    for i, a in enumerate(faces):
        for j in range(i + 1, len(faces)):
            b = faces[j]
            pair = (a.file, b.file, round(float(dist[i, j]), 6))
            (genuine if a.identity == b.identity else impostor).append(pair)

    margins: list[float] = []
    same = np.array([[a.identity == b.identity for b in faces] for a in faces])
    for i in range(len(faces)):
        own = dist[i][same[i] & (np.arange(len(faces)) != i)]
        other = dist[i][~same[i]]
        if own.size and other.size:
            margins.append(float(other.min() - own.min()))

    impostor_d = [d for _, _, d in impostor]
    genuine_d = [d for _, _, d in genuine]
    threshold, bounds = choose_threshold(impostor_d, target_fmr, safety_gap=safety_gap)
    min_margin = choose_min_margin(margins)
    n_ids = len({f.identity for f in faces})
    calibration = Calibration(
        model_id=embedder.model_id,
        threshold=threshold,
        min_margin=min_margin,
        target_fmr=target_fmr,
        observed_fmr=sum(d <= threshold for d in impostor_d) / len(impostor_d),
        observed_fnmr=(sum(d > threshold for d in genuine_d) / len(genuine_d))
        if genuine_d
        else 0.0,
        genuine=DistanceStats.of(genuine_d),
        impostor=DistanceStats.of(impostor_d),
        identities=n_ids,
        images=len(faces),
        dataset=f"{root.name}/: {n_ids} identities, {len(faces)} images",
        detector=detector_description or detector.key,
        rule=(
            f"threshold = min(empirical FMR quantile, Gaussian impostor fit at FMR "
            f"{target_fmr:g}, and with fewer than 1/FMR impostor pairs closest impostor - "
            f"{safety_gap:g}), rounded down; "
            f"min_margin = min({MAX_MIN_MARGIN:g}, half the smallest genuine lead), rounded down"
        ),
        created_at=(now or _utcnow)().replace(microsecond=0),
    )
    return CalibrationReport(
        calibration=calibration,
        genuine=tuple(genuine),
        impostor=tuple(impostor),
        bounds={k: round(v, 4) for k, v in bounds.items()},
        skipped=tuple(skipped),
    )


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _fmt(value: float | None) -> str:
    return "   -  " if value is None else f"{value:6.3f}"


def _stats_line(label: str, s: DistanceStats) -> str:
    return (
        f"{label} n={s.count:4d}  min {_fmt(s.min)}  p5 {_fmt(s.p5)}  median {_fmt(s.median)}"
        f"  p95 {_fmt(s.p95)}  max {_fmt(s.max)}"
    )


def _histogram(
    genuine: Sequence[float], impostor: Sequence[float], width: float = 0.05
) -> list[str]:
    values = [*genuine, *impostor]
    if not values:
        return ["(no pairs)"]
    lo = math.floor(min(values) / width)
    hi = math.floor(max(values) / width)
    rows = []
    for b in range(lo, hi + 1):
        start, stop = b * width, (b + 1) * width
        g = sum(start <= d < stop for d in genuine)
        i = sum(start <= d < stop for d in impostor)
        rows.append((start, stop, g, i))
    peak = max(max(g, i) for _, _, g, i in rows)
    scale = min(1.0, 20.0 / peak) if peak else 1.0

    def bar(n: int) -> str:
        return "#" * (math.ceil(n * scale) if n else 0)

    return [
        f"  {start:4.2f}-{stop:4.2f}  G {bar(g):<20} {g:4d}   I {bar(i):<20} {i:4d}"
        for start, stop, g, i in rows
    ]
