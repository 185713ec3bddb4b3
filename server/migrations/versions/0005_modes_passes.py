"""recognition modes per store, membership passes, how a visit was recognised (issue 12)

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 06:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import server.db.base

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "store_modes",
        sa.Column("store_id", sa.Integer(), nullable=False),
        sa.Column("mode", sa.String(length=12), nullable=False),
        sa.Column("door_acknowledged", sa.Boolean(), nullable=False),
        sa.Column("dpia_reference", sa.String(length=200), nullable=False),
        sa.Column("recorded_by", sa.String(length=120), nullable=False),
        sa.Column("recorded_at", server.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "mode IN ('door', 'checkin', 'pass', 'pass+face')",
            name=op.f("ck_store_modes_mode_known"),
        ),
        sa.CheckConstraint(
            "mode <> 'door' OR door_acknowledged", name=op.f("ck_store_modes_door_acknowledged")
        ),
        sa.ForeignKeyConstraint(
            ["store_id"], ["stores.id"], name=op.f("fk_store_modes_store_id_stores")
        ),
        sa.PrimaryKeyConstraint("store_id", name=op.f("pk_store_modes")),
    )
    op.create_table(
        "member_passes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.String(length=32), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("issued_at", server.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("issued_by", sa.String(length=120), nullable=False),
        sa.Column("revoked_at", server.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("revoked_reason", sa.String(length=40), nullable=True),
        sa.CheckConstraint("length(digest) = 64", name=op.f("ck_member_passes_digest_sha256")),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_member_passes_customer_id_customers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_member_passes")),
        sa.UniqueConstraint("digest", name=op.f("uq_member_passes_digest")),
    )
    with op.batch_alter_table("member_passes", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_member_passes_customer_id"), ["customer_id"], unique=False
        )
        batch_op.create_index(
            "ux_member_passes_one_active",
            ["customer_id"],
            unique=True,
            sqlite_where=sa.text("revoked_at IS NULL"),
            postgresql_where=sa.text("revoked_at IS NULL"),
        )
    with op.batch_alter_table("visits", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("method", sa.String(length=8), server_default="face", nullable=False)
        )
        batch_op.add_column(sa.Column("face_verified", sa.Boolean(), nullable=True))
        batch_op.create_check_constraint("method_known", "method IN ('face', 'pass')")


def downgrade() -> None:
    with op.batch_alter_table("visits", schema=None) as batch_op:
        batch_op.drop_constraint("method_known", type_="check")
        batch_op.drop_column("face_verified")
        batch_op.drop_column("method")
    with op.batch_alter_table("member_passes", schema=None) as batch_op:
        batch_op.drop_index("ux_member_passes_one_active")
        batch_op.drop_index(batch_op.f("ix_member_passes_customer_id"))
    op.drop_table("member_passes")
    op.drop_table("store_modes")
