"""GalleryIndex against a brute-force reference, and its refusals."""

from __future__ import annotations

import math

import numpy as np
import pytest

from models.calibration import load_calibration
from models.matcher import GalleryIndex, MatchResult
from models.types import Embedding
from tests.models.conftest import Face

MODEL = "test_model"


def _random_gallery(
    rng: np.random.Generator, subjects: int, dim: int = 128
) -> tuple[list[str], np.ndarray]:
    ids: list[str] = []
    rows = []
    for s in range(subjects):
        centre = rng.standard_normal(dim).astype(np.float32)
        for _ in range(int(rng.integers(1, 5))):  # 1-4 templates per subject
            ids.append(f"subject-{s:04d}")
            rows.append(centre + 0.3 * rng.standard_normal(dim).astype(np.float32))
    order = rng.permutation(len(ids))  # subjects' rows interleaved, not grouped
    return [ids[i] for i in order], np.stack(rows)[order]


def _brute_force(ids: list[str], vectors: np.ndarray, q: np.ndarray) -> list[tuple[float, str]]:
    best: dict[str, float] = {}
    for sid, row in zip(ids, vectors, strict=True):
        d = float(np.linalg.norm(row.astype(np.float64) - q.astype(np.float64)))
        best[sid] = min(d, best.get(sid, math.inf))
    return sorted((d, s) for s, d in best.items())


def test_matches_brute_force_on_random_data() -> None:
    rng = np.random.default_rng(7)
    ids, vectors = _random_gallery(rng, 300)
    index = GalleryIndex.build(ids, vectors, MODEL)
    assert index.subject_count == 300
    assert len(index) == len(ids)
    queries = [vectors[i] + 0.05 * rng.standard_normal(128).astype(np.float32) for i in range(40)]
    queries += [rng.standard_normal(128).astype(np.float32) for _ in range(40)]
    embeddings = [Embedding(q, MODEL) for q in queries]
    batched = index.match_many(embeddings)
    for q, emb, many in zip(queries, embeddings, batched, strict=True):
        (d1, s1), (d2, s2) = _brute_force(ids, vectors, q)[:2]
        result = index.match(emb)
        assert result == many
        assert result.subject_id == s1
        assert result.second_subject_id == s2
        assert result.distance == pytest.approx(d1, rel=1e-6)
        assert result.second_distance == pytest.approx(d2, rel=1e-6)
        assert result.margin == pytest.approx(d2 - d1, rel=1e-5, abs=1e-6)


def test_several_templates_second_is_a_different_subject() -> None:
    # Subject "a" has two templates right next to the query; "b" is farther.
    vectors = np.array([[0.0, 0.0], [0.1, 0.0], [0.0, 0.2], [3.0, 0.0]], dtype=np.float32)
    index = GalleryIndex.build(["a", "a", "a", "b"], vectors, MODEL)
    result = index.match(Embedding(np.array([0.05, 0.0], np.float32), MODEL))
    assert result.subject_id == "a"
    assert result.distance == pytest.approx(0.05)
    assert result.second_subject_id == "b"
    assert result.second_distance == pytest.approx(2.95)
    assert result.margin == pytest.approx(2.9)


def test_one_subject_has_infinite_margin_and_empty_gallery_matches_nobody() -> None:
    one = GalleryIndex.build(["a", "a"], np.eye(2, dtype=np.float32), MODEL)
    r = one.match(Embedding(np.array([1.0, 0.0], np.float32), MODEL))
    assert (r.subject_id, r.distance, r.second_subject_id) == ("a", 0.0, None)
    assert r.margin == math.inf
    assert r.second_distance == math.inf
    assert r.accepted(0.5, min_margin=1.0)

    empty = GalleryIndex.build([], np.zeros((0, 2), np.float32), MODEL)
    nobody = empty.match(Embedding(np.array([1.0, 0.0], np.float32), MODEL))
    assert nobody.subject_id is None
    assert nobody.distance == math.inf
    assert not nobody.accepted(1.9)
    assert empty.match_many([Embedding(np.zeros(2, np.float32), MODEL)] * 2) == [nobody, nobody]
    assert empty.match_many([]) == []


def test_accepted_needs_threshold_and_margin() -> None:
    r = MatchResult("a", 0.40, "b", 0.43)
    assert r.accepted(0.45)
    assert not r.accepted(0.39)
    assert not r.accepted(0.45, min_margin=0.05)
    assert r.accepted(0.40, min_margin=0.03 - 1e-9)


def test_refuses_other_models_dimensions_and_nan() -> None:
    index = GalleryIndex.build(["a", "b"], np.eye(3, dtype=np.float32)[:2], MODEL)
    with pytest.raises(ValueError, match="model 'other'"):
        index.match(Embedding(np.zeros(3, np.float32), "other"))
    with pytest.raises(ValueError, match="model 'other'"):
        index.match_many(
            [Embedding(np.zeros(3, np.float32), MODEL), Embedding(np.zeros(3, np.float32), "other")]
        )
    with pytest.raises(ValueError, match="dimension"):
        index.match(Embedding(np.zeros(4, np.float32), MODEL))
    with pytest.raises(ValueError, match="NaN"):
        index.match(Embedding(np.full(3, np.nan, np.float32), MODEL))
    with pytest.raises(ValueError, match="shape"):
        GalleryIndex.build(["a"], np.eye(3, dtype=np.float32), MODEL)
    with pytest.raises(ValueError, match="NaN"):
        GalleryIndex.build(["a"], np.full((1, 3), np.inf, np.float32), MODEL)


@pytest.mark.faces
def test_real_gallery_recognises_members_and_not_the_passer_by(
    people: list[Face], scenes: dict[str, Face]
) -> None:
    calibration = load_calibration("dlib_resnet_v1")
    # Enrol the first photo of each identity; probe with the others.
    enrolled: dict[str, Face] = {}
    probes: list[Face] = []
    for face in people:
        if face.identity in enrolled:
            probes.append(face)
        else:
            enrolled[face.identity] = face
    index = GalleryIndex.build(
        list(enrolled),
        np.stack([f.embeddings[0].vector for f in enrolled.values()]),
        "dlib_resnet_v1",
    )
    assert len(probes) == 5
    for probe, result in zip(
        probes, index.match_many([p.embeddings[0] for p in probes]), strict=True
    ):
        assert result.subject_id == probe.identity, probe.name
        assert calibration.accepts(result), (probe.name, result)

    # obama_and_biden.jpg: obama and biden are recognised, the third person is nobody.
    results = index.match_many(scenes["obama_and_biden.jpg"].embeddings)
    accepted = sorted(r.subject_id or "" for r in results if calibration.accepts(r))
    assert accepted == ["biden", "obama"]
    assert sum(not calibration.accepts(r) for r in results) == 1
