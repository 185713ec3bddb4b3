"""Recognition at a store: mode and member zone, edge devices and their enrolment codes,
gallery publications, event receipts, false-match incidents."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from server.db.base import Base, UTCDateTime, utcnow
from server.db.sealed import SealedField

INCIDENT_OUTCOMES = ("open", "confirmed", "rejected")


class EdgeDevice(Base):
    __tablename__ = "edge_devices"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    store_id: Mapped[int] = mapped_column(ForeignKey("stores.id"))
    name: Mapped[str] = mapped_column(String(120))
    public_key: Mapped[bytes] = mapped_column(LargeBinary)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    acked_version: Mapped[int] = mapped_column(Integer, default=0)
    acked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class DeviceEnrolmentCode(Base):
    __tablename__ = "device_enrolment_codes"

    code_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    store_id: Mapped[int] = mapped_column(ForeignKey("stores.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class GalleryPublication(Base):
    """Each new gallery version of a store: why it was published and for how many members."""

    __tablename__ = "gallery_publications"
    __table_args__ = (UniqueConstraint("store_id", "version", name="store_version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    store_id: Mapped[int] = mapped_column(ForeignKey("stores.id"))
    version: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(String(40))
    members: Mapped[int] = mapped_column(Integer)
    published_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class EventReceipt(Base):
    """Idempotency keys of device events already handled (no customer data)."""

    __tablename__ = "event_receipts"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    device_id: Mapped[str] = mapped_column(String(32), index=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Incident(Base):
    """A "not this person" report: which camera matched whom, how sure it was, and what the
    privacy officer concluded. While ``suppress_until`` lies ahead, that customer's arrivals from
    that camera make no card."""

    __tablename__ = "incidents"
    __table_args__ = (
        CheckConstraint("outcome IN ('open', 'confirmed', 'rejected')", name="outcome_known"),
        Index("ix_incidents_suppression", "customer_id", "device_id", "suppress_until"),
        Index("ix_incidents_store_at", "store_id", "reported_at"),
        {"info": {"customer_data": "customer_id"}},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    store_id: Mapped[int] = mapped_column(ForeignKey("stores.id"))
    visit_id: Mapped[int | None] = mapped_column(
        ForeignKey("visits.id", ondelete="SET NULL"), nullable=True
    )
    customer_id: Mapped[str | None] = mapped_column(
        ForeignKey("customers.id", ondelete="SET NULL"), nullable=True
    )
    device_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    score: Mapped[float] = mapped_column(Float)
    margin: Mapped[float | None] = mapped_column(Float, nullable=True)
    reported_by: Mapped[str] = mapped_column(String(80))
    reported_at: Mapped[datetime] = mapped_column(UTCDateTime)
    suppress_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    outcome: Mapped[str] = mapped_column(String(12), default="open")
    # sealed while the incident names a customer; erasure sets it NULL with the customer
    officer_note_sealed: Mapped[bytes | None] = mapped_column(
        "officer_note", LargeBinary, nullable=True
    )
    officer_note = SealedField[str | None]("officer_note_sealed", ownerless_plain=True)
    resolved_by: Mapped[str | None] = mapped_column(String(80), nullable=True)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


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


class StoreMode(Base):
    """A store's recognition mode as recorded at go-live (with the DPIA reference it was
    recorded under and, for ``door``, the acknowledgement that it was chosen knowingly)."""

    __tablename__ = "store_modes"
    __table_args__ = (
        CheckConstraint("mode IN ('door', 'checkin', 'pass', 'pass+face')", name="mode_known"),
        CheckConstraint("mode <> 'door' OR door_acknowledged", name="door_acknowledged"),
    )

    store_id: Mapped[int] = mapped_column(ForeignKey("stores.id"), primary_key=True)
    mode: Mapped[str] = mapped_column(String(12))
    door_acknowledged: Mapped[bool] = mapped_column(Boolean, default=False)
    dpia_reference: Mapped[str] = mapped_column(String(200))
    recorded_by: Mapped[str] = mapped_column(String(120))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
