"""Frame capture: a ``FrameSource`` over ``cv2.VideoCapture`` and the stale-frame slot.

Threads: a ``FrameSource`` is iterated by exactly one thread (the capture stage). A
``LatestFrameSlot`` is the hand-over between that thread and one consumer; it is the only
object here shared between threads and it does its own locking.
"""

from __future__ import annotations

import collections
import logging
import random
import threading
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

log = logging.getLogger(__name__)

BGRImage = npt.NDArray[np.uint8]


@dataclass(frozen=True, slots=True)
class Frame:
    """One captured frame. ``timestamp`` is ``time.monotonic()`` at capture (for queue lag)."""

    index: int
    timestamp: float
    bgr: BGRImage = field(repr=False)

    @property
    def width(self) -> int:
        return int(self.bgr.shape[1])

    @property
    def height(self) -> int:
        return int(self.bgr.shape[0])


class SourceError(RuntimeError):
    """The video source cannot be opened (missing file, bad device, unreachable URL)."""


class VideoCaptureLike(Protocol):
    """The part of ``cv2.VideoCapture`` that ``FrameSource`` uses (fakes implement this)."""

    def isOpened(self) -> bool: ...

    def read(self) -> tuple[bool, Any]: ...

    def release(self) -> None: ...

    def get(self, prop_id: int) -> float: ...


CaptureFactory = Callable[[str | int], VideoCaptureLike]


def opencv_capture(target: str | int) -> VideoCaptureLike:
    """The default factory: a real ``cv2.VideoCapture``."""
    import cv2

    capture: VideoCaptureLike = cv2.VideoCapture(target)
    return capture


def parse_source(source: str) -> str | int:
    """``"0"`` -> camera index 0; URLs and file paths stay strings."""
    stripped = source.strip()
    if stripped.isdigit():
        return int(stripped)
    return stripped


def is_stream(source: str) -> bool:
    """Cameras and network streams reconnect on failure; files simply end."""
    target = parse_source(source)
    return isinstance(target, int) or "://" in target


class Backoff:
    """Exponential backoff, bounded and jittered: ``initial * factor**n`` capped at ``maximum``,
    each delay multiplied by a random factor in ``[1 - jitter, 1]``."""

    def __init__(
        self,
        initial: float = 0.5,
        maximum: float = 30.0,
        factor: float = 2.0,
        jitter: float = 0.5,
        rng: random.Random | None = None,
    ) -> None:
        if not 0 < initial <= maximum:
            raise ValueError("need 0 < initial <= maximum")
        if factor < 1.0 or not 0.0 <= jitter < 1.0:
            raise ValueError("need factor >= 1 and 0 <= jitter < 1")
        self.initial = initial
        self.maximum = maximum
        self.factor = factor
        self.jitter = jitter
        self._rng = rng or random.Random()
        self._attempt = 0

    @property
    def attempt(self) -> int:
        return self._attempt

    def next_delay(self) -> float:
        base = min(self.maximum, self.initial * self.factor**self._attempt)
        self._attempt += 1
        return base * (1.0 - self.jitter * self._rng.random())

    def reset(self) -> None:
        self._attempt = 0


class FrameSource:
    """Frames from a file, a camera index or a stream URL.

    Files end at their last frame. Cameras and streams reconnect with ``backoff`` when a read
    fails, until ``stop`` is set or ``max_reconnects`` consecutive attempts failed. ``wait`` is
    how the source waits between attempts; it returns True when it was interrupted by ``stop``
    (default: ``stop.wait``), and tests inject a recording one.
    """

    def __init__(
        self,
        source: str,
        *,
        factory: CaptureFactory = opencv_capture,
        stop: threading.Event | None = None,
        backoff: Backoff | None = None,
        reconnect: bool | None = None,
        max_reconnects: int | None = None,
        pace: bool = False,
        wait: Callable[[float], bool] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.source = source
        self._target = parse_source(source)
        self._factory = factory
        self.stop = stop or threading.Event()
        self._backoff = backoff or Backoff()
        self._reconnect = is_stream(source) if reconnect is None else reconnect
        self._max_reconnects = max_reconnects
        self._pace = pace
        self._wait_fn = wait
        self._clock = clock
        self._capture: VideoCaptureLike | None = None
        self.reconnects = 0
        self.read_failures = 0
        self.fps = 0.0
        self.last_read_s = 0.0
        """Seconds the latest ``read()`` (grab + decode) took: the capture stage's own time,
        without the pacing wait."""

    def _wait(self, seconds: float) -> bool:
        """Wait (interruptible by ``stop``); True when stopped."""
        if self._wait_fn is not None:
            return self._wait_fn(seconds)
        return self.stop.wait(seconds)

    def check(self) -> None:
        """Raise ``SourceError`` now when a file source is missing or unreadable."""
        if isinstance(self._target, str) and "://" not in self._target:
            path = Path(self._target)
            if not path.is_file():
                raise SourceError(f"video source {self._target!r} is not a readable file")

    def _open(self) -> VideoCaptureLike | None:
        capture = self._factory(self._target)
        if not capture.isOpened():
            capture.release()
            return None
        fps = capture.get(5)  # cv2.CAP_PROP_FPS
        self.fps = float(fps) if fps and fps > 0 else 0.0
        return capture

    def open(self) -> None:
        """Open the source once, raising ``SourceError`` when that fails."""
        self.check()
        self._capture = self._open()
        if self._capture is None:
            raise SourceError(f"cannot open video source {self.source!r}")

    def close(self) -> None:
        if self._capture is not None:
            self._capture.release()
            self._capture = None

    def _reopen(self) -> bool:
        """Reconnect with backoff; False when stopped or out of attempts."""
        self.close()
        failures = 0
        while not self.stop.is_set():
            delay = self._backoff.next_delay()
            log.warning("video source unavailable; retrying in %.2f s", delay)
            if self._wait(delay):
                return False
            self._capture = self._open()
            if self._capture is not None:
                self.reconnects += 1
                log.info("video source reconnected")
                return True
            failures += 1
            if self._max_reconnects is not None and failures >= self._max_reconnects:
                log.error("video source still unavailable after %d attempts", failures)
                return False
        return False

    def frames(self) -> Generator[Frame, None, None]:
        """Yield frames until the file ends, ``stop`` is set, or reconnection gives up."""
        if self._capture is None:
            if self._reconnect:
                self._capture = self._open()
                if self._capture is None and not self._reopen():
                    return
            else:
                self.open()
        index = 0
        started = self._clock()
        try:
            while not self.stop.is_set():
                assert self._capture is not None
                read_started = time.perf_counter()
                ok, image = self._capture.read()
                self.last_read_s = time.perf_counter() - read_started
                if not ok or image is None:
                    self.read_failures += 1
                    if not self._reconnect:
                        return
                    if not self._reopen():
                        return
                    continue
                self._backoff.reset()
                if self._pace and self.fps > 0:
                    due = started + index / self.fps
                    ahead = due - self._clock()
                    if ahead > 0 and self._wait(ahead):
                        return
                yield Frame(index=index, timestamp=self._clock(), bgr=np.asarray(image))
                index += 1
        finally:
            self.close()


class LatestFrameSlot:
    """Hand-over of frames from the capture thread to one consumer.

    With ``drop_stale=True`` (realtime) ``put`` never blocks: when the slot is full the oldest
    frame is dropped and counted in ``dropped``, so the consumer always gets the newest frames.
    With ``drop_stale=False`` (files) ``put`` blocks until there is room: every frame, in order.
    """

    def __init__(self, capacity: int = 1, *, drop_stale: bool = True) -> None:
        if capacity not in (1, 2):
            raise ValueError("capacity is 1 or 2")
        self.capacity = capacity
        self.drop_stale = drop_stale
        self._frames: collections.deque[Frame] = collections.deque()
        self._cond = threading.Condition()
        self._closed = False
        self.dropped = 0
        self.put_count = 0

    def put(self, frame: Frame) -> bool:
        """Offer a frame; False when the slot is closed."""
        with self._cond:
            if not self.drop_stale:
                while len(self._frames) >= self.capacity and not self._closed:
                    self._cond.wait()
            if self._closed:
                return False
            if len(self._frames) >= self.capacity:
                self._frames.popleft()
                self.dropped += 1
            self._frames.append(frame)
            self.put_count += 1
            self._cond.notify_all()
            return True

    def get(self, timeout: float | None = None) -> Frame | None:
        """The oldest frame still held; None on timeout or when closed and empty."""
        with self._cond:
            if not self._cond.wait_for(lambda: self._frames or self._closed, timeout=timeout):
                return None
            if not self._frames:
                return None
            frame = self._frames.popleft()
            self._cond.notify_all()
            return frame

    def close(self) -> None:
        """No more frames: wakes every waiter; frames already held can still be taken."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    @property
    def closed(self) -> bool:
        with self._cond:
            return self._closed

    def __len__(self) -> int:
        with self._cond:
            return len(self._frames)
