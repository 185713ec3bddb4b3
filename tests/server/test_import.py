"""Point-of-sale data in: CSV import (catalogue, customers, purchases) and the sales webhook.

Malformed rows are reported with their line number and skipped while the rest is imported;
re-importing the same files creates nothing twice; a dry run writes nothing; a sale without a
member leaves no trace; the webhook is authenticated by a hashed per-store key and idempotent by
the POS's sale id.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, text

from server.cli import main as cli
from server.db.audit import AuditEntry
from server.db.clienteling import (
    Allergy,
    DietaryNeed,
    PosKey,
    Preference,
    Product,
    Purchase,
    Sale,
    ServiceItem,
    Visit,
)
from server.db.membership import Customer, CustomerExternalId
from server.db.session import transaction
from server.runtime import Runtime
from server.services.clienteling import importer, pos
from server.services.errors import BadInput
from server.services.membership import lookup
from tests.server.conftest import StoreFixture


def _csv(*lines: str) -> str:
    return "\n".join(lines) + "\n"


CATALOGUE = _csv(
    "sku,name,category,brand,price,allergens,diets,sizes,consumable,replenish_days,new_arrival",
    "COF-1,Espresso Napoli beans,coffee,Brandhuis,24.50,none,vegan|vegetarian,1 kg,yes,24,",
    'CHO-1,Milk hazelnut chocolate,chocolate,Puur,"4,95",milk|hazelnut,vegetarian,,yes,21,'
    "2026-11-01",
    "BAD-1,Broken price,chocolate,Puur,abc,none,,,yes,,",
    "BAD-2,,chocolate,Puur,3.00,none,,,yes,,",
    "BAD-3,Too,many,fields,1.00,none,,,yes,,,,",
    "BAD-4,Odd diet,chocolate,Puur,3.00,none,carnivore,,yes,,",
    "MAC-1,Espresso machine Uno,coffee gear,Brandhuis,695,,,,no,,",
)

CUSTOMERS = _csv(
    "loyalty_id;crm_id;name;preferred_name;email;language;home_store;allergies;diets;"
    "favourite_categories;sizes;notes",
    "VT1001;CRM-1;Anna de Vries;Anna;anna@example.nl;nl;utrecht;peanut|hazelnut;vegetarian;"
    "chocolate|coffee;coffee 1 kg;Likes dark roasts",
    "VT1002;;Bram Jansen;;bram@example;nl;utrecht;;;;;",
    ";;Nameless Nobody;;;nl;;;;;;",
    "VT1003;;Carmen Bos;Carmen;;fr;;;;;;",
    "VT1004;;Daan Visser;Daan;;en;nowhere;;;;;",
    "VT1005;;Eva Smit;Eva;;en;utrecht;gluten;;tea;;",
)

PURCHASES = _csv(
    "sale_id;date;store;loyalty_id;sku;quantity;unit_price;size",
    "R-1;03-11-2026 14:05;utrecht;VT1001;COF-1;2;24,50;1 kg",
    "R-1;03-11-2026 14:05;utrecht;VT1001;MAC-1;1;;",
    "R-2;2026-11-04;utrecht;;COF-1;1;;",
    "R-3;2026-11-05T10:00:00+01:00;utrecht;VT9999;COF-1;1;;",
    "R-4;2026-11-05;utrecht;VT1005;NOPE;1;;",
    "R-5;2026-11-05;amsterdam;VT1005;COF-1;1;;",
    "R-6;2099-01-01;utrecht;VT1005;COF-1;1;;",
    "R-7;2026-11-06;utrecht;VT1005;COF-1;zero;;",
    "R-8;2026-11-07;utrecht;VT1005;COF-1;1;;",
)

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def _import(rt: Runtime, kind: str, text: str, *, dry_run: bool = False) -> importer.ImportReport:
    with rt.sessions() as session:
        tx = session.begin()
        extra = {"tz": ZoneInfo("Europe/Amsterdam")} if kind == "purchases" else {}
        report = importer.IMPORTERS[kind](session, text.encode(), now=NOW, dry_run=dry_run, **extra)
        if dry_run:
            tx.rollback()
        else:
            tx.commit()
    return report


def _count(rt: Runtime, model: type) -> int:
    with rt.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def _errors(report: importer.ImportReport) -> dict[int, str]:
    return {e.line: e.message for e in report.errors}


def test_catalogue_rows_that_are_malformed_are_reported_by_line_and_skipped(
    runtime: Runtime,
) -> None:
    report = _import(runtime, "catalogue", CATALOGUE)
    errors = _errors(report)
    assert set(errors) == {4, 5, 6, 7}, report.errors
    assert "price" in errors[4]
    assert "abc" in errors[4]
    assert "name is empty" in errors[5]
    assert "fields" in errors[6]
    assert "carnivore" in errors[7]
    assert (report.rows, report.created) == (7, 3)
    with runtime.sessions() as session:
        products = {p.sku: p for p in session.scalars(select(Product))}
    assert set(products) == {"COF-1", "CHO-1", "MAC-1"}
    assert products["CHO-1"].price_cents == 495
    assert products["CHO-1"].allergens == ["hazelnut", "milk"]
    assert products["CHO-1"].new_arrival_at is not None
    assert products["COF-1"].allergens == []  # "none": declared free of allergens
    assert products["MAC-1"].allergens is None  # empty: never declared
    assert products["COF-1"].consumable
    assert products["COF-1"].diets == ["vegan", "vegetarian"]
    assert not products["MAC-1"].consumable


def test_reimport_creates_no_duplicates_and_updates_what_changed(
    runtime: Runtime, store: StoreFixture
) -> None:
    first = [_import(runtime, k, t) for k, t in (
        ("catalogue", CATALOGUE), ("customers", CUSTOMERS), ("purchases", PURCHASES))]  # fmt: skip
    models = (Product, Customer, Sale, Purchase, Allergy, Preference, CustomerExternalId,
              DietaryNeed)  # fmt: skip
    counts = {m: _count(runtime, m) for m in models}
    assert counts[Customer] == 2
    assert counts[Sale] == 2
    assert counts[Purchase] == 3
    second = [_import(runtime, k, t) for k, t in (
        ("catalogue", CATALOGUE), ("customers", CUSTOMERS), ("purchases", PURCHASES))]  # fmt: skip
    for before, again in zip(first, second, strict=True):
        assert (again.created, again.updated) == (0, 0), again.summary()
        assert again.unchanged == before.created + before.updated + before.unchanged
        assert len(again.errors) == len(before.errors)
    assert {m: _count(runtime, m) for m in counts} == counts

    changed = CATALOGUE.replace("24.50,none", "26.00,none")
    report = _import(runtime, "catalogue", changed)
    assert (report.created, report.updated) == (0, 1)
    with runtime.sessions() as session:
        assert session.scalar(select(Product.price_cents).where(Product.sku == "COF-1")) == 2600


def test_customers_import_maps_loyalty_and_crm_ids_and_adds_allergies(
    runtime: Runtime, store: StoreFixture
) -> None:
    report = _import(runtime, "customers", CUSTOMERS)
    errors = _errors(report)
    assert set(errors) == {3, 4, 5, 6}, report.errors
    assert "email" in errors[3]
    assert "loyalty_id and crm_id are both empty" in errors[4]
    assert "language" in errors[5]
    assert "nowhere" in errors[6]
    with runtime.sessions() as session:
        anna = lookup.by_loyalty_id(session, "VT1001")
        assert anna is not None
        assert anna.preferred_name == "Anna"
        assert pos.find_member(session, crm_id="CRM-1") == anna
        allergies = {
            a.allergen
            for a in session.scalars(select(Allergy).where(Allergy.customer_id == anna.id))
        }
        assert allergies == {"peanut", "hazelnut"}
        prefs = {
            (p.kind, p.value)
            for p in session.scalars(select(Preference).where(Preference.customer_id == anna.id))
        }
        assert prefs == {("category", "chocolate"), ("category", "coffee"), ("size", "coffee 1 kg")}
    # An allergy missing from a later export is not taken away; a new one is added.
    _import(runtime, "customers", CUSTOMERS.replace("peanut|hazelnut", "sesame"))
    with runtime.sessions() as session:
        assert {
            a.allergen
            for a in session.scalars(select(Allergy).where(Allergy.customer_id == anna.id))
        } == {"peanut", "hazelnut", "sesame"}


def test_purchases_import_keeps_members_only_and_reports_bad_rows(
    runtime: Runtime, store: StoreFixture
) -> None:
    _import(runtime, "catalogue", CATALOGUE)
    _import(runtime, "customers", CUSTOMERS)
    report = _import(runtime, "purchases", PURCHASES)
    errors = _errors(report)
    assert set(errors) == {5, 6, 7, 8, 9}, report.errors
    assert "VT9999" in errors[5]
    assert "NOPE" in errors[6]
    assert "amsterdam" in errors[7]
    assert "future" in errors[8]
    assert "quantity" in errors[9]
    assert report.skipped == 1  # no loyalty id, a non-member's sale
    with runtime.sessions() as session:
        sales = {s.ref: s for s in session.scalars(select(Sale))}
        assert set(sales) == {"R-1", "R-8"}  # nothing of R-2 is kept
        r1 = sales["R-1"]
        assert r1.total_cents == 2 * 2450 + 69500
        assert r1.sold_at == datetime(2026, 11, 3, 13, 5, tzinfo=UTC)  # 14:05 in Amsterdam
        lines = list(
            session.scalars(
                select(Purchase).where(Purchase.sale_id == r1.id).order_by(Purchase.line_no)
            )
        )
        assert [(p.line_no, p.product_name, p.quantity, p.size) for p in lines] == [
            (1, "Espresso Napoli beans", 2, "1 kg"),
            (2, "Espresso machine Uno", 1, None),
        ]


def test_a_file_without_the_required_columns_is_refused_whole(runtime: Runtime) -> None:
    with pytest.raises(BadInput, match="missing column"):
        _import(runtime, "catalogue", "sku,name\nX,Y\n")
    with pytest.raises(BadInput, match="empty"):
        _import(runtime, "purchases", "")
    assert _count(runtime, Product) == 0


def test_cli_dry_run_writes_nothing_and_exit_codes_tell_what_happened(
    runtime: Runtime, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = runtime.settings.resolved_database_url
    base = ["--data-dir", str(runtime.settings.data_dir), "--database-url", url]
    good = tmp_path / "catalogue.csv"
    good.write_text("\n".join(CATALOGUE.splitlines()[:3]) + "\n", encoding="utf-8-sig")
    assert cli(["import", "catalogue", str(good), "--dry-run", *base]) == 0
    out = capsys.readouterr().out
    assert "would import 2 rows, 2 created" in out
    assert "dry run" in out
    assert _count(runtime, Product) == 0
    assert cli(["import", "catalogue", str(good), *base]) == 0
    assert _count(runtime, Product) == 2
    if runtime.engine.dialect.name == "postgresql":  # the planner has statistics at once
        with runtime.sessions() as session:
            analysed = session.scalar(
                text("SELECT last_analyze FROM pg_stat_user_tables WHERE relname = 'products'")
            )
        assert analysed is not None
    messy = tmp_path / "messy.csv"
    messy.write_text(CATALOGUE, encoding="utf-8")
    assert cli(["import", "catalogue", str(messy), *base]) == 1  # some rows skipped
    err = capsys.readouterr().err
    assert "messy.csv:4: price is not an amount" in err
    bad = tmp_path / "bad.csv"
    bad.write_text("nothing,useful\n1,2\n", encoding="utf-8")
    assert cli(["import", "customers", str(bad), *base]) == 2
    assert "missing column" in capsys.readouterr().err
    with runtime.sessions() as session:
        kinds = list(session.scalars(select(AuditEntry.kind)))
    assert kinds.count("import.completed") == 2  # the dry run's entry was rolled back too


# --- the webhook ------------------------------------------------------------------------------


@pytest.fixture
def pos_key(runtime: Runtime, store: StoreFixture) -> str:
    _import(runtime, "catalogue", CATALOGUE)
    _import(runtime, "customers", CUSTOMERS)
    with transaction(runtime.sessions) as session:
        from server.services.recognition import devices

        s = devices.store_by_code(session, store.code)
        return pos.create_key(session, store=s, name="register 1", now=runtime.now()).key


def _sale(sale_id: str, loyalty: str | None = "VT1001", **extra: object) -> dict[str, object]:
    body: dict[str, object] = {
        "sale_id": sale_id,
        "at": datetime.now(UTC).isoformat(),
        "customer": {"loyalty_id": loyalty} if loyalty else None,
        "lines": [{"sku": "COF-1", "quantity": 2}, {"sku": "CHO-1", "unit_price_cents": 450}],
    }
    body.update(extra)
    return body


def test_pos_webhook_records_a_members_sale_once(
    client: TestClient, runtime: Runtime, pos_key: str
) -> None:
    auth = {"Authorization": f"Bearer {pos_key}"}
    r = client.post("/api/v1/pos/sales", json=_sale("T-1"), headers=auth)
    assert r.status_code == 201, r.text
    assert r.json()["status"] == "recorded"
    r = client.post("/api/v1/pos/sales", json=_sale("T-1"), headers=auth)
    assert (r.status_code, r.json()["status"]) == (200, "duplicate")
    with runtime.sessions() as session:
        sale = session.scalar(select(Sale).where(Sale.ref == "T-1"))
        assert sale is not None
        assert sale.source == "pos"
        assert sale.total_cents == 2 * 2450 + 450
        assert session.scalar(select(func.count()).where(Purchase.sale_id == sale.id)) == 2
        key = session.scalar(select(PosKey))
        assert key is not None
        assert key.key_hash != pos_key
        assert pos_key not in key.key_hash
        assert key.last_used_at is not None
    # the same sale id with other content is refused, not merged
    changed = _sale("T-1", lines=[{"sku": "MAC-1"}])
    r = client.post("/api/v1/pos/sales", json=changed, headers=auth)
    assert r.status_code == 409, r.text
    assert _count(runtime, Purchase) == 2


def test_pos_webhook_ignores_non_members_and_refuses_bad_input(
    client: TestClient, runtime: Runtime, pos_key: str
) -> None:
    auth = {"Authorization": f"Bearer {pos_key}"}
    r = client.post("/api/v1/pos/sales", json=_sale("N-1", loyalty=None), headers=auth)
    assert (r.status_code, r.json()["status"]) == (202, "ignored"), r.text
    r = client.post("/api/v1/pos/sales", json=_sale("N-2", loyalty="VT-UNKNOWN"), headers=auth)
    assert r.status_code == 404, r.text  # see test_pos_bounds: the same as another store's
    bad = [
        (_sale("B-1", lines=[{"sku": "NOPE"}]), 422, "NOPE"),
        (_sale("B-2", lines=[]), 422, ""),
        (_sale("B-3", at="2026-11-25T10:00:00"), 422, ""),  # no time zone
        (_sale("B-4", lines=[{"sku": "COF-1", "quantity": 0}]), 422, ""),
        (_sale("B-5", surprise=1), 422, ""),
    ]
    for body, status, reason in bad:
        r = client.post("/api/v1/pos/sales", json=body, headers=auth)
        assert r.status_code == status, (body, r.text)
        assert reason in r.text
    assert _count(runtime, Sale) == 0
    assert _count(runtime, Purchase) == 0


def test_pos_webhook_needs_a_valid_unrevoked_key(
    client: TestClient, runtime: Runtime, pos_key: str
) -> None:
    for headers in ({}, {"Authorization": "Bearer vtpos_wrong"}, {"Authorization": pos_key}):
        r = client.post("/api/v1/pos/sales", json=_sale("K-1"), headers=headers)
        assert r.status_code == 401, r.text
    with transaction(runtime.sessions) as session:
        key_id = session.scalars(select(PosKey.id)).one()
        pos.revoke_key(session, key_id=key_id, now=runtime.now())
    r = client.post(
        "/api/v1/pos/sales", json=_sale("K-2"), headers={"Authorization": f"Bearer {pos_key}"}
    )
    assert r.status_code == 401
    assert _count(runtime, Sale) == 0


def test_a_sale_during_a_live_visit_counts_for_the_store_metrics(
    client: TestClient, runtime: Runtime, store: StoreFixture, pos_key: str
) -> None:
    with transaction(runtime.sessions) as session:
        anna = lookup.by_loyalty_id(session, "VT1001")
        assert anna is not None
        now = runtime.now()
        session.add(
            Visit(customer_id=anna.id, store_id=store.id, arrived_at=now - timedelta(minutes=5),
                  score=0.4, status="greeted", live_until=now + timedelta(minutes=25))
        )  # fmt: skip
    auth = {"Authorization": f"Bearer {pos_key}"}
    r = client.post("/api/v1/pos/sales", json=_sale("V-1"), headers=auth)
    assert r.json()["during_visit"] is True
    r = client.post(
        "/api/v1/pos/service-items",
        json={"ref": "REP-1", "customer": {"loyalty_id": "VT1001"}, "kind": "repair",
              "status": "ready", "description": "Ice cream maker"},
        headers=auth,
    )  # fmt: skip
    assert (r.status_code, r.json()["status"]) == (201, "created")
    with runtime.sessions() as session:
        item = session.scalars(select(ServiceItem)).one()
        assert (item.status, item.ready_at is not None) == ("ready", True)
    from tests.server.conftest import sign_in

    sign_in(client, "sales")
    m = client.get("/api/v1/metrics").json()
    assert (m["arrivals"], m["greeted"], m["visits_with_purchase"]) == (1, 1, 1)
    assert m["greeted_purchase_rate"] == 1.0
    assert m["revenue_during_visits_cents"] == 2 * 2450 + 450


def test_cli_creates_a_pos_key_that_the_webhook_accepts(
    client: TestClient,
    runtime: Runtime,
    store: StoreFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    base = [
        "--data-dir", str(runtime.settings.data_dir),
        "--database-url", runtime.settings.resolved_database_url,
    ]  # fmt: skip
    assert cli(["pos-key", "create", store.code, "--name", "till", *base]) == 0
    key = next(ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("vtpos_"))
    _import(runtime, "catalogue", CATALOGUE)
    _import(runtime, "customers", CUSTOMERS)
    r = client.post(
        "/api/v1/pos/sales", json=_sale("C-1"), headers={"Authorization": f"Bearer {key}"}
    )
    assert r.status_code == 201, r.text
