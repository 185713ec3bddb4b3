"""The engine with the real models on the real clip: one arrival for a member in it, none for
members who are not, and no trace of anyone unmatched."""

from __future__ import annotations

import re
import threading
from pathlib import Path

import pytest

from edge.capture import FrameSource
from edge.events import ArrivalEvent
from edge.matching import StaticGallery, operating_point
from edge.pipeline import Engine, Pipeline
from edge.settings import EdgeSettings
from tests.edge.conftest import LIN, ClipRun, Models, build_index, clip_settings, subject_id
from tests.waiting import wait_with_progress

# One xdist work unit with test_track_decision.py (SHARED in tests/conftest.py): both read the
# session's ``member_run``.
pytestmark = [pytest.mark.faces, pytest.mark.slow]

FLOAT_RUN = re.compile(r"-?\d+\.\d+(?:[,\s]+-?\d+\.\d+){3,}")


def test_member_in_the_clip_arrives_exactly_once(member_run: ClipRun, edge_models: Models) -> None:
    assert len(member_run.events) == 1, member_run.metrics
    event = member_run.events[0]
    assert event.subject_id == subject_id(LIN)
    point = operating_point(edge_models.embedder.model_id)
    assert event.score <= point.threshold
    # decided on the mean of at least confirm_min_frames embeddings (2 by default)
    assert event.frames >= EdgeSettings().confirm_min_frames
    wire = event.to_json()
    assert set(wire) == {"id", "kind", "subject_id", "at", "score", "margin", "frames"}
    assert wire["kind"] == "arrival"
    assert wire["at"].endswith("Z")


def test_member_run_spends_few_embeddings(member_run: ClipRun) -> None:
    metrics = member_run.metrics
    assert metrics["frames_processed"] == 275
    # embeddings are computed for a track's few good frames, not for every face
    assert EdgeSettings().confirm_min_frames <= metrics["embeddings"] <= 16
    assert metrics["faces_in_zone"] > 5 * metrics["embeddings"]
    # Its speed against the naive loop is measured by bench/edge_vs_naive.py, not asserted here.


def test_strangers_gallery_gives_no_arrival(stranger_run: ClipRun) -> None:
    assert stranger_run.events == []
    # the faces in the clip really were embedded and compared: the absence is a real "no match"
    assert stranger_run.metrics["embeddings"] >= 3
    assert stranger_run.metrics.get("tracks_confirmed", 0) == 0


def test_unmatched_faces_leave_no_trace(stranger_run: ClipRun) -> None:
    assert stranger_run.new_files == []
    assert stranger_run.active_tracks == 0
    assert stranger_run.evidence_left == 0
    text = "\n".join(stranger_run.log_lines)
    for sid in stranger_run.subject_ids:
        assert sid not in text
    assert not FLOAT_RUN.search(text)
    assert "array(" not in text
    assert "track" not in text.lower()
    assert "box" not in text.lower()


def test_member_run_logs_the_member_only_in_its_arrival_line(member_run: ClipRun) -> None:
    """The arrival line names the member's pseudonym (operators need it, issue 16); no other
    line does, and no line holds a vector."""
    assert member_run.new_files == []
    assert member_run.active_tracks == 0
    subject = member_run.events[0].subject_id
    naming = [line for line in member_run.log_lines if subject in line]
    assert len(naming) == 1, naming
    assert "arrival" in naming[0]
    assert not FLOAT_RUN.search("\n".join(member_run.log_lines))


class CollectSink:
    def __init__(self) -> None:
        self.events: list[ArrivalEvent] = []
        self.got = threading.Event()

    def put(self, event: ArrivalEvent) -> None:
        self.events.append(event)
        self.got.set()


def test_threaded_pipeline_on_the_clip(
    edge_models: Models, edge_faces: Path, edge_clip: Path, tmp_path: Path
) -> None:
    index = build_index(edge_models, edge_faces, (LIN,))
    settings = clip_settings(tmp_path)
    engine = Engine(
        settings,
        detector=edge_models.detector,
        embedder=edge_models.embedder,
        gallery=StaticGallery(index),
    )
    sink = CollectSink()
    pipeline = Pipeline(engine, FrameSource(str(edge_clip)), sink, realtime=False)
    pipeline.start()
    try:
        # however long the clip takes on a loaded machine, as long as frames keep going through
        wait_with_progress(
            pipeline.wait,
            lambda: tuple(
                engine.metrics.snapshot().get(k) for k in ("frames_processed", "embeddings")
            ),
            what="the pipeline on the clip",
        )
    finally:
        pipeline.shutdown()
    assert [e.subject_id for e in sink.events] == [subject_id(LIN)]
    assert engine.metrics.snapshot()["frames_processed"] == 275
    assert pipeline.frames_dropped == 0  # realtime=False: every frame, in order
    assert engine.active_tracks == 0
