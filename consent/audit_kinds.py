"""Every kind of audit entry, and the shape of its data (one payload class a kind).

An entry's data is covered by the hash chain (``consent.audit``), so :meth:`Payload.as_data`
gives exactly the dict that was stored before the kinds were typed: the fields in their order,
with an optional key left out (not written as ``null``) where it always was (``OMIT_NONE``).
Readers take stored data back with :meth:`Payload.read`, which ignores keys it does not know
(entries written by older versions keep verifying and reading).

Instants inside the data are ISO-8601 strings, as they always were.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from enum import StrEnum
from typing import Any, ClassVar, Self


class AuditKind(StrEnum):
    """``area.event``; the stored ``kind`` is the value."""

    CONSENT_GIVEN = "consent.given"
    CONSENT_RENEWED = "consent.renewed"
    CONSENT_WITHDRAWN = "consent.withdrawn"
    CONSENT_EXPIRED = "consent.expired"
    TEMPLATE_CREATED = "template.created"
    TEMPLATE_DESTROYED = "template.destroyed"
    DATA_KEY_DESTROYED = "key.destroyed"
    KEYS_ROTATED = "key.rotated"
    FIELDS_SEALED = "key.fields_sealed"
    EPOCH_DESTROYED = "key.epoch_destroyed"
    GALLERY_PUBLISHED = "gallery.published"
    DEVICE_REGISTERED = "device.registered"
    DEVICE_ACKNOWLEDGED = "device.acknowledged"
    DEVICE_REVOKED = "device.revoked"
    PROFILE_VIEWED = "profile.viewed"
    PROFILE_EXPORTED = "customer.exported"
    INCIDENT_REPORTED = "incident.reported"
    INCIDENT_RESOLVED = "incident.resolved"
    CUSTOMER_ERASED = "customer.erased"
    RETENTION_PURGED = "retention.purged"
    STORE_LIVE = "store.live"
    STORE_PAUSED = "store.paused"
    STORE_ZONE_RECORDED = "store.zone_recorded"
    STORE_MODE_RECORDED = "store.mode_recorded"
    ACCESS_DENIED = "access.denied"
    PASS_ISSUED = "pass.issued"  # noqa: S105 - a membership pass, not a password
    PASS_REVOKED = "pass.revoked"  # noqa: S105 - a membership pass, not a password
    LINK_ISSUED = "selfservice.link_issued"
    LINK_REISSUED = "selfservice.link_reissued"
    IMPORT_COMPLETED = "import.completed"
    STAFF_SIGNED_IN = "staff.signed_in"
    STAFF_SIGN_IN_FAILED = "staff.sign_in_failed"
    STAFF_LOCKED_OUT = "staff.locked_out"
    CONSOLE_VIEWED = "console.viewed"
    CONSOLE_EXPORTED = "console.exported"


@dataclass(frozen=True, kw_only=True)
class Payload:
    """The data of one kind of entry. Subclasses set ``KIND`` and list their keys as fields."""

    KIND: ClassVar[AuditKind]
    OMIT_NONE: ClassVar[frozenset[str]] = frozenset()
    """Optional keys that are left out of the stored data when they are ``None``."""
    KEYS: ClassVar[Mapping[str, str]] = {}
    """Field name -> stored key, where the key is not a Python name (``from``)."""

    def as_data(self) -> dict[str, Any]:
        """The dict the entry stores (and its hash covers)."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is None and f.name in self.OMIT_NONE:
                continue
            out[self.KEYS.get(f.name, f.name)] = value
        return out

    @classmethod
    def read(cls, data: Mapping[str, Any]) -> Self:
        """A stored entry's data, typed; a key it lacks reads as ``None`` (older entries)."""
        return cls(**{f.name: data.get(cls.KEYS.get(f.name, f.name)) for f in fields(cls)})


# -- consent -------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class ConsentGiven(Payload):
    KIND = AuditKind.CONSENT_GIVEN
    consent_id: str
    purpose: str
    scope: list[str]
    text_version: str
    text_sha256: str
    channel: str
    expires_at: str
    membership: str


@dataclass(frozen=True, kw_only=True)
class ConsentRenewed(Payload):
    KIND = AuditKind.CONSENT_RENEWED
    consent_id: str
    previous_consent_id: str
    text_version: str
    text_sha256: str
    channel: str
    expires_at: str


@dataclass(frozen=True, kw_only=True)
class ConsentWithdrawn(Payload):
    KIND = AuditKind.CONSENT_WITHDRAWN
    OMIT_NONE = frozenset({"channel"})
    consent_id: str
    reason: str
    channel: str | None = None


@dataclass(frozen=True, kw_only=True)
class ConsentExpired(Payload):
    KIND = AuditKind.CONSENT_EXPIRED
    OMIT_NONE = frozenset({"channel", "renewed_by"})
    consent_id: str
    reason: str
    channel: str | None = None
    renewed_by: str | None = None
    """A pass-only membership that added a face: the consent that replaced this one."""


# -- biometrics and keys -------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class TemplateCreated(Payload):
    KIND = AuditKind.TEMPLATE_CREATED
    count: int
    model_id: str


@dataclass(frozen=True, kw_only=True)
class TemplateDestroyed(Payload):
    KIND = AuditKind.TEMPLATE_DESTROYED
    templates: int
    thumbnails: int
    reason: str


@dataclass(frozen=True, kw_only=True)
class DataKeyDestroyed(Payload):
    KIND = AuditKind.DATA_KEY_DESTROYED
    reason: str


@dataclass(frozen=True, kw_only=True)
class KeysRotated(Payload):
    KIND = AuditKind.KEYS_ROTATED
    key_id: str
    previous_key_id: str
    rewrapped: int
    batches: int
    failed: int
    remaining: int


@dataclass(frozen=True, kw_only=True)
class FieldsSealed(Payload):
    """``vertrouwd keys encrypt-fields`` ended: rows sealed per table (issue 18)."""

    KIND = AuditKind.FIELDS_SEALED
    sealed: dict[str, int]
    batches: int


@dataclass(frozen=True, kw_only=True)
class EpochDestroyed(Payload):
    """A key epoch's KEK destroyed once the backup retention passed (issue 18): backups made
    while it was current are unreadable from now on."""

    KIND = AuditKind.EPOCH_DESTROYED
    key_id: str
    created_at: str | None
    retired_at: str
    retention_days: int


@dataclass(frozen=True, kw_only=True)
class CustomerErased(Payload):
    KIND = AuditKind.CUSTOMER_ERASED
    channel: str
    counts: dict[str, int]
    """Rows removed per table."""


@dataclass(frozen=True, kw_only=True)
class RetentionPurged(Payload):
    KIND = AuditKind.RETENTION_PURGED
    retention_years: int
    deadline: str
    templates: int


@dataclass(frozen=True, kw_only=True)
class ProfileExported(Payload):
    KIND = AuditKind.PROFILE_EXPORTED
    channel: str
    format: str


@dataclass(frozen=True, kw_only=True)
class PassIssued(Payload):
    KIND = AuditKind.PASS_ISSUED
    reason: str


@dataclass(frozen=True, kw_only=True)
class PassRevoked(Payload):
    KIND = AuditKind.PASS_REVOKED
    reason: str


@dataclass(frozen=True, kw_only=True)
class LinkIssued(Payload):
    KIND = AuditKind.LINK_ISSUED
    channel: str
    revoked: int
    """How many earlier links of the customer this one revoked."""


@dataclass(frozen=True, kw_only=True)
class LinkReissued(LinkIssued):
    KIND = AuditKind.LINK_REISSUED


# -- stores, galleries, devices ------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class GalleryPublished(Payload):
    KIND = AuditKind.GALLERY_PUBLISHED
    store: str
    version: int
    reason: str
    members: int


@dataclass(frozen=True, kw_only=True)
class DeviceRegistered(Payload):
    KIND = AuditKind.DEVICE_REGISTERED
    store: str
    name: str


@dataclass(frozen=True, kw_only=True)
class DeviceAcknowledged(Payload):
    KIND = AuditKind.DEVICE_ACKNOWLEDGED
    store: str
    version: int


@dataclass(frozen=True, kw_only=True)
class DeviceRevoked(Payload):
    KIND = AuditKind.DEVICE_REVOKED
    device: str


@dataclass(frozen=True, kw_only=True)
class StoreLive(Payload):
    KIND = AuditKind.STORE_LIVE
    store: str
    dpia_reference: str | None


@dataclass(frozen=True, kw_only=True)
class StorePaused(Payload):
    KIND = AuditKind.STORE_PAUSED
    store: str
    reason: str


@dataclass(frozen=True, kw_only=True)
class StoreZoneRecorded(Payload):
    KIND = AuditKind.STORE_ZONE_RECORDED
    store: str
    x: float
    y: float
    w: float
    h: float
    min_face_size: int


@dataclass(frozen=True, kw_only=True)
class StoreModeRecorded(Payload):
    KIND = AuditKind.STORE_MODE_RECORDED
    store: str
    mode: str
    previous_mode: str | None
    dpia_reference: str | None
    door_acknowledged: bool


# -- the shop floor ------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class ProfileViewed(Payload):
    KIND = AuditKind.PROFILE_VIEWED
    OMIT_NONE = frozenset({"session", "agent"})
    visit_id: int
    store_id: int
    what: str
    session: str | None = None
    """The first 12 hex digits of the tablet's sign-in session digest."""
    agent: str | None = None
    """The kind of browser and a short hash of its user-agent string."""


@dataclass(frozen=True, kw_only=True)
class IncidentReported(Payload):
    KIND = AuditKind.INCIDENT_REPORTED
    incident_id: int
    visit_id: int
    device: str | None
    score: float
    margin: float | None
    suppressed_until: str | None


@dataclass(frozen=True, kw_only=True)
class IncidentResolved(Payload):
    KIND = AuditKind.INCIDENT_RESOLVED
    incident_id: int
    outcome: str
    previous: str
    device: str | None
    note: bool
    """Whether the officer wrote a note (the note itself is in the incident)."""


@dataclass(frozen=True, kw_only=True)
class ImportCompleted(Payload):
    KIND = AuditKind.IMPORT_COMPLETED
    what: str
    rows: int
    created: int
    updated: int
    errors: int
    dry_run: bool


# -- staff and the console -----------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class AccessDenied(Payload):
    KIND = AuditKind.ACCESS_DENIED
    OMIT_NONE = frozenset({"action", "found", "id", "path", "origin", "reason"})
    what: str
    role: str | None
    store_id: int | None
    action: str | None = None
    found: bool | None = None
    id: str | None = None
    path: str | None = None
    origin: str | None = None
    reason: str | None = None


@dataclass(frozen=True, kw_only=True)
class StaffSignedIn(Payload):
    KIND = AuditKind.STAFF_SIGNED_IN
    role: str
    store_id: int | None
    address: str


@dataclass(frozen=True, kw_only=True)
class StaffSignInFailed(Payload):
    KIND = AuditKind.STAFF_SIGN_IN_FAILED
    address: str
    account: str
    """``known`` or ``unknown``: never the name that was tried."""


@dataclass(frozen=True, kw_only=True)
class StaffLockedOut(Payload):
    KIND = AuditKind.STAFF_LOCKED_OUT
    scope: str
    address: str
    failures: int
    seconds: int


@dataclass(frozen=True, kw_only=True)
class ConsoleViewed(Payload):
    KIND = AuditKind.CONSOLE_VIEWED
    what: str
    consent_id: str


@dataclass(frozen=True, kw_only=True)
class ConsoleExported(Payload):
    KIND = AuditKind.CONSOLE_EXPORTED
    KEYS: ClassVar[Mapping[str, str]] = {"from_": "from"}
    view: str
    format: str
    from_: str
    to: str
    timezone: str
    rows: int


def _payloads() -> dict[AuditKind, type[Payload]]:
    out: dict[AuditKind, type[Payload]] = {}
    todo: list[type[Payload]] = list(Payload.__subclasses__())
    while todo:
        cls = todo.pop()
        todo += cls.__subclasses__()
        if cls.KIND in out:
            raise RuntimeError(f"two payloads for {cls.KIND}: {out[cls.KIND]} and {cls}")
        out[cls.KIND] = cls
    return out


PAYLOADS: Mapping[AuditKind, type[Payload]] = _payloads()
"""Kind -> its payload class (tests/consent/test_audit_kinds.py checks one for every kind)."""


def read(kind: str, data: Mapping[str, Any]) -> Payload | None:
    """An entry's data typed by its kind; ``None`` for a kind this version does not know."""
    try:
        return PAYLOADS[AuditKind(kind)].read(data)
    except ValueError:
        return None
