"""Arrival events from edge devices -> visits -> teaser cards for the store's tablets.

An event names only a pseudonymous subject id. It becomes a visit only when that subject's
consent is still active, unexpired, covers the device's store and was given before the event
(give or take the clock skew allowed); otherwise it is dropped (a stale gallery on a device, or
an event from an earlier consent replayed after the member joined again, must not produce a
card). Events are idempotent by their id, and
events outside the replay window are refused.

Pass arrivals (issue 12): an event with ``method == "pass"`` names the digest of the pass the
member showed. It is refused (listed in ``IngestResult.rejected``; the route answers 422, and no
visit is made) when the store's mode does not take passes, when the digest is not the member's
CURRENT pass (unknown: forged; revoked: replayed after a re-issue, a withdrawal, an expiry or an
erasure), names another member, or when the member's consent does not cover the store (another
store's pass) or is not active. A face arrival at a store in a pass mode is refused the same
way. Stale face arrivals (a withdrawn member still in an old gallery) stay what they were: a
quiet ``refused`` count, since the device could not know.
"""

from __future__ import annotations

import base64
import hashlib
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import (
    Connection,
    Table,
    bindparam,
    func,
    insert,
    literal_column,
    select,
    text,
    union_all,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.sql.expression import BindParameter, CompoundSelect

from consent.envelope import open_blob
from consent.keys import KeyProvider
from server.db import sealed
from server.db.clienteling import Sale, Visit
from server.db.membership import (
    ConsentRecord,
    Customer,
    CustomerKey,
    FaceTemplate,
    FaceThumbnail,
    MemberPass,
    ProfileKey,
)
from server.db.recognition import EventReceipt, Incident
from server.services.clienteling import cards
from server.services.membership.enrolment import THUMBNAIL_PURPOSE
from server.services.recognition.devices import DeviceRef

log = logging.getLogger(__name__)

REPLAY_WINDOW = timedelta(hours=24)
FUTURE_SKEW = timedelta(minutes=2)


@dataclass(frozen=True)
class ArrivalIn:
    id: str
    subject_id: str
    at: datetime
    score: float
    margin: float | None
    method: str = "face"
    """``face`` (door/check-in match) or ``pass`` (QR pass shown; issue 12)."""
    pass_digest: str | None = None
    face_verified: bool | None = None
    """pass+face: whether the 1:1 face check matched; None when not checked."""


@dataclass
class IngestResult:
    accepted: int = 0
    duplicates: int = 0
    refused: int = 0
    suppressed: int = 0  # of the refused: after a "not this person" report on that camera
    messages: list[dict[str, Any]] = field(default_factory=list)
    rejected: list[tuple[str, str]] = field(default_factory=list)
    """(event id, reason) of events refused for a pass or mode rule (counted in ``refused``)."""


PASS_MODES = frozenset({"pass", "pass+face"})


def _mode_refusal(device: DeviceRef, event: ArrivalIn) -> str | None:
    """Why the store's recognition mode does not take this event, or None."""
    if event.method == "face":
        if device.store_mode in PASS_MODES:
            return f"this store recognises members by pass only ({device.store_mode})"
        return None
    if event.method != "pass":
        return "unknown arrival method"
    if device.store_mode not in PASS_MODES:
        return f"this store does not take passes ({device.store_mode})"
    if event.pass_digest is None:
        return "a pass arrival needs the pass digest"
    if device.store_mode == "pass" and event.face_verified is not None:
        return "no face is checked in pass mode"
    return None


_VISITS = cast(Table, Visit.__table__)
_CUSTOMERS = cast(Table, Customer.__table__)
_RECEIPTS = cast(Table, EventReceipt.__table__)

# The hot path of every store. A batch of arrivals (everything the group-commit writer took
# from its queue, from any number of devices) costs the same six statements whether it holds
# one event or two hundred: each step is one set-based statement over the whole batch, not
# one round trip per event. They are built once, with (expanding) bind parameters, so a batch
# pays only for execution.
# Each member row also brings what the card needs, so that no further query is made for it:
# the profile key (to open the preferred name) and the enrolment photo with its data key.
# Scalar subqueries, not joins: a customer with two photos is still one row per consent.
_PROFILE_DEK = (
    select(ProfileKey.wrapped_dek)
    .where(ProfileKey.customer_id == Customer.id)
    .scalar_subquery()
    .label("profile_dek")
)
_PHOTO = (
    select(FaceThumbnail.ciphertext)
    .where(FaceThumbnail.customer_id == Customer.id)
    .limit(1)
    .scalar_subquery()
    .label("photo")
)
_PHOTO_DEK = (
    select(CustomerKey.wrapped_dek)
    .where(CustomerKey.customer_id == Customer.id)
    .scalar_subquery()
    .label("photo_dek")
)
_MEMBERS = (
    select(
        Customer.subject_id,
        Customer.id,
        Customer.preferred_name_sealed.label("preferred_name_sealed"),
        ConsentRecord.scope,
        ConsentRecord.given_at,
        _PROFILE_DEK,
        _PHOTO,
        _PHOTO_DEK,
    )
    .join(ConsentRecord, ConsentRecord.customer_id == Customer.id)
    .where(
        Customer.subject_id.in_(bindparam("subject_ids", expanding=True)),
        ConsentRecord.status == "active",
        ConsentRecord.expires_at > bindparam("now"),
    )
)
# What the matched members already have, in ONE statement (each is a round trip and most of
# the writer's CPU is spent per statement, not per row): (kind, customer, device, number) for
#   "s": a "not this person" on that device lately (suppressed),
#   "l": a live visit in store ``number`` (no second card),
#   "v" / "p": their visits / their sales outside a visit so far (``number``: the count).
_IN_CUSTOMERS: BindParameter[list[str]] = bindparam("customer_ids", expanding=True)
_MEMBER_STATE: CompoundSelect[Any] = union_all(
    select(
        literal_column("'s'"), Incident.customer_id, Incident.device_id, literal_column("0")
    ).where(Incident.customer_id.in_(_IN_CUSTOMERS), Incident.suppress_until > bindparam("now")),
    select(literal_column("'l'"), Visit.customer_id, literal_column("''"), Visit.store_id).where(
        Visit.customer_id.in_(_IN_CUSTOMERS),
        Visit.status.in_(("live", "greeted")),
        # a greeted visit the salesperson dismissed is over: the member's next arrival is a
        # new visit with a new card
        Visit.ended_at.is_(None),
        Visit.live_until > bindparam("now"),
    ),
    select(literal_column("'v'"), Visit.customer_id, literal_column("''"), func.count())
    .where(Visit.customer_id.in_(_IN_CUSTOMERS))
    .group_by(Visit.customer_id),
    select(literal_column("'p'"), Sale.customer_id, literal_column("''"), func.count())
    .where(Sale.customer_id.in_(_IN_CUSTOMERS), Sale.visit_id.is_(None))
    .group_by(Sale.customer_id),
)
_NEW_VISITS = (
    insert(_VISITS)
    .values(status="live")
    .returning(_VISITS.c.id, _VISITS.c.customer_id, _VISITS.c.store_id)
)
_TOUCH_CUSTOMERS = (
    update(_CUSTOMERS)
    .where(_CUSTOMERS.c.id.in_(bindparam("customer_ids", expanding=True)))
    .values(last_interaction_at=bindparam("now"))
)
_THUMBNAILS = (
    select(FaceThumbnail.customer_id, FaceThumbnail.ciphertext, CustomerKey.wrapped_dek)
    .join(CustomerKey, CustomerKey.customer_id == FaceThumbnail.customer_id)
    .where(
        FaceThumbnail.customer_id.in_(bindparam("customer_ids", expanding=True)),
        # the same filter on both sides: an index scan of each whatever the planner's
        # statistics say (without it, before PostgreSQL's first ANALYZE of a bulk-loaded
        # table, it hashes all of customer_keys for every batch)
        CustomerKey.customer_id.in_(bindparam("customer_ids", expanding=True)),
    )
)
_PASSES = (
    select(MemberPass.digest, MemberPass.revoked_at, Customer.subject_id, Customer.id)
    .join(Customer, Customer.id == MemberPass.customer_id)
    .where(MemberPass.digest.in_(bindparam("digests", expanding=True)))
)
_WITH_FACE = (
    select(FaceTemplate.customer_id)
    .where(FaceTemplate.customer_id.in_(bindparam("customer_ids", expanding=True)))
    .distinct()
)
_RECEIPTS_NEW = {
    "sqlite": sqlite_insert(_RECEIPTS)
    .on_conflict_do_nothing(index_elements=["id"])
    .returning(_RECEIPTS.c.id),
    "postgresql": pg_insert(_RECEIPTS)
    .on_conflict_do_nothing(index_elements=["id"])
    .returning(_RECEIPTS.c.id),
}


_VISIT_LOCKS = text(
    "SELECT pg_advisory_xact_lock(k) FROM unnest(CAST(:keys AS bigint[])) AS k ORDER BY k"
)


def _lock_visits(db: Connection, pairs: set[tuple[str, int]]) -> None:
    """PostgreSQL, several server processes: two writers may handle the same member at the same
    store at once (two cameras at one door). Each takes a transaction lock per (member, store)
    before looking for a live visit, so the second sees the first one's visit instead of making
    its own. Sorted, so two writers never wait on each other crosswise. SQLite serialises
    writers anyway."""
    if not pairs or db.dialect.name != "postgresql":
        return
    keys = sorted(
        int.from_bytes(
            hashlib.blake2b(f"{c}:{s}".encode(), digest_size=8).digest(), "big", signed=True
        )
        for c, s in pairs
    )
    db.execute(_VISIT_LOCKS, {"keys": keys}).all()


@dataclass(frozen=True)
class _Member:
    customer_id: str
    preferred_name: str
    scope: tuple[str, ...]
    given_at: datetime
    photo: bytes | None = None
    """The sealed enrolment photo and its wrapped data key (both, or no photo)."""
    photo_dek: bytes | None = None


def _record_receipts(session: Session, db: Connection, rows: list[dict[str, Any]]) -> set[str]:
    """Remember event ids; returns those not seen before. One ``INSERT … ON CONFLICT DO
    NOTHING RETURNING`` for the batch on SQLite and PostgreSQL; a savepoint per row elsewhere."""
    if not rows:
        return set()
    stmt = _RECEIPTS_NEW.get(db.dialect.name)
    if stmt is not None:
        return {str(i) for i in db.execute(stmt, rows).scalars()}
    fresh: set[str] = set()
    for row in rows:
        try:
            with session.begin_nested():
                session.add(EventReceipt(**row))
        except IntegrityError:
            continue
        fresh.add(str(row["id"]))
    return fresh


def _open_photo(customer_id: str, ciphertext: bytes, wrapped_dek: bytes, kek: KeyProvider) -> str:
    dek = kek.unwrap(wrapped_dek, context=customer_id.encode())
    jpeg = open_blob(dek, ciphertext, subject_id=customer_id, purpose=THUMBNAIL_PURPOSE)
    return base64.b64encode(jpeg).decode()


def _thumbnails(session: Session, customer_ids: list[str], kek: KeyProvider) -> dict[str, str]:
    out: dict[str, str] = {}
    for row in session.connection().execute(_THUMBNAILS, {"customer_ids": customer_ids}):
        if row.customer_id in out:
            continue
        out[row.customer_id] = _open_photo(row.customer_id, row.ciphertext, row.wrapped_dek, kek)
    return out


def thumbnail_b64(session: Session, customer: Customer, kek: KeyProvider) -> str | None:
    """The enrolment photo, opened with the customer's data key (gone once shredded)."""
    return _thumbnails(session, [customer.id], kek).get(customer.id)


def ingest(
    session: Session,
    *,
    device: DeviceRef,
    events: list[ArrivalIn],
    kek: KeyProvider,
    visit_live: timedelta,
    now: datetime,
) -> IngestResult:
    """One device's events (see :func:`ingest_batch`)."""
    return ingest_batch(session, [(device, events)], kek=kek, visit_live=visit_live, now=now)[0]


def ingest_batch(
    session: Session,
    requests: list[tuple[DeviceRef, list[ArrivalIn]]],
    *,
    kek: KeyProvider,
    visit_live: timedelta,
    now: datetime,
) -> list[IngestResult]:
    """The events of several requests (each from one authenticated device), in order, as if
    each were handled alone one after the other: the first copy of an event id counts, later
    ones are duplicates; a member's first arrival in a store makes the visit and the card, the
    next ones while it is live are accepted without a second card. One result per request."""
    results = [IngestResult() for _ in requests]
    # The statements run on the session's connection, not through ``session.execute``: they
    # are Core statements over rows, and the ORM layer around each execution (identity map,
    # loading, autoflush) was half the writer's CPU. Anything the caller left pending in the
    # session is flushed first, so the statements see it as ``session.execute`` would.
    session.flush()
    db = session.connection()
    # 1. the replay window, then event ids seen before (in the database or earlier in the batch)
    timely: list[tuple[int, DeviceRef, ArrivalIn]] = []
    receipts: dict[str, dict[str, Any]] = {}
    for n, (device, events) in enumerate(requests):
        for event in events:
            if event.at < now - REPLAY_WINDOW or event.at > now + FUTURE_SKEW:
                results[n].refused += 1
                continue
            why = _mode_refusal(device, event)
            if why is not None:
                results[n].refused += 1
                results[n].rejected.append((event.id, why))
                continue
            timely.append((n, device, event))
            receipts.setdefault(
                event.id, {"id": event.id, "device_id": device.id, "received_at": now}
            )
    fresh = _record_receipts(session, db, list(receipts.values()))
    first: list[tuple[int, DeviceRef, ArrivalIn]] = []
    for n, device, event in timely:
        if event.id in fresh:
            fresh.discard(event.id)
            first.append((n, device, event))
        else:
            results[n].duplicates += 1
    # 2. whose consent is active, unexpired and covers the device's store
    subjects = sorted({e.subject_id for _, d, e in first if d.store_live})
    members: dict[str, list[_Member]] = {}
    if subjects:
        rows = list(db.execute(_MEMBERS, {"subject_ids": subjects, "now": now}))
        sealed.cache_wrapped_keys(session, {str(row.id): row.profile_dek for row in rows})
        for row in rows:
            preferred = sealed.open_value(
                session,
                table="customers",
                column="preferred_name",
                row_id=str(row.id),
                customer_id=str(row.id),
                raw=row.preferred_name_sealed,
            )
            members.setdefault(row.subject_id, []).append(
                _Member(
                    str(row.id),
                    str(preferred),
                    tuple(row.scope),
                    row.given_at,
                    row.photo if row.photo_dek is not None else None,
                    row.photo_dek if row.photo is not None else None,
                )
            )
    pass_owner = _pass_owners(session, [e for _, _, e in first if e.method == "pass"])
    matched: list[tuple[int, DeviceRef, ArrivalIn, _Member]] = []
    for n, device, event in first:
        if event.method == "pass":
            owner = pass_owner.get(event.pass_digest or "")
            refusal = (
                "unknown pass"
                if owner is None
                else "revoked pass"
                if owner is _REVOKED
                else "pass of another member"
                if owner != event.subject_id
                else None
            )
            if refusal is not None:
                results[n].refused += 1
                results[n].rejected.append((event.id, refusal))
                continue
        member = next(
            (
                m
                for m in members.get(event.subject_id, ())
                if device.store_live
                and ("*" in m.scope or device.store_code in m.scope)
                # seen under this consent: an event queued on a device before a withdrawal and
                # replayed after the member joined again belongs to the ended consent
                and event.at >= m.given_at - FUTURE_SKEW
            ),
            None,
        )
        if member is None:
            results[n].refused += 1
            if event.method == "pass":
                results[n].rejected.append(
                    (event.id, "the pass holder is not an active member of this store")
                )
        else:
            matched.append((n, device, event, member))
    matched = _check_face_verified(session, matched, results)
    if not matched:
        return results
    customer_ids = sorted({m.customer_id for *_, m in matched})
    ids = {"customer_ids": customer_ids, "now": now}
    _lock_visits(db, {(m.customer_id, d.store_id) for _, d, _, m in matched})
    # 3. "not this person" on that camera lately: the camera may keep confusing someone with
    # this member, so it makes no card until the time is up.
    # 4. one card per visit: a member already on the store's tablets gets no second one
    suppressed: set[tuple[str, str]] = set()
    live: set[tuple[str, int]] = set()
    counts: dict[str, int] = {}  # visits so far plus sales made outside a visit
    for kind, c, d, k in db.execute(_MEMBER_STATE, ids):
        if kind == "s":
            suppressed.add((str(c), str(d)))
        elif kind == "l":
            live.add((str(c), int(k)))
        else:
            counts[str(c)] = counts.get(str(c), 0) + int(k)
    live_until = now + visit_live
    new_visits: list[tuple[int, ArrivalIn, _Member, dict[str, Any]]] = []
    for n, device, event, member in matched:
        if (member.customer_id, device.id) in suppressed:
            results[n].refused += 1
            results[n].suppressed += 1
            continue
        results[n].accepted += 1
        if (member.customer_id, device.store_id) in live:
            continue
        live.add((member.customer_id, device.store_id))
        values: dict[str, Any] = {
            "customer_id": member.customer_id,
            "store_id": device.store_id,
            "device_id": device.id,
            "arrived_at": event.at,
            "score": event.score,
            "margin": event.margin,
            "live_until": live_until,
            "method": event.method,
            "face_verified": event.face_verified if event.method == "pass" else None,
        }
        new_visits.append((n, event, member, values))
    if not new_visits:
        return results
    visit_ids = {
        (str(c), int(s)): int(i)
        for i, c, s in db.execute(_NEW_VISITS, [values for *_, values in new_visits])
    }
    touched = sorted({m.customer_id for _, _, m, _ in new_visits})
    touch = {"customer_ids": touched, "now": now}
    db.execute(_TOUCH_CUSTOMERS, touch)
    # 5. the teasers: visit number (visits so far, this one included, plus sales made outside
    # a visit) and the enrolment photo
    later = dict.fromkeys(touched, 0)  # a member arriving in two stores in one batch
    for _, _, m, _ in new_visits:
        later[m.customer_id] += 1
        counts[m.customer_id] = counts.get(m.customer_id, 0) + 1  # counted before the insert
    # a pass arrival's card carries no photo: nobody's face was compared, so the salesperson
    # asks the name instead (issue 12); only face arrivals open a thumbnail (read with the
    # member, above)
    photos: dict[str, str] = {}
    for _, e, m, _ in new_visits:
        if e.method == "face" and m.photo is not None and m.photo_dek is not None:
            photos[m.customer_id] = _open_photo(m.customer_id, m.photo, m.photo_dek, kek)
    for n, event, member, values in new_visits:
        later[member.customer_id] -= 1
        results[n].messages.append(
            cards.teaser_message(
                visit_id=visit_ids[(member.customer_id, values["store_id"])],
                preferred_name=member.preferred_name,
                visit_number=counts.get(member.customer_id, 0) - later[member.customer_id],
                arrived_at=event.at,
                live_until=live_until,
                status="live",
                thumbnail=photos.get(member.customer_id) if event.method == "face" else None,
                now=now,
                method=event.method,
                face_verified=values["face_verified"],
            )
        )
    return results


_REVOKED = object()


def _pass_owners(session: Session, events: list[ArrivalIn]) -> dict[str, object]:
    """digest -> the subject id of the member whose CURRENT pass it is, or ``_REVOKED``; a
    digest not listed is unknown (forged, or erased together with its member)."""
    digests = sorted({e.pass_digest for e in events if e.pass_digest})
    if not digests:
        return {}
    out: dict[str, object] = {}
    for row in session.connection().execute(_PASSES, {"digests": digests}):
        out[row.digest] = _REVOKED if row.revoked_at is not None else str(row.subject_id)
    return out


def _check_face_verified(
    session: Session,
    matched: list[tuple[int, DeviceRef, ArrivalIn, _Member]],
    results: list[IngestResult],
) -> list[tuple[int, DeviceRef, ArrivalIn, _Member]]:
    """A face check result for a member with no face template cannot be true: refused."""
    claimed = sorted(
        {m.customer_id for _, _, e, m in matched if e.method == "pass" and e.face_verified}
    )
    if not claimed:
        return matched
    with_face = {
        str(c)
        for c in session.connection().execute(_WITH_FACE, {"customer_ids": claimed}).scalars()
    }
    kept = []
    for n, device, event, member in matched:
        if event.method == "pass" and event.face_verified and member.customer_id not in with_face:
            results[n].refused += 1
            results[n].rejected.append((event.id, "face verified for a member without a face"))
            continue
        kept.append((n, device, event, member))
    return kept
