"""A customer's membership: profile, data key, consents, face templates and thumbnail,
passes, self-service links, external ids, erasures and renewals.

Privacy invariant 10 lives here as constraints: a face template (and the enrolment thumbnail)
can only reference a consent record of the *same* customer whose status is ``active``: the
composite foreign key ``(consent_id, customer_id, consent_status)`` points at
``consent_records(id, customer_id, status)`` and a CHECK pins ``consent_status = 'active'``.
So the database refuses a template without an active consent, and refuses to mark a consent
withdrawn while its templates still exist (the update would orphan the foreign key)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, declared_attr, mapped_column

from server.db.base import Base, UTCDateTime, utcnow
from server.db.sealed import SealedField

CONSENT_STATUSES = ("active", "withdrawn", "expired", "erased")


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


class CustomerExternalId(Base):
    """How another system names a customer: ``system`` is crm | pos | webshop ... The loyalty
    card number lives on ``customers.loyalty_id``."""

    __tablename__ = "customer_external_ids"
    __table_args__ = (
        UniqueConstraint("system", "external_bidx"),
        {"info": {"customer_data": "customer_id"}},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[str] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    system: Mapped[str] = mapped_column(String(20))
    external_id_sealed: Mapped[bytes] = mapped_column("external_id", LargeBinary)
    external_bidx: Mapped[bytes | None] = mapped_column(LargeBinary(16), nullable=True)
    external_id = SealedField[str]("external_id_sealed")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


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


class MemberPass(Base):
    """A member's pass: the digest of the token only. Revoked passes stay (revoked_at set) so
    a replayed old pass is recognised as revoked, until erasure deletes them with the member."""

    __tablename__ = "member_passes"
    __table_args__ = (
        Index(
            "ux_member_passes_one_active",
            "customer_id",
            unique=True,
            sqlite_where=text("revoked_at IS NULL"),
            postgresql_where=text("revoked_at IS NULL"),
        ),
        CheckConstraint("length(digest) = 64", name="digest_sha256"),
        {"info": {"customer_data": "customer_id"}},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[str] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    issued_by: Mapped[str] = mapped_column(String(120))
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    revoked_reason: Mapped[str | None] = mapped_column(String(40), nullable=True)


class SelfServiceLink(Base):
    """One self-service link: the SHA-256 of its short opaque id, whose it is, and whether it
    still works. Issuing a new link for a customer revokes the previous one; withdrawal ends it
    and erasure deletes it."""

    __tablename__ = "self_service_links"
    __table_args__ = ({"info": {"customer_data": "customer_id"}},)

    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    customer_id: Mapped[str | None] = mapped_column(
        ForeignKey("customers.id", ondelete="SET NULL"), index=True, nullable=True
    )
    """NULL once the customer is erased (the row then only answers "nothing is held")"""
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime)
    issued_by: Mapped[str] = mapped_column(String(120))
    channel: Mapped[str] = mapped_column(String(20))
    """register, cli, receipt (printed right after enrolment) or reissue"""
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    revoked_reason: Mapped[str | None] = mapped_column(String(40), nullable=True)
