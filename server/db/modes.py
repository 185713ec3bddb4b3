"""Tables for recognition modes and membership passes (issue 12; registered on the shared
metadata by ``server.db.models``).

``store_modes`` records how a store's members are recognised, chosen at go-live beside the DPIA
reference: ``door``, ``checkin``, ``pass`` or ``pass+face`` (see
``server.services.recognition.golive``). A
store without a row predates recognition modes and is treated as ``door``. ``door`` can only be
recorded with the officer's acknowledgement of the legal position (a CHECK, not only code).

``member_passes`` holds the membership pass of each member: ONLY the SHA-256 digest of the
token (``consent.passes.pass_digest``); the token itself is shown to the member once and never
stored. A re-issue revokes the old digest (``revoked_at``); at most one pass per member is
active (a partial unique index on both backends).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from consent.modes import RECOGNITION_MODES as RECOGNITION_MODES
from server.db.base import Base, UTCDateTime, utcnow


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
