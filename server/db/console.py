"""Tables for the privacy officer's console (registered on the shared metadata by
``server.db.models``).

Neither table holds a customer's data: ``audit_verifications`` records each run of the audit
chain verifier (so "last verified" survives a restart), and ``store_zones`` holds a store's
member zone as recorded at go-live (privacy invariant 11: the camera processes only this region,
and only faces at least ``min_face_size`` pixels high, so people who do not step up to it are
not even detected).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from server.db.base import Base, UTCDateTime, utcnow


class AuditVerification(Base):
    """One run of the audit chain verifier: when, by whom, and what it found."""

    __tablename__ = "audit_verifications"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(120))
    ok: Mapped[bool] = mapped_column(Boolean)
    entries: Mapped[int] = mapped_column(Integer)
    """entries in the log when it ran"""
    checked: Mapped[int] = mapped_column(Integer)
    """entries verified good before the first problem (all of them when ``ok``)"""
    checkpoints: Mapped[int] = mapped_column(Integer)
    """signed checkpoints verified"""
    first_bad_seq: Mapped[int | None] = mapped_column(Integer, nullable=True)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    duration_ms: Mapped[int] = mapped_column(Integer, default=0)


class StoreZone(Base):
    """A store's member zone: a rectangle as fractions of the camera frame (x, y from the top
    left) and the smallest face, in full-resolution pixels, that is processed at all."""

    __tablename__ = "store_zones"
    __table_args__ = (
        CheckConstraint(
            "zone_x >= 0 AND zone_y >= 0 AND zone_w > 0 AND zone_h > 0 "
            "AND zone_x + zone_w <= 1.000001 AND zone_y + zone_h <= 1.000001",
            name="zone_inside_frame",
        ),
        CheckConstraint("min_face_size BETWEEN 20 AND 2000", name="min_face_size_bounds"),
    )

    store_id: Mapped[int] = mapped_column(ForeignKey("stores.id"), primary_key=True)
    zone_x: Mapped[float] = mapped_column(Float)
    zone_y: Mapped[float] = mapped_column(Float)
    zone_w: Mapped[float] = mapped_column(Float)
    zone_h: Mapped[float] = mapped_column(Float)
    min_face_size: Mapped[int] = mapped_column(Integer)
    recorded_by: Mapped[str] = mapped_column(String(120))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
