"""POS keys: a store's key reaches only that store's members (an unknown id and another store's
member get the identical 404: no membership oracle), and implausible dates and amounts are a
422 before anything is written (on PostgreSQL too, where 22 x 100,000,000 cents would overflow
an ``integer`` and was a 500).

Real app, real SQLite or PostgreSQL (``VERTROUWD_TEST_DB``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from server.db.clienteling import Product, Purchase, Sale, ServiceItem
from server.db.session import transaction
from server.db.stores import Store
from server.runtime import Runtime
from server.services.clienteling import pos
from tests.server.conftest import StoreFixture
from tests.server.factories import make_member, make_store

SALES = "/api/v1/pos/sales"
ITEMS = "/api/v1/pos/service-items"


def _key(rt: Runtime, code: str) -> dict[str, str]:
    with transaction(rt.sessions) as session:
        store = session.scalars(select(Store).where(Store.code == code)).one()
        key = pos.create_key(session, store=store, name="till", now=rt.now()).key
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def shop(runtime: Runtime, store: StoreFixture) -> dict[str, Any]:
    """This store with a member of its own, another store with its member, a product."""
    other = make_store(runtime, "zwolle")
    make_member(runtime, "Anna de Vries", stores=[store.code], loyalty_id="VT-OWN")
    make_member(runtime, "Bram Jansen", stores=[other.code], loyalty_id="VT-FOREIGN")
    make_member(runtime, "Chloe Bakker", stores=["*"], loyalty_id="VT-CHAIN")
    with transaction(runtime.sessions) as session:
        session.add(Product(sku="COF-1", name="Coffee", category="coffee", price_cents=1450))
    return {"auth": _key(runtime, store.code), "other_auth": _key(runtime, other.code)}


def _sale(sale_id: str, loyalty: str, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "sale_id": sale_id,
        "at": datetime.now(UTC).isoformat(),
        "customer": {"loyalty_id": loyalty},
        "lines": [{"sku": "COF-1", "quantity": 2}],
    }
    body.update(extra)
    return body


def _count(rt: Runtime, model: type[Sale] | type[Purchase] | type[ServiceItem]) -> int:
    with rt.sessions() as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


def test_a_key_reaches_only_its_own_stores_members(
    client: TestClient, runtime: Runtime, shop: dict[str, Any]
) -> None:
    auth = shop["auth"]
    unknown = client.post(SALES, json=_sale("S-1", "VT-NOBODY"), headers=auth)
    foreign = client.post(SALES, json=_sale("S-2", "VT-FOREIGN"), headers=auth)
    assert unknown.status_code == foreign.status_code == 404
    assert unknown.content == foreign.content  # identical: nothing to tell them apart
    item = {"ref": "REP-1", "kind": "repair", "status": "open", "description": "Grinder"}
    unknown = client.post(
        ITEMS, json={**item, "customer": {"loyalty_id": "VT-NOBODY"}}, headers=auth
    )
    foreign = client.post(
        ITEMS, json={**item, "customer": {"loyalty_id": "VT-FOREIGN"}}, headers=auth
    )
    assert unknown.status_code == foreign.status_code == 404
    assert unknown.content == foreign.content
    assert (_count(runtime, Sale), _count(runtime, ServiceItem)) == (0, 0)
    # its own members (home store or consent for it, or the whole chain) are recorded
    for sale_id, loyalty in (("S-3", "VT-OWN"), ("S-4", "VT-CHAIN")):
        r = client.post(SALES, json=_sale(sale_id, loyalty), headers=auth)
        assert r.status_code == 201, r.text
    r = client.post(ITEMS, json={**item, "customer": {"loyalty_id": "VT-OWN"}}, headers=auth)
    assert r.status_code == 201, r.text
    # and the other store's key reaches its member
    r = client.post(SALES, json=_sale("S-5", "VT-FOREIGN"), headers=shop["other_auth"])
    assert r.status_code == 201, r.text
    assert _count(runtime, Sale) == 3


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"at": "0001-01-01T00:00:00+00:00"}, "not plausible"),
        ({"at": "1999-12-31T23:59:59+00:00"}, "not plausible"),
        ({"at": "9999-12-31T23:59:59+00:00"}, "not plausible"),
        ({"at": (datetime.now(UTC) + timedelta(days=3)).isoformat()}, "not plausible"),
        (  # the case: 2.2e9 cents overflowed PostgreSQL's integer (500)
            {"lines": [{"sku": "COF-1", "quantity": 22, "unit_price_cents": 100_000_000}]},
            "out of range",
        ),
        (  # 10^12 cents
            {"lines": [{"sku": "COF-1", "quantity": 10_000, "unit_price_cents": 100_000_000}]},
            "out of range",
        ),
        (  # every line within bounds, the total over them
            {
                "lines": [
                    {"sku": "COF-1", "line": n, "quantity": 1, "unit_price_cents": 100_000_000}
                    for n in range(1, 12)
                ]
            },
            "total",
        ),
        ({"lines": [{"sku": "COF-1", "quantity": 10_001}]}, "less than or equal"),
        ({"lines": [{"sku": "COF-1", "unit_price_cents": -1}]}, "greater than or equal"),
    ],
)
def test_implausible_dates_and_amounts_are_422_and_write_nothing(
    client: TestClient,
    runtime: Runtime,
    shop: dict[str, Any],
    change: dict[str, Any],
    reason: str,
) -> None:
    r = client.post(SALES, json=_sale("B-1", "VT-OWN", **change), headers=shop["auth"])
    assert r.status_code == 422, r.text
    assert reason in r.text
    assert (_count(runtime, Sale), _count(runtime, Purchase)) == (0, 0)


def test_the_bounds_themselves_are_accepted(
    client: TestClient, runtime: Runtime, shop: dict[str, Any]
) -> None:
    lines = [{"sku": "COF-1", "quantity": 1, "unit_price_cents": pos.MAX_LINE_CENTS}]
    r = client.post(
        SALES,
        json=_sale("OK-1", "VT-OWN", at="2000-01-01T00:00:00+00:00", lines=lines),
        headers=shop["auth"],
    )
    assert r.status_code == 201, r.text
    with runtime.sessions() as s:
        assert s.scalars(select(Sale.total_cents)).one() == pos.MAX_LINE_CENTS
    # adding lines to that sale later may not push its total over the bound either
    more = [
        {"sku": "COF-1", "line": n, "quantity": 1, "unit_price_cents": pos.MAX_LINE_CENTS}
        for n in range(2, 12)
    ]
    r = client.post(
        SALES,
        json=_sale("OK-1", "VT-OWN", at="2000-01-01T00:00:00+00:00", lines=[*lines, *more]),
        headers=shop["auth"],
    )
    assert r.status_code == 422, r.text
    assert "total" in r.text
    assert _count(runtime, Purchase) == 1
