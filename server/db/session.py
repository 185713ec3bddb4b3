"""Engines and sessions. SQLite gets foreign keys, WAL and a busy timeout on every connection."""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, SessionTransaction, sessionmaker
from sqlalchemy.pool import QueuePool

log = logging.getLogger(__name__)


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


def make_session_factory(engine: Engine, *, vault: object = None) -> sessionmaker[Session]:
    """Sessions on ``engine``; ``vault`` (a ``server.db.sealed.FieldVault``) seals and opens
    personal fields. Each session caches the profile keys it unwrapped until it closes."""
    info = {} if vault is None else {"vertrouwd.field_vault": vault}
    return sessionmaker(engine, expire_on_commit=False, info=info)


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


class _Retrier:
    """Runs post-commit callbacks that failed again later, on a thread of its own, with backoff.

    The data they announce is committed; a notification that fails (the broker unreachable)
    must not turn that into an error for the request, and must not be lost at the first
    failure either. Each failure is logged with the callback's name only (never its arguments:
    they may name a customer). Bounded: when the queue is full the callback is dropped (logged,
    counted); devices poll and tablets reload, so a lost notice delays, never loses, data.
    """

    DELAYS_S = (0.5, 1.0, 2.0, 4.0, 8.0)  # then it gives up

    def __init__(self, size: int = 1000) -> None:
        self._queue: queue.Queue[tuple[float, int, Callable[[], None]]] = queue.Queue(size)
        self._lock = threading.Condition()
        self._thread: threading.Thread | None = None
        self._pending = 0
        self.retried = 0
        self.gave_up = 0
        self.dropped = 0

    def run(self, callbacks: list[Callable[[], None]]) -> None:
        """Run each callback now; any that fails is logged and queued for a retry."""
        for callback in callbacks:
            try:
                callback()
            except Exception as exc:
                self._failed(callback, 0, exc)

    def _failed(self, callback: Callable[[], None], attempt: int, exc: Exception) -> None:
        name = _name(callback)
        if attempt >= len(self.DELAYS_S):
            log.error("post-commit %s failed %d times (%s); given up", name, attempt + 1, _why(exc))
            with self._lock:
                self.gave_up += 1
            return
        log.warning("post-commit %s failed (%s); retrying", name, _why(exc))
        with self._lock:
            self._pending += 1
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="after-commit", daemon=True)
                self._thread.start()
        try:
            self._queue.put_nowait(
                (time.monotonic() + self.DELAYS_S[attempt], attempt + 1, callback)
            )
        except queue.Full:
            log.error("post-commit %s dropped: too many retries pending", name)
            with self._lock:
                self._pending -= 1
                self.dropped += 1
                self._lock.notify_all()

    def _loop(self) -> None:
        while True:
            due, attempt, callback = self._queue.get()
            wait = due - time.monotonic()
            if wait > 0:
                time.sleep(wait)  # a backoff, on this thread only; nothing waits for it
            try:
                callback()
            except Exception as exc:
                self._failed(callback, attempt, exc)
            else:
                log.info("post-commit %s done on retry %d", _name(callback), attempt)
            with self._lock:
                self._pending -= 1
                self.retried += 1
                self._lock.notify_all()

    def wait_idle(self, timeout: float) -> bool:
        """Block until no retry is pending (for tests and shutdown)."""
        with self._lock:
            return self._lock.wait_for(lambda: self._pending == 0, timeout)


def _name(callback: Callable[[], Any]) -> str:
    func = getattr(callback, "func", callback)  # a functools.partial: its function
    return str(getattr(func, "__qualname__", type(func).__name__))


def _why(exc: Exception) -> str:
    return type(exc).__name__  # the message may carry data; the type says enough


after_commit_retries = _Retrier()


@event.listens_for(Session, "after_commit")
def _run_after_commit(session: Session) -> None:
    callbacks: list[Callable[[], None]] = session.info.pop(_AFTER_COMMIT, [])
    after_commit_retries.run(callbacks)


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
    after_commit_retries.run(callbacks)
