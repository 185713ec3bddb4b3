"""Tables for sign-in throttling and the customers' self-service links (registered on the shared
metadata by ``server.db.models``).

``login_throttles`` holds no customer's data and no typed username: an account is keyed by a
digest of the name, so a password typed into the name field is never stored. A
``self_service_links`` row belongs to one customer (``info["customer_data"]``: exported and
erased with them); it holds the SHA-256 of the link's id, never the id itself, so a copy of the
database opens no customer's page.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from server.db.base import Base, UTCDateTime


class LoginThrottle(Base):
    """Recent failed sign-ins of one account (``account:<digest>``) or client address
    (``address:<ip>``), and until when sign-in is refused for it."""

    __tablename__ = "login_throttles"

    key: Mapped[str] = mapped_column(String(80), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    first_failure_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_failure_at: Mapped[datetime] = mapped_column(UTCDateTime)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


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
