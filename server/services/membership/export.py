"""Everything held about one customer, as JSON (GDPR Art. 15 access, Art. 20 portability).

One exporter per table that holds customer data (:data:`EXPORTERS`, keyed by table name; a test
checks it covers every such table, as ``lifecycle.ERASERS`` must). Each exporter returns a
fragment of the export document; the fragments are merged.

What the export never contains: an embedding, a key (wrapped or not), a token, the
pseudonymous subject id that galleries use. Templates and the data key are *described* (how
many, which model, since when) but not shown. The one enrolment thumbnail is the customer's own
photo and is included (it is decrypted with the customer's data key for this).
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import LargeBinary, func, inspect, select
from sqlalchemy.orm import Mapper, Session
from sqlalchemy.types import TypeEngine

from consent.audit_kinds import ProfileExported
from consent.envelope import open_blob
from consent.errors import InvalidSeal
from consent.keys import KeyProvider
from server.db.base import Base
from server.db.membership import (
    ConsentRenewal,
    Customer,
    CustomerKey,
    CustomerSearchTerm,
    FaceTemplate,
    FaceThumbnail,
    ProfileKey,
)
from server.db.sealed import sealed_columns
from server.db.stores import Store
from server.services import audit
from server.services.membership import lifecycle
from server.services.membership.enrolment import THUMBNAIL_PURPOSE
from server.services.numbers import finite_or_none

FORMAT = "vertrouwd-export/1"
TEMPLATE_NOTE = (
    "face templates are stored encrypted under your personal data key and are never shown; "
    "they are destroyed when you withdraw consent or when it expires"
)


@dataclass(frozen=True)
class ExportContext:
    session: Session
    customer: Customer
    kek: KeyProvider
    now: datetime


Exporter = Callable[[ExportContext], dict[str, Any]]


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, float):
        return finite_or_none(value)
    return value


def _binary(type_: TypeEngine[Any]) -> bool:
    impl = getattr(type_, "impl", type_)
    return isinstance(type_, LargeBinary) or isinstance(impl, LargeBinary)


def table_rows(
    table_name: str, column: str, *, key: str | None = None, omit: Sequence[str] = ()
) -> Exporter:
    """An exporter listing every row of ``table_name`` whose ``column`` is the customer id, all
    columns except ``column``, ``omit`` and binary ones, under ``key`` (default: the table)."""

    def export_rows(ctx: ExportContext) -> dict[str, Any]:
        table = Base.metadata.tables[table_name]
        skip = {column, *omit}
        model = _model_of(table_name)
        if model is not None and sealed_columns(model):
            return {key or table_name: _opened_rows(ctx, model, table, column, skip)}
        cols = [c for c in table.columns if c.name not in skip and not _binary(c.type)]
        order = list(table.primary_key.columns)
        rows = ctx.session.execute(
            select(*cols).where(table.c[column] == ctx.customer.id).order_by(*order)
        )
        return {
            key or table_name: [
                {c.name: _json_value(v) for c, v in zip(cols, row, strict=True)} for row in rows
            ]
        }

    export_rows.__name__ = f"export_{table_name}"
    return export_rows


def _model_of(table_name: str) -> type | None:
    for mapper in Base.registry.mappers:
        if getattr(mapper.local_table, "name", None) == table_name:
            return mapper.class_
    return None


def _opened_rows(
    ctx: ExportContext, model: type, table: Any, column: str, skip: set[str]
) -> list[dict[str, Any]]:
    """Rows of a table with sealed fields, opened under the customer's profile key: the
    customer gets their own words back, never ciphertext or blind-index digests."""
    fields = sealed_columns(model)
    mapper: Mapper[Any] = inspect(model)
    cols = [
        c for c in table.columns if c.name not in skip and (c.name in fields or not _binary(c.type))
    ]
    order = [getattr(model, mapper.get_property_by_column(c).key) for c in table.primary_key]
    out: list[dict[str, Any]] = []
    obj: Any
    for obj in ctx.session.scalars(
        select(model).where(table.c[column] == ctx.customer.id).order_by(*order)
    ):
        row: dict[str, Any] = {}
        for c in cols:
            attr = c.name if c.name in fields else mapper.get_property_by_column(c).key
            row[c.name] = _json_value(getattr(obj, attr))
        out.append(row)
    return out


def _profile_key(ctx: ExportContext) -> dict[str, Any]:
    key = ctx.session.get(ProfileKey, ctx.customer.id)
    return {
        "profile_key": {
            "held": key is not None,
            "created_at": key.created_at.isoformat() if key is not None else None,
            "note": "the key your name, contact details, preferences, allergies and notes are "
            "stored encrypted under; never shown. Erasure deletes it.",
        }
    }


def _search_terms(ctx: ExportContext) -> dict[str, Any]:
    n = ctx.session.scalar(
        select(func.count())
        .select_from(CustomerSearchTerm)
        .where(CustomerSearchTerm.customer_id == ctx.customer.id)
    )
    return {
        "search_index": {
            "entries": int(n or 0),
            "note": "keyed digests of your e-mail, loyalty number and the beginnings of your "
            "name's words, so staff can find you without your data being stored readably",
        }
    }


def _profile(ctx: ExportContext) -> dict[str, Any]:
    c = ctx.customer
    home = ctx.session.get(Store, c.home_store_id) if c.home_store_id is not None else None
    return {
        "profile": {
            "id": c.id,
            "name": c.name,
            "preferred_name": c.preferred_name,
            "language": c.language,
            "email": c.email,
            "loyalty_id": c.loyalty_id,
            "home_store": {"code": home.code, "name": home.name} if home else None,
            "created_at": c.created_at.isoformat(),
            "last_interaction_at": c.last_interaction_at.isoformat(),
        },
        "recognition": lifecycle.recognition_state(ctx.session, c, now=ctx.now),
    }


def _consents(ctx: ExportContext) -> dict[str, Any]:
    history = lifecycle.consent_history(ctx.session, ctx.customer.id)
    renewed = {
        r.consent_id: r.renewed_by
        for r in ctx.session.scalars(
            select(ConsentRenewal).where(ConsentRenewal.consent_id.in_([h.id for h in history]))
        )
    }
    return {
        "consents": [
            {
                "id": r.id,
                "purpose": r.purpose,
                "scope": list(r.scope),
                "text_version": r.text_version,
                "text_language": r.text_language,
                "text_sha256": r.text_sha256,
                "channel": r.channel,
                "collected_by": r.collected_by,
                "given_at": r.given_at.isoformat(),
                "expires_at": r.expires_at.isoformat(),
                "status": (
                    "expired" if r.status == "active" and r.expires_at <= ctx.now else r.status
                ),
                "ended_at": r.withdrawn_at.isoformat() if r.withdrawn_at else None,
                "renewed_by": renewed.get(r.id),
            }
            for r in history
        ]
    }


def _templates(ctx: ExportContext) -> dict[str, Any]:
    rows = list(
        ctx.session.scalars(
            select(FaceTemplate)
            .where(FaceTemplate.customer_id == ctx.customer.id)
            .order_by(FaceTemplate.template_version)
        )
    )
    return {
        "templates": {
            "count": len(rows),
            "model_id": rows[0].model_id if rows else None,
            "created_at": rows[0].created_at.isoformat() if rows else None,
            "note": "stored encrypted; never shown",
            "explanation": TEMPLATE_NOTE,
        }
    }


def _data_key(ctx: ExportContext) -> dict[str, Any]:
    key = ctx.session.get(CustomerKey, ctx.customer.id)
    return {
        "data_key": {
            "held": key is not None,
            "created_at": key.created_at.isoformat() if key is not None else None,
            "note": "your personal data key, stored wrapped by the server key; never shown. "
            "Deleting it makes your templates and photo unreadable everywhere, backups included.",
        }
    }


def _thumbnail(ctx: ExportContext) -> dict[str, Any]:
    thumb = ctx.session.scalar(
        select(FaceThumbnail).where(FaceThumbnail.customer_id == ctx.customer.id)
    )
    key = ctx.session.get(CustomerKey, ctx.customer.id)
    jpeg: str | None = None
    if thumb is not None and key is not None:
        try:
            dek = ctx.kek.unwrap(key.wrapped_dek, context=ctx.customer.id.encode())
            raw = open_blob(
                dek, thumb.ciphertext, subject_id=ctx.customer.id, purpose=THUMBNAIL_PURPOSE
            )
            jpeg = base64.b64encode(raw).decode("ascii")
        except InvalidSeal:
            jpeg = None
    return {
        "thumbnail": {
            "held": thumb is not None,
            "jpeg_base64": jpeg,
            "note": "one small photo from your enrolment, shown to staff to confirm it is you",
        }
    }


EXPORTERS: dict[str, Exporter] = {
    "customers": _profile,
    "consent_records": _consents,
    "customer_keys": _data_key,
    "profile_keys": _profile_key,
    "customer_search_terms": _search_terms,
    "face_templates": _templates,
    "face_thumbnails": _thumbnail,
    "purchases": table_rows("purchases", "customer_id"),
    "preferences": table_rows("preferences", "customer_id"),
    "allergies": table_rows("allergies", "customer_id"),
    "visits": table_rows("visits", "customer_id", omit=("device_id",)),
    "sales": table_rows("sales", "customer_id"),
    "dietary_needs": table_rows("dietary_needs", "customer_id"),
    "service_items": table_rows("service_items", "customer_id"),
    "staff_notes": table_rows("staff_notes", "customer_id"),
    "customer_external_ids": table_rows("customer_external_ids", "customer_id"),
    "member_passes": table_rows("member_passes", "customer_id", key="passes"),
    "incidents": table_rows("incidents", "customer_id", omit=("device_id",)),
    # when each self-service link was issued, by whom, until when, and whether it was revoked;
    # never the link's digest
    "self_service_links": table_rows("self_service_links", "customer_id", omit=("digest",)),
}
"""Every table holding a customer's data -> its exporter (see ``lifecycle.ERASERS``)."""


def register_exporter(
    table_name: str, exporter: Exporter | None = None, *, column: str = ""
) -> None:
    """Cover a table defined elsewhere (e.g. clienteling): list its rows where ``column`` is the
    customer id, or run ``exporter``."""
    if exporter is None:
        if not column:
            raise ValueError("give an exporter or the column that holds the customer id")
        exporter = table_rows(table_name, column)
    EXPORTERS[table_name] = exporter


def export_customer(
    session: Session, *, customer_id: str, kek: KeyProvider, now: datetime
) -> dict[str, Any]:
    """The whole export document for ``customer_id`` (``NotFound`` when nothing is held)."""
    customer = lifecycle.get_customer(session, customer_id)
    ctx = ExportContext(session=session, customer=customer, kek=kek, now=now)
    doc: dict[str, Any] = {"format": FORMAT, "exported_at": now.isoformat()}
    for table in Base.metadata.sorted_tables:
        exporter = EXPORTERS.get(table.name)
        if exporter is None:
            continue
        fragment = exporter(ctx)
        clash = set(fragment) & set(doc)
        if clash:
            raise RuntimeError(f"exporter for {table.name} overwrites {sorted(clash)}")
        doc.update(fragment)
    return doc


def record_export(
    session: Session, *, customer: Customer, actor: str, channel: str, now: datetime
) -> None:
    """Audit that an export left the system (who asked, through which channel)."""
    audit.append(
        session,
        ProfileExported(channel=channel, format=FORMAT),
        actor=actor,
        subject=customer.subject_id,
        at=now,
    )
