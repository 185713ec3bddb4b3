"""Privacy invariant 12: every table that holds a customer's data is covered by both the export
and the erasure path. The walk over the SQLAlchemy metadata finds such tables by their foreign
keys to ``customers.id`` or their ``info["customer_data"]`` tag, so a table added later without
coverage fails here."""

from __future__ import annotations

from sqlalchemy import Column, ForeignKey, Integer, MetaData, String, Table

from server.db.base import Base
from server.db.models import customer_tables
from server.services.membership.export import EXPORTERS
from server.services.membership.lifecycle import ERASERS


def holding_customer_data(metadata: MetaData) -> set[str]:
    """Tables with a foreign key to ``customers.id`` or tagged ``info["customer_data"]``
    (``customers`` itself is tagged)."""
    found: set[str] = set()
    for table in metadata.tables.values():
        if table.info.get("customer_data"):
            found.add(table.name)
        for fk in table.foreign_keys:
            if fk.target_fullname == "customers.id":
                found.add(table.name)
    return found


def test_the_walk_sees_the_known_customer_tables() -> None:
    walked = holding_customer_data(Base.metadata)
    for name in (
        "customers",
        "customer_keys",
        "consent_records",
        "face_templates",
        "face_thumbnails",
        "purchases",
        "preferences",
        "allergies",
        "visits",
    ):
        assert name in walked
    assert "stores" not in walked
    assert "audit_log" not in walked  # pseudonyms only, by design (see lifecycle docstring)
    assert "erasures" not in walked
    # The tags agree with the foreign keys: no table links to customers without saying so.
    assert set(customer_tables()) == walked


def test_export_and_erasure_cover_every_table_with_customer_data() -> None:
    walked = holding_customer_data(Base.metadata)
    assert set(EXPORTERS) == walked, (
        f"not exported: {sorted(walked - set(EXPORTERS))}; "
        f"exported but unknown: {sorted(set(EXPORTERS) - walked)}"
    )
    assert set(ERASERS) == walked, (
        f"not erased: {sorted(walked - set(ERASERS))}; "
        f"erased but unknown: {sorted(set(ERASERS) - walked)}"
    )


def test_a_new_table_without_coverage_is_caught() -> None:
    copy = MetaData()
    for table in Base.metadata.tables.values():
        table.to_metadata(copy)
    Table(  # linked by foreign key only, no tag
        "loyalty_notes",
        copy,
        Column("id", Integer, primary_key=True),
        Column("customer_id", String(32), ForeignKey("customers.id")),
        Column("note", String(200)),
    )
    Table(  # tagged only, no foreign key (e.g. keyed by e-mail)
        "newsletter",
        copy,
        Column("id", Integer, primary_key=True),
        Column("email", String(254)),
        info={"customer_data": "email"},
    )
    walked = holding_customer_data(copy)
    assert {"loyalty_notes", "newsletter"} <= walked
    assert walked - set(EXPORTERS) == {"loyalty_notes", "newsletter"}
    assert walked - set(ERASERS) == {"loyalty_notes", "newsletter"}
    assert "loyalty_notes" not in holding_customer_data(Base.metadata)  # the copy only
