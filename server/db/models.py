"""The tables. Every table that holds a customer's data says so in ``info["customer_data"]``
(the column that links it to the customer); the export and erasure paths are checked against
that declaration by a test that walks this metadata (privacy invariant 12).

Privacy invariant 10 lives here as constraints: a face template (and the enrolment thumbnail)
can only reference a consent record of the *same* customer whose status is ``active``: the
composite foreign key ``(consent_id, customer_id, consent_status)`` points at
``consent_records(id, customer_id, status)`` and a CHECK pins ``consent_status = 'active'``.
So the database refuses a template without an active consent, and refuses to mark a consent
withdrawn while its templates still exist (the update would orphan the foreign key).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, declared_attr, mapped_column

from server.db.base import Base, UTCDateTime, utcnow
from server.db.sealed import SealedField, install

CONSENT_STATUSES = ("active", "withdrawn", "expired", "erased")
VISIT_STATUSES = ("live", "greeted", "dismissed", "not_this_person", "expired")
STAFF_ROLES = ("sales", "cashier", "privacy_officer", "admin")


class Store(Base):
    __tablename__ = "stores"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    live: Mapped[bool] = mapped_column(Boolean, default=False)
    signage_confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    dpia_reference: Mapped[str | None] = mapped_column(String(200), nullable=True)
    gallery_version: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        CheckConstraint(
            "NOT live OR (signage_confirmed_at IS NOT NULL AND dpia_reference IS NOT NULL)",
            name="live_needs_signage_and_dpia",
        ),
    )


class Staff(Base):
    __tablename__ = "staff"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    store_id: Mapped[int | None] = mapped_column(ForeignKey("stores.id"), nullable=True)
    username: Mapped[str] = mapped_column(String(80), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(20))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        CheckConstraint(
            "role IN ('sales', 'cashier', 'privacy_officer', 'admin')", name="role_known"
        ),
    )


class StaffSession(Base):
    __tablename__ = "staff_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class Customer(Base):
    """A member. ``subject_id`` is the pseudonym galleries and the audit log use; the edge never
    learns ``id`` or the name."""

    __tablename__ = "customers"
    __table_args__ = ({"info": {"customer_data": "id"}},)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    subject_id: Mapped[str] = mapped_column(String(40), unique=True)
    # Names and contact details are ciphertext under the profile key (``server.db.sealed``);
    # ``name`` etc. read and write the text. Found through keyed blind indexes only.
    name_sealed: Mapped[bytes] = mapped_column("name", LargeBinary)
    preferred_name_sealed: Mapped[bytes] = mapped_column("preferred_name", LargeBinary)
    email_sealed: Mapped[bytes | None] = mapped_column("email", LargeBinary, nullable=True)
    loyalty_id_sealed: Mapped[bytes | None] = mapped_column(
        "loyalty_id", LargeBinary, nullable=True
    )
    email_bidx: Mapped[bytes | None] = mapped_column(LargeBinary(16), nullable=True, index=True)
    loyalty_bidx: Mapped[bytes | None] = mapped_column(LargeBinary(16), nullable=True, unique=True)
    name = SealedField[str]("name_sealed", owner="id")
    preferred_name = SealedField[str]("preferred_name_sealed", owner="id")
    email = SealedField[str | None]("email_sealed", owner="id")
    loyalty_id = SealedField[str | None]("loyalty_id_sealed", owner="id")
    language: Mapped[str] = mapped_column(String(5), default="nl")
    home_store_id: Mapped[int | None] = mapped_column(ForeignKey("stores.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_interaction_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CustomerKey(Base):
    """The customer's data key (DEK), wrapped by the server's key-encryption key. Kept apart from
    the data it protects; deleting this row crypto-shreds every blob sealed under it."""

    __tablename__ = "customer_keys"
    __table_args__ = ({"info": {"customer_data": "customer_id"}},)

    customer_id: Mapped[str] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True
    )
    wrapped_dek: Mapped[bytes] = mapped_column(LargeBinary)
    kek_id: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ProfileKey(Base):
    """The customer's profile data key, wrapped by the KEK of its epoch: the key of every sealed
    personal field (``server.db.sealed``). Unlike ``customer_keys`` (templates, destroyed when a
    consent ends) it lives as long as the customer; erasure deletes it."""

    __tablename__ = "profile_keys"
    __table_args__ = ({"info": {"customer_data": "customer_id"}},)

    customer_id: Mapped[str] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True
    )
    wrapped_dek: Mapped[bytes] = mapped_column(LargeBinary)
    kek_id: Mapped[str] = mapped_column(String(64), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CustomerSearchTerm(Base):
    """Blind index of name words: HMAC of every 2..16-character prefix of every word of the
    name and preferred name (``consent.fields.name_terms``); never the words."""

    __tablename__ = "customer_search_terms"
    __table_args__ = ({"info": {"customer_data": "customer_id"}},)

    # (term, customer) first: a search reads one term's customers straight from the key
    term: Mapped[bytes] = mapped_column(LargeBinary(16), primary_key=True)
    customer_id: Mapped[str] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class ConsentRecord(Base):
    """One consent, with ISO/IEC TS 27560-style fields (see ``consent.records``)."""

    __tablename__ = "consent_records"
    __table_args__ = (
        UniqueConstraint("id", "customer_id", "status", name="id_customer_status"),
        CheckConstraint(
            "status IN ('active', 'withdrawn', 'expired', 'erased')", name="status_known"
        ),
        CheckConstraint("status = 'active' OR withdrawn_at IS NOT NULL", name="ended_has_time"),
        {"info": {"customer_data": "customer_id"}},
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    customer_id: Mapped[str | None] = mapped_column(
        ForeignKey("customers.id", ondelete="SET NULL"), nullable=True, index=True
    )
    purpose: Mapped[str] = mapped_column(String(200))
    scope: Mapped[list[str]] = mapped_column(JSON)
    text_version: Mapped[str] = mapped_column(String(40))
    text_language: Mapped[str] = mapped_column(String(5))
    text_sha256: Mapped[str] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(20))
    collected_by: Mapped[str | None] = mapped_column(String(80), nullable=True)
    given_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(12), default="active")
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class _BiometricMixin:
    """Columns and constraints shared by templates and thumbnails (privacy invariant 10)."""

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[str] = mapped_column(String(32), index=True)
    consent_id: Mapped[str] = mapped_column(String(32))
    consent_status: Mapped[str] = mapped_column(String(12), default="active")
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    @declared_attr.directive
    def __table_args__(cls) -> tuple[Any, ...]:
        return (
            ForeignKeyConstraint(
                ["consent_id", "customer_id", "consent_status"],
                ["consent_records.id", "consent_records.customer_id", "consent_records.status"],
                name=f"fk_{cls.__tablename__}_active_consent",  # type: ignore[attr-defined]
                ondelete="RESTRICT",
                onupdate="RESTRICT",
            ),
            ForeignKeyConstraint(
                ["customer_id"],
                ["customers.id"],
                name=f"fk_{cls.__tablename__}_customer",  # type: ignore[attr-defined]
                ondelete="RESTRICT",
            ),
            CheckConstraint("consent_status = 'active'", name="consent_active"),
            {"info": {"customer_data": "customer_id"}},
        )


class FaceTemplate(_BiometricMixin, Base):
    """An embedding, AES-256-GCM under the customer's DEK (subject + version as associated data)."""

    __tablename__ = "face_templates"

    model_id: Mapped[str] = mapped_column(String(64))
    template_version: Mapped[int] = mapped_column(Integer)


class FaceThumbnail(_BiometricMixin, Base):
    """One small enrolment photo for the salesperson's visual check, sealed under the DEK."""

    __tablename__ = "face_thumbnails"


class Visit(Base):
    __tablename__ = "visits"
    __table_args__ = (
        Index("ix_visits_store_status", "store_id", "status"),
        CheckConstraint("method IN ('face', 'pass')", name="method_known"),
        {"info": {"customer_data": "customer_id"}},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[str] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    store_id: Mapped[int] = mapped_column(ForeignKey("stores.id"))
    device_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    arrived_at: Mapped[datetime] = mapped_column(UTCDateTime)
    score: Mapped[float] = mapped_column(Float)
    margin: Mapped[float | None] = mapped_column(Float, nullable=True)
    status: Mapped[str] = mapped_column(String(20), default="live")
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    live_until: Mapped[datetime] = mapped_column(UTCDateTime)
    # How the member was recognised (issue 12): "face" (door/check-in match) or "pass" (QR);
    # for a pass in pass+face mode whether the 1:1 face check matched (None: not checked).
    method: Mapped[str] = mapped_column(String(8), default="face", server_default="face")
    face_verified: Mapped[bool | None] = mapped_column(Boolean, nullable=True)


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


class AuditEntry(Base):
    """The append-only, hash-chained audit log (format and verifier in ``consent.audit``).
    ``subject`` is a customer's pseudonymous ``subject_id``, never a name."""

    __tablename__ = "audit_log"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    kind: Mapped[str] = mapped_column(String(40), index=True)
    actor: Mapped[str] = mapped_column(String(120))
    subject: Mapped[str | None] = mapped_column(String(40), nullable=True, index=True)
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)


class AuditCheckpoint(Base):
    __tablename__ = "audit_checkpoints"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    hash: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    signature: Mapped[bytes] = mapped_column(LargeBinary)


install(Base)


def customer_tables() -> dict[str, str]:
    """Every table that holds a customer's data -> the column that links it to the customer."""
    out: dict[str, str] = {}
    for table in Base.metadata.sorted_tables:
        col = table.info.get("customer_data")
        if col:
            out[table.name] = str(col)
    return out


# Tables kept in their own modules register on the same metadata when this module is imported.
# Purchases, preferences and allergies live with the clienteling tables; imported from here too.
from server.db import clienteling, console, lifecycle, modes  # noqa: E402, F401
from server.db import security as _security  # noqa: E402, F401
from server.db.clienteling import Allergy as Allergy  # noqa: E402
from server.db.clienteling import Preference as Preference  # noqa: E402
from server.db.clienteling import Purchase as Purchase  # noqa: E402
