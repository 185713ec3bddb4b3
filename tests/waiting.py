"""Waiting in tests for what the code under test does, not for an amount of wall-clock time.

A test waits on an event or a condition; the only bound is against a hang (a deadlock, a lost
wake-up, a child process stuck), never a figure the test asserts. On a loaded 2-core machine
(two test processes, other jobs beside them) work can take many times as long as on a quiet
one, so the bounds are generous, and a long wait that keeps making progress is not cut off."""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable

HANG_S = 120.0
"""The bound on one wait for something that takes seconds on a quiet machine: only a hang
reaches it."""

STALL_S = 60.0
"""How long a long piece of work may show no progress at all before it counts as hung."""


def wait_with_progress(
    done: Callable[[float], bool],
    progress: Callable[[], Hashable],
    *,
    what: str,
    stall_s: float = STALL_S,
) -> None:
    """Wait until ``done(slice_s)`` (which may block up to ``slice_s`` seconds) is true, for as
    long as it takes while ``progress()`` keeps changing; fail only when ``progress()`` stood
    still for ``stall_s`` seconds, saying where it stood."""
    last = progress()
    last_change = time.monotonic()
    while not done(0.5):
        now = progress()
        if now != last:
            last, last_change = now, time.monotonic()
        elif time.monotonic() - last_change > stall_s:
            raise AssertionError(f"{what}: no progress for {stall_s:.0f} s (stuck at {last!r})")
