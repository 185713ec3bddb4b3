"""CSV import from a point-of-sale or CRM export: ``catalogue``, ``customers``, ``purchases``.

    vertrouwd import catalogue|customers|purchases FILE [--dry-run] [--timezone Europe/Amsterdam]

Files: UTF-8 (with or without BOM; Windows-1252 is accepted with a notice), a header row, fields
separated by ``,`` ``;`` or tab (detected). Header names are case-insensitive; unknown columns
are ignored; ``*`` marks required ones. Lists inside a field are separated by ``|``, ``;`` or
``,``. Money is in euros (``12.50``, ``12,50`` or ``1.234,50``). Dates are ISO 8601
(``2026-11-03``, ``2026-11-03 14:05``, with or without offset) or ``03-11-2026``; times without
an offset are in ``--timezone``.

catalogue (one product per row, matched by ``sku``; a re-import updates what changed):
    sku*, name*, category*, brand, price*, allergens, ingredients, diets, sizes, consumable
    (yes/no), replenish_days, new_arrival (date), active (yes/no).
    ``allergens``: an EMPTY cell means "not declared" — such a product is never suggested to a
    customer with an allergy or diet; write ``none`` when the product has no allergens.
customers (loyalty members, matched by ``loyalty_id``, else ``crm_id``):
    loyalty_id* (or crm_id*), name*, preferred_name, email, language (nl/en), home_store,
    allergies, diets, favourite_categories, favourite_brands, sizes, notes.
    Allergies and diets are only ever added by an import, never removed (a missing cell is no
    evidence that an allergy went away).
purchases (one sale line per row; rows with the same ``sale_id`` and ``store`` form one sale):
    sale_id*, date*, store*, sku*, loyalty_id or crm_id (empty: not a member, skipped without
    a trace), quantity (default 1), amount (line total) or unit_price (default: catalogue
    price), line (default: the row's position in its sale), size.

Every row is checked on its own: a malformed row is reported with its line number and reason
and skipped, the others are imported. Re-importing a file changes nothing the first import
already did (products by SKU, members by id, sales by store + sale id, lines by line number).
``--dry-run`` runs the same checks and writes, then rolls the transaction back.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, tzinfo
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from consent.audit_kinds import ImportCompleted
from server.db.clienteling import Allergy, DietaryNeed, Preference, Product, StaffNote
from server.db.membership import Customer, CustomerExternalId
from server.db.stores import Store
from server.services import audit
from server.services.clienteling import pos
from server.services.clienteling.catalogue import DIETS, diet_key
from server.services.errors import BadInput, ServiceError
from server.services.ids import new_id, new_subject_id

KINDS = ("catalogue", "customers", "purchases")
MAX_BYTES = 200_000_000
_TRUE = {"1", "yes", "y", "true", "ja", "j", "x"}
_FALSE = {"0", "no", "n", "false", "nee", ""}
_NONE = {"none", "geen", "-", "n/a", "nvt"}
_ALIASES = {
    "artikelnummer": "sku",
    "article": "sku",
    "product": "name",
    "naam": "name",
    "categorie": "category",
    "merk": "brand",
    "prijs": "price",
    "allergenen": "allergens",
    "at": "date",
    "datum": "date",
    "datetime": "date",
    "sold_at": "date",
    "winkel": "store",
    "store_code": "store",
    "receipt": "sale_id",
    "bon": "sale_id",
    "loyalty": "loyalty_id",
    "klantnummer": "loyalty_id",
    "card": "loyalty_id",
    "qty": "quantity",
    "aantal": "quantity",
    "line_no": "line",
    "regel": "line",
    "total": "amount",
    "bedrag": "amount",
    "new_arrival_at": "new_arrival",
}
REQUIRED = {
    "catalogue": ("sku", "name", "category", "price"),
    "customers": ("name",),
    "purchases": ("sale_id", "date", "store", "sku"),
}


@dataclass(frozen=True)
class RowError:
    line: int
    message: str


@dataclass
class ImportReport:
    kind: str
    dry_run: bool
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0  # rows deliberately left out (non-members), not errors
    errors: list[RowError] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        verb = "would import" if self.dry_run else "imported"
        parts = [
            f"{self.kind}: {verb} {self.rows} rows",
            f"{self.created} created",
            f"{self.updated} updated",
            f"{self.unchanged} unchanged",
        ]
        if self.skipped:
            parts.append(f"{self.skipped} skipped (not members)")
        parts.append(f"{len(self.errors)} malformed rows skipped")
        return ", ".join(parts)


class RowProblem(ValueError):
    """A reason this one row cannot be imported."""


# --- reading ----------------------------------------------------------------------------------


def _decode(data: bytes, report: ImportReport) -> str:
    if len(data) > MAX_BYTES:
        raise BadInput(f"file larger than {MAX_BYTES:,} bytes")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        report.notes.append("file is not UTF-8; read as Windows-1252")
        return data.decode("cp1252", errors="replace")


def _header_key(name: str) -> str:
    key = re.sub(r"[\s\-]+", "_", name.strip().lower()).strip("*")
    return _ALIASES.get(key, key)


def read_rows(data: bytes, kind: str, report: ImportReport) -> Iterator[tuple[int, dict[str, str]]]:
    """(line number, row by normalised header) for each data row; file-level problems are a
    ``BadInput`` (nothing is imported)."""
    text = _decode(data, report)
    if not text.strip():
        raise BadInput("the file is empty")
    first = text.splitlines()[0]
    delimiter = max((",", ";", "\t"), key=first.count)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    try:
        header = [_header_key(h) for h in next(reader)]
    except csv.Error as exc:
        raise BadInput(f"line 1: the header row cannot be read ({exc})") from None
    missing = [c for c in REQUIRED[kind] if c not in header]
    if kind in ("customers",) and "loyalty_id" not in header and "crm_id" not in header:
        missing.append("loyalty_id or crm_id")
    if missing:
        raise BadInput(
            f"line 1: missing column(s) {', '.join(missing)} "
            f"(found: {', '.join(h for h in header if h) or 'none'})"
        )
    while True:
        start = reader.line_num + 1
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            report.rows += 1
            report.errors.append(RowError(start, f"cannot be read as CSV ({exc})"))
            continue
        if not any(v.strip() for v in values):
            continue  # blank line
        report.rows += 1
        if len(values) != len(header):
            report.errors.append(
                RowError(start, f"has {len(values)} fields, the header has {len(header)}")
            )
            continue
        yield start, {h: v.strip() for h, v in zip(header, values, strict=True) if h}


def _list(value: str) -> list[str]:
    return [v.strip() for v in re.split(r"[|;,]", value) if v.strip()]


def _bool(value: str, column: str) -> bool:
    low = value.strip().lower()
    if low in _TRUE:
        return True
    if low in _FALSE:
        return False
    raise RowProblem(f"{column} must be yes or no, not {value!r}")


def _cents(value: str, column: str) -> int:
    raw = value.strip().replace("€", "").replace(" ", "")
    if "," in raw and "." in raw:
        raw = raw.replace(".", "").replace(",", ".") if raw.rfind(",") > raw.rfind(".") else raw
        raw = raw.replace(",", "")
    else:
        raw = raw.replace(",", ".")
    try:
        euros = float(raw)
    except ValueError:
        raise RowProblem(f"{column} is not an amount in euros: {value!r}") from None
    if euros < 0 or euros != euros or euros > 1_000_000:
        raise RowProblem(f"{column} must be between 0 and 1,000,000 euros, not {value!r}")
    return round(euros * 100)


def _int(value: str, column: str, *, low: int, high: int) -> int:
    try:
        n = int(value.strip())
    except ValueError:
        raise RowProblem(f"{column} is not a whole number: {value!r}") from None
    if not low <= n <= high:
        raise RowProblem(f"{column} must be between {low} and {high}, not {n}")
    return n


def _datetime(value: str, column: str, tz: tzinfo) -> datetime:
    raw = value.strip()
    m = re.fullmatch(r"(\d{1,2})-(\d{1,2})-(\d{4})(?:[ T](\d{1,2}):(\d{2}))?", raw)
    try:
        if m:
            d, mo, y, hh, mm = m.groups()
            parsed = datetime(int(y), int(mo), int(d), int(hh or 0), int(mm or 0))
        elif re.fullmatch(r"\d{4}-\d{2}-\d{2}", raw):
            parsed = datetime.combine(date.fromisoformat(raw), time(12, 0))
        else:
            parsed = datetime.fromisoformat(raw)
    except ValueError:
        raise RowProblem(f"{column} is not a date (YYYY-MM-DD or DD-MM-YYYY): {value!r}") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=tz)
    return parsed.astimezone(UTC)


def _need(row: dict[str, str], column: str, max_len: int = 200) -> str:
    value = row.get(column, "")
    if not value:
        raise RowProblem(f"{column} is empty")
    if len(value) > max_len:
        raise RowProblem(f"{column} is longer than {max_len} characters")
    return value


def _optional(row: dict[str, str], column: str, max_len: int = 200) -> str | None:
    value = row.get(column, "")
    if len(value) > max_len:
        raise RowProblem(f"{column} is longer than {max_len} characters")
    return value or None


def _each_row(
    session: Session,
    data: bytes,
    report: ImportReport,
    handle: Callable[[dict[str, str]], str],
) -> None:
    """Run ``handle`` on every row. A handler checks its row completely before it writes
    anything, so a row it refuses (``RowProblem`` or a service error) leaves nothing behind.
    (No savepoints: on SQLite a savepoint opened before the first write would become the outer
    transaction, and its release would commit a dry run.)"""
    for line, row in read_rows(data, report.kind, report):
        try:
            outcome = handle(row)
        except (RowProblem, ServiceError) as exc:
            reason = exc.reason if isinstance(exc, ServiceError) else str(exc)
            report.errors.append(RowError(line, reason))
            continue
        if outcome == "created":
            report.created += 1
        elif outcome == "updated":
            report.updated += 1
        elif outcome == "skipped":
            report.skipped += 1
        else:
            report.unchanged += 1


def _finish(session: Session, report: ImportReport, *, actor: str, now: datetime) -> ImportReport:
    audit.append(
        session,
        ImportCompleted(
            what=report.kind,
            rows=report.rows,
            created=report.created,
            updated=report.updated,
            errors=len(report.errors),
            dry_run=report.dry_run,
        ),
        actor=actor,
        subject=None,
        at=now,
    )
    return report


# --- catalogue --------------------------------------------------------------------------------


def import_catalogue(
    session: Session, data: bytes, *, now: datetime, dry_run: bool = False, actor: str = "import"
) -> ImportReport:
    report = ImportReport("catalogue", dry_run)
    known = {p.sku: p for p in session.scalars(select(Product))}

    def handle(row: dict[str, str]) -> str:
        sku = _need(row, "sku", 64)
        allergens_raw = row.get("allergens", "")
        allergens: list[str] | None
        if not allergens_raw:
            allergens = None
        elif allergens_raw.strip().lower() in _NONE:
            allergens = []
        else:
            allergens = sorted({a.lower() for a in _list(allergens_raw)})
        diets = []
        for d in _list(row.get("diets", "")):
            key = diet_key(d)
            if key is None:
                raise RowProblem(f"unknown diet {d!r} (one of {', '.join(DIETS)})")
            diets.append(key)
        new_arrival = row.get("new_arrival", "")
        values: dict[str, Any] = {
            "name": _need(row, "name"),
            "category": _need(row, "category", 100).lower(),
            "brand": _optional(row, "brand", 100),
            "price_cents": _cents(_need(row, "price"), "price"),
            "allergens": allergens,
            "ingredients": _optional(row, "ingredients", 2000),
            "diets": sorted(set(diets)),
            "sizes": _list(row.get("sizes", "")),
            "consumable": _bool(row.get("consumable", ""), "consumable"),
            "replenish_days": _int(row["replenish_days"], "replenish_days", low=1, high=3650)
            if row.get("replenish_days")
            else None,
            "new_arrival_at": _datetime(new_arrival, "new_arrival", UTC) if new_arrival else None,
            "active": _bool(row["active"], "active") if row.get("active") else True,
        }
        product = known.get(sku)
        if product is None:
            product = Product(sku=sku, created_at=now, updated_at=now, **values)
            session.add(product)
            session.flush()
            known[sku] = product
            return "created"
        if all(getattr(product, k) == v for k, v in values.items()):
            return "unchanged"
        for k, v in values.items():
            setattr(product, k, v)
        product.updated_at = now
        return "updated"

    _each_row(session, data, report, handle)
    return _finish(session, report, actor=actor, now=now)


# --- customers --------------------------------------------------------------------------------


def import_customers(
    session: Session, data: bytes, *, now: datetime, dry_run: bool = False, actor: str = "import"
) -> ImportReport:
    report = ImportReport("customers", dry_run)
    stores = {s.code: s.id for s in session.scalars(select(Store))}

    def handle(row: dict[str, str]) -> str:
        loyalty = _optional(row, "loyalty_id", 64)
        crm = _optional(row, "crm_id", 64)
        if not loyalty and not crm:
            raise RowProblem("loyalty_id and crm_id are both empty")
        name = _need(row, "name")
        language = (row.get("language") or "nl").lower()
        if language not in ("nl", "en"):
            raise RowProblem(f"language must be nl or en, not {language!r}")
        email = _optional(row, "email", 254)
        if email and not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", email):
            raise RowProblem(f"email is not an address: {email!r}")
        home = row.get("home_store", "")
        if home and home not in stores:
            raise RowProblem(f"no store with code {home!r}")
        diets = []
        for d in _list(row.get("diets", "")):
            key = diet_key(d)
            if key is None:
                raise RowProblem(f"unknown diet {d!r}")
            diets.append(key)
        by_loyalty = pos.find_member(session, loyalty_id=loyalty) if loyalty else None
        by_crm = pos.find_member(session, crm_id=crm) if crm else None
        if by_loyalty is not None and by_crm is not None and by_loyalty.id != by_crm.id:
            raise RowProblem(f"loyalty_id {loyalty} and crm_id {crm} name different members")
        if by_crm is not None and loyalty and by_crm.loyalty_id not in (None, loyalty):
            raise RowProblem(f"crm_id {crm} belongs to a member with another loyalty_id")
        customer = by_loyalty or by_crm
        outcome = "unchanged"
        values: dict[str, Any] = {
            "name": name,
            "preferred_name": _optional(row, "preferred_name", 100) or name.split()[0],
            "language": language,
            "email": email,
            "home_store_id": stores.get(home) if home else None,
        }
        if customer is None:
            customer = Customer(
                id=new_id(),
                subject_id=new_subject_id(),
                loyalty_id=loyalty,
                created_at=now,
                last_interaction_at=now,
                **values,
            )
            session.add(customer)
            session.flush()
            outcome = "created"
        else:
            changed = {
                k: v for k, v in values.items() if v is not None and getattr(customer, k) != v
            }
            if loyalty and customer.loyalty_id is None:
                changed["loyalty_id"] = loyalty
            for k, v in changed.items():
                setattr(customer, k, v)
            outcome = "updated" if changed else "unchanged"
        if crm and by_crm is None:
            session.add(CustomerExternalId(customer_id=customer.id, system="crm", external_id=crm))
            outcome = "updated" if outcome == "unchanged" else outcome
        added = _merge_profile(session, customer, row, diets, now)
        if added and outcome == "unchanged":
            outcome = "updated"
        return outcome

    _each_row(session, data, report, handle)
    return _finish(session, report, actor=actor, now=now)


def _merge_profile(
    session: Session, customer: Customer, row: dict[str, str], diets: list[str], now: datetime
) -> bool:
    """Add allergies, diets, notes and imported preferences that are not there yet; imported
    preferences are replaced by the file's (the staff's own stay)."""
    changed = False
    have_allergies = {
        a.lower()
        for a in (
            x.allergen
            for x in session.scalars(select(Allergy).where(Allergy.customer_id == customer.id))
        )
    }
    for allergen in _list(row.get("allergies", "")):
        if allergen.lower() in _NONE or allergen.lower() in have_allergies:
            continue
        session.add(Allergy(customer_id=customer.id, allergen=allergen.lower(), note="imported",
                            created_at=now))  # fmt: skip
        have_allergies.add(allergen.lower())
        changed = True
    have_diets = {
        d.need
        for d in session.scalars(select(DietaryNeed).where(DietaryNeed.customer_id == customer.id))
    }
    for diet in diets:
        if diet not in have_diets:
            session.add(DietaryNeed(customer_id=customer.id, need=diet, created_at=now))
            have_diets.add(diet)
            changed = True
    wanted = [
        (kind, value)
        for column, kind in (
            ("favourite_categories", "category"),
            ("favourite_brands", "brand"),
            ("sizes", "size"),
        )
        for value in _list(row.get(column, ""))
    ]
    current = list(
        session.scalars(
            select(Preference).where(
                Preference.customer_id == customer.id, Preference.source == "import"
            )
        )
    )
    if sorted((p.kind, p.value) for p in current) != sorted(wanted):
        for p in current:
            session.delete(p)
        for kind, value in wanted:
            session.add(Preference(customer_id=customer.id, kind=kind, value=value[:200],
                                   source="import", created_at=now))  # fmt: skip
        changed = True
    note = row.get("notes", "")
    if note:
        bodies = {
            n.body
            for n in session.scalars(select(StaffNote).where(StaffNote.customer_id == customer.id))
        }
        if note[:500] not in bodies:
            session.add(StaffNote(customer_id=customer.id, author="import", body=note[:500],
                                  created_at=now))  # fmt: skip
            changed = True
    session.flush()
    return changed


# --- purchases --------------------------------------------------------------------------------


def import_purchases(
    session: Session,
    data: bytes,
    *,
    now: datetime,
    tz: tzinfo = UTC,
    dry_run: bool = False,
    actor: str = "import",
) -> ImportReport:
    report = ImportReport("purchases", dry_run)
    stores = {s.code: s for s in session.scalars(select(Store))}
    products = {p.sku: p for p in session.scalars(select(Product))}
    position: dict[tuple[str, str], int] = {}  # (store, sale id) -> rows seen

    def handle(row: dict[str, str]) -> str:
        # Rows without a line number are numbered by their position in the sale, counting
        # malformed rows too, so fixing one and re-importing keeps the others' numbers.
        key = (row.get("store", ""), row.get("sale_id", ""))
        position[key] = position.get(key, 0) + 1
        ref = _need(row, "sale_id", 64)
        code = _need(row, "store", 32)
        store = stores.get(code)
        if store is None:
            raise RowProblem(f"no store with code {code!r}")
        at = _datetime(_need(row, "date"), "date", tz)
        if at > now:
            raise RowProblem(f"date {row['date']} lies in the future")
        sku = _need(row, "sku", 64)
        product = products.get(sku)
        if product is None:
            raise RowProblem(f"unknown sku {sku!r} (import the catalogue first)")
        quantity = (
            _int(row["quantity"], "quantity", low=1, high=10_000) if row.get("quantity") else 1
        )
        if row.get("amount"):
            amount = _cents(row["amount"], "amount")
        elif row.get("unit_price"):
            amount = _cents(row["unit_price"], "unit_price") * quantity
        else:
            amount = product.price_cents * quantity
        line_no = (
            _int(row["line"], "line", low=1, high=10_000) if row.get("line") else position[key]
        )
        loyalty, crm = row.get("loyalty_id", ""), row.get("crm_id", "")
        if not loyalty and not crm:
            return "skipped"  # not a member: nothing about this sale is kept
        customer = pos.find_member(session, loyalty_id=loyalty or None, crm_id=crm or None)
        if customer is None:
            which = f"loyalty_id {loyalty}" if loyalty else f"crm_id {crm}"
            raise RowProblem(f"no member with {which}")
        outcome = pos.record_sale(
            session,
            store=store,
            customer=customer,
            ref=ref,
            at=at,
            lines=[pos.LineIn(line_no, product, quantity, amount, _optional(row, "size", 40))],
            source="csv",
            now=now,
        )
        return "created" if outcome.lines_added else "unchanged"

    _each_row(session, data, report, handle)
    return _finish(session, report, actor=actor, now=now)


IMPORTERS: dict[str, Callable[..., ImportReport]] = {
    "catalogue": import_catalogue,
    "customers": import_customers,
    "purchases": import_purchases,
}
