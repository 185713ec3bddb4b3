"""Counters and timings of the edge: numbers only, never identities, boxes or images.

Each counter is written by the one stage thread that owns it; readers (the health endpoint)
take ``snapshot()``, which copies under a lock that writers also take briefly.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager


class EngineMetrics:
    STAGES = ("capture", "motion", "detect", "track", "quality", "embed", "match", "publish")

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self.started = clock()
        self.counters: dict[str, int] = defaultdict(int)
        self.stage_seconds: dict[str, float] = dict.fromkeys(self.STAGES, 0.0)
        self.queue_lag_s = 0.0
        self.max_queue_lag_s = 0.0

    def incr(self, name: str, amount: int = 1) -> None:
        with self._lock:
            self.counters[name] += amount

    def count(self, name: str) -> int:
        """One counter's value (cheaper than ``snapshot()``; the kiosk reads it per frame)."""
        with self._lock:
            return self.counters.get(name, 0)

    def add_time(self, stage: str, seconds: float) -> None:
        with self._lock:
            self.stage_seconds[stage] = self.stage_seconds.get(stage, 0.0) + seconds

    @contextmanager
    def timed(self, stage: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.add_time(stage, time.perf_counter() - start)

    def observe_lag(self, seconds: float) -> None:
        with self._lock:
            self.queue_lag_s = seconds
            self.max_queue_lag_s = max(self.max_queue_lag_s, seconds)

    def reset_clock(self) -> None:
        with self._lock:
            self.started = self._clock()

    def snapshot(self) -> dict[str, float]:
        with self._lock:
            elapsed = max(1e-9, self._clock() - self.started)
            values: dict[str, float] = {k: float(v) for k, v in self.counters.items()}
            values["elapsed_seconds"] = elapsed
            values["fps"] = values.get("frames_processed", 0.0) / elapsed
            values["queue_lag_seconds"] = self.queue_lag_s
            values["queue_lag_max_seconds"] = self.max_queue_lag_s
            for stage, seconds in self.stage_seconds.items():
                values[f"stage_seconds_{stage}"] = seconds
            return values
