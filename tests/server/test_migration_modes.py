"""Migration 0005 (issue 12) on a database that already holds a live store and visits: existing
visits become face visits, an existing store keeps working as ``door`` (no mode row), the door
acknowledgement and the one-active-pass rule are constraints, and it downgrades cleanly."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.exc import IntegrityError

from server.db.migrate import alembic_config, upgrade
from tests.databases import database_url_for_tests

pytestmark = pytest.mark.db  # its own databases (tests/databases.py)
NOW = datetime(2026, 12, 1, 9, 30)


def test_migration_0005_on_a_database_in_use_and_back(tmp_path: Path) -> None:
    with database_url_for_tests(tmp_path) as found:
        url = found or f"sqlite:///{tmp_path / 'migrate.db'}"
        upgrade(url, "0004")
        engine = create_engine(url)
        try:
            with engine.begin() as c:
                c.execute(
                    text(
                        "INSERT INTO stores (id, code, name, live, signage_confirmed_at, "
                        "dpia_reference, gallery_version, created_at) "
                        "VALUES (1, 'delft', 'Delft', :t, :now, 'DPIA-1', 3, :now)"
                    ),
                    {"t": True, "now": NOW},
                )
                c.execute(
                    text(
                        "INSERT INTO customers (id, subject_id, name, preferred_name, language, "
                        "created_at, last_interaction_at) "
                        "VALUES ('c1', 's_1', 'Anna', 'Anna', 'nl', :now, :now)"
                    ),
                    {"now": NOW},
                )
                c.execute(
                    text(
                        "INSERT INTO visits (customer_id, store_id, arrived_at, score, status, "
                        "live_until) VALUES ('c1', 1, :now, 0.4, 'greeted', :now)"
                    ),
                    {"now": NOW},
                )
            upgrade(url, "0005")
            with engine.begin() as c:
                assert c.execute(text("SELECT method, face_verified FROM visits")).all() == [
                    ("face", None)
                ]
                assert c.execute(text("SELECT count(*) FROM store_modes")).scalar_one() == 0
            with pytest.raises(IntegrityError), engine.begin() as c:
                c.execute(
                    text(
                        "INSERT INTO store_modes (store_id, mode, door_acknowledged, "
                        "dpia_reference, recorded_by, recorded_at) "
                        "VALUES (1, 'door', :f, 'DPIA-1', 'test', :now)"
                    ),
                    {"f": False, "now": NOW},
                )
            with engine.begin() as c:
                for n in (1, 2):
                    c.execute(
                        text(
                            "INSERT INTO member_passes (customer_id, digest, issued_at, "
                            "issued_by, revoked_at) VALUES ('c1', :d, :now, 'test', :now)"
                        ),
                        {"d": f"{n}" * 64, "now": NOW},
                    )  # revoked ones: any number
                c.execute(
                    text(
                        "INSERT INTO member_passes (customer_id, digest, issued_at, issued_by) "
                        "VALUES ('c1', :d, :now, 'test')"
                    ),
                    {"d": "3" * 64, "now": NOW},
                )
            with pytest.raises(IntegrityError), engine.begin() as c:
                c.execute(
                    text(
                        "INSERT INTO member_passes (customer_id, digest, issued_at, issued_by) "
                        "VALUES ('c1', :d, :now, 'test')"
                    ),
                    {"d": "4" * 64, "now": NOW},
                )  # a second ACTIVE pass of the same member
            with pytest.raises(IntegrityError), engine.begin() as c:
                c.execute(
                    text("UPDATE visits SET method = 'iris'"),
                )

            command.downgrade(alembic_config(url), "0004")
            tables = set(inspect(engine).get_table_names())
            assert "store_modes" not in tables
            assert "member_passes" not in tables
            assert "method" not in {col["name"] for col in inspect(engine).get_columns("visits")}
            upgrade(url, "0005")
            assert {"store_modes", "member_passes"} <= set(inspect(engine).get_table_names())
        finally:
            engine.dispose()
