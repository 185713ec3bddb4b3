"""sealed personal fields: profile keys, blind indexes, text columns become ciphertext (issue 18)

The columns keep their names and become binary; existing values are carried over as UTF-8
bytes (legacy plaintext, still readable) until ``vertrouwd keys encrypt-fields`` seals them in
batches while the server runs.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 09:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import server.db.base

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

SEALED: dict[str, list[tuple[str, int, bool]]] = {
    # table -> (column, old String length (0: Text), nullable)
    "customers": [
        ("name", 200, False),
        ("preferred_name", 100, False),
        ("email", 254, True),
        ("loyalty_id", 64, True),
    ],
    "preferences": [("value", 200, False)],
    "allergies": [("allergen", 100, False), ("note", 0, True)],
    "dietary_needs": [("need", 40, False), ("note", 0, True)],
    "service_items": [("description", 200, False)],
    "staff_notes": [("body", 500, False)],
    "customer_external_ids": [("external_id", 64, False)],
    "incidents": [("officer_note", 0, True)],
}


def _to_binary(table: str, postgres: bool) -> None:
    with op.batch_alter_table(table, schema=None) as batch_op:
        for column, _length, nullable in SEALED[table]:
            batch_op.alter_column(
                column,
                type_=sa.LargeBinary(),
                existing_nullable=nullable,
                postgresql_using=f"convert_to({column}, 'UTF8')" if postgres else None,
            )


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    op.create_table(
        "profile_keys",
        sa.Column("customer_id", sa.String(length=32), nullable=False),
        sa.Column("wrapped_dek", sa.LargeBinary(), nullable=False),
        sa.Column("kek_id", sa.String(length=64), nullable=False),
        sa.Column("created_at", server.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_profile_keys_customer_id_customers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("customer_id", name=op.f("pk_profile_keys")),
    )
    op.create_index(op.f("ix_profile_keys_kek_id"), "profile_keys", ["kek_id"], unique=False)
    op.create_table(
        "customer_search_terms",
        sa.Column("term", sa.LargeBinary(length=16), nullable=False),
        sa.Column("customer_id", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_customer_search_terms_customer_id_customers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("term", "customer_id", name=op.f("pk_customer_search_terms")),
    )
    op.create_index(
        op.f("ix_customer_search_terms_customer_id"),
        "customer_search_terms",
        ["customer_id"],
        unique=False,
    )
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.drop_constraint("uq_customers_loyalty_id", type_="unique")
        batch_op.add_column(sa.Column("email_bidx", sa.LargeBinary(length=16), nullable=True))
        batch_op.add_column(sa.Column("loyalty_bidx", sa.LargeBinary(length=16), nullable=True))
        batch_op.create_index(batch_op.f("ix_customers_email_bidx"), ["email_bidx"], unique=False)
        batch_op.create_unique_constraint(batch_op.f("uq_customers_loyalty_bidx"), ["loyalty_bidx"])
    with op.batch_alter_table("dietary_needs", schema=None) as batch_op:
        batch_op.drop_constraint("uq_dietary_needs_customer_id_need", type_="unique")
    with op.batch_alter_table("customer_external_ids", schema=None) as batch_op:
        batch_op.drop_constraint("uq_customer_external_ids_system_external_id", type_="unique")
        batch_op.add_column(sa.Column("external_bidx", sa.LargeBinary(length=16), nullable=True))
        batch_op.create_unique_constraint(
            batch_op.f("uq_customer_external_ids_system_external_bidx"),
            ["system", "external_bidx"],
        )
    for table in SEALED:
        _to_binary(table, postgres)


def downgrade() -> None:
    # Only a database whose fields are still legacy plaintext converts back; sealed values would
    # become unreadable text, so refuse rather than corrupt.
    bind = op.get_bind()
    if bind.execute(sa.text("SELECT count(*) FROM profile_keys")).scalar():
        raise RuntimeError("fields are sealed; a downgrade past 0007 would lose them")
    postgres = bind.dialect.name == "postgresql"
    for table, columns in SEALED.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            for column, length, nullable in columns:
                batch_op.alter_column(
                    column,
                    type_=sa.String(length=length) if length else sa.Text(),
                    existing_nullable=nullable,
                    postgresql_using=f"convert_from({column}, 'UTF8')" if postgres else None,
                )
    with op.batch_alter_table("customer_external_ids", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("uq_customer_external_ids_system_external_bidx"), type_="unique"
        )
        batch_op.drop_column("external_bidx")
        batch_op.create_unique_constraint(
            "uq_customer_external_ids_system_external_id", ["system", "external_id"]
        )
    with op.batch_alter_table("dietary_needs", schema=None) as batch_op:
        batch_op.create_unique_constraint(
            "uq_dietary_needs_customer_id_need", ["customer_id", "need"]
        )
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_customers_loyalty_bidx"), type_="unique")
        batch_op.drop_index(batch_op.f("ix_customers_email_bidx"))
        batch_op.drop_column("loyalty_bidx")
        batch_op.drop_column("email_bidx")
        batch_op.create_unique_constraint("uq_customers_loyalty_id", ["loyalty_id"])
    op.drop_index(op.f("ix_customer_search_terms_customer_id"), table_name="customer_search_terms")
    op.drop_table("customer_search_terms")
    op.drop_index(op.f("ix_profile_keys_kek_id"), table_name="profile_keys")
    op.drop_table("profile_keys")
