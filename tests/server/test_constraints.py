"""Privacy invariant 10 in the database itself: no template without an active consent."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from server.runtime import Runtime


def _customer_with_consent(rt: Runtime, status: str = "active") -> None:
    now = rt.now()
    with rt.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO customers (id, subject_id, name, preferred_name, language,"
                " created_at, last_interaction_at) VALUES ('c1', 's1', 'A B', 'A', 'nl', :n, :n)"
            ),
            {"n": now},
        )
        conn.execute(
            text(
                "INSERT INTO consent_records (id, customer_id, purpose, scope, text_version,"
                " text_language, text_sha256, channel, given_at, expires_at, status, withdrawn_at)"
                " VALUES ('k1', 'c1', 'p', '[\"x\"]', 'v', 'nl', :h, 'cli', :n, :e, :s, :w)"
            ),
            {
                "h": "0" * 64,
                "n": now,
                "e": now + timedelta(days=30),
                "s": status,
                "w": None if status == "active" else now,
            },
        )


def _insert_template(rt: Runtime, consent_id: str, consent_status: str = "active") -> None:
    with rt.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO face_templates (customer_id, consent_id, consent_status, ciphertext,"
                " created_at, model_id, template_version)"
                " VALUES ('c1', :k, :cs, :blob, :n, 'm', 1)"
            ),
            {"k": consent_id, "cs": consent_status, "blob": b"\x00", "n": rt.now()},
        )


def test_template_with_active_consent_is_accepted(runtime: Runtime) -> None:
    _customer_with_consent(runtime)
    _insert_template(runtime, "k1")
    with runtime.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM face_templates")).scalar() == 1


def test_template_without_consent_record_is_refused(runtime: Runtime) -> None:
    _customer_with_consent(runtime)
    with pytest.raises(IntegrityError):
        _insert_template(runtime, "no-such-consent")


def test_template_under_withdrawn_consent_is_refused(runtime: Runtime) -> None:
    _customer_with_consent(runtime, status="withdrawn")
    with pytest.raises(IntegrityError):
        _insert_template(runtime, "k1")
    with pytest.raises(IntegrityError):  # nor by claiming the consent is something else
        _insert_template(runtime, "k1", consent_status="withdrawn")


def test_consent_cannot_be_withdrawn_while_templates_exist(runtime: Runtime) -> None:
    _customer_with_consent(runtime)
    _insert_template(runtime, "k1")
    with pytest.raises(IntegrityError), runtime.engine.begin() as conn:
        conn.execute(
            text("UPDATE consent_records SET status='withdrawn', withdrawn_at=:n WHERE id='k1'"),
            {"n": runtime.now()},
        )
    with runtime.engine.begin() as conn:  # destroy templates first: then it may end
        conn.execute(text("DELETE FROM face_templates WHERE consent_id='k1'"))
        conn.execute(
            text("UPDATE consent_records SET status='withdrawn', withdrawn_at=:n WHERE id='k1'"),
            {"n": runtime.now()},
        )


def test_store_cannot_go_live_without_signage_and_dpia(runtime: Runtime) -> None:
    with pytest.raises(IntegrityError), runtime.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO stores (code, name, live, gallery_version, created_at)"
                " VALUES ('x', 'X', :live, 0, :n)"
            ),
            {"live": True, "n": runtime.now()},
        )


def test_migrations_match_the_models(runtime: Runtime) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from server.db.base import Base

    with runtime.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == [], f"models changed without a migration: {diff}"
