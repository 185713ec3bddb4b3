"""The end of a consent: withdrawal, expiry, erasure ("forget me"), and renewal before expiry.

Withdrawal (Art. 7(3)), in ONE transaction:

1. the customer's data key (DEK) is deleted first (crypto-shredding: every blob sealed under it,
   in any backup, is unreadable from here on), then the template and thumbnail rows;
2. the consent is marked ``withdrawn``. The database forces this order: templates reference
   ``(consent_id, customer_id, 'active')`` of their consent (``server.db.models``), so the
   status cannot change while one exists;
3. ``consent.withdrawn``, ``template.destroyed`` and ``key.destroyed`` are audited;
4. a new gallery version is published for every store in the consent's scope; devices fetch it
   and acknowledge it (``device.acknowledged``: the proof of propagation), and stop matching the
   subject once it is installed;
5. the customer's live visits end; after the commit the tablets of those stores get
   ``{"type": "visit", "visit_id": ..., "status": "expired"}`` and drop the card.

Withdrawing twice is a no-op the second time (same state, no second audit entry).

Erasure is a withdrawal plus the deletion of every row the customer owns, table by table from
:data:`ERASERS` (a test checks it covers every table that holds customer data, see
``server.db.models.customer_tables``). What stays:

* the consent records, as proof that a consent existed and ended: status ``erased``,
  ``customer_id`` NULL. They hold no name, contact or profile field; purpose, scope, text hash,
  channel, the collecting staff member and the dates are facts about the *processing*, not a
  profile, and no query can join them to a person any more;
* the audit log's entries, which name only the pseudonymous ``subject_id``. After erasure no
  table maps that pseudonym to anybody (the ``customers`` row that held it is gone), and the
  audit log never held a name, e-mail or customer id;
* one ``erasures`` row with per-table counts, the time, channel and home store, and no id.

On SQLite every connection runs with ``secure_delete`` (deleted content is overwritten with
zeros), and after the erasure commits the WAL is checkpointed and truncated so the deleted
pages do not survive in the ``-wal`` file either.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any

from sqlalchemy import Engine, delete, select, update
from sqlalchemy.orm import Session

from consent.audit_kinds import (
    ConsentExpired,
    ConsentRenewed,
    ConsentWithdrawn,
    CustomerErased,
    DataKeyDestroyed,
    TemplateDestroyed,
)
from consent.records import (
    PASS_PURPOSE,
    PURPOSE,
    consent_expiry,
    current_consent_text,
    current_pass_consent_text,
    is_pass_text,
)
from server import faults
from server.db.base import Base
from server.db.clienteling import Visit
from server.db.membership import (
    ConsentRecord,
    ConsentRenewal,
    Customer,
    CustomerKey,
    Erasure,
    FaceTemplate,
    FaceThumbnail,
)
from server.db.sealed import forget_key
from server.db.session import after_commit, after_release
from server.db.stores import Store
from server.realtime import tablet_channel
from server.services import audit
from server.services.context import ServiceContext
from server.services.errors import BadInput, Conflict, NotFound
from server.services.ids import new_id
from server.services.membership import passes, selfservice
from server.services.recognition import gallery

log = logging.getLogger(__name__)

Notify = Callable[[str, dict[str, Any]], None]
"""``broker.publish``: (channel, message), called only after the transaction committed."""

Eraser = Callable[[Session, Customer, datetime], int]
"""Deletes (or anonymises) one table's rows of a customer; returns how many rows."""

RECOGNITION_STATES = ("active", "withdrawn", "expired", "erased", "none")


@dataclass(frozen=True)
class Shredded:
    templates: int
    thumbnails: int
    keys: int


@dataclass
class Ended:
    """What ending a customer's consent(s) did; ``scope`` is the union of their stores."""

    consent_ids: list[str] = field(default_factory=list)
    scope: set[str] = field(default_factory=set)
    shredded: Shredded = field(default_factory=lambda: Shredded(0, 0, 0))
    visits_ended: int = 0


@dataclass(frozen=True)
class WithdrawalResult:
    status: str
    changed: bool
    gallery_versions: dict[str, int]
    shredded: Shredded
    visits_ended: int


@dataclass(frozen=True)
class ErasureResult:
    status: str
    counts: dict[str, int]
    gallery_versions: dict[str, int]


@dataclass(frozen=True)
class RenewalResult:
    consent_id: str
    previous_consent_id: str
    expires_at: datetime


# -- shared steps ----------------------------------------------------------------------------


def get_customer(session: Session, customer_id: str) -> Customer:
    customer = session.get(Customer, customer_id)
    if customer is None:
        raise NotFound("no such customer")
    return customer


def shred(session: Session, customer: Customer) -> Shredded:
    """Delete the customer's DEK, then every template and thumbnail row (in the caller's
    transaction). Safe to call when there is nothing left."""
    keys = session.execute(delete(CustomerKey).where(CustomerKey.customer_id == customer.id))
    faults.point("withdraw.after_key")
    templates = session.execute(delete(FaceTemplate).where(FaceTemplate.customer_id == customer.id))
    faults.point("withdraw.after_templates")
    thumbnails = session.execute(
        delete(FaceThumbnail).where(FaceThumbnail.customer_id == customer.id)
    )
    return Shredded(
        templates=_rowcount(templates), thumbnails=_rowcount(thumbnails), keys=_rowcount(keys)
    )


def _rowcount(result: Any) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


def end_live_visits(
    session: Session, *, customer: Customer, now: datetime, notify: Notify | None
) -> int:
    """End the customer's live visits; tablets drop the cards once the transaction commits."""
    visits = list(
        session.scalars(
            select(Visit).where(
                Visit.customer_id == customer.id,
                Visit.status.in_(("live", "greeted")),
                Visit.live_until > now,
            )
        )
    )
    for visit in visits:
        visit.status = "expired"
        visit.ended_at = now
        if notify is not None:
            message = {"type": "visit", "visit_id": visit.id, "status": "expired"}
            after_commit(session, partial(notify, tablet_channel(visit.store_id), message))
    return len(visits)


def end_consents(
    session: Session,
    *,
    customer: Customer,
    records: Iterable[ConsentRecord],
    status: str,
    reason: str,
    actor: str,
    channel: str | None,
    now: datetime,
    notify: Notify | None,
) -> Ended:
    """Shred the biometrics, end ``records`` with ``status`` and audit it; no publication
    (callers publish once for all the stores in ``Ended.scope``)."""
    ended = Ended()
    records = list(records)
    ended.shredded = shred(session, customer)
    session.flush()
    for record in records:
        record.status = status
        record.withdrawn_at = now
        ended.consent_ids.append(record.id)
        ended.scope.update(record.scope)
    session.flush()
    ending = ConsentWithdrawn if status == "withdrawn" else ConsentExpired
    for record in records:
        payload = ending(consent_id=record.id, reason=reason, channel=channel or None)
        audit.append(session, payload, actor=actor, subject=customer.subject_id, at=now)
    if ended.shredded.templates or ended.shredded.thumbnails:
        audit.append(
            session,
            TemplateDestroyed(
                templates=ended.shredded.templates,
                thumbnails=ended.shredded.thumbnails,
                reason=reason,
            ),
            actor=actor,
            subject=customer.subject_id,
            at=now,
        )
    if ended.shredded.keys:
        audit.append(
            session,
            DataKeyDestroyed(reason=reason),
            actor=actor,
            subject=customer.subject_id,
            at=now,
        )
    # the membership pass ends with the consent (issue 12): a replayed pass is refused, and a
    # member who joins again gets a new one
    passes.revoke(session, customer=customer, reason=reason, actor=actor, now=now)
    ended.visits_ended = end_live_visits(session, customer=customer, now=now, notify=notify)
    return ended


def publish_scope(
    session: Session,
    *,
    scope: Iterable[str],
    reason: str,
    actor: str,
    now: datetime,
    notify: Notify | None = None,
) -> dict[str, int]:
    """Publish a new gallery version for every store in ``scope``: store code -> version.
    ``notify`` tells the stores' online devices to fetch it now (``GET /ws/device``)."""
    scope = sorted(set(scope))
    if not scope:
        return {}
    versions = gallery.publish_for_scope(
        session, scope=scope, reason=reason, actor=actor, now=now, notify=notify
    )
    out: dict[str, int] = {}
    for store_id, version in versions.items():
        store = session.get(Store, store_id)
        if store is not None:
            out[store.code] = version
    return out


def current_versions(session: Session, scope: Iterable[str]) -> dict[str, int]:
    scope = set(scope)
    return {
        s.code: s.gallery_version
        for s in session.scalars(select(Store).order_by(Store.id))
        if "*" in scope or s.code in scope
    }


def consent_history(session: Session, customer_id: str) -> list[ConsentRecord]:
    return list(
        session.scalars(
            select(ConsentRecord)
            .where(ConsentRecord.customer_id == customer_id)
            .order_by(ConsentRecord.given_at, ConsentRecord.id)
        )
    )


def recognition_state(session: Session, customer: Customer, *, now: datetime) -> str:
    """``active`` while an unexpired consent is active; else how the latest one ended
    (``withdrawn``/``expired``), or ``none`` when the customer never consented."""
    return state_of_history(consent_history(session, customer.id), now=now)


def state_of_history(history: Sequence[ConsentRecord], *, now: datetime) -> str:
    """:func:`recognition_state` of a customer's consent records in :func:`consent_history`'s
    order, for callers that read many customers' records in one query."""
    if any(r.status == "active" and r.expires_at > now for r in history):
        return "active"
    if not history:
        return "none"
    latest = max(history, key=lambda r: (r.withdrawn_at or r.expires_at, r.given_at))
    if latest.status == "active":  # past expires_at, not yet processed by the retention job
        return "expired"
    return latest.status


# -- withdrawal ------------------------------------------------------------------------------


def withdraw(
    session: Session, ctx: ServiceContext, *, customer_id: str, actor: str, channel: str
) -> WithdrawalResult:
    """Withdraw the customer's recognition consent (see the module docstring). Idempotent."""
    now, notify = ctx.now(), ctx.notify
    customer = get_customer(session, customer_id)
    active = list(
        session.scalars(
            select(ConsentRecord)
            .where(ConsentRecord.customer_id == customer.id, ConsentRecord.status == "active")
            .with_for_update()
        )
    )
    if not active:
        history = consent_history(session, customer.id)
        return WithdrawalResult(
            status=recognition_state(session, customer, now=now),
            changed=False,
            gallery_versions=current_versions(session, (s for r in history for s in r.scope)),
            shredded=Shredded(0, 0, 0),
            visits_ended=0,
        )
    ended = end_consents(
        session,
        customer=customer,
        records=active,
        status="withdrawn",
        reason="withdrawal",
        actor=actor,
        channel=channel,
        now=now,
        notify=notify,
    )
    versions = publish_scope(
        session, scope=ended.scope, reason="withdrawal", actor=actor, now=now, notify=notify
    )
    # The self-service link ends too (after a short grace, so the page that confirmed the
    # withdrawal can still offer "forget me").
    selfservice.end_links(
        session,
        customer_id=customer.id,
        reason="withdrawn",
        until=now + selfservice.AFTER_WITHDRAWAL,
    )
    return WithdrawalResult(
        status="withdrawn",
        changed=True,
        gallery_versions=versions,
        shredded=ended.shredded,
        visits_ended=ended.visits_ended,
    )


# -- erasure ---------------------------------------------------------------------------------


def _delete_rows(table_name: str, column: str) -> Eraser:
    def erase_rows(session: Session, customer: Customer, _now: datetime) -> int:
        table = Base.metadata.tables[table_name]
        return _rowcount(session.execute(delete(table).where(table.c[column] == customer.id)))

    erase_rows.__name__ = f"erase_{table_name}"
    return erase_rows


def _anonymise_consents(session: Session, customer: Customer, now: datetime) -> int:
    """Keep the proof that consents existed and ended; drop who gave them."""
    rows = consent_history(session, customer.id)
    for record in rows:
        record.status = "erased"
        record.withdrawn_at = record.withdrawn_at or now
        record.customer_id = None
    session.flush()
    return len(rows)


def _anonymise_incidents(session: Session, customer: Customer, _now: datetime) -> int:
    """A "not this person" report stays for the privacy officer's false-match statistics
    (store, camera, score, outcome, dates), without whom it was about or the officer's note."""
    table = Base.metadata.tables["incidents"]
    result = session.execute(
        update(table)
        .where(table.c.customer_id == customer.id)
        .values(customer_id=None, visit_id=None, officer_note=None)
    )
    return _rowcount(result)


def _destroy_profile_key(session: Session, customer: Customer, _now: datetime) -> int:
    """Crypto-shred every sealed personal field of the customer, in any page, WAL segment or
    dump (for copies made before: once their epoch's KEK is destroyed, see ``epochs``)."""
    table = Base.metadata.tables["profile_keys"]
    n = _rowcount(session.execute(delete(table).where(table.c.customer_id == customer.id)))
    forget_key(session, customer.id)
    return n


ERASERS: dict[str, Eraser] = {
    "customer_keys": _delete_rows("customer_keys", "customer_id"),
    "profile_keys": _destroy_profile_key,
    "customer_search_terms": _delete_rows("customer_search_terms", "customer_id"),
    "face_templates": _delete_rows("face_templates", "customer_id"),
    "face_thumbnails": _delete_rows("face_thumbnails", "customer_id"),
    "consent_records": _anonymise_consents,
    "purchases": _delete_rows("purchases", "customer_id"),
    "preferences": _delete_rows("preferences", "customer_id"),
    "allergies": _delete_rows("allergies", "customer_id"),
    "visits": _delete_rows("visits", "customer_id"),
    "sales": _delete_rows("sales", "customer_id"),
    "dietary_needs": _delete_rows("dietary_needs", "customer_id"),
    "service_items": _delete_rows("service_items", "customer_id"),
    "staff_notes": _delete_rows("staff_notes", "customer_id"),
    "customer_external_ids": _delete_rows("customer_external_ids", "customer_id"),
    "member_passes": _delete_rows("member_passes", "customer_id"),
    "incidents": _anonymise_incidents,
    "self_service_links": selfservice.erase_links,
    "customers": _delete_rows("customers", "id"),
}
"""Every table holding a customer's data -> how erasure removes it. Register a new table here
(and in ``server.services.membership.export.EXPORTERS``);
``tests/server/test_export_coverage.py`` fails
until both cover it. Erasers run children first (reverse dependency order of the metadata)."""


def register_eraser(table_name: str, eraser: Eraser | None = None, *, column: str = "") -> None:
    """Cover a table defined elsewhere (e.g. clienteling): delete its rows where ``column``
    equals the customer id, or run ``eraser``."""
    if eraser is None:
        if not column:
            raise ValueError("give an eraser or the column that holds the customer id")
        eraser = _delete_rows(table_name, column)
    ERASERS[table_name] = eraser


def checkpoint_wal(engine: Engine) -> bool:
    """SQLite: copy the WAL into the database file and truncate it, so pages that held erased
    rows do not linger in ``-wal``; True when it completed. No-op (True) on other backends.

    Runs on a pooled connection, so in this process it waits its turn behind open transactions
    instead of racing them (call it after the session released its connection:
    ``after_release``). A reader in another process can delay it; it is then retried by the
    next retention pass (the server runs one at start-up and every interval)."""
    if engine.dialect.name != "sqlite":
        return True
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        row = conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)").first()
    if row is not None and row[0]:
        log.warning("WAL checkpoint was blocked by a reader; retried at the next pass")
        return False
    return True


def erase(
    session: Session, ctx: ServiceContext, *, customer_id: str, actor: str, channel: str
) -> ErasureResult:
    """ "Forget me": withdrawal, then every table in :data:`ERASERS` (module docstring)."""
    now = ctx.now()
    customer = get_customer(session, customer_id)
    withdrawal = withdraw(
        session, ctx.at(now), customer_id=customer.id, actor=actor, channel=channel
    )
    subject_id = customer.subject_id
    home_store_id = customer.home_store_id
    counts: dict[str, int] = {}
    session.flush()  # erasers may use Core statements, which do not autoflush
    for table in reversed(Base.metadata.sorted_tables):
        eraser = ERASERS.get(table.name)
        if eraser is not None:
            counts[table.name] = eraser(session, customer, now)
            session.flush()
    missing = set(ERASERS) - set(counts)
    if missing:  # a registered table that is not in the metadata: a programming error
        raise RuntimeError(f"erasers for unknown tables: {sorted(missing)}")
    counts["customer_keys"] += withdrawal.shredded.keys
    counts["face_templates"] += withdrawal.shredded.templates
    counts["face_thumbnails"] += withdrawal.shredded.thumbnails
    for obj in list(session.identity_map.values()):  # rows deleted behind the ORM's back
        if obj is customer or getattr(obj, "customer_id", None) == customer_id:
            session.expunge(obj)
    faults.point("erase.after_rows")
    session.add(Erasure(erased_at=now, store_id=home_store_id, channel=channel, counts=counts))
    audit.append(
        session,
        CustomerErased(channel=channel, counts=counts),
        actor=actor,
        subject=subject_id,
        at=now,
    )
    session.flush()
    bind = session.get_bind()
    if isinstance(bind, Engine):
        after_release(session, partial(_after_erasure, bind))
    return ErasureResult(
        status="erased", counts=counts, gallery_versions=withdrawal.gallery_versions
    )


def _after_erasure(engine: Engine) -> None:
    faults.point("erase.after_commit")
    checkpoint_wal(engine)


# -- renewal ---------------------------------------------------------------------------------


def renew(
    session: Session,
    ctx: ServiceContext,
    *,
    customer_id: str,
    actor: str,
    channel: str,
    collected_by: str | None,
    language: str | None = None,
) -> RenewalResult:
    """Renew an active, unexpired consent: a NEW consent record (current text, same scope, new
    expiry) takes over the templates and thumbnail in the same transaction, and the old record
    ends (status ``expired`` at ``now``, linked in ``consent_renewals``).

    The composite foreign key stays satisfied at every statement: the new record exists and is
    active before the templates point at it, and the old one ends only once none do.
    """
    now, consent_months = ctx.now(), ctx.settings.consent_months
    customer = get_customer(session, customer_id)
    current = session.scalars(
        select(ConsentRecord)
        .where(
            ConsentRecord.customer_id == customer.id,
            ConsentRecord.status == "active",
            ConsentRecord.expires_at > now,
        )
        .order_by(ConsentRecord.expires_at.desc())
        .with_for_update()
    ).first()
    if current is None:
        raise Conflict(
            "there is no active consent to renew; the customer must enrol again "
            "(templates are destroyed when a consent ends)"
        )
    pass_only = is_pass_text(current.text_version)  # renewed on the same kind of text
    try:
        text = (current_pass_consent_text if pass_only else current_consent_text)(
            language or customer.language
        )
    except LookupError as exc:
        raise BadInput(f"no consent text for language {language!r}") from exc
    record = ConsentRecord(
        id=new_id(),
        customer_id=customer.id,
        purpose=PASS_PURPOSE if pass_only else PURPOSE,
        scope=list(current.scope),
        text_version=text.version,
        text_language=text.language,
        text_sha256=text.sha256,
        channel=channel,
        collected_by=collected_by,
        given_at=now,
        expires_at=consent_expiry(now, months=consent_months),
        status="active",
    )
    session.add(record)
    session.flush()
    for model in (FaceTemplate, FaceThumbnail):
        session.execute(
            update(model).where(model.consent_id == current.id).values(consent_id=record.id)
        )
    current.status = "expired"
    current.withdrawn_at = now
    session.add(ConsentRenewal(consent_id=current.id, renewed_by=record.id, renewed_at=now))
    customer.last_interaction_at = now
    session.flush()
    audit.append(
        session,
        ConsentRenewed(
            consent_id=record.id,
            previous_consent_id=current.id,
            text_version=text.version,
            text_sha256=text.sha256,
            channel=channel,
            expires_at=record.expires_at.isoformat(),
        ),
        actor=actor,
        subject=customer.subject_id,
        at=now,
    )
    return RenewalResult(
        consent_id=record.id, previous_consent_id=current.id, expires_at=record.expires_at
    )
