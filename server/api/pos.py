"""Webhooks for a point-of-sale system: live sales and service items of members.

Authenticated with a per-store POS key (``Authorization: Bearer vtpos_...``, created with
``vertrouwd pos-key create STORE --name ...``); the store is the key's. Idempotent by the POS's
own ids: posting the same sale again records nothing twice.

    POST /api/v1/pos/sales
    {"sale_id": "R-000123", "at": "2026-11-25T14:03:00+01:00",
     "customer": {"loyalty_id": "VT100001"},   # or {"crm_id": ...}; null: not a member
     "lines": [{"sku": "VT-COF-1A2B3C", "quantity": 2, "unit_price_cents": 1450, "size": "500 g"}]}

    201 {"status": "recorded", ...}   first time
    200 {"status": "duplicate", ...}  the same sale again (or "extended": lines added)
    202 {"status": "ignored", "reason": "not a member"}  no customer given: nothing was stored
    401 unknown or revoked key; 404 no member of this store with that id (unknown and another
    store's member alike); 409 the sale id belongs to another member; 422 bad payload (also a
    time before 2000 or more than a day ahead, or an amount out of bounds)

    POST /api/v1/pos/service-items
    {"ref": "REP-77", "customer": {"loyalty_id": "VT100001"}, "kind": "repair",
     "status": "ready", "description": "Ice cream maker", "sku": null}
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request, Response
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import select
from sqlalchemy.orm import Session

from server.api.schemas import SaleIgnoredOut, SaleRecordedOut, ServiceItemOut
from server.db.clienteling import Product
from server.db.membership import Customer
from server.db.stores import Store
from server.deps import RuntimeDep, SessionDep
from server.services.clienteling import pos
from server.services.errors import BadInput, NotFound, Unauthorized

router = APIRouter(prefix="/api/v1/pos", tags=["pos"])


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MemberRef(_In):
    loyalty_id: str | None = Field(default=None, min_length=1, max_length=64)
    crm_id: str | None = Field(default=None, min_length=1, max_length=64)


class SaleLineIn(_In):
    sku: str = Field(min_length=1, max_length=64)
    quantity: int = Field(default=1, ge=1, le=10_000)
    unit_price_cents: int | None = Field(default=None, ge=0, le=100_000_000)
    line: int | None = Field(default=None, ge=1, le=10_000)
    size: str | None = Field(default=None, max_length=40)


class SaleIn(_In):
    sale_id: str = Field(min_length=1, max_length=64)
    at: AwareDatetime
    customer: MemberRef | None = None
    lines: list[SaleLineIn] = Field(min_length=1, max_length=500)

    @model_validator(mode="after")
    def _unique_lines(self) -> SaleIn:
        numbers = [ln.line or i for i, ln in enumerate(self.lines, start=1)]
        if len(set(numbers)) != len(numbers):
            raise ValueError("line numbers repeat")
        return self


class ServiceItemIn(_In):
    ref: str = Field(min_length=1, max_length=64)
    customer: MemberRef
    kind: Literal["repair", "special_order", "pickup", "return"]
    status: Literal["open", "ready", "closed", "cancelled"]
    description: str = Field(min_length=1, max_length=200)
    sku: str | None = Field(default=None, max_length=64)


def pos_store(request: Request, rt: RuntimeDep, session: SessionDep) -> Store:
    scheme, _, key = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise Unauthorized("POS key missing")
    return pos.authenticate(session, key=key.strip(), now=rt.now())


PosStore = Annotated[Store, Depends(pos_store)]


def _member(session: Session, store: Store, ref: MemberRef | None) -> Customer | None:
    """None when no customer is given; 404 when the id names no member of the key's store
    (the same answer for an unknown id and another store's member: no membership oracle)."""
    if ref is None:
        return None
    customer = pos.store_member(session, store=store, loyalty_id=ref.loyalty_id, crm_id=ref.crm_id)
    if customer is None:
        raise NotFound("no member of this store with that id")
    return customer


def _products(session: Session, skus: set[str]) -> dict[str, Product]:
    found = {p.sku: p for p in session.scalars(select(Product).where(Product.sku.in_(skus)))}
    unknown = sorted(skus - set(found))
    if unknown:
        raise BadInput(f"unknown sku(s): {', '.join(unknown)}")
    return found


@router.post("/sales", status_code=201, response_model=SaleRecordedOut | SaleIgnoredOut)
def post_sale(
    body: SaleIn, store: PosStore, rt: RuntimeDep, session: SessionDep, response: Response
) -> dict[str, Any]:
    products = _products(session, {ln.sku for ln in body.lines})  # 422 before anything else
    customer = _member(session, store, body.customer)
    if customer is None:
        response.status_code = 202
        return {"status": "ignored", "reason": "not a member", "sale_id": body.sale_id}
    lines = []
    for i, ln in enumerate(body.lines, start=1):
        product = products[ln.sku]
        unit = ln.unit_price_cents if ln.unit_price_cents is not None else product.price_cents
        lines.append(pos.LineIn(ln.line or i, product, ln.quantity, unit * ln.quantity, ln.size))
    at: datetime = body.at
    outcome = pos.record_sale(
        session,
        store=store,
        customer=customer,
        ref=body.sale_id,
        at=at,
        lines=lines,
        source="pos",
        now=rt.now(),
    )
    if outcome.status != "recorded":
        response.status_code = 200
    return {
        "status": outcome.status,
        "sale_id": body.sale_id,
        "lines_added": outcome.lines_added,
        "during_visit": outcome.visit_id is not None,
    }


@router.post("/service-items", response_model=ServiceItemOut)
def post_service_item(
    body: ServiceItemIn, store: PosStore, rt: RuntimeDep, session: SessionDep, response: Response
) -> dict[str, Any]:
    product = _products(session, {body.sku})[body.sku] if body.sku else None
    customer = _member(session, store, body.customer)
    assert customer is not None  # the schema requires a customer
    status, _item = pos.upsert_service_item(
        session,
        store=store,
        customer=customer,
        ref=body.ref,
        kind=body.kind,
        status=body.status,
        description=body.description,
        product=product,
        now=rt.now(),
    )
    response.status_code = 201 if status == "created" else 200
    return {"status": status, "ref": body.ref}
