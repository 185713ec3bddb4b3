"""Shared fixtures: the real face data, a server runtime on a fresh SQLite file, factories."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.browser import browser, screenshot_dir  # noqa: F401  (fixtures)

REPO = Path(__file__).resolve().parents[1]
FACES = Path(os.environ.get("VERTROUWD_TEST_FACES", REPO.parent / "shared" / "faces"))
CLIP = FACES / "video" / "short_hamilton_clip.mp4"


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
def _cheap_password_hashing() -> Iterator[None]:
    """Staff passwords hashed with the cheapest Argon2 parameters in this test process: the
    production ones (~0.3 s a hash) were paid twice per store fixture, hundreds of times a run.
    Verification reads the parameters from the hash itself, so the login path is unchanged;
    tests/server/test_password_hashing.py asserts the production parameters once."""
    from argon2 import PasswordHasher

    from server.services.staff import accounts as staff

    production = staff._hasher
    staff._hasher = PasswordHasher(time_cost=1, memory_cost=64, parallelism=1)
    yield
    staff._hasher = production


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    d = tmp_path / "var"
    d.mkdir()
    return d
