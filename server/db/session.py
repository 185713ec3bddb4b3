"""Engines and sessions. SQLite gets foreign keys, WAL and a busy timeout on every connection."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, SessionTransaction, sessionmaker
from sqlalchemy.pool import QueuePool


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for ``url``; SQLite files get their directory created and safe pragmas."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        kwargs.setdefault("connect_args", {"check_same_thread": False, "timeout": 30})
        # SQLite has one writer at a time. Many threads each holding a connection and racing
        # for the write lock collapse into a lock convoy under load (busy retries, timeouts).
        # One pooled connection makes the process take turns in order instead: threads queue
        # for it, and each transaction runs at full speed.
        kwargs.setdefault("poolclass", QueuePool)
        kwargs.setdefault("pool_size", 1)
        kwargs.setdefault("max_overflow", 0)
        kwargs.setdefault("pool_timeout", 60)
        engine = create_engine(url, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            # pysqlite's own transaction handling starts a transaction only before DML, so a
            # SAVEPOINT issued first would become the outer transaction and RELEASE would
            # commit it. Take over: the driver never emits BEGIN, SQLAlchemy's "begin" does.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA secure_delete=ON")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Connection) -> None:
            if conn.get_execution_options().get("isolation_level") == "AUTOCOMMIT":
                return
            # IMMEDIATE takes the write lock up front: another process (a CLI, a second
            # server) then waits out busy_timeout instead of failing on a lock upgrade.
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **kwargs)


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any error."""
    with factory() as session, session.begin():
        yield session


_AFTER_COMMIT = "vertrouwd.after_commit"


def after_commit(session: Session, callback: Callable[[], None]) -> None:
    """Run ``callback`` once the session's current transaction has committed (dropped on
    rollback). Services use it to notify tablets/devices only about data that really exists."""
    session.info.setdefault(_AFTER_COMMIT, []).append(callback)


@event.listens_for(Session, "after_commit")
def _run_after_commit(session: Session) -> None:
    callbacks: list[Callable[[], None]] = session.info.pop(_AFTER_COMMIT, [])
    for callback in callbacks:
        callback()


@event.listens_for(Session, "after_rollback")
def _drop_after_commit(session: Session) -> None:
    session.info.pop(_AFTER_COMMIT, None)


_AFTER_RELEASE = "vertrouwd.after_release"
_RELEASE_READY = "vertrouwd.after_release.ready"


def after_release(session: Session, callback: Callable[[], None]) -> None:
    """Run ``callback`` once the current transaction has committed AND the session has given its
    connection back to the pool (dropped on rollback). For work that needs a connection of its
    own, e.g. a SQLite WAL checkpoint: with a one-connection pool, doing it in ``after_commit``
    would wait for the connection the committing session still holds."""
    session.info.setdefault(_AFTER_RELEASE, []).append(callback)


@event.listens_for(Session, "after_commit")
def _ready_after_release(session: Session) -> None:
    ready = session.info.pop(_AFTER_RELEASE, [])
    if ready:
        session.info.setdefault(_RELEASE_READY, []).extend(ready)


@event.listens_for(Session, "after_rollback")
def _drop_after_release(session: Session) -> None:
    session.info.pop(_AFTER_RELEASE, None)


@event.listens_for(Session, "after_transaction_end")
def _run_after_release(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is not None:  # a nested transaction: the connection is still held
        return
    callbacks: list[Callable[[], None]] = session.info.pop(_RELEASE_READY, [])
    for callback in callbacks:
        callback()
