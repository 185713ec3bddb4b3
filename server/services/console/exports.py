"""Exports of the console's views for a period, as CSV or JSON.

Each view in :data:`VIEWS` turns the same rows the page shows into flat records (unlimited:
a page shows at most ``console.MAX_ROWS``). CSV cells that a spreadsheet would run as a
formula (starting with ``=``, ``+``, ``-``, ``@``, tab or carriage return) are prefixed with
``'``. Every export is written to the audit log (``console.exported``: view, format, period,
row count) before it leaves the server.

Times: the period is a range of calendar days in the stores' zone (``period.timezone`` in the
JSON, e.g. ``Europe/Amsterdam``), but every timestamp in an export is ISO 8601 in UTC with its
offset written out (``2026-11-25T14:05:00+00:00``), so a machine reading it never has to guess
a zone or a daylight-saving change.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from consent.audit_kinds import ConsoleExported
from server.db.audit import AuditEntry
from server.services import audit, localtime
from server.services.console import verification
from server.services.console import views as console
from server.services.console.views import Period
from server.services.errors import BadInput, NotFound
from server.services.recognition import signage
from server.services.staff.accounts import StaffIdentity

FORMATS = ("csv", "json")
TIMESTAMPS = "ISO 8601, UTC (offset +00:00)"
"""What the JSON export says about its timestamps (the period's days are in period.timezone)."""
_FORMULA = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class ExportContext:
    session: Session
    period: Period
    now: datetime
    gallery_ttl: timedelta
    limits: dict[str, Any]
    backups: Callable[[datetime], datetime] | None = None
    """``epochs.unreadable_by`` for the deletion proofs"""


def _consents(ctx: ExportContext) -> list[dict[str, Any]]:
    rows = console.consent_log(
        ctx.session, filters=console.ConsentFilter(period=ctx.period), now=ctx.now, limit=None
    )
    return [r.as_row() for r in rows]


def _deletions(ctx: ExportContext) -> list[dict[str, Any]]:
    proofs = console.deletion_proofs(
        ctx.session,
        period=ctx.period,
        gallery_ttl=ctx.gallery_ttl,
        now=ctx.now,
        backups=ctx.backups,
    )
    return [p.as_row() for p in proofs]


def _access(ctx: ExportContext) -> list[dict[str, Any]]:
    return [
        r.as_row() for r in console.access_log(ctx.session, period=ctx.period, now=ctx.now).rows
    ]


def _access_flags(ctx: ExportContext) -> list[dict[str, Any]]:
    log = console.access_log(ctx.session, period=ctx.period, now=ctx.now)
    return [f.as_row() for f in log.flags]


def _incidents(ctx: ExportContext) -> list[dict[str, Any]]:
    return [r.as_row() for r in console.incidents(ctx.session, period=ctx.period, limit=None)]


def _expiring(ctx: ExportContext) -> list[dict[str, Any]]:
    view = console.retention_view(ctx.session, period=ctx.period, limits=ctx.limits, now=ctx.now)
    return [r.as_row() for r in view.expiring]


def _destroyed(ctx: ExportContext) -> list[dict[str, Any]]:
    view = console.retention_view(ctx.session, period=ctx.period, limits=ctx.limits, now=ctx.now)
    return [r.as_row() for r in view.destroyed]


def _devices(ctx: ExportContext) -> list[dict[str, Any]]:
    return [
        r.as_row()
        for r in console.device_rows(ctx.session, gallery_ttl=ctx.gallery_ttl, now=ctx.now)
    ]


def _stores(ctx: ExportContext) -> list[dict[str, Any]]:
    return [s.as_row() for s in signage.store_rows(ctx.session)]


def _audit(ctx: ExportContext) -> list[dict[str, Any]]:
    """The audit entries themselves, with their hashes: a reader can re-verify the chain."""
    return [
        {
            "seq": e.seq,
            "at": e.at,
            "kind": e.kind,
            "what": console.label(e.kind),
            "actor": e.actor,
            "subject": e.subject,
            "data": dict(e.data),
            "prev_hash": e.prev_hash,
            "hash": e.hash,
        }
        for e in ctx.session.scalars(
            select(AuditEntry)
            .where(AuditEntry.at >= ctx.period.start, AuditEntry.at < ctx.period.end)
            .order_by(AuditEntry.seq)
        )
    ]


def _verifications(ctx: ExportContext) -> list[dict[str, Any]]:
    from server.db.audit import AuditVerification

    return [
        verification.run_as_row(r)
        for r in ctx.session.scalars(
            select(AuditVerification)
            .where(AuditVerification.at >= ctx.period.start, AuditVerification.at < ctx.period.end)
            .order_by(AuditVerification.at)
        )
    ]


VIEWS: dict[str, tuple[str, Callable[[ExportContext], list[dict[str, Any]]]]] = {
    "consents": ("Consent log (consents given in the period)", _consents),
    "deletions": ("Deletion proofs", _deletions),
    "access": ("Staff access log", _access),
    "access-flags": ("Unusual access patterns", _access_flags),
    "incidents": ("'Not this person' incidents", _incidents),
    "expiring": ("Consents expiring in the next 30 days", _expiring),
    "destroyed": ("Templates destroyed by the retention job", _destroyed),
    "devices": ("Edge devices", _devices),
    "stores": ("Stores and the go-live gate", _stores),
    "audit": ("Audit log entries (with hashes)", _audit),
    "verifications": ("Audit chain verification runs", _verifications),
}


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        return localtime.as_utc(value).isoformat()
    if isinstance(value, list) and all(isinstance(v, str | int | float) for v in value):
        text = "; ".join(str(v) for v in value)
    elif isinstance(value, dict | list):
        text = json.dumps(value, default=_json_default, ensure_ascii=False, sort_keys=True)
    else:
        text = str(value)
    if isinstance(value, str) and text.startswith(_FORMULA):
        text = "'" + text
    return text


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return localtime.as_utc(value).isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON")


def to_csv(rows: list[dict[str, Any]]) -> bytes:
    columns = list(dict.fromkeys(k for row in rows for k in row))
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(row.get(c)) for c in columns])
    return ("\ufeff" + buf.getvalue()).encode("utf-8")  # BOM: spreadsheets read UTF-8 then


@dataclass(frozen=True)
class Export:
    content: bytes
    media_type: str
    filename: str
    rows: int


def export(ctx: ExportContext, *, view: str, fmt: str, who: StaffIdentity) -> Export:
    """One view for ``ctx.period`` as ``fmt``; audited as ``console.exported``."""
    if view not in VIEWS:
        raise NotFound(f"no view {view[:40]!r}; one of {', '.join(VIEWS)}")
    if fmt not in FORMATS:
        raise BadInput(f"format: one of {', '.join(FORMATS)}")
    title, build = VIEWS[view]
    rows = build(ctx)
    name = f"vertrouwd-{view}-{ctx.period.first_day}-{ctx.period.last_day}.{fmt}"
    if fmt == "csv":
        content, media = to_csv(rows), "text/csv; charset=utf-8"
    else:
        doc = {
            "format": "vertrouwd-console-export/1",
            "view": view,
            "title": title,
            "period": ctx.period.as_json(),
            "timestamps": TIMESTAMPS,
            "generated_at": localtime.as_utc(ctx.now).isoformat(),
            "generated_by": who.username,
            "rows": rows,
        }
        content = json.dumps(doc, default=_json_default, ensure_ascii=False, indent=1).encode()
        media = "application/json"
    period = ctx.period.as_json()
    exported = ConsoleExported(
        view=view,
        format=fmt,
        from_=period["from"],
        to=period["to"],
        timezone=period["timezone"],
        rows=len(rows),
    )
    audit.append(ctx.session, exported, actor=console.actor_of(who), subject=None, at=ctx.now)
    return Export(content, media, name, len(rows))
