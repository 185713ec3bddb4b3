"""Which database the server tests run on: SQLite (default) or PostgreSQL.

``make test`` runs the server suite twice: once on a SQLite file, once with
``VERTROUWD_TEST_DB=postgres`` against the PostgreSQL that ``.ci/system-deps.sh`` started. Each
test gets a database of its own (created and dropped here), so tests never share state.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
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


# This process's connection to the ``postgres`` database, for CREATE and DROP DATABASE: one
# for the whole run, not two per test (each a TCP connection, SCRAM's key derivation and a new
# backend process, ~10-20 ms).
_admin_connection: object | None = None


def _admin() -> object:
    """The admin connection (autocommit), opened again if it was closed or broke."""
    global _admin_connection
    import psycopg

    conn = _admin_connection
    if isinstance(conn, psycopg.Connection) and not conn.closed and not conn.broken:
        return conn
    try:
        _admin_connection = psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        pytest.fail(f"PostgreSQL is not reachable at {PG_ADMIN_URL} (make test starts it): {exc}")
    return _admin_connection


def _sqlalchemy_url(name: str) -> str:
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    return f"{base.replace('postgresql://', 'postgresql+psycopg://', 1)}/{name}"


# One migrated database (or file) per test process, copied for each test: running the Alembic
# chain for every test cost ~0.6 s on SQLite and more on PostgreSQL, hundreds of times a run.
_pg_template: str | None = None
_sqlite_template: Path | None = None


def _drop_templates() -> None:
    if _pg_template is not None:
        _drop(_pg_template)
    if _sqlite_template is not None:
        shutil.rmtree(_sqlite_template.parent, ignore_errors=True)


def _migrated_pg_template() -> str:
    global _pg_template
    if _pg_template is None:
        import psycopg

        from server.db.migrate import upgrade

        name = "vt_tpl_" + uuid.uuid4().hex[:12]
        conn = _admin()
        assert isinstance(conn, psycopg.Connection)
        conn.execute(f'CREATE DATABASE "{name}"')
        _pg_template = name
        atexit.register(_drop_templates)
        upgrade(_sqlalchemy_url(name))  # its engine is disposed: no connection stays open
    return _pg_template


def migrated_sqlite_copy(target: Path) -> None:
    """Put a fully migrated SQLite database at ``target`` (a copy of this process's template)."""
    global _sqlite_template
    if _sqlite_template is None:
        from server.db.migrate import upgrade

        path = Path(tempfile.mkdtemp(prefix="vt-tpl-")) / "template.db"
        upgrade(f"sqlite:///{path}")
        _sqlite_template = path
        atexit.register(_drop_templates)
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    shutil.copyfile(_sqlite_template, target)


@contextmanager
def postgres_database(*, migrated: bool = False) -> Iterator[str]:
    """A fresh PostgreSQL database, empty or (``migrated``) a copy of the migrated template;
    dropped (connections closed) afterwards."""
    import psycopg

    name = "vt_" + uuid.uuid4().hex[:16]
    template = f' TEMPLATE "{_migrated_pg_template()}"' if migrated else ""
    for attempt in range(10):
        conn = _admin()
        assert isinstance(conn, psycopg.Connection)
        try:
            conn.execute(f'CREATE DATABASE "{name}"{template}')
            break
        except psycopg.errors.ObjectInUse:
            # An autovacuum worker may be visiting the template for a moment.
            if attempt == 9:
                raise
            time.sleep(0.2 * (attempt + 1))
    try:
        yield _sqlalchemy_url(name)
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
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            return
        except (psycopg.errors.InsufficientPrivilege, psycopg.errors.ObjectInUse):
            if attempt == 4:
                raise
            time.sleep(0.2 * (attempt + 1))


@contextmanager
def database_url_for_tests(data_dir: Path, *, migrated: bool = False) -> Iterator[str | None]:
    """``None`` means the default SQLite file in the data dir. ``migrated``: the database starts
    as a copy of one migrated template (the schema ``build_runtime`` would create)."""
    if backend() == "postgres":
        with postgres_database(migrated=migrated) as url:
            yield url
    else:
        if migrated:
            migrated_sqlite_copy(data_dir / "vertrouwd.db")
        yield None
