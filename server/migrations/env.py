"""Alembic environment: the URL comes from the caller's config or the server settings."""

from __future__ import annotations

from alembic import context

from server.db.base import Base
from server.db.models import customer_tables  # noqa: F401  (registers every table)
from server.db.session import make_engine
from server.settings import get_settings

config = context.config
url = config.get_main_option("sqlalchemy.url") or get_settings().resolved_database_url
target_metadata = Base.metadata


def run_offline() -> None:
    context.configure(url=url, target_metadata=target_metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    engine = make_engine(url)
    sqlite = engine.dialect.name == "sqlite"
    with engine.connect() as connection:
        if sqlite:
            # SQLite's way to change a column is to copy the table and DROP the old one; with
            # foreign keys on, dropping a parent (``customers``, migration 0007) would delete its
            # children by ON DELETE CASCADE. The pragma only works outside a transaction, so it
            # goes straight to the driver; the keys are checked before the work is kept.
            connection.connection.driver_connection.execute("PRAGMA foreign_keys=OFF")  # type: ignore[union-attr]
        context.configure(
            connection=connection, target_metadata=target_metadata, render_as_batch=True
        )
        with context.begin_transaction():
            context.run_migrations()
            if sqlite:
                broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                if broken:
                    raise RuntimeError(f"migration left foreign keys broken: {broken[:5]}")
        if sqlite:
            connection.connection.driver_connection.execute("PRAGMA foreign_keys=ON")  # type: ignore[union-attr]
    engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
