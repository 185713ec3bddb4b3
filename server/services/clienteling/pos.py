"""Sales from the point of sale: per-store API keys, recording a member's sale (idempotent by
the POS's sale id), and service items (repairs, orders) the POS or workshop reports.

Only members' sales are stored. A sale without a loyalty/CRM id is answered "ignored" and
nothing about it is written (non-members leave no trace). A key sees only its own store's
members (:func:`store_member`): an id that names nobody and an id of another store's member get
the same answer, so a key learns nothing about other stores' members.

Bounds (422, before anything is written): a sale's time lies between 2000-01-01 and a day after
now; a line is at most ``MAX_LINE_CENTS`` and a sale at most ``MAX_SALE_CENTS``, both well inside
a PostgreSQL ``integer``.

API keys: ``vtpos_`` + 32 random bytes, shown once at creation (``vertrouwd pos-key create``);
the database keeps only the SHA-256 (the key is high-entropy, so no slow hash is needed), the
store it belongs to, and when it was last used. A revoked key is refused like an unknown one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.db.clienteling import (
    SERVICE_KINDS,
    SERVICE_STATUSES,
    PosKey,
    Product,
    Purchase,
    Sale,
    ServiceItem,
    Visit,
)
from server.db.membership import ConsentRecord, Customer
from server.db.stores import Store
from server.services.errors import BadInput, Conflict, NotFound, Unauthorized
from server.services.ids import new_token, token_digest
from server.services.membership import lookup

KEY_PREFIX = "vtpos_"
EARLIEST_SALE = datetime(2000, 1, 1, tzinfo=UTC)
FUTURE_SALE_SKEW = timedelta(days=1)  # a till's clock or time zone set wrong, not more
MAX_LINE_CENTS = 100_000_000  # 1,000,000.00 on one line
MAX_SALE_CENTS = 1_000_000_000  # 10,000,000.00 in one sale (PostgreSQL integer: 2,147,483,647)


@dataclass(frozen=True)
class CreatedKey:
    id: int
    store_code: str
    name: str
    key: str  # shown once


def create_key(session: Session, *, store: Store, name: str, now: datetime) -> CreatedKey:
    if not name.strip():
        raise BadInput("a POS key needs a name (e.g. the register it is for)")
    key = KEY_PREFIX + new_token()
    row = PosKey(
        store_id=store.id, name=name.strip()[:120], key_hash=token_digest(key), created_at=now
    )
    session.add(row)
    session.flush()
    return CreatedKey(row.id, store.code, row.name, key)


def revoke_key(session: Session, *, key_id: int, now: datetime) -> PosKey:
    row = session.get(PosKey, key_id)
    if row is None:
        raise NotFound(f"no POS key {key_id}")
    row.revoked_at = row.revoked_at or now
    return row


def authenticate(session: Session, *, key: str, now: datetime) -> Store:
    """The store a POS key belongs to; one answer for unknown, malformed and revoked keys."""
    row = (
        session.scalar(select(PosKey).where(PosKey.key_hash == token_digest(key)))
        if key.startswith(KEY_PREFIX)
        else None
    )
    if row is None or row.revoked_at is not None:
        raise Unauthorized("unknown or revoked POS key")
    store = session.get(Store, row.store_id)
    if store is None:
        raise Unauthorized("unknown or revoked POS key")
    row.last_used_at = now
    return store


# --- members ----------------------------------------------------------------------------------


def find_member(
    session: Session, *, loyalty_id: str | None = None, crm_id: str | None = None
) -> Customer | None:
    if loyalty_id:
        found = lookup.by_loyalty_id(session, loyalty_id)
        if found is not None:
            return found
    if crm_id:
        return lookup.by_external_id(session, "crm", crm_id)
    return None


def store_member(
    session: Session, *, store: Store, loyalty_id: str | None = None, crm_id: str | None = None
) -> Customer | None:
    """The member named by a loyalty or CRM id, if they are a member of ``store``: their home
    store, or a consent (of any status: a member stays a member without recognition) whose
    scope covers it. Another store's member is None, exactly like an unknown id."""
    customer = find_member(session, loyalty_id=loyalty_id, crm_id=crm_id)
    if customer is None:
        return None
    if customer.home_store_id == store.id:
        return customer
    scopes = session.scalars(
        select(ConsentRecord.scope).where(ConsentRecord.customer_id == customer.id)
    )
    if any("*" in scope or store.code in scope for scope in scopes):
        return customer
    return None


def visit_at(session: Session, *, customer_id: str, store_id: int, at: datetime) -> int | None:
    """The member's visit in that store during which a sale at ``at`` was made (their card was
    on the tablets), if any: the latest arrival before the sale whose card was still live."""
    visit = session.scalar(
        select(Visit)
        .where(
            Visit.customer_id == customer_id,
            Visit.store_id == store_id,
            Visit.arrived_at <= at,
            Visit.live_until >= at,
        )
        .order_by(Visit.arrived_at.desc())
        .limit(1)
    )
    return visit.id if visit is not None else None


# --- sales ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LineIn:
    line_no: int
    product: Product
    quantity: int
    amount_cents: int
    size: str | None = None


@dataclass
class SaleOutcome:
    status: str  # recorded | extended | duplicate
    sale: Sale
    lines_added: int = 0
    visit_id: int | None = None
    line_numbers: list[int] = field(default_factory=list)


def record_sale(
    session: Session,
    *,
    store: Store,
    customer: Customer,
    ref: str,
    at: datetime,
    lines: Sequence[LineIn],
    source: str,
    now: datetime,
) -> SaleOutcome:
    """Write a member's sale, or the lines of it not written yet (a re-post or a re-import adds
    nothing twice). A sale id already used for another member is a conflict."""
    if not ref.strip():
        raise BadInput("a sale needs the point of sale's id")
    if at.tzinfo is None:
        raise BadInput("the sale time needs a time zone")
    if not EARLIEST_SALE <= at <= now + FUTURE_SALE_SKEW:
        raise BadInput(
            f"the sale time {at.isoformat()} is not plausible "
            f"(between {EARLIEST_SALE:%Y-%m-%d} and a day from now)"
        )
    for line in lines:
        if not 0 <= line.amount_cents <= MAX_LINE_CENTS:
            raise BadInput(
                f"line {line.line_no}: amount {line.amount_cents} cents is out of range "
                f"(0 to {MAX_LINE_CENTS:,})"
            )
    sale = session.scalar(select(Sale).where(Sale.store_id == store.id, Sale.ref == ref))
    have: dict[int | None, tuple[int | None, int]] = {}
    if sale is not None:
        if sale.customer_id != customer.id:
            raise Conflict(f"sale {ref} in store {store.code} belongs to another member")
        have = {
            no: (pid, qty)
            for no, pid, qty in session.execute(
                select(Purchase.line_no, Purchase.product_id, Purchase.quantity).where(
                    Purchase.sale_id == sale.id
                )
            )
        }
    for line in lines:  # every check before the first write: a refusal leaves nothing
        if line.line_no in have and have[line.line_no] != (line.product.id, line.quantity):
            raise Conflict(f"sale {ref} line {line.line_no} differs from the one already recorded")
    total = (sale.total_cents if sale is not None else 0) + sum(
        line.amount_cents for line in lines if line.line_no not in have
    )
    if total > MAX_SALE_CENTS:
        raise BadInput(f"the sale's total of {total} cents is over {MAX_SALE_CENTS:,}")
    created = sale is None
    if sale is None:
        sale = Sale(
            store_id=store.id,
            ref=ref,
            customer_id=customer.id,
            sold_at=at,
            source=source,
            total_cents=0,
            visit_id=visit_at(session, customer_id=customer.id, store_id=store.id, at=at),
            created_at=now,
        )
        session.add(sale)
        session.flush()
    added = []
    for line in lines:
        if line.line_no in have:
            continue
        session.add(
            Purchase(
                customer_id=customer.id,
                store_id=store.id,
                purchased_at=sale.sold_at,
                product_name=line.product.name,
                category=line.product.category,
                brand=line.product.brand,
                quantity=line.quantity,
                amount_cents=line.amount_cents,
                sale_id=sale.id,
                line_no=line.line_no,
                product_id=line.product.id,
                size=line.size,
            )
        )
        have[line.line_no] = (line.product.id, line.quantity)
        added.append(line.line_no)
        sale.total_cents += line.amount_cents
    if added:
        customer.last_interaction_at = max(customer.last_interaction_at, now)
    session.flush()
    status = "recorded" if created else ("extended" if added else "duplicate")
    return SaleOutcome(status, sale, len(added), sale.visit_id, added)


# --- service items ----------------------------------------------------------------------------


def upsert_service_item(
    session: Session,
    *,
    store: Store,
    customer: Customer,
    ref: str,
    kind: str,
    status: str,
    description: str,
    product: Product | None,
    now: datetime,
) -> tuple[str, ServiceItem]:
    """Create or update a repair/order/pickup/return by the POS's reference."""
    if kind not in SERVICE_KINDS:
        raise BadInput(f"kind must be one of {', '.join(SERVICE_KINDS)}")
    if status not in SERVICE_STATUSES:
        raise BadInput(f"status must be one of {', '.join(SERVICE_STATUSES)}")
    item = session.scalar(
        select(ServiceItem).where(ServiceItem.store_id == store.id, ServiceItem.ref == ref)
    )
    if item is None:
        item = ServiceItem(
            customer_id=customer.id,
            store_id=store.id,
            ref=ref,
            kind=kind,
            status=status,
            description=description,
            product_id=product.id if product else None,
            created_at=now,
            updated_at=now,
            ready_at=now if status == "ready" else None,
        )
        session.add(item)
        session.flush()
        return "created", item
    if item.customer_id != customer.id:
        raise Conflict(f"service item {ref} belongs to another member")
    changes: dict[str, Any] = {
        "kind": kind,
        "status": status,
        "description": description,
        "product_id": product.id if product else item.product_id,
    }
    if all(getattr(item, k) == v for k, v in changes.items()):
        return "unchanged", item
    if status == "ready" and item.status != "ready":
        item.ready_at = now
    for k, v in changes.items():
        setattr(item, k, v)
    item.updated_at = now
    return "updated", item
