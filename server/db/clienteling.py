"""The clienteling side: visits, catalogue, sales and purchases, preferences, allergies,
dietary needs, service items, staff notes, POS keys. Purchase lines keep the product's
name, category and brand as sold, so a later catalogue change does not rewrite history."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from server.db.base import Base, UTCDateTime, utcnow
from server.db.sealed import SealedField

VISIT_STATUSES = ("live", "greeted", "dismissed", "not_this_person", "expired")

SERVICE_KINDS = ("repair", "special_order", "pickup", "return")

SERVICE_STATUSES = ("open", "ready", "closed", "cancelled")

ALLERGY_SEVERITIES = ("severe", "allergy", "intolerance")

SALE_SOURCES = ("pos", "csv", "demo")


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


class Product(Base):
    """A catalogue article. ``allergens`` is ``None`` when the supplier declared nothing: such a
    product is never suggested to a customer with an allergy or dietary need."""

    __tablename__ = "products"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sku: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    category: Mapped[str] = mapped_column(String(100), index=True)
    brand: Mapped[str | None] = mapped_column(String(100), nullable=True)
    price_cents: Mapped[int] = mapped_column(Integer, default=0)
    allergens: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)
    ingredients: Mapped[str | None] = mapped_column(Text, nullable=True)
    diets: Mapped[list[str]] = mapped_column(JSON, default=list)
    sizes: Mapped[list[str]] = mapped_column(JSON, default=list)
    consumable: Mapped[bool] = mapped_column(Boolean, default=False)
    replenish_days: Mapped[int | None] = mapped_column(Integer, nullable=True)
    new_arrival_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        CheckConstraint("price_cents >= 0", name="price_not_negative"),
        CheckConstraint("replenish_days IS NULL OR replenish_days > 0", name="replenish_positive"),
    )


class Sale(Base):
    """One receipt of a member, as the point of sale numbered it (``ref``, unique per store: a
    re-posted or re-imported sale is recognised). ``visit_id`` links a sale made while the
    member's card was live in that store (store metrics)."""

    __tablename__ = "sales"
    __table_args__ = (
        UniqueConstraint("store_id", "ref"),
        Index("ix_sales_customer_at", "customer_id", "sold_at"),
        CheckConstraint("source IN ('pos', 'csv', 'demo')", name="source_known"),
        {"info": {"customer_data": "customer_id"}},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    store_id: Mapped[int] = mapped_column(ForeignKey("stores.id"))
    ref: Mapped[str] = mapped_column(String(64))
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    sold_at: Mapped[datetime] = mapped_column(UTCDateTime)
    source: Mapped[str] = mapped_column(String(8))
    total_cents: Mapped[int] = mapped_column(Integer, default=0)
    visit_id: Mapped[int | None] = mapped_column(
        ForeignKey("visits.id", ondelete="SET NULL"), nullable=True, index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Purchase(Base):
    """One line of a sale (older rows may have no sale). The indexes serve the card: newest
    lines, per-product counts and last dates, per-category and per-brand counts, all from the
    index without touching the table."""

    __tablename__ = "purchases"
    __table_args__ = (
        Index("ix_purchases_customer_at", "customer_id", "purchased_at"),
        Index("ix_purchases_customer_product", "customer_id", "product_id", "purchased_at"),
        Index("ix_purchases_customer_category", "customer_id", "category", "brand"),
        UniqueConstraint("sale_id", "line_no"),
        {"info": {"customer_data": "customer_id"}},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    store_id: Mapped[int | None] = mapped_column(ForeignKey("stores.id"), nullable=True)
    purchased_at: Mapped[datetime] = mapped_column(UTCDateTime)
    product_name: Mapped[str] = mapped_column(String(200))
    category: Mapped[str] = mapped_column(String(100))
    brand: Mapped[str | None] = mapped_column(String(100), nullable=True)
    quantity: Mapped[int] = mapped_column(Integer, default=1)
    amount_cents: Mapped[int] = mapped_column(Integer, default=0)
    sale_id: Mapped[int | None] = mapped_column(
        ForeignKey("sales.id", ondelete="CASCADE"), nullable=True
    )
    line_no: Mapped[int | None] = mapped_column(Integer, nullable=True)
    product_id: Mapped[int | None] = mapped_column(
        ForeignKey("products.id", ondelete="SET NULL"), nullable=True, index=True
    )
    size: Mapped[str | None] = mapped_column(String(40), nullable=True)


class Preference(Base):
    """What a customer likes: ``kind`` is brand | category | size | note (style notes)."""

    __tablename__ = "preferences"
    __table_args__ = ({"info": {"customer_data": "customer_id"}},)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[str] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(30))  # brand | category | size | note
    value_sealed: Mapped[bytes] = mapped_column("value", LargeBinary)
    value = SealedField[str]("value_sealed")
    source: Mapped[str] = mapped_column(String(20), default="staff")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Allergy(Base):
    """An allergy or intolerance, as the customer named it (``allergen``; matched against the
    catalogue by ``server.services.clienteling.catalogue.allergen_keys``)."""

    __tablename__ = "allergies"
    __table_args__ = (
        CheckConstraint("severity IN ('severe', 'allergy', 'intolerance')", name="severity_known"),
        {"info": {"customer_data": "customer_id"}},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[str] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    allergen_sealed: Mapped[bytes] = mapped_column("allergen", LargeBinary)
    note_sealed: Mapped[bytes | None] = mapped_column("note", LargeBinary, nullable=True)
    allergen = SealedField[str]("allergen_sealed")
    note = SealedField[str | None]("note_sealed")
    severity: Mapped[str] = mapped_column(String(12), default="allergy")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class DietaryNeed(Base):
    """vegan, vegetarian, halal, kosher, gluten_free, lactose_free, sugar_free, alcohol_free."""

    __tablename__ = "dietary_needs"
    # No unique (customer, need): the need is ciphertext with a random nonce (issue 18); the
    # importer and the services check for a duplicate on the opened values.
    __table_args__ = ({"info": {"customer_data": "customer_id"}},)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    need_sealed: Mapped[bytes] = mapped_column("need", LargeBinary)
    note_sealed: Mapped[bytes | None] = mapped_column("note", LargeBinary, nullable=True)
    need = SealedField[str]("need_sealed")
    note = SealedField[str | None]("note_sealed")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ServiceItem(Base):
    """Something the store is doing for the customer: a repair, a special order, an order ready
    for pickup, a return. ``ref`` is the point of sale's or workshop's number (unique per store,
    so updates from the POS find the item)."""

    __tablename__ = "service_items"
    __table_args__ = (
        CheckConstraint(
            "kind IN ('repair', 'special_order', 'pickup', 'return')", name="kind_known"
        ),
        CheckConstraint("status IN ('open', 'ready', 'closed', 'cancelled')", name="status_known"),
        UniqueConstraint("store_id", "ref"),
        Index("ix_service_items_customer_status", "customer_id", "status"),
        {"info": {"customer_data": "customer_id"}},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    store_id: Mapped[int | None] = mapped_column(ForeignKey("stores.id"), nullable=True)
    ref: Mapped[str | None] = mapped_column(String(64), nullable=True)
    kind: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(12), default="open")
    description_sealed: Mapped[bytes] = mapped_column("description", LargeBinary)
    description = SealedField[str]("description_sealed")
    product_id: Mapped[int | None] = mapped_column(
        ForeignKey("products.id", ondelete="SET NULL"), nullable=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    ready_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class StaffNote(Base):
    """A short note a colleague left ("prefers to be helped by Sanne"). ``author`` is a
    username, kept as text so a note survives the account."""

    __tablename__ = "staff_notes"
    __table_args__ = (
        Index("ix_staff_notes_customer_at", "customer_id", "created_at"),
        {"info": {"customer_data": "customer_id"}},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    store_id: Mapped[int | None] = mapped_column(ForeignKey("stores.id"), nullable=True)
    author: Mapped[str] = mapped_column(String(80))
    body_sealed: Mapped[bytes] = mapped_column("body", LargeBinary)
    body = SealedField[str]("body_sealed")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class PosKey(Base):
    """A point-of-sale system's credential for one store. Only the SHA-256 of the (random,
    high-entropy) key is stored; the key itself is printed once by ``vertrouwd pos-key``."""

    __tablename__ = "pos_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    store_id: Mapped[int] = mapped_column(ForeignKey("stores.id"))
    name: Mapped[str] = mapped_column(String(120))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
