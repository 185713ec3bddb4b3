"""The threaded pipeline with stand-in models (fast): in realtime mode a slow stage makes the
capture drop stale frames and the pipeline goes on with the newest; in file mode nothing is
dropped. Frames carry their index as their grey level so the detector can tell which it got."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import pytest

from edge.capture import FrameSource
from edge.events import ArrivalEvent
from edge.matching import OperatingPoint, StaticGallery
from edge.pipeline import Engine, Pipeline
from edge.settings import EdgeSettings
from models.matcher import GalleryIndex
from models.types import FaceBox, RGBImage
from tests.edge.test_engine_fake import MEMBER, MODEL, FakeEmbedder

N = 30


class IndexedCapture:
    """A stream of ``N`` frames whose grey level is ``index * 5``; ``done`` is set once the
    last frame has been read (and so handed to the pipeline)."""

    def __init__(self) -> None:
        self.next = 0
        self.done = threading.Event()

    def isOpened(self) -> bool:
        return True

    def read(self) -> tuple[bool, Any]:
        if self.next >= N:
            self.done.set()
            return False, None
        image = np.full((120, 160, 3), self.next * 5, dtype=np.uint8)
        self.next += 1
        return True, image

    def release(self) -> None:
        return None

    def get(self, prop_id: int) -> float:
        return 30.0


class GatedDetector:
    """Records which frames it saw; the first call waits until the source has delivered every
    frame (a stage far slower than the camera)."""

    key = "gated"

    def __init__(self, gate: threading.Event) -> None:
        self.gate = gate
        self.seen: list[int] = []

    def load(self) -> None:
        return None

    def detect(self, image: RGBImage) -> list[FaceBox]:
        if not self.seen:
            assert self.gate.wait(10), "the source never finished"
        self.seen.append(int(image[0, 0, 0]) // 5)
        return []


class Sink:
    def __init__(self) -> None:
        self.events: list[ArrivalEvent] = []

    def put(self, event: ArrivalEvent) -> None:
        self.events.append(event)


@pytest.mark.parametrize("realtime", [True, False])
def test_slow_stage_drops_stale_frames_only_in_realtime(realtime: bool) -> None:
    capture = IndexedCapture()
    detector = GatedDetector(capture.done)
    index = GalleryIndex.build(["s-m"], MEMBER[None, :], MODEL)
    settings = EdgeSettings(
        detect_scale=0.5, motion_hold_frames=300, queue_size=2, realtime=realtime
    )
    engine = Engine(
        settings,
        detector=detector,
        embedder=FakeEmbedder(MEMBER),
        gallery=StaticGallery(index),
        point=OperatingPoint(threshold=0.5, min_margin=0.0),
    )
    source = FrameSource("rtsp://camera.local/stream", factory=lambda _: capture, reconnect=False)
    if not realtime:
        capture.done.set()  # file mode blocks the capture instead of dropping: open the gate
    pipeline = Pipeline(engine, source, Sink(), realtime=realtime)
    pipeline.start()
    try:
        assert pipeline.wait(timeout=30), "the pipeline did not finish"
    finally:
        pipeline.shutdown()
    seen = detector.seen
    assert seen == sorted(set(seen))  # in order, never an old frame after a newer one
    assert seen[-1] == N - 1  # the newest frame is processed
    snapshot = engine.metrics.snapshot()
    assert snapshot["frames_captured"] == N
    if realtime:
        # while the stage was stuck on frame 0 the slot kept only the newest two frames
        assert len(seen) <= 1 + settings.queue_size + 1
        assert pipeline.frames_dropped == N - len(seen)
    else:
        assert seen == list(range(N))
        assert pipeline.frames_dropped == 0
    assert snapshot["stage_seconds_capture"] > 0.0
