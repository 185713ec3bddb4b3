"""Stores: the one table every domain points at."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Integer,
    String,
)
from sqlalchemy.orm import Mapped, mapped_column

from server.db.base import Base, UTCDateTime, utcnow


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
