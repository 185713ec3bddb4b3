"""The PostgreSQL pass's reused database (tests/databases.py): each test gets it empty, as a
copy of the migrated template would be, and one whose schema a test changed is replaced."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, func, insert, select, text
from sqlalchemy.exc import OperationalError

from server.db.stores import Store
from tests.databases import backend, reused_postgres_database

pytestmark = [
    pytest.mark.db,
    pytest.mark.skipif(backend() != "postgres", reason="the PostgreSQL pass only"),
]


def _add_store(url: str, code: str) -> int:
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            return int(
                conn.execute(
                    insert(Store).values(code=code, name="Store", live=False, gallery_version=0)
                    .returning(Store.id)
                ).scalar_one()
            )  # fmt: skip
    finally:
        engine.dispose()


def _scalar(url: str, statement: object) -> int:
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            return int(conn.execute(statement).scalar_one())  # type: ignore[call-overload]
    finally:
        engine.dispose()


def test_the_next_test_finds_it_empty_with_identities_restarted() -> None:
    with reused_postgres_database() as url:
        first_id = _add_store(url, "s1")
        _add_store(url, "s2")
        left_open = create_engine(url).connect()  # a connection a test forgot to close
        left_open.execute(text("SELECT 1"))
        assert _scalar(url, select(func.count()).select_from(Store)) == 2
    with reused_postgres_database() as again:
        assert again == url
        assert _scalar(again, select(func.count()).select_from(Store)) == 0
        assert _add_store(again, "s1") == first_id  # the identity restarted
    # the forgotten connection was ended by the reset (not waited for)
    with pytest.raises(OperationalError):
        left_open.execute(text("SELECT 1"))
    left_open.close()
    left_open.engine.dispose()


def test_a_database_whose_schema_a_test_changed_is_replaced() -> None:
    with reused_postgres_database() as url:
        engine = create_engine(url)
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE left_behind (x int)"))
        engine.dispose()
    with reused_postgres_database() as fresh:
        assert fresh != url
        found = text("SELECT count(*) FROM pg_tables WHERE tablename = 'left_behind'")
        assert _scalar(fresh, found) == 0
