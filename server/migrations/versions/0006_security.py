"""security: sign-in throttling, server-side self-service links

Revision ID: 0006
Revises: 0004
Create Date: 2026-12-02 06:20:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import server.db.base

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "login_throttles",
        sa.Column("key", sa.String(length=80), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("first_failure_at", server.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_failure_at", server.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("locked_until", server.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_login_throttles")),
    )
    op.create_table(
        "self_service_links",
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("customer_id", sa.String(length=32), nullable=True),
        sa.Column("issued_at", server.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("issued_by", sa.String(length=120), nullable=False),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("expires_at", server.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", server.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("revoked_reason", sa.String(length=40), nullable=True),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_self_service_links_customer_id_customers"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("digest", name=op.f("pk_self_service_links")),
    )
    with op.batch_alter_table("self_service_links", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_self_service_links_customer_id"), ["customer_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("self_service_links", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_self_service_links_customer_id"))
    op.drop_table("self_service_links")
    op.drop_table("login_throttles")
