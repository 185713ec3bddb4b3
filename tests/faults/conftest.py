"""Fault tests: real processes on loopback, each bounded in time. Select with ``-m faults``."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "faults: fault-injection tests (kill/restart, database down, offline edge)"
    )
