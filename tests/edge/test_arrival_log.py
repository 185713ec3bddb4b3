"""What the edge logs (issue 16, item 13): one line per arrival with the member's pseudonym,
score, margin, frames and track age (never a name, box or vector), and a summary line of counts
and per-stage times at the end of a file source."""

from __future__ import annotations

import logging

import pytest

from edge.matching import ActiveGallery
from edge.metrics import EngineMetrics, summary
from tests.edge.test_engine_fake import (
    FACE,
    FRAMES,
    MEMBER,
    Clock,
    FakeDetector,
    FakeEmbedder,
    Switch,
    _engine,
    _index,
)


def test_one_line_per_arrival_with_pseudonym_score_margin_frames_and_track_age(
    caplog: pytest.LogCaptureFixture,
) -> None:
    detector, clock = FakeDetector(), Clock()
    engine = _engine(
        Switch(ActiveGallery(_index(("s-m", MEMBER)), 1)), FakeEmbedder(MEMBER), detector, clock
    )
    detector.boxes = [FACE]
    with caplog.at_level(logging.INFO, logger="edge"):
        events = [e for f in FRAMES[:6] for e in engine.process_frame(f)]
    assert len(events) == 1
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("arrival:")]
    assert len(lines) == 1
    line = lines[0]
    event = events[0]
    assert f"subject {event.subject_id}" in line
    assert f"score {event.score:.3f}" in line
    assert f"margin {event.margin:.3f}" in line
    assert f"frames {event.frames}" in line
    age = float(line.split("track age ")[1].split(" s")[0])
    assert age == pytest.approx(FRAMES[2].timestamp - FRAMES[0].timestamp, abs=0.05)
    assert "[" not in line  # no vector or box


def test_the_summary_counts_frames_drops_detections_embeddings_arrivals_and_stage_ms() -> None:
    metrics = EngineMetrics(clock=iter([0.0, 10.0]).__next__)
    for name, n in (("frames_processed", 200), ("frames_captured", 210), ("frames_detected", 50),
                    ("faces_in_zone", 40), ("embeddings", 12), ("arrivals", 2)):  # fmt: skip
        metrics.incr(name, n)
    metrics.add_time("detect", 2.0)
    metrics.add_time("embed", 0.5)
    values = {**metrics.snapshot(), "frames_dropped": 10.0}
    line = summary(values)
    assert line.startswith("frames 200 of 210 read, 20.0 fps, dropped 10,")
    assert "detections 40 (on 50 frames)" in line
    assert "embeddings 12, arrivals 2" in line
    assert "detect 10.0" in line  # 2 s over 200 frames
    assert "embed 2.5" in line
