"""Shared fixtures: the real face data, a server runtime on a fresh SQLite file, factories."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

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
# and restarted, chromium. Under pytest-xdist those files start first, so the two processes do
# not end with one of them alone on the demo while the other idles.
LONG_MARKS = ("slow", "faults", "browser")


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the groups
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """``make test`` runs the suite in two processes (pytest-xdist, ``--dist loadgroup``): each
    test file is one group, run by one process, so its module and session fixtures (models
    converted, the clip analysed, a server started) are made once, not once per process. A
    module with its own ``xdist_group`` mark (the tests that share Redis) keeps it. Under xdist
    the groups are handed out in order, the long ones (``LONG_MARKS``) first."""
    groups: dict[str, int] = {}
    for item in items:
        if item.get_closest_marker("xdist_group") is None:
            item.add_marker(pytest.mark.xdist_group(item.nodeid.split("::")[0]))
        rank = next(
            (i for i, m in enumerate(LONG_MARKS) if item.get_closest_marker(m)), len(LONG_MARKS)
        )
        group = _group_of(item)
        groups[group] = min(groups.get(group, rank), rank)
    if config.getoption("dist", "no") != "no":
        first = {g: i for i, g in reversed(list(enumerate(_group_of(i) for i in items)))}
        items.sort(key=lambda i: (groups[_group_of(i)], first[_group_of(i)]))


def _group_of(item: pytest.Item) -> str:
    mark = item.get_closest_marker("xdist_group")
    assert mark is not None
    return str(mark.args[0])


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
