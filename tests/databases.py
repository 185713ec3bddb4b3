"""Which database the server tests run on: SQLite (default) or PostgreSQL.

``make test`` runs the server suite twice: once on a SQLite file, once with
``VERTROUWD_TEST_DB=postgres`` against the PostgreSQL that ``.ci/system-deps.sh`` started. Each
test gets a database of its own (created and dropped here), so tests never share state.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

PG_ADMIN_URL = os.environ.get(
    "VERTROUWD_TEST_PG_URL", "postgresql://vertrouwd:vertrouwd-test@127.0.0.1:5432/postgres"
)


def backend() -> str:
    name = os.environ.get("VERTROUWD_TEST_DB", "sqlite")
    if name not in ("sqlite", "postgres"):
        raise ValueError(f"VERTROUWD_TEST_DB must be sqlite or postgres, not {name!r}")
    return name


def _admin() -> object:
    import psycopg

    try:
        return psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        pytest.fail(f"PostgreSQL is not reachable at {PG_ADMIN_URL} (make test starts it): {exc}")


@contextmanager
def postgres_database() -> Iterator[str]:
    """A fresh, empty PostgreSQL database; dropped (connections closed) afterwards."""
    import psycopg

    name = "vt_" + uuid.uuid4().hex[:16]
    conn = _admin()
    assert isinstance(conn, psycopg.Connection)
    with conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    try:
        yield f"{base.replace('postgresql://', 'postgresql+psycopg://', 1)}/{name}"
    finally:
        _drop(name)


def _drop(name: str) -> None:
    """Drop a test database. A background worker (autovacuum) on it can make one attempt fail;
    try again a few times before giving up loudly."""
    import psycopg

    for attempt in range(5):
        conn = _admin()
        assert isinstance(conn, psycopg.Connection)
        try:
            with conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            return
        except (psycopg.errors.InsufficientPrivilege, psycopg.errors.ObjectInUse):
            if attempt == 4:
                raise
            time.sleep(0.2 * (attempt + 1))


@contextmanager
def database_url_for_tests(data_dir: Path) -> Iterator[str | None]:
    """``None`` means the default SQLite file in the data dir."""
    if backend() == "postgres":
        with postgres_database() as url:
            yield url
    else:
        yield None
