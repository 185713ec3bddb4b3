"""Sealing the personal fields of a database that predates migration 0007, in batches, while
the server keeps serving (``vertrouwd keys encrypt-fields``).

Migration 0007 turns the personal text columns into binary ones and carries their values over
as legacy plaintext, which the server still reads (``server.db.sealed``). This walks every table
with sealed fields in primary-key order, ``batch_size`` rows per short transaction (rows locked
``FOR UPDATE``), and seals each legacy value, which also fills the blind indexes, so the
customer becomes findable by search. Sealed rows are skipped, so a run that stopped (or a second
process) simply resumes; a row the server writes meanwhile is sealed by the server itself.

What this cannot do: rewrite history. The plaintext the old code wrote stays in PostgreSQL's
dead tuples until VACUUM reuses them and in WAL segments and backups made before; those age out
with the WAL and backup retention (README, operations).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import inspect, select
from sqlalchemy.orm import Session, sessionmaker

from consent.audit_kinds import FieldsSealed
from consent.fields import is_sealed_field
from server import faults
from server.db.base import Base
from server.db.membership import Customer
from server.db.sealed import sealed_columns
from server.db.session import transaction
from server.services import audit


@dataclass
class FieldSealReport:
    sealed: dict[str, int] = field(default_factory=dict)
    """table -> rows whose legacy fields were sealed in this run"""
    batches: int = 0

    @property
    def total(self) -> int:
        return sum(self.sealed.values())


def sealed_models() -> list[type[Any]]:
    """Every model with sealed fields, parents first."""
    order = {t.name: i for i, t in enumerate(Base.metadata.sorted_tables)}
    models = [m.class_ for m in Base.registry.mappers if sealed_columns(m.class_)]
    return sorted(models, key=lambda m: order[m.__table__.name])


def _legacy(raw: object) -> bool:
    return raw is not None and not (isinstance(raw, bytes) and is_sealed_field(raw))


def seal_row(obj: Any) -> bool:
    """Re-assign every legacy field of ``obj`` (the flush seals them); True when one was."""
    fields = sealed_columns(type(obj))
    legacy = [
        n
        for n, f in fields.items()
        if _legacy(getattr(obj, f.column_attr))
        and not (f.ownerless_plain and not getattr(obj, f.owner, None))
    ]
    if not legacy:
        return False
    # a customer is re-indexed whole: name words, e-mail and loyalty id together
    for name in fields if isinstance(obj, Customer) else legacy:
        setattr(obj, name, getattr(obj, name))
    if type(obj).__table__.name == "customer_external_ids":
        obj.external_id = obj.external_id
    return True


def encrypt_fields(
    sessions: sessionmaker[Session],
    *,
    batch_size: int,
    actor: str,
    clock: Callable[[], datetime],
) -> FieldSealReport:
    """Seal every legacy personal field; one ``key.fields_sealed`` audit entry with the counts
    (table names and numbers only)."""
    if batch_size < 1:
        raise ValueError("batch size must be at least 1")
    report = FieldSealReport()
    for model in sealed_models():
        pk = inspect(model).primary_key[0]
        after: Any = None
        report.sealed[model.__table__.name] = 0
        while True:
            with transaction(sessions) as session:
                stmt = select(model).order_by(pk).limit(batch_size).with_for_update()
                if after is not None:
                    stmt = stmt.where(pk > after)
                rows = list(session.scalars(stmt))
                if not rows:
                    break
                report.sealed[model.__table__.name] += sum(seal_row(r) for r in rows)
                after = getattr(rows[-1], pk.key)
                report.batches += 1
            faults.point("fields.after_batch")
    with transaction(sessions) as session:
        audit.append(
            session,
            FieldsSealed(sealed=dict(report.sealed), batches=report.batches),
            actor=actor,
            subject=None,
            at=clock(),
        )
    return report
