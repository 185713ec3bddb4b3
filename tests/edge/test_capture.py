"""Capture: the stale-frame slot and reconnection with backoff."""

from __future__ import annotations

import random
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edge.capture import Backoff, Frame, FrameSource, LatestFrameSlot, SourceError, parse_source


def _frame(i: int) -> Frame:
    return Frame(index=i, timestamp=float(i), bgr=np.full((4, 4, 3), i % 255, dtype=np.uint8))


def test_parse_source() -> None:
    assert parse_source("0") == 0
    assert parse_source(" 2 ") == 2
    assert parse_source("rtsp://cam/1") == "rtsp://cam/1"
    assert parse_source("clip.mp4") == "clip.mp4"


def test_slot_drops_stale_frames_when_producer_is_faster() -> None:
    slot = LatestFrameSlot(capacity=1, drop_stale=True)
    for i in range(10):
        assert slot.put(_frame(i))
    got = slot.get(timeout=0)
    assert got is not None
    assert got.index == 9
    assert slot.dropped == 9
    assert slot.get(timeout=0) is None


def test_slot_capacity_two_keeps_the_two_newest_in_order() -> None:
    slot = LatestFrameSlot(capacity=2, drop_stale=True)
    for i in range(5):
        slot.put(_frame(i))
    first, second = slot.get(timeout=0), slot.get(timeout=0)
    assert first is not None
    assert second is not None
    assert (first.index, second.index) == (3, 4)
    assert slot.dropped == 3


def test_slot_with_concurrent_fast_producer_consumer_sees_only_increasing_fresh_frames() -> None:
    slot = LatestFrameSlot(capacity=1, drop_stale=True)
    consumer_ready = threading.Event()
    step = threading.Semaphore(0)
    seen: list[int] = []

    def consume() -> None:
        consumer_ready.set()
        while True:
            step.acquire()  # the consumer is slow: it takes a frame only when allowed
            frame = slot.get(timeout=5)
            if frame is None:
                return
            seen.append(frame.index)

    thread = threading.Thread(target=consume)
    thread.start()
    consumer_ready.wait(5)
    for i in range(100):
        slot.put(_frame(i))
        if i % 25 == 24:
            step.release()  # 4 reads while 100 frames were produced
    slot.close()
    step.release()
    thread.join(5)
    assert not thread.is_alive()
    assert seen == sorted(seen)
    assert len(seen) == len(set(seen))
    assert len(seen) <= 4
    assert slot.dropped == 100 - len(seen)
    assert slot.dropped >= 96


def test_slot_without_dropping_delivers_every_frame_in_order() -> None:
    slot = LatestFrameSlot(capacity=1, drop_stale=False)
    seen: list[int] = []

    def produce() -> None:
        for i in range(50):
            slot.put(_frame(i))
        slot.close()

    thread = threading.Thread(target=produce)
    thread.start()
    while (frame := slot.get(timeout=5)) is not None:
        seen.append(frame.index)
    thread.join(5)
    assert seen == list(range(50))
    assert slot.dropped == 0


def test_closed_slot_wakes_a_waiting_consumer() -> None:
    slot = LatestFrameSlot()
    result: list[Frame | None] = []
    waiting = threading.Thread(target=lambda: result.append(slot.get(timeout=10)))
    waiting.start()
    slot.close()
    waiting.join(5)
    assert result == [None]
    assert not slot.put(_frame(1))


def test_backoff_grows_exponentially_is_bounded_and_jittered() -> None:
    backoff = Backoff(initial=0.5, maximum=8.0, factor=2.0, jitter=0.5, rng=random.Random(7))
    delays = [backoff.next_delay() for _ in range(10)]
    bases = [min(8.0, 0.5 * 2**i) for i in range(10)]
    for delay, base in zip(delays, bases, strict=True):
        assert base * 0.5 <= delay <= base
    assert max(delays) <= 8.0
    assert len({round(d / b, 6) for d, b in zip(delays, bases, strict=True)}) > 1  # jittered
    backoff.reset()
    assert backoff.next_delay() <= 0.5


class FakeCapture:
    """A cv2.VideoCapture look-alike: opens only when the plan says so, then yields frames."""

    def __init__(self, opened: bool, frames: int) -> None:
        self._opened = opened
        self._frames = frames
        self.released = False

    def isOpened(self) -> bool:
        return self._opened

    def read(self) -> tuple[bool, Any]:
        if self._frames <= 0:
            return False, None
        self._frames -= 1
        return True, np.zeros((8, 8, 3), dtype=np.uint8)

    def release(self) -> None:
        self.released = True

    def get(self, prop_id: int) -> float:
        return 25.0


def test_stream_reconnects_with_backoff_after_failures() -> None:
    # plan: first connection gives 3 frames then breaks; 4 failed opens; then 2 more frames;
    # then failing until the source gives up after max_reconnects (5) failed attempts.
    plan = [(True, 3), (False, 0), (False, 0), (False, 0), (False, 0), (True, 2)]
    opened: list[FakeCapture] = []

    def factory(target: str | int) -> FakeCapture:
        assert target == "rtsp://camera.local/stream"
        ok, n = plan.pop(0) if plan else (False, 0)
        capture = FakeCapture(ok, n)
        opened.append(capture)
        return capture

    waits: list[float] = []

    def wait(delay: float) -> bool:
        waits.append(delay)
        return False

    source = FrameSource(
        "rtsp://camera.local/stream",
        factory=factory,
        backoff=Backoff(initial=1.0, maximum=4.0, jitter=0.0),
        wait=wait,
        max_reconnects=5,
    )
    frames = list(source.frames())
    assert [f.index for f in frames] == [0, 1, 2, 3, 4]
    assert source.reconnects == 1
    # after the break: attempts at 1, 2, 4, 4, 4 s (bounded) until one succeeds ...
    assert waits[:5] == [1.0, 2.0, 4.0, 4.0, 4.0]
    # ... then the backoff restarted at 1 s after frames flowed again, and gave up after 5
    assert waits[5:] == [1.0, 2.0, 4.0, 4.0, 4.0]
    assert all(c.released for c in opened)


def test_reconnect_stops_promptly_when_stop_is_set() -> None:
    stop = threading.Event()

    def wait(delay: float) -> bool:
        stop.set()  # someone shuts down while we wait
        return True

    source = FrameSource(
        "http://camera.local/mjpeg",
        factory=lambda target: FakeCapture(False, 0),
        stop=stop,
        wait=wait,
    )
    assert list(source.frames()) == []


def test_file_source_that_appears_later_is_picked_up(tmp_path: Path) -> None:
    clip = Path(__file__).resolve().parents[2] / ".." / "shared" / "faces" / "video"
    clip = clip / "short_hamilton_clip.mp4"
    if not clip.is_file():
        pytest.skip("../shared/faces/video/short_hamilton_clip.mp4 is absent")
    target = tmp_path / "later.mp4"
    attempts: list[float] = []

    def wait(delay: float) -> bool:
        attempts.append(delay)
        if len(attempts) == 2:
            target.write_bytes(clip.read_bytes())  # the recording appears
        return False

    source = FrameSource(
        str(target), reconnect=True, wait=wait, backoff=Backoff(0.1, 1.0, jitter=0.0)
    )
    frames = source.frames()
    first = next(frames)
    assert first.index == 0
    assert first.bgr.shape == (360, 640, 3)
    assert attempts[:2] == [0.1, 0.2]
    source.stop.set()
    frames.close()


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    source = FrameSource(str(tmp_path / "nope.mp4"))
    with pytest.raises(SourceError, match="not a readable file"):
        list(source.frames())
