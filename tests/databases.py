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
def postgres_database(*, migrated: bool = False, keep: bool = False) -> Iterator[str]:
    """A fresh PostgreSQL database, empty or (``migrated``) a copy of the migrated template;
    dropped (connections closed) afterwards, unless ``keep`` (then at the process's exit)."""
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
    if keep:
        atexit.register(_drop, name)
        yield _sqlalchemy_url(name)
        return
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


# This process's reusable migrated database (PostgreSQL): emptied after each test instead of
# a new one made from the template and dropped (CREATE DATABASE ... TEMPLATE and DROP cost
# 0.4-0.65 s a test, a third of the PostgreSQL pass).
_reused: str | None = None
_emptying: str | None = None
"""The statements that empty it: every table but Alembic's, identities restarted."""


def _emptying_sql(tables: set[str], sequences: list[str]) -> str:
    """DELETE from every table, children first, and restart the identities: 6-13 ms for the
    test-sized tables, where one TRUNCATE of them all took 80 ms (new files for 36 tables)."""
    import server.db.models  # noqa: F401  (registers every table on the base)
    from server.db.base import Base

    order = [t.name for t in reversed(Base.metadata.sorted_tables)]
    if set(order) != tables:  # a table the models do not know: TRUNCATE finds the order
        listed = ", ".join(f'"{t}"' for t in sorted(tables))
        return f"TRUNCATE {listed} RESTART IDENTITY CASCADE"
    return "; ".join(
        [f'DELETE FROM "{t}"' for t in order] + [f"ALTER SEQUENCE {q} RESTART" for q in sequences]
    )


def _connect(name: str) -> object:
    import psycopg

    url = _sqlalchemy_url(name).replace("postgresql+psycopg://", "postgresql://", 1)
    return psycopg.connect(url, connect_timeout=5)


def _emptying_for(conn: object) -> str:
    """The statements that empty the database ``conn`` is on, from its tables and sequences."""
    import psycopg

    assert isinstance(conn, psycopg.Connection)
    tables = {
        row[0]
        for row in conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
            "AND tablename <> 'alembic_version'"
        )
    }
    sequences = [
        row[0]
        for row in conn.execute(
            "SELECT quote_ident(sequencename) FROM pg_sequences "
            "WHERE schemaname = 'public' ORDER BY 1"
        )
    ]
    return _emptying_sql(tables, sequences)


def _reset_reused(name: str) -> bool:
    """Empty the reusable database after a test; False when it cannot be trusted any more (its
    schema is not the template's, or a statement failed), so it is dropped instead."""
    import psycopg

    admin = _admin()
    assert isinstance(admin, psycopg.Connection)
    try:
        # Connections a test left open would hold locks the DELETEs wait for: end them, as
        # DROP DATABASE ... WITH (FORCE) did. Only client connections of this role: an
        # autovacuum worker on the database is the superuser's (and takes no such locks).
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s "
            "AND pid <> pg_backend_pid() AND backend_type = 'client backend' "
            "AND usename = current_user",
            (name,),
        )
        conn = _connect(name)
        assert isinstance(conn, psycopg.Connection)
        with conn:
            conn.execute("SET lock_timeout = '10s'")
            if _emptying_for(conn) != _emptying:
                return False  # a test changed the schema: not the template any more
            assert _emptying is not None
            conn.execute(_emptying)
    except psycopg.Error:
        return False
    return True


@contextmanager
def reused_postgres_database() -> Iterator[str]:
    """This process's migrated database, empty (as a copy of the template would be); emptied
    again afterwards, or dropped when that fails (the next test gets a new one)."""
    global _reused
    global _emptying
    if _reused is None:
        with postgres_database(migrated=True, keep=True) as url:
            _reused = url.rsplit("/", 1)[1]
        if _emptying is None:  # the template's schema, before any test touched it
            with _connect(_reused) as conn:  # type: ignore[attr-defined]
                _emptying = _emptying_for(conn)
    name = _reused
    try:
        yield _sqlalchemy_url(name)
    finally:
        if not _reset_reused(name):
            _reused = None
            _drop(name)


@contextmanager
def database_url_for_tests(
    data_dir: Path, *, migrated: bool = False, reuse: bool = False
) -> Iterator[str | None]:
    """``None`` means the default SQLite file in the data dir. ``migrated``: the database starts
    as a copy of one migrated template (the schema ``build_runtime`` would create). ``reuse``
    (PostgreSQL, migrated): this process's database, emptied between tests
    (:func:`reused_postgres_database`); a test that needs a database nobody used before
    (reading its files) does not ask for it."""
    if backend() == "postgres":
        if reuse and migrated:
            with reused_postgres_database() as url:
                yield url
            return
        with postgres_database(migrated=migrated) as url:
            yield url
    else:
        if migrated:
            migrated_sqlite_copy(data_dir / "vertrouwd.db")
        yield None
