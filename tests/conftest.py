"""Shared fixtures: the real face data, a server runtime on a fresh SQLite file, factories."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher

from tests.browser import browser, screenshot_dir  # noqa: F401  (fixtures)

REPO = Path(__file__).resolve().parents[1]
# Door mode is bounded by the calibration's expected false matches (issue 13): with dlib, one
# member already exceeds the default bound of 1 per 1,000, and a live door gallery past it ships
# no template. Tests of the loop run door mode with members knowingly, as an operator who raised
# the bound would; tests of the bound itself set it back (mark ``door_bound``,
# tests/server/test_false_matches.py). Subprocess servers get it from this environment.
os.environ.setdefault("VERTROUWD_MAX_FALSE_MATCHES_PER_1000", "1000")

FACES = Path(os.environ.get("VERTROUWD_TEST_FACES", REPO.parent / "shared" / "faces"))
CLIP = FACES / "video" / "short_hamilton_clip.mp4"


# What makes a test file long, longest first: the real clip end to end, real processes killed
# and restarted, chromium. A file not yet timed (below) is handed out by these marks: the long
# ones first, so the two processes do not end with one of them alone on the demo.
LONG_MARKS = ("slow", "faults", "browser")
# Each file's seconds in the last run on this checkout (pytest's cache, one entry a database
# backend): under pytest-xdist the groups are handed out longest first.
FILE_SECONDS = "vertrouwd/file-seconds-{backend}"
# Files that run in one process, one after the other: they share a session fixture made once
# (one run of the models over the clip; one models install with the faces), or the one Redis.
SHARED = {
    "edge-clip": ("tests/edge/test_engine_clip.py", "tests/edge/test_track_decision.py"),
    "models-installed": ("tests/models/test_install.py", "tests/models/test_int8_check.py"),
    "redis": (
        "tests/server/test_retention_notify.py",
        "tests/server/test_cli_shared_paths.py",
        "tests/test_scaleout.py",
    ),
}
_GROUP_OF_FILE = {path: group for group, paths in SHARED.items() for path in paths}


def group_of(nodeid: str) -> str:
    """The work unit a test belongs to: its file, or the ``SHARED`` group its file is in."""
    path = nodeid.split("::")[0]
    return _GROUP_OF_FILE.get(path, path)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """``make test`` runs the suite in two processes (pytest-xdist, ``--dist loadfile``): each
    test file (or ``SHARED`` group) is one work unit, run by one process, so its module and
    session fixtures (models converted, the clip analysed, a server started) are made once,
    not once per process. xdist's own ``xdist_group`` marks are not used: with pytest 9.2 its
    loadgroup scheduler no longer sees them (pytest-dev/pytest-xdist#1386) and handed out
    single tests, each file's fixtures made in both processes."""
    if config.getoption("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    class SharedFileScheduling(LoadFileScheduling):  # type: ignore[misc]  # untyped
        def _split_scope(self, nodeid: str) -> str:
            return group_of(nodeid)

    return SharedFileScheduling(config, log)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under xdist the work units are handed out in collection order: longest first, by the
    seconds each file took in the last run (``FILE_SECONDS``; a file not yet timed counts as
    long when it has a ``LONG_MARKS`` mark, else as short). A process that takes a unit when
    the other has just taken the last one then ends with a short one, not alone on a
    two-minute file."""
    if getattr(config, "workerinput", None) is None:
        # Only pytest-xdist's workers collect for the scheduler (there ``--dist`` reads "no":
        # xdist resets it, which is why an earlier check of it never sorted anything).
        return
    ranks: dict[str, int] = {}
    files: dict[str, set[str]] = {}
    for item in items:
        rank = next(
            (i for i, m in enumerate(LONG_MARKS) if item.get_closest_marker(m)), len(LONG_MARKS)
        )
        group = group_of(item.nodeid)
        ranks[group] = min(ranks.get(group, rank), rank)
        files.setdefault(group, set()).add(item.nodeid.split("::")[0])
    timed = _file_seconds(config)
    seconds = {
        group: (
            sum(timed[f] for f in paths)
            if all(f in timed for f in paths)
            else (float("inf") if ranks[group] < len(LONG_MARKS) else 0.0)
        )
        for group, paths in files.items()
    }
    first: dict[str, int] = {}
    for i, item in enumerate(items):
        first.setdefault(group_of(item.nodeid), i)

    def order(item: pytest.Item) -> tuple[float, int, int]:
        group = group_of(item.nodeid)
        return -seconds[group], ranks[group], first[group]

    items.sort(key=order)


def _file_seconds(config: pytest.Config) -> dict[str, float]:
    """The files' seconds of the last run: in a pytest-xdist worker, what the controller read
    once for all of them (the workers must sort their collections alike, or xdist stops)."""
    workerinput = getattr(config, "workerinput", None)
    if workerinput is not None:
        return dict(workerinput.get("vertrouwd_file_seconds", {}))
    cache = getattr(config, "cache", None)  # absent with -p no:cacheprovider
    if cache is None:
        return {}
    from tests.databases import backend

    stored = cache.get(FILE_SECONDS.format(backend=backend()), {})
    return {str(k): float(v) for k, v in stored.items()} if isinstance(stored, dict) else {}


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:  # xdist's WorkerController (untyped)
    node.workerinput["vertrouwd_file_seconds"] = _file_seconds(node.config)


class _FileClock:
    """In the controller: each file's seconds (setup, call and teardown of its tests), kept in
    pytest's cache at the end of the run, merged with the files this run did not touch."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.seconds: dict[str, float] = {}

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        path = report.nodeid.split("::")[0]
        self.seconds[path] = self.seconds.get(path, 0.0) + report.duration

    def pytest_sessionfinish(self) -> None:
        cache = getattr(self.config, "cache", None)
        if cache is None or not self.seconds:
            return
        from tests.databases import backend

        merged = {**_file_seconds(self.config), **self.seconds}
        stored = {f: round(s, 1) for f, s in sorted(merged.items())}
        cache.set(FILE_SECONDS.format(backend=backend()), stored)


def pytest_configure(config: pytest.Config) -> None:
    if getattr(config, "workerinput", None) is None and config.getoption("dist", "no") != "no":
        config.pluginmanager.register(_FileClock(config), "vertrouwd-file-clock")


def faces_dir() -> Path:
    """``../shared/faces``, or skip the test with the reason when it is absent."""
    if not (FACES / "people").is_dir():
        pytest.skip(f"real face data not found at {FACES} (set VERTROUWD_TEST_FACES)")
    return FACES


@pytest.fixture(scope="session")
def faces() -> Path:
    return faces_dir()


@pytest.fixture(scope="session")
def clip(faces: Path) -> Path:
    if not CLIP.is_file():
        pytest.skip(f"real clip not found at {CLIP}")
    return CLIP


@pytest.fixture(scope="session", autouse=True)
def _cheap_password_hashing() -> Iterator[PasswordHasher]:
    """Staff passwords hashed with the cheapest Argon2 parameters in this test process: the
    production ones (~0.3 s a hash) were paid twice per store fixture, hundreds of times a run.
    Verification reads the parameters from the hash itself, so the login path is unchanged;
    tests/server/test_password_hashing.py asserts the production parameters once."""
    from server.services.staff import accounts as staff

    production = staff._hasher
    staff._hasher = PasswordHasher(time_cost=1, memory_cost=64, parallelism=1)
    yield production
    staff._hasher = production


@pytest.fixture(scope="session")
def production_hasher(_cheap_password_hashing: PasswordHasher) -> PasswordHasher:
    """The staff accounts' Argon2 hasher as the module made it (swapped above)."""
    return _cheap_password_hashing


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    d = tmp_path / "var"
    d.mkdir()
    return d
