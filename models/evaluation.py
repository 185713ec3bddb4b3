"""Open-set identification and 1:1 verification, measured with the product's own pipeline.

A door camera does not compare two photos: it searches every passer-by against a gallery of
``N`` members, and a non-member is *falsely matched* when the matcher's rule (distance within
the threshold and a margin over the second-nearest member, :meth:`MatchResult.accepted`)
accepts some member for them. That rate grows with ``N``, which a threshold chosen from pairs of
photos does not show. This module measures it on a folder with one subfolder per person (such
as LFW):

* :func:`embed_folder` runs the detector and embedder over every photo once and keeps the
  vectors in an :class:`EmbeddingCache` file keyed by model id, detector and each file's path,
  size and modification time, so evaluating and calibrating again costs no model time. The
  cache holds embeddings of the benchmark's photos only (never a member's): it lives in the
  user's cache dir, outside the repository.
* :func:`open_set_draws` draws galleries (seeded): ``N`` members with at least ``K + 1`` faces,
  ``K`` enrolled each, one other photo of each member as a genuine probe, and one photo of every
  person outside the gallery as a non-member probe; each probe is matched once with
  :class:`GalleryIndex`, keeping the best distance and the margin, so any threshold and margin
  can then be scored without matching again (:func:`open_set_rates`,
  :func:`choose_open_set_point`).
* :func:`verification` collects every same-person and different-person pair for the 1:1
  threshold at a false-match rate (:meth:`Verification.at_fmr`).
"""

from __future__ import annotations

import hashlib
import io
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

from consent.files import write_atomic
from models.images import ImageError, load_image_file
from models.matcher import GalleryIndex
from models.types import Embedding, FaceBox, FaceDetector, FaceEmbedder

__all__ = [
    "SPLITS",
    "EmbeddingCache",
    "FaceSet",
    "OpenSetDraw",
    "OpenSetRates",
    "Verification",
    "choose_open_set_point",
    "default_cache_dir",
    "embed_folder",
    "open_set_draws",
    "open_set_rates",
    "verification",
]

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff"})
_SAVE_EVERY = 250
"""Photos embedded between two cache writes, so an interrupted run keeps most of its work."""


def default_cache_dir() -> Path:
    """``$VERTROUWD_CACHE_DIR``, else ``vertrouwd/cache/embeddings`` in the user's data dir."""
    env = os.environ.get("VERTROUWD_CACHE_DIR")
    if env:
        return Path(env)
    data_home = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data_home) / "vertrouwd" / "cache" / "embeddings"


@dataclass(frozen=True)
class _Entry:
    size: int
    mtime_ns: int
    faces: int
    vector: npt.NDArray[np.float32] | None


class EmbeddingCache:
    """One file of embeddings per (model id, detector), keyed by path, size and mtime.

    A photo whose size or modification time changed is embedded again. A photo in which the
    detector found no face is remembered too (``faces == 0``, no vector). The file is written
    whole to a temporary name and renamed, so a crash leaves the old or the new file.
    """

    def __init__(self, directory: Path, model_id: str, detector: str) -> None:
        digest = hashlib.sha256(detector.encode()).hexdigest()[:12]
        self.path = Path(directory) / f"{model_id}-{digest}.npz"
        self.model_id = model_id
        self.detector = detector
        self._entries: dict[str, _Entry] = {}
        self._dirty = False
        self._load()

    def _load(self) -> None:
        if not self.path.is_file():
            return
        try:
            with np.load(self.path, allow_pickle=False) as data:
                if str(data["model_id"]) != self.model_id or str(data["detector"]) != self.detector:
                    return
                keys, sizes, mtimes = data["keys"], data["sizes"], data["mtimes"]
                faces, vectors = data["faces"], data["vectors"]
        except (OSError, ValueError, KeyError):
            return  # an unreadable cache is rebuilt, never trusted
        for i, key in enumerate(keys):
            vec = vectors[i].astype(np.float32) if faces[i] > 0 else None
            self._entries[str(key)] = _Entry(int(sizes[i]), int(mtimes[i]), int(faces[i]), vec)

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, file: Path) -> _Entry | None:
        """The cached result for ``file`` if its size and mtime still match."""
        st = file.stat()
        entry = self._entries.get(str(file.resolve()))
        if entry is None or entry.size != st.st_size or entry.mtime_ns != st.st_mtime_ns:
            return None
        return entry

    def put(self, file: Path, faces: int, vector: npt.NDArray[np.float32] | None) -> _Entry:
        st = file.stat()
        entry = _Entry(st.st_size, st.st_mtime_ns, faces, vector)
        self._entries[str(file.resolve())] = entry
        self._dirty = True
        return entry

    def save(self) -> None:
        if not self._dirty:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        keys = sorted(self._entries)
        dim = next((e.vector.shape[0] for e in self._entries.values() if e.vector is not None), 0)
        vectors = np.zeros((len(keys), dim), dtype=np.float32)
        for i, k in enumerate(keys):
            vec = self._entries[k].vector
            if vec is not None:
                vectors[i] = vec
        buffer = io.BytesIO()
        np.savez(
            buffer,
            model_id=np.array(self.model_id),
            detector=np.array(self.detector),
            keys=np.array(keys),
            sizes=np.array([self._entries[k].size for k in keys], dtype=np.int64),
            mtimes=np.array([self._entries[k].mtime_ns for k in keys], dtype=np.int64),
            faces=np.array([self._entries[k].faces for k in keys], dtype=np.int32),
            vectors=vectors,
        )
        write_atomic(self.path, buffer.getvalue(), mode=0o644)
        self._dirty = False


@dataclass(frozen=True)
class FaceSet:
    """The embedded faces of a folder: row ``i`` of ``vectors`` is a face of ``identities[i]``."""

    model_id: str
    identities: tuple[str, ...]
    files: tuple[str, ...]
    vectors: npt.NDArray[np.float32] = field(repr=False)
    people: int
    """Subfolders seen, including people none of whose photos gave a face."""
    no_face: int
    """Photos in which the detector found no face (left out)."""
    embedded: int
    """Photos embedded in this run (the rest came from the cache)."""

    def by_identity(self) -> dict[str, list[int]]:
        out: dict[str, list[int]] = {}
        for i, identity in enumerate(self.identities):
            out.setdefault(identity, []).append(i)
        return out

    def split(self, part: str) -> FaceSet:
        """One of two disjoint halves of the people (``"calibrate"`` or ``"holdout"``), so an
        operating point chosen on one half can be measured on people it never saw.

        A person's half follows from their folder name alone (the first bit of its SHA-256), so
        the split is the same on every machine and does not shift when people are added.
        """
        if part not in SPLITS:
            raise ValueError(f"unknown split {part!r}: one of {', '.join(SPLITS)}")
        want = SPLITS.index(part)
        keep = [i for i, who in enumerate(self.identities) if _half(who) == want]
        people = {self.identities[i] for i in keep}
        return FaceSet(
            model_id=self.model_id,
            identities=tuple(self.identities[i] for i in keep),
            files=tuple(self.files[i] for i in keep),
            vectors=self.vectors[keep],
            people=len(people),
            no_face=self.no_face,
            embedded=self.embedded,
        )


SPLITS = ("calibrate", "holdout")
"""The two halves of :meth:`FaceSet.split`."""


def _half(identity: str) -> int:
    return hashlib.sha256(identity.encode("utf-8")).digest()[0] & 1


def _central(boxes: Sequence[FaceBox], width: int, height: int) -> FaceBox:
    """The box nearest the image centre: datasets like LFW label the centred face."""
    cx, cy = width / 2.0, height / 2.0
    return min(boxes, key=lambda b: (b.center[0] - cx) ** 2 + (b.center[1] - cy) ** 2)


def embed_folder(
    folder: Path,
    detector: FaceDetector,
    embedder: FaceEmbedder,
    *,
    detector_description: str,
    cache_dir: Path | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> FaceSet:
    """Embed one face per photo of ``folder`` (one subfolder per person), through the cache.

    When the detector finds several faces, the one nearest the centre is taken; a photo with no
    face is counted in :attr:`FaceSet.no_face` and left out. ``cache_dir=None`` uses
    :func:`default_cache_dir`.
    """
    root = Path(folder)
    if not root.is_dir():
        raise ValueError(f"{root} is not a folder")
    people = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    files = [
        (person.name, f)
        for person in people
        for f in sorted(person.iterdir())
        if f.suffix.lower() in IMAGE_SUFFIXES and f.is_file()
    ]
    if not files:
        raise ValueError(f"no photos in the subfolders of {root}")
    cache = EmbeddingCache(
        cache_dir or default_cache_dir(), embedder.model_id, detector_description
    )
    identities: list[str] = []
    names: list[str] = []
    vectors: list[npt.NDArray[np.float32]] = []
    no_face = embedded = 0
    for n, (identity, file) in enumerate(files, start=1):
        entry = cache.get(file)
        if entry is None:
            try:
                image = load_image_file(file)
            except ImageError:
                entry = cache.put(file, 0, None)
            else:
                boxes = detector.detect(image)
                vector = None
                if boxes:
                    box = _central(boxes, image.shape[1], image.shape[0])
                    (emb,) = embedder.embed(image, [box])
                    if emb.model_id != embedder.model_id:
                        raise ValueError("the embedder returned another model's embedding")
                    vector = emb.vector.astype(np.float32)
                entry = cache.put(file, len(boxes), vector)
            embedded += 1
            if embedded % _SAVE_EVERY == 0:
                cache.save()
        if progress is not None:
            progress(n, len(files))
        if entry.vector is None:
            no_face += 1
            continue
        identities.append(identity)
        names.append(f"{identity}/{file.name}")
        vectors.append(entry.vector)
    cache.save()
    dim = vectors[0].shape[0] if vectors else 0
    return FaceSet(
        model_id=embedder.model_id,
        identities=tuple(identities),
        files=tuple(names),
        vectors=np.stack(vectors) if vectors else np.zeros((0, dim), dtype=np.float32),
        people=len(people),
        no_face=no_face,
        embedded=embedded,
    )


# -- open-set identification -----------------------------------------------------------------


@dataclass(frozen=True)
class OpenSetDraw:
    """One drawn gallery: each probe's best distance, margin and (members) whether right."""

    gallery: int
    enrol: int
    member_distance: npt.NDArray[np.float64]
    member_margin: npt.NDArray[np.float64]
    member_right: npt.NDArray[np.bool_]
    """Whether the member probe's nearest member is that member."""
    other_distance: npt.NDArray[np.float64]
    other_margin: npt.NDArray[np.float64]


def open_set_draws(
    faces: FaceSet,
    gallery: int,
    *,
    enrol: int = 1,
    draws: int = 5,
    seed: int = 0,
) -> list[OpenSetDraw]:
    """Draw ``draws`` galleries of ``gallery`` members (seeded) and match every probe once.

    Members are drawn among the people with at least ``enrol + 1`` faces; each enrols ``enrol``
    random faces and probes with one other. Every person outside the gallery probes with one
    random face. Draw ``d`` uses the generator seeded with ``(seed, gallery, enrol, d)``, so a
    result does not depend on which other gallery sizes were asked for.
    """
    if gallery < 1 or enrol < 1 or draws < 1:
        raise ValueError("gallery, enrol and draws must be at least 1")
    groups = faces.by_identity()
    eligible = sorted(p for p, rows in groups.items() if len(rows) >= enrol + 1)
    if gallery > len(eligible):
        raise ValueError(
            f"a gallery of {gallery} needs {gallery} people with at least {enrol + 1} faces; "
            f"this folder has {len(eligible)}"
        )
    if gallery >= len(groups):
        raise ValueError("no people left outside the gallery to probe as non-members")
    out: list[OpenSetDraw] = []
    for d in range(draws):
        rng = np.random.default_rng([seed, gallery, enrol, d])
        members = [eligible[i] for i in rng.choice(len(eligible), size=gallery, replace=False)]
        member_set = set(members)
        subjects: list[str] = []
        rows: list[int] = []
        member_probes: list[int] = []
        for person in members:
            picked = rng.permutation(groups[person])[: enrol + 1]
            subjects.extend([person] * enrol)
            rows.extend(int(r) for r in picked[:enrol])
            member_probes.append(int(picked[enrol]))
        others = [p for p in sorted(groups) if p not in member_set]
        other_probes = [int(rng.choice(groups[p])) for p in others]
        index = GalleryIndex.build(subjects, faces.vectors[rows], faces.model_id)

        def match(
            probe_rows: list[int], index: GalleryIndex = index
        ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], list[str | None]]:
            results = index.match_many(
                [Embedding(faces.vectors[r], faces.model_id) for r in probe_rows]
            )
            return (
                np.array([r.distance for r in results], dtype=np.float64),
                np.array([r.margin for r in results], dtype=np.float64),
                [r.subject_id for r in results],
            )

        m_dist, m_margin, m_who = match(member_probes)
        o_dist, o_margin, _ = match(other_probes)
        out.append(
            OpenSetDraw(
                gallery=gallery,
                enrol=enrol,
                member_distance=m_dist,
                member_margin=m_margin,
                member_right=np.array([w == p for w, p in zip(m_who, members, strict=True)]),
                other_distance=o_dist,
                other_margin=o_margin,
            )
        )
    return out


@dataclass(frozen=True)
class OpenSetRates:
    """Averages over draws at one threshold and margin."""

    tir: float
    """Members identified as themselves (true identification rate)."""
    fmr: float
    """Non-members accepted as some member (false-match rate per passer-by)."""
    wrong: float
    """Members accepted as another member."""
    member_probes: int
    other_probes: int


def open_set_rates(
    draws: Sequence[OpenSetDraw], threshold: float, min_margin: float
) -> OpenSetRates:
    """The matcher's rule (distance <= threshold and margin >= min_margin) over ``draws``."""
    if not draws:
        raise ValueError("no draws")
    tir: list[float] = []
    fmr: list[float] = []
    wrong: list[float] = []
    for d in draws:
        m_ok = (d.member_distance <= threshold) & (d.member_margin >= min_margin)
        o_ok = (d.other_distance <= threshold) & (d.other_margin >= min_margin)
        tir.append(float(np.mean(m_ok & d.member_right)))
        wrong.append(float(np.mean(m_ok & ~d.member_right)))
        fmr.append(float(np.mean(o_ok)))
    return OpenSetRates(
        tir=float(np.mean(tir)),
        fmr=float(np.mean(fmr)),
        wrong=float(np.mean(wrong)),
        member_probes=sum(len(d.member_distance) for d in draws),
        other_probes=sum(len(d.other_distance) for d in draws),
    )


THRESHOLD_GRID = tuple(round(0.30 + 0.002 * i, 3) for i in range(201))
"""Thresholds tried by :func:`choose_open_set_point`: 0.300 to 0.700 in steps of 0.002."""
MARGIN_GRID = (0.0, 0.01, 0.02, 0.03, 0.05, 0.07, 0.1, 0.15, 0.2, 0.25, 0.3)
"""Margins tried by :func:`choose_open_set_point`."""


def choose_open_set_point(
    draws: Sequence[OpenSetDraw],
    target_fmr: float,
    *,
    thresholds: Sequence[float] = THRESHOLD_GRID,
    margins: Sequence[float] = MARGIN_GRID,
) -> tuple[float, float, OpenSetRates] | None:
    """The threshold and margin identifying the most members with mean FMR <= ``target_fmr``.

    Ties go to the lower FMR, then the smaller threshold. ``None`` when no point of the grid
    keeps the FMR within the target.
    """
    if not 0.0 < target_fmr < 1.0:
        raise ValueError("target_fmr must be in (0, 1)")
    best: tuple[float, float, float, float, float] | None = None
    for t in thresholds:
        for m in margins:
            r = open_set_rates(draws, t, m)
            if r.fmr > target_fmr:
                continue
            key = (r.tir, -r.fmr, -t)
            if best is None or key > best[:3]:
                best = (r.tir, -r.fmr, -t, t, m)
    if best is None:
        return None
    t, m = best[3], best[4]
    return t, m, open_set_rates(draws, t, m)


# -- 1:1 verification ------------------------------------------------------------------------


@dataclass(frozen=True)
class Verification:
    """Every pair of faces: sorted same-person and different-person distances."""

    genuine: npt.NDArray[np.float64]
    impostor: npt.NDArray[np.float64]

    def at_fmr(self, fmr: float) -> tuple[float, float]:
        """The 1:1 threshold at false-match rate ``fmr`` and its genuine acceptance rate.

        With ``n`` impostor pairs at most ``k = floor(fmr * n)`` may lie within the threshold,
        so it sits just below the ``(k+1)``-th closest impostor pair, rounded down to 0.001.
        """
        if not 0.0 < fmr < 1.0:
            raise ValueError("fmr must be in (0, 1)")
        n = len(self.impostor)
        if n == 0 or len(self.genuine) == 0:
            raise ValueError("need same-person and different-person pairs")
        if n * fmr < 1.0:
            raise ValueError(
                f"{n} different-person pairs cannot measure a false-match rate of {fmr:g}"
            )
        k = math.floor(fmr * n)
        threshold = math.floor((float(self.impostor[k]) - 1e-6) * 1000.0) / 1000.0
        return threshold, self.gar(threshold)

    def gar(self, threshold: float) -> float:
        """Same-person pairs within ``threshold``."""
        return float(np.searchsorted(self.genuine, threshold, side="right") / len(self.genuine))

    def far(self, threshold: float) -> float:
        """Different-person pairs within ``threshold``."""
        return float(np.searchsorted(self.impostor, threshold, side="right") / len(self.impostor))


def verification(faces: FaceSet, *, block: int = 512) -> Verification:
    """All pairs of faces, compared once (in blocks of rows, to bound memory)."""
    vecs = faces.vectors.astype(np.float64)
    ids = np.array(faces.identities, dtype=object)
    sq = np.einsum("ij,ij->i", vecs, vecs)
    genuine: list[npt.NDArray[np.float64]] = []
    impostor: list[npt.NDArray[np.float64]] = []
    n = len(vecs)
    for lo in range(0, n, block):
        hi = min(n, lo + block)
        d2 = sq[lo:hi, None] - 2.0 * vecs[lo:hi] @ vecs.T + sq[None, :]
        dist = np.sqrt(np.maximum(d2, 0.0))
        upper = np.arange(n)[None, :] > np.arange(lo, hi)[:, None]
        same = ids[lo:hi, None] == ids[None, :]
        genuine.append(dist[upper & same])
        impostor.append(dist[upper & ~same])
    return Verification(
        genuine=np.sort(np.concatenate(genuine)) if genuine else np.zeros(0),
        impostor=np.sort(np.concatenate(impostor)) if impostor else np.zeros(0),
    )
