"""Tables for the lifecycle side (registered on the shared metadata by ``server.db.models``).

Neither table holds a customer's data: ``erasures`` keeps only aggregate counts of what was
deleted (no customer id, no name, no pseudonym), and ``consent_renewals`` links two consent
records, which after an erasure no longer name anybody.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from server.db.base import Base, UTCDateTime, utcnow


class Erasure(Base):
    """Proof that an erasure happened, without saying whose: counts per table only."""

    __tablename__ = "erasures"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    erased_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    store_id: Mapped[int | None] = mapped_column(ForeignKey("stores.id"), nullable=True)
    channel: Mapped[str] = mapped_column(String(20))
    counts: Mapped[dict[str, int]] = mapped_column(JSON)


class ConsentRenewal(Base):
    """``consent_id`` was renewed by ``renewed_by``: its templates moved to the new record in
    the same transaction, and the old record ended (status ``expired``) at ``renewed_at``."""

    __tablename__ = "consent_renewals"

    consent_id: Mapped[str] = mapped_column(ForeignKey("consent_records.id"), primary_key=True)
    renewed_by: Mapped[str] = mapped_column(ForeignKey("consent_records.id"), unique=True)
    renewed_at: Mapped[datetime] = mapped_column(UTCDateTime)
