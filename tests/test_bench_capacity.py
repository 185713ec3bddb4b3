"""The capacity search's own arithmetic (bench/load.py): which step is the knee, and the
server's CPU time read from /proc. The benchmark itself is run by `make bench-load`."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def load() -> ModuleType:
    # bench/ is a directory of scripts, not a package: load the script as a module
    spec = importlib.util.spec_from_file_location("bench_load", REPO / "bench" / "load.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_load"] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


def step(load: ModuleType, offered: float, ok: int, p95_ms: float, errors: int = 0) -> Any:
    every = [p95_ms] * 20
    result = load.Result(f"c@{offered}", ok, ok, errors, every, every, 1.0, 2)
    return load.Step(offered, result, server_cpu_s=ok * 0.002)


def test_the_knee_is_the_last_step_that_kept_up(load: ModuleType) -> None:
    steps = [
        step(load, 100, 100, 20.0),
        step(load, 200, 199, 40.0),
        step(load, 300, 240, 900.0),  # fell behind: p95 over 250 ms
    ]
    assert [s.passed for s in steps] == [True, True, False]
    line = load.capacity_line("sqlite-1proc", steps)
    assert line.startswith("capacity: config=sqlite-1proc events_per_s=199 p95_ms=40.0")
    assert "server_cpu_ms_per_event=2.00" in line
    assert "raise --steps" not in line


def test_a_step_with_errors_or_short_of_the_rate_fails(load: ModuleType) -> None:
    assert not step(load, 100, 100, 20.0, errors=1).passed
    assert not step(load, 100, 90, 20.0).passed  # sustained 90 of 100/s
    first_failed = load.capacity_line("x", [step(load, 100, 50, 20.0)])
    assert "events_per_s=0" in first_failed
    all_passed = load.capacity_line("x", [step(load, 100, 100, 20.0)])
    assert "raise --steps" in all_passed


def test_server_cpu_counts_the_children(load: ModuleType) -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", "import sys; sum(range(10**7)); sys.stdin.read()"],
        stdin=subprocess.PIPE,
    )
    try:
        assert child.pid in load.descendants(os.getpid())
        cpu = load.ServerCPU(os.getpid())
        before = cpu.cpu_s()
        sum(range(10**7))  # work in this process
        assert cpu.cpu_s() > before
        assert cpu.rss_mb() > 0
    finally:
        assert child.stdin is not None
        child.stdin.close()
        child.wait(30)
