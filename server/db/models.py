"""Every table, registered on the shared metadata: import this module to have them all.
Every table that holds a customer's data says so in ``info["customer_data"]`` (the column
that links it to the customer); the export and erasure paths are checked against that
declaration by a test that walks this metadata (privacy invariant 12)."""

from __future__ import annotations

from server.db import audit, clienteling, membership, recognition, staff, stores  # noqa: F401
from server.db.base import Base


def customer_tables() -> dict[str, str]:
    """Every table that holds a customer's data -> the column that links it to the customer."""
    out: dict[str, str] = {}
    for table in Base.metadata.sorted_tables:
        col = table.info.get("customer_data")
        if col:
            out[table.name] = str(col)
    return out
