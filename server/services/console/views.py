"""The privacy officer's console: who may use it, and the views it shows.

Every view is computed from the live tables and the hash-chained audit log, never from a copy:
the consent log and each consent's history, deletion proofs (the gallery version that removed a
member and which devices confirmed it, when), the staff access log with unusual patterns
flagged, "not this person" incidents, retention, and the edge devices. Each view returns plain
rows (``as_row``) that the page shows and the exports write as CSV or JSON.

Only ``privacy_officer`` and ``admin`` accounts use the console. Anyone else is refused with 403
and the attempt is written to the audit log as ``access.denied`` (kept although the request
fails, see ``ServiceError.keep_writes``).

The audit log names customers only by pseudonym (``subject``); the console maps a pseudonym
back to a name only while the customer exists. After an erasure nothing maps it any more, and
the console shows the pseudonym alone.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta, tzinfo
from typing import Any

from sqlalchemy import String, cast, exists, func, or_, select
from sqlalchemy.orm import Session

from consent import audit_kinds
from consent.audit_kinds import (
    AuditKind,
    ConsentExpired,
    ConsentWithdrawn,
    ConsoleViewed,
    CustomerErased,
    DeviceAcknowledged,
    IncidentResolved,
    ProfileViewed,
    StaffLockedOut,
    TemplateDestroyed,
)
from server.db.audit import AuditEntry
from server.db.clienteling import Visit
from server.db.membership import ConsentRecord, ConsentRenewal, Customer
from server.db.recognition import INCIDENT_OUTCOMES, EdgeDevice, GalleryPublication, Incident
from server.db.stores import Store
from server.services import audit, localtime
from server.services.context import ServiceContext
from server.services.errors import BadInput, NotFound
from server.services.membership import lookup
from server.services.numbers import finite_or_none
from server.services.recognition import gallery, signage
from server.services.staff import signin
from server.services.staff.accounts import StaffIdentity

OFFICER_ROLES = ("privacy_officer", "admin")
# What anyone else is told (an audited 403, ``access.require_role``); {role} is theirs.
OFFICER_REFUSAL = "the {role} role may not use the privacy console; sign in as a privacy officer"
MAX_ROWS = 500
"""A page shows at most this many rows; exports are not limited."""
MANY_PROFILES_PER_HOUR = 12
"""An account that opens more distinct members' profiles than this within one hour is flagged.
A salesperson greets the members who walk in; a dozen different members in one hour is more
than one person serves, so it is worth a look (it may be a busy Saturday)."""
DENIAL_BURST = 5
DENIAL_WINDOW = timedelta(minutes=10)
"""``DENIAL_BURST`` or more refusals for one account within ``DENIAL_WINDOW`` are flagged."""
VISIT_GRACE = timedelta(minutes=2)
"""A profile opened this long after its visit ended still counts as during the visit (clocks)."""
EXPIRING_DAYS = 30

LABELS: dict[AuditKind, str] = {
    AuditKind.CONSENT_GIVEN: "Consent given",
    AuditKind.CONSENT_RENEWED: "Consent renewed",
    AuditKind.CONSENT_WITHDRAWN: "Consent withdrawn",
    AuditKind.CONSENT_EXPIRED: "Consent ended (expiry or retention limit)",
    AuditKind.TEMPLATE_CREATED: "Face templates created",
    AuditKind.TEMPLATE_DESTROYED: "Face templates destroyed",
    AuditKind.DATA_KEY_DESTROYED: "Personal data key destroyed (crypto-shredding)",
    AuditKind.KEYS_ROTATED: "Server key rotated",
    AuditKind.FIELDS_SEALED: "Personal fields sealed under the customers' keys",
    AuditKind.EPOCH_DESTROYED: "Key epoch destroyed (older backups unreadable)",
    AuditKind.GALLERY_PUBLISHED: "New gallery version published",
    AuditKind.DEVICE_ACKNOWLEDGED: "Device installed a gallery version",
    AuditKind.DEVICE_REVOKED: "Device credential revoked",
    AuditKind.PROFILE_VIEWED: "Profile opened by staff",
    AuditKind.PROFILE_EXPORTED: "Data exported",
    AuditKind.INCIDENT_REPORTED: "'Not this person' reported",
    AuditKind.CUSTOMER_ERASED: "Customer erased",
    AuditKind.RETENTION_PURGED: "Templates destroyed: retention limit reached",
    AuditKind.ACCESS_DENIED: "Access refused",
    AuditKind.DEVICE_REGISTERED: "Device registered",
    AuditKind.STORE_LIVE: "Store went live (signage and DPIA confirmed)",
    AuditKind.STORE_PAUSED: "Recognition paused at a store",
    AuditKind.STORE_ZONE_RECORDED: "Member zone recorded",
    AuditKind.STORE_MODE_RECORDED: "Recognition mode recorded",
    AuditKind.INCIDENT_RESOLVED: "Incident outcome recorded",
    AuditKind.PASS_ISSUED: "Membership pass issued",
    AuditKind.PASS_REVOKED: "Membership pass revoked",
    AuditKind.LINK_ISSUED: "Self-service link issued",
    AuditKind.LINK_REISSUED: "Self-service link re-issued by staff (old link revoked)",
    AuditKind.IMPORT_COMPLETED: "Data import",
    AuditKind.CONSOLE_VIEWED: "Opened in the privacy console",
    AuditKind.CONSOLE_EXPORTED: "Export from the privacy console",
    AuditKind.STAFF_SIGNED_IN: "Staff signed in",
    AuditKind.STAFF_SIGN_IN_FAILED: "Staff sign-in failed",
    AuditKind.STAFF_LOCKED_OUT: "Sign-in locked out after failures",
}
"""Every kind's label (a test checks none is missing)."""


def label(kind: str) -> str:
    try:
        return LABELS[AuditKind(kind)]
    except ValueError:  # an entry of a kind this version no longer writes
        return kind.replace(".", ": ").replace("_", " ")


# -- access ----------------------------------------------------------------------------------


def actor_of(who: StaffIdentity) -> str:
    return f"staff:{who.username}"


# -- periods ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    """The calendar days ``first_day`` to ``last_day`` (both included) in the stores' zone
    ``tz``. ``start``/``end`` are the UTC instants ``[start, end)`` the queries use: local
    midnight at the start of ``first_day`` and after ``last_day`` (the database holds UTC)."""

    first_day: date
    last_day: date
    tz: tzinfo

    @property
    def start(self) -> datetime:
        return localtime.day_start(self.first_day, self.tz)

    @property
    def end(self) -> datetime:
        return localtime.day_start(self.last_day + timedelta(days=1), self.tz)

    def days(self) -> list[date]:
        out, day = [], self.first_day
        while day <= self.last_day:
            out.append(day)
            day += timedelta(days=1)
        return out

    def day_of(self, at: datetime) -> date:
        """The local day an instant is counted on."""
        return localtime.day_of(at, self.tz)

    def day_bounds(self, day: date) -> tuple[datetime, datetime]:
        """``[start, end)`` of one local day as UTC instants (23 or 25 hours at a DST change)."""
        return localtime.day_bounds(day, self.tz)

    def as_json(self) -> dict[str, str]:
        return {
            "from": self.first_day.isoformat(),
            "to": self.last_day.isoformat(),
            "timezone": localtime.zone_name(self.tz),
        }


MAX_PERIOD_DAYS = 5 * 366


class PeriodError(BadInput):
    """A period that cannot be shown, with what went wrong as a ``code`` (``bad_date``,
    ``reversed``, ``too_long``) and its ``values``, so a page can say it in the staff's
    language; the reason is the English of the JSON API."""

    def __init__(self, code: str, reason: str, **values: str) -> None:
        super().__init__(reason)
        self.code = code
        self.values = values


# A day as the console's date fields take it (dd-mm-yyyy, unambiguous for a Dutch officer,
# ``-``, ``/`` or ``.`` between), besides ISO 8601 (links, exports, the JSON API).
_DMY = re.compile(r"(\d{1,2})[-/.](\d{1,2})[-/.](\d{4})")


def parse_day(text: str, name: str = "date") -> date:
    """``25-11-2026``, ``25/11/2026``, ``25.11.2026`` or ``2026-11-25``; anything else, or a
    day that does not exist (``31-02-2026``), is a :class:`PeriodError`."""
    value = text.strip()
    try:
        found = _DMY.fullmatch(value)
        if found:
            day, month, year = (int(g) for g in found.groups())
            return date(year, month, day)
        return date.fromisoformat(value[:10])
    except ValueError:
        raise PeriodError(
            "bad_date",
            f"{name}: give a date as DD-MM-YYYY or YYYY-MM-DD, not {text[:40]!r}",
            value=text[:40],
        ) from None


def parse_period(
    start: str | None,
    end: str | None,
    *,
    now: datetime,
    tz: tzinfo,
    default_days: int = 30,
) -> Period:
    """A period from two dates (``from`` and ``to``, both inclusive, calendar days in ``tz``);
    either may be left out: ``to`` defaults to today in ``tz``, ``from`` to ``default_days``
    before ``to``."""
    last = parse_day(end, "to") if end else localtime.today(now, tz)
    first = parse_day(start, "from") if start else last - timedelta(days=default_days - 1)
    if first > last:
        raise PeriodError(
            "reversed",
            f"the period starts ({first}) after it ends ({last})",
            first=f"{first:%d-%m-%Y}",
            last=f"{last:%d-%m-%Y}",
        )
    if (last - first).days > MAX_PERIOD_DAYS:
        raise PeriodError("too_long", "a period is at most five years")
    return Period(first, last, tz)


def _entries(
    session: Session,
    *,
    kinds_: Sequence[AuditKind],
    period: Period | None = None,
    since: datetime | None = None,
    subject: str | None = None,
) -> list[AuditEntry]:
    stmt = select(AuditEntry).where(AuditEntry.kind.in_(kinds_))
    if period is not None:
        stmt = stmt.where(AuditEntry.at >= period.start, AuditEntry.at < period.end)
    if since is not None:
        stmt = stmt.where(AuditEntry.at >= since)
    if subject is not None:
        stmt = stmt.where(AuditEntry.subject == subject)
    return list(session.scalars(stmt.order_by(AuditEntry.seq)))


def _names(session: Session, subjects: Iterable[str | None]) -> dict[str, Customer]:
    wanted = {s for s in subjects if s}
    if not wanted:
        return {}
    found: dict[str, Customer] = {}
    ordered = sorted(wanted)
    for i in range(0, len(ordered), 500):
        chunk = ordered[i : i + 500]
        for c in session.scalars(select(Customer).where(Customer.subject_id.in_(chunk))):
            found[c.subject_id] = c
    return found


def _stores(session: Session) -> dict[int, Store]:
    return {s.id: s for s in session.scalars(select(Store).order_by(Store.id))}


def _staff_name(actor: str) -> str:
    return actor.split(":", 1)[1] if ":" in actor else actor


# -- consent log -----------------------------------------------------------------------------

CONSENT_STATES = ("active", "withdrawn", "expired", "renewed", "erased")


@dataclass(frozen=True)
class ConsentFilter:
    customer: str = ""
    store: str = ""
    status: str = ""
    channel: str = ""
    version: str = ""
    period: Period | None = None

    def __post_init__(self) -> None:
        if self.status and self.status not in CONSENT_STATES:
            raise BadInput(f"status: one of {', '.join(CONSENT_STATES)}")
        if len(self.customer) > 200:
            raise BadInput("customer: at most 200 characters")


@dataclass(frozen=True)
class ConsentRow:
    consent_id: str
    customer_id: str | None
    customer_name: str | None
    status: str
    scope: list[str]
    given_at: datetime
    expires_at: datetime
    ended_at: datetime | None
    channel: str
    collected_by: str | None
    text_version: str
    text_language: str
    text_sha256: str
    renewed_by: str | None
    renewed_from: str | None

    def as_row(self) -> dict[str, Any]:
        return asdict(self)


def effective_status(record: ConsentRecord, *, renewed: bool, now: datetime) -> str:
    if record.status == "erased":
        return "erased"
    if renewed:
        return "renewed"
    if record.status == "active" and record.expires_at <= now:
        return "expired"
    return record.status


def _like(q: str) -> str:
    escaped = q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def consent_log(
    session: Session, *, filters: ConsentFilter, now: datetime, limit: int | None = MAX_ROWS
) -> list[ConsentRow]:
    """Consent records, newest first, filtered; each with its customer while one exists."""
    stmt = select(ConsentRecord, Customer).outerjoin(
        Customer, Customer.id == ConsentRecord.customer_id
    )
    q = " ".join(filters.customer.split())
    if q:
        stmt = stmt.where(
            or_(
                lookup.matches(session, q),
                Customer.id == q,
                ConsentRecord.id == q,
            )
        )
    if filters.store:
        scope_text = cast(ConsentRecord.scope, String)
        stmt = stmt.where(
            or_(
                scope_text.like(_like(f'"{filters.store}"'), escape="\\"),
                scope_text.like('%"*"%'),
            )
        )
    if filters.channel:
        stmt = stmt.where(ConsentRecord.channel == filters.channel)
    if filters.version:
        stmt = stmt.where(ConsentRecord.text_version == filters.version)
    if filters.period is not None:
        stmt = stmt.where(
            ConsentRecord.given_at >= filters.period.start,
            ConsentRecord.given_at < filters.period.end,
        )
    if filters.status == "active":
        stmt = stmt.where(ConsentRecord.status == "active", ConsentRecord.expires_at > now)
    elif filters.status in ("withdrawn", "erased"):
        stmt = stmt.where(ConsentRecord.status == filters.status)
    elif filters.status in ("expired", "renewed"):
        was_renewed = exists().where(ConsentRenewal.consent_id == ConsentRecord.id)
        stmt = stmt.where(
            or_(
                ConsentRecord.status == "expired",
                (ConsentRecord.status == "active") & (ConsentRecord.expires_at <= now),
            ),
            was_renewed if filters.status == "renewed" else ~was_renewed,
        )
    stmt = stmt.order_by(ConsentRecord.given_at.desc(), ConsentRecord.id)
    if limit is not None:  # the status filter is exact in SQL, so the database can stop early
        stmt = stmt.limit(limit)
    rows: list[ConsentRow] = []
    batch = list(session.execute(stmt))
    ids = [r.id for r, _ in batch]
    renewed_by: dict[str, str] = {}
    renewed_from: dict[str, str] = {}
    for i in range(0, len(ids), 500):
        chunk = ids[i : i + 500]
        for ren in session.scalars(
            select(ConsentRenewal).where(
                or_(ConsentRenewal.consent_id.in_(chunk), ConsentRenewal.renewed_by.in_(chunk))
            )
        ):
            renewed_by[ren.consent_id] = ren.renewed_by
            renewed_from[ren.renewed_by] = ren.consent_id
    for record, customer in batch:
        status = effective_status(record, renewed=record.id in renewed_by, now=now)
        if filters.status and status != filters.status:
            continue
        rows.append(
            ConsentRow(
                consent_id=record.id,
                customer_id=customer.id if customer else None,
                customer_name=customer.name if customer else None,
                status=status,
                scope=list(record.scope),
                given_at=record.given_at,
                expires_at=record.expires_at,
                ended_at=record.withdrawn_at,
                channel=record.channel,
                collected_by=record.collected_by,
                text_version=record.text_version,
                text_language=record.text_language,
                text_sha256=record.text_sha256,
                renewed_by=renewed_by.get(record.id),
                renewed_from=renewed_from.get(record.id),
            )
        )
        if limit is not None and len(rows) >= limit:
            break
    return rows


def consent_choices(session: Session) -> dict[str, list[str]]:
    """What the filter drop-downs offer: channels, text versions, store codes."""
    return {
        "channels": sorted(
            c for c in session.scalars(select(ConsentRecord.channel).distinct()) if c
        ),
        "versions": sorted(
            (v for v in session.scalars(select(ConsentRecord.text_version).distinct()) if v),
            reverse=True,
        ),
        "stores": [s.code for s in _stores(session).values()],
        "statuses": list(CONSENT_STATES),
    }


@dataclass(frozen=True)
class HistoryEvent:
    at: datetime
    kind: str
    label: str
    actor: str
    details: dict[str, Any]
    seq: int | None

    def as_row(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ConsentHistory:
    record: ConsentRow
    subject: str | None
    related: list[ConsentRow]
    """every consent record of the same customer (renewals included), oldest first"""
    events: list[HistoryEvent]


def _subject_of(session: Session, record: ConsentRecord) -> str | None:
    """The pseudonym a consent's audit entries carry: the customer's while they exist, else the
    one on the entry that recorded the consent being given, renewed, withdrawn or ended (each
    names the consent record)."""
    if record.customer_id is not None:
        customer = session.get(Customer, record.customer_id)
        if customer is not None:
            return customer.subject_id
    moments = [
        (AuditKind.CONSENT_GIVEN, record.given_at),
        (AuditKind.CONSENT_RENEWED, record.given_at),
    ]
    if record.withdrawn_at is not None:
        moments += [
            (AuditKind.CONSENT_WITHDRAWN, record.withdrawn_at),
            (AuditKind.CONSENT_EXPIRED, record.withdrawn_at),
        ]
    for kind, at in moments:
        for entry in session.scalars(
            select(AuditEntry).where(AuditEntry.kind == kind, AuditEntry.at == at)
        ):
            consent = audit_kinds.read(entry.kind, entry.data)
            given = getattr(consent, "consent_id", None)  # every consent kind names it
            if given == record.id and entry.subject:
                return entry.subject
    return None


def _details(entry: AuditEntry) -> dict[str, Any]:
    return {k: v for k, v in entry.data.items() if k not in ("text_sha256",)}


def consent_history(
    session: Session, *, consent_id: str, who: StaffIdentity, now: datetime
) -> ConsentHistory:
    """One consent with everything that happened to it and its customer: the records (given,
    renewed, withdrawn, expired, erased) and every audit entry under the customer's pseudonym
    (templates, galleries, staff views, refusals, exports). Opening it is itself audited."""
    record = session.get(ConsentRecord, consent_id)
    if record is None:
        raise NotFound("no such consent record")
    subject = _subject_of(session, record)
    # the customer's other records, or, once erased, the renewal chain this one is part of
    if record.customer_id is not None:
        related_ids = [
            r.id
            for r in session.scalars(
                select(ConsentRecord).where(ConsentRecord.customer_id == record.customer_id)
            )
        ]
    else:
        related_ids = _renewal_chain(session, record.id)
    rows = {
        r.consent_id: r
        for r in consent_log(session, filters=ConsentFilter(), now=now, limit=None)
        if r.consent_id in set(related_ids)
    }
    related = sorted(rows.values(), key=lambda r: (r.given_at, r.consent_id))
    events: list[HistoryEvent] = []
    if subject is not None:
        for entry in session.scalars(
            select(AuditEntry).where(AuditEntry.subject == subject).order_by(AuditEntry.seq)
        ):
            events.append(
                HistoryEvent(
                    entry.at, entry.kind, label(entry.kind), entry.actor, _details(entry), entry.seq
                )
            )
    events = _with_record_events(events, related)
    customer = session.get(Customer, record.customer_id) if record.customer_id else None
    audit.append(
        session,
        ConsoleViewed(what="consent history", consent_id=record.id),
        actor=actor_of(who),
        subject=customer.subject_id if customer is not None else None,
        at=now,
    )
    return ConsentHistory(rows[record.id], subject, related, events)


_START = (AuditKind.CONSENT_GIVEN, AuditKind.CONSENT_RENEWED)
_END = (AuditKind.CONSENT_WITHDRAWN, AuditKind.CONSENT_EXPIRED, AuditKind.CONSENT_RENEWED)


def _with_record_events(
    events: list[HistoryEvent], records: list[ConsentRow]
) -> list[HistoryEvent]:
    """The consent records' own dates (given, ended) where no audit entry tells them, e.g. a
    record imported or written before the audit log existed; marked by ``seq`` None."""
    started = {e.details.get("consent_id") for e in events if e.kind in _START}
    ended = {
        e.details.get(
            "previous_consent_id" if e.kind == AuditKind.CONSENT_RENEWED else "consent_id"
        )
        for e in events
        if e.kind in _END
    }
    extra: list[HistoryEvent] = []
    for r in records:
        if r.consent_id not in started:
            details = {
                "consent_id": r.consent_id,
                "channel": r.channel,
                "text_version": r.text_version,
                "source": "consent record",
            }
            extra.append(
                HistoryEvent(
                    r.given_at,
                    AuditKind.CONSENT_GIVEN,
                    label(AuditKind.CONSENT_GIVEN),
                    r.collected_by or r.channel,
                    details,
                    None,
                )
            )
        if r.ended_at is not None and r.consent_id not in ended and r.status != "erased":
            kind = (
                AuditKind.CONSENT_WITHDRAWN
                if r.status == "withdrawn"
                else AuditKind.CONSENT_EXPIRED
            )
            extra.append(
                HistoryEvent(
                    r.ended_at,
                    kind,
                    label(kind),
                    "consent record",
                    {"consent_id": r.consent_id, "source": "consent record"},
                    None,
                )
            )
    return sorted([*events, *extra], key=lambda e: (e.at, e.seq or 0))


def _renewal_chain(session: Session, consent_id: str) -> list[str]:
    chain = {consent_id}
    frontier = [consent_id]
    while frontier:
        cid = frontier.pop()
        for ren in session.scalars(
            select(ConsentRenewal).where(
                or_(ConsentRenewal.consent_id == cid, ConsentRenewal.renewed_by == cid)
            )
        ):
            for other in (ren.consent_id, ren.renewed_by):
                if other not in chain:
                    chain.add(other)
                    frontier.append(other)
    return sorted(chain)


# -- deletion proofs -------------------------------------------------------------------------

ACK_STATES = ("confirmed", "waiting", "stopped", "revoked", "newer")
"""confirmed: installed a gallery without the member; waiting: not yet (highlighted);
stopped: not confirmed, but silent longer than the gallery TTL, so it stopped matching (fail
closed); revoked: its credential was revoked before it confirmed; newer: registered after the
removal, so it never held the member."""


@dataclass(frozen=True)
class DeviceAck:
    device_id: str
    device_name: str
    state: str
    version: int | None
    at: datetime | None
    delay_s: float | None


@dataclass(frozen=True)
class StoreRemoval:
    store: str
    version: int
    published_at: datetime
    devices: list[DeviceAck]


@dataclass(frozen=True)
class DeletionProof:
    at: datetime
    kind: str
    """withdrawn | erased | expired | retention"""
    subject: str | None
    customer_name: str | None
    consent_ids: list[str]
    channel: str | None
    actor: str
    stores: list[StoreRemoval]
    backups_unreadable_by: datetime | None = None
    """erasures: the date by which every backup made before is unreadable (``epochs``)"""

    @property
    def waiting(self) -> int:
        return sum(1 for s in self.stores for d in s.devices if d.state == "waiting")

    @property
    def confirmed(self) -> int:
        return sum(1 for s in self.stores for d in s.devices if d.state == "confirmed")

    @property
    def slowest_s(self) -> float | None:
        delays = [d.delay_s for s in self.stores for d in s.devices if d.delay_s is not None]
        return max(delays) if delays else None

    @property
    def complete(self) -> bool:
        return self.waiting == 0

    def as_row(self) -> dict[str, Any]:
        return {
            "at": self.at,
            "kind": self.kind,
            "subject": self.subject,
            "customer_name": self.customer_name,
            "consent_ids": self.consent_ids,
            "channel": self.channel,
            "actor": self.actor,
            "gallery_versions": {s.store: s.version for s in self.stores},
            "devices_confirmed": self.confirmed,
            "devices_waiting": self.waiting,
            "slowest_confirmation_s": self.slowest_s,
            "complete": self.complete,
            "backups_unreadable_by": self.backups_unreadable_by,
            "devices": [{"store": s.store, **asdict(d)} for s in self.stores for d in s.devices],
        }


def _covers(scope: Sequence[str], code: str) -> bool:
    return "*" in scope or code in scope


def deletion_proofs(
    session: Session,
    *,
    period: Period,
    gallery_ttl: timedelta,
    now: datetime,
    backups: Callable[[datetime], datetime] | None = None,
) -> list[DeletionProof]:
    """Every withdrawal, expiry and erasure in ``period``, newest first, with the gallery
    version that removed the member from each store and each device's confirmation.
    ``backups`` (``epochs.unreadable_by``) dates each erasure's reach into the backups."""
    ending = _entries(
        session,
        kinds_=(AuditKind.CONSENT_WITHDRAWN, AuditKind.CONSENT_EXPIRED, AuditKind.CUSTOMER_ERASED),
        period=period,
    )
    groups: dict[tuple[str | None, datetime], list[AuditEntry]] = defaultdict(list)
    for entry in ending:
        groups[(entry.subject, entry.at)].append(entry)
    if not groups:
        return []
    times = sorted({at for _, at in groups})
    pubs: dict[datetime, list[GalleryPublication]] = defaultdict(list)
    for i in range(0, len(times), 500):
        for pub in session.scalars(
            select(GalleryPublication).where(
                GalleryPublication.published_at.in_(times[i : i + 500]),
                GalleryPublication.reason.in_(("withdrawal", "expiry")),
            )
        ):
            pubs[pub.published_at].append(pub)
    stores = _stores(session)
    all_devices = list(session.scalars(select(EdgeDevice).order_by(EdgeDevice.created_at)))
    acks: dict[str, list[tuple[int, datetime]]] = defaultdict(list)
    for entry in _entries(session, kinds_=(AuditKind.DEVICE_ACKNOWLEDGED,), since=times[0]):
        ack = DeviceAcknowledged.read(entry.data)
        acks[_staff_name(entry.actor)].append((int(ack.version or 0), entry.at))
    names = _names(session, (s for s, _ in groups))
    proofs: list[DeletionProof] = []
    for (subject, at), entries in groups.items():
        found = {e.kind for e in entries}
        typed = [audit_kinds.read(e.kind, e.data) for e in entries]
        ended = [p for p in typed if isinstance(p, ConsentWithdrawn | ConsentExpired)]
        consent_ids = [p.consent_id for p in ended if p.consent_id is not None]
        scope: set[str] = set()
        for cid in consent_ids:
            record = session.get(ConsentRecord, cid)
            if record is not None:
                scope.update(record.scope)
        reasons = {p.reason for p in ended}
        if AuditKind.CUSTOMER_ERASED in found:
            kind = "erased"
        elif AuditKind.CONSENT_WITHDRAWN in found:
            kind = "withdrawn"
        else:
            kind = "retention" if "retention" in reasons else "expired"
        channels = [
            p.channel
            for p in typed
            if isinstance(p, ConsentWithdrawn | ConsentExpired | CustomerErased)
        ]
        channel = next((c for c in channels if c), None)
        removals: list[StoreRemoval] = []
        for pub in sorted(pubs.get(at, []), key=lambda p: p.store_id):
            store = stores.get(pub.store_id)
            if store is None or not _covers(sorted(scope), store.code):
                continue
            removals.append(
                StoreRemoval(
                    store.code,
                    pub.version,
                    pub.published_at,
                    [
                        _device_ack(d, pub, acks.get(d.id, []), gallery_ttl, now)
                        for d in all_devices
                        if d.store_id == store.id
                    ],
                )
            )
        customer = names.get(subject) if subject else None
        proofs.append(
            DeletionProof(
                at=at,
                kind=kind,
                subject=subject,
                customer_name=customer.name if customer else None,
                consent_ids=consent_ids,
                channel=channel,
                actor=entries[0].actor,
                stores=removals,
                backups_unreadable_by=(
                    backups(at) if backups is not None and kind == "erased" else None
                ),
            )
        )
    proofs.sort(key=lambda p: p.at, reverse=True)
    return proofs


def _device_ack(
    device: EdgeDevice,
    pub: GalleryPublication,
    acks: list[tuple[int, datetime]],
    gallery_ttl: timedelta,
    now: datetime,
) -> DeviceAck:
    for version, at in acks:  # in audit order: the first confirmation of this version or later
        if version >= pub.version and at >= pub.published_at:
            delay = (at - pub.published_at).total_seconds()
            return DeviceAck(device.id, device.name, "confirmed", version, at, delay)
    if device.created_at > pub.published_at:
        return DeviceAck(device.id, device.name, "newer", None, None, None)
    if device.revoked_at is not None:
        return DeviceAck(device.id, device.name, "revoked", None, device.revoked_at, None)
    seen = device.last_seen_at or device.created_at
    if now - max(seen, pub.published_at) > gallery_ttl:
        return DeviceAck(device.id, device.name, "stopped", None, None, None)
    return DeviceAck(device.id, device.name, "waiting", None, None, None)


# -- staff access log ------------------------------------------------------------------------


@dataclass(frozen=True)
class AccessRow:
    seq: int
    at: datetime
    staff: str
    store: str | None
    customer_name: str | None
    subject: str | None
    what: str
    visit_id: int | None
    visit_arrived_at: datetime | None
    tablet: str | None
    flags: list[str]

    def as_row(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class AccessFlag:
    kind: str
    """many_profiles | no_visit | denials | lockout | reissue"""
    staff: str
    start: datetime
    end: datetime
    count: int
    text: str

    def as_row(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class AccessLog:
    rows: list[AccessRow] = field(default_factory=list)
    flags: list[AccessFlag] = field(default_factory=list)
    denials: list[AuditEntry] = field(default_factory=list)
    by_staff: dict[str, int] = field(default_factory=dict)
    sign_ins: list[AuditEntry] = field(default_factory=list)
    """sign-ins, failed sign-ins and lockouts (``signin.KINDS``)"""


def tablet_label(opened: ProfileViewed) -> str | None:
    """How the access log names the tablet: its browser and the sign-in session it used."""
    parts = [str(opened.agent)] if opened.agent else []
    if opened.session:
        parts.append(f"session {str(opened.session)[:8]}")
    return " · ".join(parts) or None


def access_log(session: Session, *, period: Period, staff: str = "", now: datetime) -> AccessLog:
    """Who opened which member's card or profile, when, from which tablet; flagged: accounts
    that open many members' profiles within an hour, openings with no matching visit (no
    arrival in that store at that time), and bursts of refused access."""
    views = _entries(session, kinds_=(AuditKind.PROFILE_VIEWED,), period=period)
    denials = _entries(session, kinds_=(AuditKind.ACCESS_DENIED,), period=period)
    sign_ins = _entries(session, kinds_=signin.KINDS, period=period)
    if staff:
        views = [v for v in views if _staff_name(v.actor) == staff]
        denials = [d for d in denials if _staff_name(d.actor) == staff]
        sign_ins = [e for e in sign_ins if _staff_name(e.actor) == staff]
    stores = _stores(session)
    names = _names(session, (v.subject for v in views))
    viewed = {v.seq: ProfileViewed.read(v.data) for v in views}
    visit_ids = {p.visit_id for p in viewed.values() if isinstance(p.visit_id, int)}
    visits: dict[int, Visit] = {}
    ordered = sorted(visit_ids)
    for i in range(0, len(ordered), 500):
        for found in session.scalars(select(Visit).where(Visit.id.in_(ordered[i : i + 500]))):
            visits[found.id] = found
    erased = {
        e.subject
        for e in _entries(session, kinds_=(AuditKind.CUSTOMER_ERASED,), since=period.start)
        if e.subject
    }
    log = AccessLog(denials=denials, sign_ins=sign_ins)
    for e in sign_ins:
        if e.kind == AuditKind.STAFF_LOCKED_OUT:
            locked = StaffLockedOut.read(e.data)
            text = (
                f"sign-in locked for {locked.seconds} s after {locked.failures} "
                f"failures (by {locked.scope}, from {locked.address})"
            )
            log.flags.append(AccessFlag("lockout", _staff_name(e.actor), e.at, e.at, 1, text))
    # A re-issued self-service link gives staff a working link to a member's own page: shown
    # for the officer to check it was the customer who asked.
    for e in _entries(session, kinds_=(AuditKind.LINK_REISSUED,), period=period):
        if staff and _staff_name(e.actor) != staff:
            continue
        member = _names(session, [e.subject]).get(e.subject or "")
        text = (
            f"re-issued the self-service link of {member.name if member else 'a member'} "
            f"(the previous link was revoked)"
        )
        log.flags.append(AccessFlag("reissue", _staff_name(e.actor), e.at, e.at, 1, text))
    row_flags: dict[int, list[str]] = defaultdict(list)

    # openings with no visit behind them
    for v in views:
        visit = visits.get(int(viewed[v.seq].visit_id or 0))
        reason = _no_visit_reason(v, viewed[v.seq], visit, names.get(v.subject or ""), erased)
        if reason:
            row_flags[v.seq].append(reason)
            log.flags.append(AccessFlag("no_visit", _staff_name(v.actor), v.at, v.at, 1, reason))

    # many distinct members within one hour, per account (sliding window)
    per_actor: dict[str, list[AuditEntry]] = defaultdict(list)
    for v in views:
        per_actor[_staff_name(v.actor)].append(v)
    for actor, entries in per_actor.items():
        log.by_staff[actor] = len({e.subject for e in entries})
        start = 0
        flagged_until: datetime | None = None
        for end in range(len(entries)):
            while entries[end].at - entries[start].at > timedelta(hours=1):
                start += 1
            window = entries[start : end + 1]
            distinct = {e.subject for e in window}
            if len(distinct) > MANY_PROFILES_PER_HOUR and (
                flagged_until is None or window[0].at > flagged_until
            ):
                text = (
                    f"{actor} opened {len(distinct)} different members' profiles within one "
                    f"hour (more than {MANY_PROFILES_PER_HOUR})"
                )
                log.flags.append(
                    AccessFlag(
                        "many_profiles", actor, window[0].at, window[-1].at, len(distinct), text
                    )
                )
                for e in window:
                    row_flags[e.seq].append("many profiles within an hour")
                flagged_until = window[-1].at

    # bursts of refusals, per account
    per_denied: dict[str, list[AuditEntry]] = defaultdict(list)
    for d in denials:
        per_denied[_staff_name(d.actor)].append(d)
    for actor, entries in per_denied.items():
        start = 0
        last_flag: datetime | None = None
        for end in range(len(entries)):
            while entries[end].at - entries[start].at > DENIAL_WINDOW:
                start += 1
            count = end - start + 1
            if count >= DENIAL_BURST and (last_flag is None or entries[start].at > last_flag):
                minutes = int(DENIAL_WINDOW.total_seconds() // 60)
                text = f"{actor} was refused access {count} times within {minutes} minutes"
                log.flags.append(
                    AccessFlag("denials", actor, entries[start].at, entries[end].at, count, text)
                )
                last_flag = entries[end].at

    for v in reversed(views):
        opened = viewed[v.seq]
        visit = visits.get(int(opened.visit_id or 0))
        store = stores.get(int(opened.store_id or 0))
        customer = names.get(v.subject or "")
        log.rows.append(
            AccessRow(
                seq=v.seq,
                at=v.at,
                staff=_staff_name(v.actor),
                store=store.code if store else None,
                customer_name=customer.name if customer else None,
                subject=v.subject,
                what=str(opened.what or "profile"),
                visit_id=visit.id if visit else opened.visit_id,
                visit_arrived_at=visit.arrived_at if visit else None,
                tablet=tablet_label(opened),
                flags=sorted(set(row_flags.get(v.seq, []))),
            )
        )
    log.flags.sort(key=lambda f: f.start, reverse=True)
    return log


def _no_visit_reason(
    entry: AuditEntry,
    opened: ProfileViewed,
    visit: Visit | None,
    customer: Customer | None,
    erased: set[str],
) -> str | None:
    if visit is None:
        if entry.subject in erased:
            return None  # the visit went with the customer's erasure
        return "no visit on record for this opening"
    if customer is not None and visit.customer_id != customer.id:
        return "the visit belongs to another member"
    if visit.store_id != opened.store_id:
        return "opened for a visit in another store"
    if entry.at < visit.arrived_at:
        return "opened before the member arrived"
    if entry.at > (visit.ended_at or visit.live_until) + VISIT_GRACE:
        return "opened after the visit had ended"
    return None


# -- incidents -------------------------------------------------------------------------------


@dataclass(frozen=True)
class IncidentRow:
    id: int
    reported_at: datetime
    store: str | None
    device_id: str | None
    device_name: str | None
    score: float
    margin: float | None
    reported_by: str
    customer_id: str | None
    customer_name: str | None
    outcome: str
    officer_note: str | None
    resolved_by: str | None
    resolved_at: datetime | None
    suppress_until: datetime | None

    def as_row(self) -> dict[str, Any]:
        return asdict(self)


def incidents(
    session: Session, *, period: Period, outcome: str = "", limit: int | None = MAX_ROWS
) -> list[IncidentRow]:
    if outcome and outcome not in INCIDENT_OUTCOMES:
        raise BadInput(f"outcome: one of {', '.join(INCIDENT_OUTCOMES)}")
    stmt = (
        select(Incident, Customer, EdgeDevice)
        .outerjoin(Customer, Customer.id == Incident.customer_id)
        .outerjoin(EdgeDevice, EdgeDevice.id == Incident.device_id)
        .where(Incident.reported_at >= period.start, Incident.reported_at < period.end)
        .order_by(Incident.reported_at.desc(), Incident.id.desc())
    )
    if outcome:
        stmt = stmt.where(Incident.outcome == outcome)
    if limit is not None:
        stmt = stmt.limit(limit)
    stores = _stores(session)
    out = []
    for inc, customer, device in session.execute(stmt):
        store = stores.get(inc.store_id)
        out.append(
            IncidentRow(
                id=inc.id,
                reported_at=inc.reported_at,
                store=store.code if store else None,
                device_id=inc.device_id,
                device_name=device.name if device else None,
                score=inc.score,
                margin=finite_or_none(inc.margin),
                reported_by=inc.reported_by,
                customer_id=customer.id if customer else None,
                customer_name=customer.name if customer else None,
                outcome=inc.outcome,
                officer_note=inc.officer_note,
                resolved_by=inc.resolved_by,
                resolved_at=inc.resolved_at,
                suppress_until=inc.suppress_until,
            )
        )
    return out


def record_outcome(
    session: Session,
    *,
    incident_id: int,
    outcome: str,
    note: str,
    who: StaffIdentity,
    now: datetime,
) -> Incident:
    """The officer's conclusion: ``confirmed`` (a false match), ``rejected`` (it was the
    member after all) or back to ``open``. Audited (the note itself stays out of the log, which
    holds pseudonyms only; it is kept on the incident)."""
    if outcome not in INCIDENT_OUTCOMES:
        raise BadInput(f"outcome: one of {', '.join(INCIDENT_OUTCOMES)}")
    note = note.strip()
    if len(note) > 2000:
        raise BadInput("a note is at most 2000 characters")
    if outcome != "open" and not note:
        raise BadInput("say in a note what you found (it is kept with the incident)")
    incident = session.get(Incident, incident_id)
    if incident is None:
        raise NotFound("no such incident")
    previous = incident.outcome
    incident.outcome = outcome
    incident.officer_note = note or None
    incident.resolved_by = who.username if outcome != "open" else None
    incident.resolved_at = now if outcome != "open" else None
    customer = session.get(Customer, incident.customer_id) if incident.customer_id else None
    audit.append(
        session,
        IncidentResolved(
            incident_id=incident.id,
            outcome=outcome,
            previous=previous,
            device=incident.device_id,
            note=bool(note),
        ),
        actor=actor_of(who),
        subject=customer.subject_id if customer is not None else None,
        at=now,
    )
    return incident


# -- retention -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExpiringRow:
    consent_id: str
    customer_id: str | None
    customer_name: str | None
    expires_at: datetime
    days_left: int
    scope: list[str]

    def as_row(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class DestroyedRow:
    at: datetime
    subject: str | None
    customer_name: str | None
    reason: str
    templates: int
    thumbnails: int

    def as_row(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class RetentionView:
    limits: dict[str, Any]
    expiring: list[ExpiringRow]
    destroyed: list[DestroyedRow]


def retention_view(
    session: Session,
    *,
    period: Period,
    limits: dict[str, Any],
    now: datetime,
    within: timedelta = timedelta(days=EXPIRING_DAYS),
) -> RetentionView:
    """Consents that lapse within ``within`` (unless renewed), and the templates the retention
    job destroyed in ``period`` (consent expiry or the retention limit)."""
    expiring = [
        ExpiringRow(
            r.id,
            c.id if c else None,
            c.name if c else None,
            r.expires_at,
            max(0, math.ceil((r.expires_at - now).total_seconds() / 86400)),
            list(r.scope),
        )
        for r, c in session.execute(
            select(ConsentRecord, Customer)
            .outerjoin(Customer, Customer.id == ConsentRecord.customer_id)
            .where(
                ConsentRecord.status == "active",
                ConsentRecord.expires_at > now,
                ConsentRecord.expires_at <= now + within,
            )
            .order_by(ConsentRecord.expires_at)
        )
    ]
    from server.services.membership.retention import ACTOR

    destroyed_entries = [
        e
        for e in _entries(session, kinds_=(AuditKind.TEMPLATE_DESTROYED,), period=period)
        if e.actor == ACTOR
    ]
    names = _names(session, (e.subject for e in destroyed_entries))
    destroyed = []
    for e in reversed(destroyed_entries):
        d = TemplateDestroyed.read(e.data)
        destroyed.append(
            DestroyedRow(
                e.at,
                e.subject,
                names[e.subject].name if e.subject in names else None,
                str(d.reason or ""),
                int(d.templates or 0),
                int(d.thumbnails or 0),
            )
        )
    return RetentionView(limits, expiring, destroyed)


# -- devices ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class DeviceRow:
    id: str
    name: str
    store: str
    store_live: bool
    created_at: datetime
    gallery_version: int
    store_version: int
    versions_behind: int
    acked_at: datetime | None
    gallery_age_s: float | None
    last_seen_at: datetime | None
    since_contact_s: float | None
    credential: str
    revoked_at: datetime | None
    status: str
    """current | behind | silent (no contact for longer than the gallery TTL: not matching) |
    revoked"""

    def as_row(self) -> dict[str, Any]:
        return asdict(self)


def device_rows(session: Session, *, gallery_ttl: timedelta, now: datetime) -> list[DeviceRow]:
    stores = _stores(session)
    out = []
    for d in session.scalars(select(EdgeDevice).order_by(EdgeDevice.store_id, EdgeDevice.name)):
        store = stores[d.store_id]
        since = (now - d.last_seen_at).total_seconds() if d.last_seen_at else None
        if d.revoked_at is not None:
            status = "revoked"
        elif since is None or since > gallery_ttl.total_seconds():
            status = "silent"
        elif d.acked_version < store.gallery_version:
            status = "behind"
        else:
            status = "current"
        out.append(
            DeviceRow(
                id=d.id,
                name=d.name,
                store=store.code,
                store_live=store.live,
                created_at=d.created_at,
                gallery_version=d.acked_version,
                store_version=store.gallery_version,
                versions_behind=max(0, store.gallery_version - d.acked_version),
                acked_at=d.acked_at,
                gallery_age_s=(now - d.acked_at).total_seconds() if d.acked_at else None,
                last_seen_at=d.last_seen_at,
                since_contact_s=since,
                credential="revoked" if d.revoked_at else "valid",
                revoked_at=d.revoked_at,
                status=status,
            )
        )
    return out


def pause(
    session: Session, ctx: ServiceContext, *, store: Store, reason: str, who: StaffIdentity
) -> None:
    """Recognition off at a store. A new gallery version is announced to its connected
    devices, which poll, are told the store is not live (403), stop matching and delete their
    gallery within a second; an offline device stops at its gallery's TTL (fail closed)."""
    now = ctx.now()
    was_live = store.live
    signage.pause(session, store=store, reason=reason, actor=actor_of(who), now=now)
    if was_live:
        gallery.publish(
            session, store=store, reason="paused", actor=actor_of(who), now=now, notify=ctx.notify
        )


# -- numbers for the overview and the charts ------------------------------------------------


@dataclass(frozen=True)
class DayCount:
    day: date
    values: dict[str, float]


def daily_consents(session: Session, *, period: Period, now: datetime) -> list[DayCount]:
    """Per local day of ``period``: consents given (renewals not counted twice), consents
    ended (withdrawn, expired or erased; a renewal is not an end), and members with an active
    consent at the end of the day."""
    renewed_ids = set(session.scalars(select(ConsentRenewal.consent_id)))
    renewals = set(session.scalars(select(ConsentRenewal.renewed_by)))
    records = list(
        session.execute(
            select(
                ConsentRecord.id,
                ConsentRecord.given_at,
                ConsentRecord.expires_at,
                ConsentRecord.withdrawn_at,
            ).where(ConsentRecord.given_at < period.end)
        )
    )
    days = period.days()
    out = []
    for day in days:
        start, end = period.day_bounds(day)
        given = sum(1 for cid, g, _, _ in records if start <= g < end and cid not in renewals)
        ended = 0
        active = 0
        for cid, g, exp, withdrawn in records:
            stop = min(withdrawn, exp) if withdrawn else exp
            if cid not in renewed_ids and start <= stop < end and stop <= now:
                ended += 1
            if g < end <= stop:  # a renewal ends one record as the next begins: counted once
                active += 1
        out.append(DayCount(day, {"given": given, "ended": ended, "active": active}))
    return out


def daily_arrivals(session: Session, *, period: Period) -> list[DayCount]:
    """Per local day of ``period``: arrivals (visits), "not this person" reports and their
    rate per 100 arrivals."""
    visits = session.scalars(
        select(Visit.arrived_at).where(
            Visit.arrived_at >= period.start, Visit.arrived_at < period.end
        )
    )
    reported = session.scalars(
        select(Incident.reported_at).where(
            Incident.reported_at >= period.start, Incident.reported_at < period.end
        )
    )
    per_day: dict[date, list[int]] = {d: [0, 0] for d in period.days()}
    for at in visits:
        per_day.setdefault(period.day_of(at), [0, 0])[0] += 1
    for at in reported:
        per_day.setdefault(period.day_of(at), [0, 0])[1] += 1
    return [
        DayCount(
            d,
            {
                "arrivals": a,
                "incidents": n,
                "incident_rate": round(100 * n / a, 2) if a else 0.0,
            },
        )
        for d, (a, n) in sorted(per_day.items())
    ]


@dataclass(frozen=True)
class Overview:
    active_consents: int
    members: int
    live_stores: int
    stores: int
    open_incidents: int
    devices: int
    devices_attention: int
    pending_deletions: int
    flags: int


def overview(
    session: Session, *, period: Period, gallery_ttl: timedelta, now: datetime
) -> Overview:
    rows = device_rows(session, gallery_ttl=gallery_ttl, now=now)
    proofs = deletion_proofs(session, period=period, gallery_ttl=gallery_ttl, now=now)
    flags = access_log(session, period=period, now=now).flags
    stores = list(_stores(session).values())
    return Overview(
        active_consents=int(
            session.scalar(
                select(func.count())
                .select_from(ConsentRecord)
                .where(ConsentRecord.status == "active", ConsentRecord.expires_at > now)
            )
            or 0
        ),
        members=int(session.scalar(select(func.count()).select_from(Customer)) or 0),
        live_stores=sum(1 for s in stores if s.live),
        stores=len(stores),
        open_incidents=int(
            session.scalar(
                select(func.count()).select_from(Incident).where(Incident.outcome == "open")
            )
            or 0
        ),
        devices=len(rows),
        devices_attention=sum(1 for r in rows if r.status in ("behind", "silent")),
        pending_deletions=sum(1 for p in proofs if not p.complete),
        flags=len(flags),
    )
