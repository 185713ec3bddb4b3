"""Request/response schemas. ``*Public`` models never carry an embedding, key or token hash."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    FiniteFloat,
    JsonValue,
    PlainSerializer,
    WithJsonSchema,
    model_validator,
)


class _In(BaseModel):
    """Input. Every float field is ``FiniteFloat`` and every instant ``AwareDatetime`` (in every
    input schema of the app; tests/server/test_input_boundary.py walks them): NaN/Infinity would
    be stored and break later answers, and a time without a zone cannot be compared with the
    server's clock. Both are a 422 with the reason, before any work is done."""

    model_config = ConfigDict(extra="forbid")


def _iso(value: datetime) -> str:
    return value.isoformat()


Instant = Annotated[
    datetime,
    PlainSerializer(_iso, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]
"""An instant as ``datetime.isoformat()`` writes it (``+00:00``, not pydantic's ``Z``): the
answers keep the JSON they had before they were typed."""


class PublicOut(BaseModel):
    """An answer: explicit fields, no ``bytes`` and no open ``dict[str, Any]`` (see "answers"
    below); ``extra="forbid"`` so an answer built from a dict that grew a key is refused."""

    model_config = ConfigDict(extra="forbid")


class LoginIn(_In):
    username: str = Field(min_length=1, max_length=80)
    password: str = Field(min_length=1, max_length=200)


class StaffPublic(PublicOut):
    username: str
    display_name: str
    role: str
    store_id: int | None


class DeviceRegisterIn(_In):
    enrolment_code: str = Field(min_length=8, max_length=200)
    name: str = Field(min_length=1, max_length=120)
    public_key: str = Field(min_length=8, max_length=8000, description="base64")


class DeviceRegisterOut(PublicOut):
    device_id: str
    store_id: str
    token: str
    server_public_key: str
    gallery_ttl_s: int


class AckIn(_In):
    version: int = Field(ge=1)


class ArrivalEventIn(_In):
    id: str = Field(min_length=8, max_length=64)
    kind: Literal["arrival"]
    subject_id: str = Field(min_length=1, max_length=40)
    at: AwareDatetime
    score: FiniteFloat = Field(ge=0, le=4)
    margin: FiniteFloat | None = Field(default=None, ge=0, le=4)
    frames: int = Field(default=1, ge=1, le=1000)
    method: Literal["face", "pass"] = "face"
    pass_digest: str | None = Field(
        default=None, pattern="^[0-9a-f]{64}$", description="pass arrivals: SHA-256 of the pass"
    )
    face_verified: bool | None = None

    @model_validator(mode="after")
    def _pass_fields(self) -> ArrivalEventIn:
        if self.method == "pass" and self.pass_digest is None:
            raise ValueError("a pass arrival needs pass_digest")
        if self.method == "face" and (
            self.pass_digest is not None or self.face_verified is not None
        ):
            raise ValueError("a face arrival has no pass_digest or face_verified")
        return self


class EventsIn(_In):
    events: list[ArrivalEventIn] = Field(max_length=500)


class EventsOut(PublicOut):
    accepted: int
    duplicates: int
    refused: int


class SocketEventsIn(EventsIn):
    """The same batch sent over the device's push socket (``/ws/device``) instead of
    ``POST /api/v1/device/events``, with an id of the device's choosing that its answer
    carries (issue 19: the socket is open anyway; a POST a batch cost the server an HTTP
    request's parsing, middleware and routing)."""

    type: Literal["events"]
    id: int = Field(ge=0, le=2**53)


class SocketEventsAnswer(PublicOut):
    """The answer to a :class:`SocketEventsIn`: the HTTP status the POST would have had, and
    its body's fields (``EventsOut``'s on 202; ``detail`` and, on 503, ``retry_after``
    otherwise)."""

    type: Literal["events_answer"] = "events_answer"
    id: int | None
    status: int
    accepted: int | None = None
    duplicates: int | None = None
    refused: int | None = None
    detail: str | None = None
    retry_after: float | None = None


class EnrolmentOut(PublicOut):
    customer_id: str
    templates: int
    self_service_url: str
    membership: Literal["face", "pass"] = "face"
    pass_token: str = Field(
        description="the member's pass, answered once for the receipt; only its digest is kept"
    )


class SelfServiceLinkOut(PublicOut):
    self_service_url: str
    qr_svg: str
    valid_until: datetime


class CustomerPublic(PublicOut):
    """A customer as staff search results show them: no pseudonym, key, template or token."""

    id: str
    name: str
    preferred_name: str
    email: str | None
    loyalty_id: str | None
    language: str
    home_store: str | None
    recognition: Literal["active", "withdrawn", "expired", "erased", "none"]
    consent_expires_at: datetime | None
    membership: Literal["face", "pass"] | None = None


class StatusOut(PublicOut):
    status: str
    gallery_versions: dict[str, int] = Field(default_factory=dict)


class RenewOut(PublicOut):
    status: str
    consent_id: str
    previous_consent_id: str
    expires_at: datetime


class ErrorOut(BaseModel):
    """Every refusal: ``detail`` is the reason (a list of field errors for a malformed body)."""

    detail: str | list[dict[str, Any]]


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorOut, "description": text}
    for code, text in (
        (400, "the request could not be read (e.g. a malformed multipart form)"),
        (401, "not signed in, or the credential is unknown or revoked"),
        (403, "signed in, but not allowed"),
        (404, "no such thing (or not visible to the caller)"),
        (409, "conflicts with what is stored"),
        (413, "the request body is too large"),
        (422, "the input is refused; ``detail`` says why"),
        (429, "too many attempts; retry after ``Retry-After`` seconds"),
        (503, "busy or unavailable; retry after ``Retry-After`` seconds"),
    )
}
"""The answers any route may give besides its own (declared once, on the app, for every route)."""


# -- answers (``response_model``) ---------------------------------------------------------------
# Every JSON route declares one of these (tests/server/test_response_models.py walks the OpenAPI
# schema). They list their fields: no ``bytes`` field and no open ``dict[str, Any]`` anywhere,
# and ``extra="forbid"``, so an answer built from a dict that grew a key (a wrapped key, a
# template, a token digest) is refused by FastAPI as a server error instead of being sent.


class PhotoProblemOut(PublicOut):
    """One reason as a code and its figures (frontalness 0..1), for a page in any language."""

    code: Literal["no_face", "several_faces", "too_small", "too_blurred", "not_frontal"]
    value: float
    need: float


class PhotoCheckOut(PublicOut):
    ok: bool
    reasons: list[str]
    hints: list[str]
    problems: list[PhotoProblemOut]
    faces: int
    face_size: int | None
    sharpness: float | None
    frontalness: float | None


class SaleRecordedOut(PublicOut):
    status: Literal["recorded", "extended", "duplicate"]
    sale_id: str
    lines_added: int
    during_visit: bool


class SaleIgnoredOut(PublicOut):
    """202: the customer is not a member of this store, so nothing is kept."""

    status: Literal["ignored"]
    reason: str
    sale_id: str


class ServiceItemOut(PublicOut):
    status: str
    ref: str


# -- tablet ------------------------------------------------------------------------------------


class TeaserOut(PublicOut):
    """A card's first step: a first name and the enrolment thumbnail, nothing else."""

    type: Literal["arrival"]
    visit_id: int
    preferred_name: str
    visit_number: int
    arrived_at: Instant
    live_until: Instant
    expires_in_s: int
    status: str
    thumbnail: str | None = Field(description="base64 JPEG; none for pass arrivals")
    method: str
    face_verified: bool | None


class PurchaseLineOut(PublicOut):
    product_name: str
    category: str
    brand: str | None
    purchased_at: Instant
    size: str | None
    quantity: int


class SuggestionOut(PublicOut):
    product_id: int
    sku: str
    title: str
    reason: str
    kind: str
    price_cents: int
    category: str
    score: int | float


class AllergyLineOut(PublicOut):
    allergen: str
    severity: str
    note: str | None


class ServiceLineOut(PublicOut):
    kind: str
    status: str
    text: str
    since: Instant


class FollowUpOut(PublicOut):
    text: str
    product_name: str
    purchased_at: Instant


class NoteLineOut(PublicOut):
    author: str
    body: str
    at: Instant


class CardOut(PublicOut):
    visit_id: int
    customer_id: str
    name: str
    preferred_name: str
    visit_number: int
    last_visit_at: Instant | None
    allergies: list[str]
    preferences: dict[str, list[str]]
    last_purchases: list[PurchaseLineOut]
    suggestions: list[SuggestionOut]
    days_since_last_visit: int | None
    member_since: Instant | None
    allergy_details: list[AllergyLineOut]
    dietary: list[str]
    service_items: list[ServiceLineOut]
    follow_up: FollowUpOut | None
    favourites: dict[str, list[str]]
    sizes: list[str]
    notes: list[NoteLineOut]


class LifetimeOut(PublicOut):
    sales: int
    spent_cents: int
    first_sale_at: Instant | None


class ProfileOut(PublicOut):
    card: CardOut
    purchases: list[PurchaseLineOut]
    service_items: list[ServiceLineOut]
    notes: list[NoteLineOut]
    preferences: dict[str, list[str]]
    lifetime: LifetimeOut


class NoteOut(PublicOut):
    id: int
    author: str
    body: str
    at: Instant


class DayMetricsOut(PublicOut):
    day: str
    arrivals: int
    greeted: int
    not_this_person: int
    with_purchase: int


class StoreMetricsOut(PublicOut):
    since: Instant
    until: Instant
    arrivals: int
    members: int
    greeted: int
    dismissed: int
    not_this_person: int
    visits_with_purchase: int
    greeted_with_purchase: int
    revenue_during_visits_cents: int
    open_incidents: int
    days: list[DayMetricsOut]
    greeted_rate: float | None
    not_this_person_rate: float | None
    purchase_rate: float | None
    greeted_purchase_rate: float | None


class VisitMessageOut(PublicOut):
    """What every tablet of the store is told after an action (also pushed on the socket)."""

    type: Literal["visit"]
    visit_id: int
    status: str
    ended: bool
    by: str


# -- the customer's own export (self-service) ---------------------------------------------------

Cell = str | int | float | bool | None
"""One column of a stored row in the export: binary columns are never listed (see
``services.membership.export.table_rows``), and this type could not hold them."""
Rows = list[dict[str, Cell]]


class StoreRef(PublicOut):
    code: str
    name: str


class ExportProfile(PublicOut):
    id: str
    name: str
    preferred_name: str
    language: str
    email: str | None
    loyalty_id: str | None
    home_store: StoreRef | None
    created_at: Instant
    last_interaction_at: Instant


class ExportConsent(PublicOut):
    id: str
    purpose: str
    scope: list[str]
    text_version: str
    text_language: str
    text_sha256: str
    channel: str
    collected_by: str | None
    given_at: Instant
    expires_at: Instant
    status: str
    ended_at: Instant | None
    renewed_by: str | None


class ExportTemplates(PublicOut):
    """Described, never shown."""

    count: int
    model_id: str | None
    created_at: Instant | None
    note: str
    explanation: str


class ExportDataKey(PublicOut):
    """Described, never shown."""

    held: bool
    created_at: Instant | None
    note: str


class ExportSearchIndex(PublicOut):
    """How many blind-index entries find the customer (issue 18); the digests are not shown."""

    entries: int
    note: str


class ExportThumbnail(PublicOut):
    held: bool
    jpeg_base64: str | None = Field(description="the customer's own enrolment photo")
    note: str


class ExportOut(PublicOut):
    """Everything held about the customer (GDPR Art. 15/20): one key per table holding their
    data (``services.membership.export.EXPORTERS``); never an embedding, key, token or the
    pseudonymous subject id."""

    format: str
    exported_at: Instant
    profile: ExportProfile
    recognition: str
    allergies: Rows
    consents: list[ExportConsent]
    customer_external_ids: Rows
    data_key: ExportDataKey
    profile_key: ExportDataKey
    search_index: ExportSearchIndex
    dietary_needs: Rows
    passes: Rows
    preferences: Rows
    self_service_links: Rows
    service_items: Rows
    staff_notes: Rows
    visits: Rows
    templates: ExportTemplates
    thumbnail: ExportThumbnail
    incidents: Rows
    sales: Rows
    purchases: Rows


# -- the privacy officer's console --------------------------------------------------------------

AuditData = dict[str, JsonValue]
"""An audit entry's data as stored (the chain covers it; ``consent.audit`` lists the kinds)."""


class PeriodOut(PublicOut):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    from_: str = Field(alias="from")
    to: str
    timezone: str


class ConsentDay(PublicOut):
    day: date
    given: int
    ended: int
    active: int


class ArrivalDay(PublicOut):
    day: date
    arrivals: int
    incidents: int
    incident_rate: float


class OverviewOut(PublicOut):
    period: PeriodOut
    active_consents: int
    members: int
    live_stores: int
    stores: int
    open_incidents: int
    devices: int
    devices_attention: int
    pending_deletions: int
    flags: int
    consents_per_day: list[ConsentDay]
    arrivals_per_day: list[ArrivalDay]


class ConsentRowOut(PublicOut):
    consent_id: str
    customer_id: str | None
    customer_name: str | None
    status: str
    scope: list[str]
    given_at: Instant
    expires_at: Instant
    ended_at: Instant | None
    channel: str
    collected_by: str | None
    text_version: str
    text_language: str
    text_sha256: str
    renewed_by: str | None
    renewed_from: str | None


class HistoryEventOut(PublicOut):
    at: Instant
    kind: str
    label: str
    actor: str
    details: AuditData
    seq: int | None


class ConsentHistoryOut(PublicOut):
    record: ConsentRowOut
    subject: str | None
    related: list[ConsentRowOut]
    events: list[HistoryEventOut]


class VerificationRunOut(PublicOut):
    id: int
    at: Instant
    actor: str
    ok: bool
    entries: int
    checked: int
    checkpoints: int
    first_bad_seq: int | None
    reason: str | None
    duration_ms: int


class BadEntryOut(PublicOut):
    seq: int
    present: bool
    at: Instant | None
    kind: str | None
    actor: str | None
    subject: str | None
    data: AuditData | None
    stored_hash: str | None
    recomputed_hash: str | None
    prev_hash: str | None
    previous_entry_hash: str | None


class VerifyOut(VerificationRunOut):
    first_bad_entry: BadEntryOut | None = None


class CheckpointOut(PublicOut):
    seq: int
    hash: str
    at: Instant
    signature: str = Field(description="Ed25519 signature, hex")


class NoCheckpointOut(PublicOut):
    """Nothing new to sign."""

    seq: None


class AuditStatusOut(PublicOut):
    entries: int
    last_entry_at: Instant | None
    last_run: VerificationRunOut | None
    runs: list[VerificationRunOut]
    checkpoints: list[CheckpointOut]
    checkpoint_count: int
    first_bad_entry: BadEntryOut | None
    unverified_since: int


class DeviceAckOut(PublicOut):
    store: str
    device_id: str
    device_name: str
    state: str
    version: int | None
    at: Instant | None
    delay_s: float | None


class DeletionProofOut(PublicOut):
    at: Instant
    kind: str
    subject: str | None
    customer_name: str | None
    consent_ids: list[str]
    channel: str | None
    actor: str
    gallery_versions: dict[str, int]
    devices_confirmed: int
    devices_waiting: int
    slowest_confirmation_s: float | None
    complete: bool
    backups_unreadable_by: Instant | None = Field(
        description="erasures: the day every backup made before it is unreadable (issue 18)"
    )
    devices: list[DeviceAckOut]


class AccessRowOut(PublicOut):
    seq: int
    at: Instant
    staff: str
    store: str | None
    customer_name: str | None
    subject: str | None
    what: str
    visit_id: int | None
    visit_arrived_at: Instant | None
    tablet: str | None
    flags: list[str]


class AccessFlagOut(PublicOut):
    kind: str
    staff: str
    start: Instant
    end: Instant
    count: int
    text: str


class SignInOut(PublicOut):
    """One ``staff.signed_in`` / ``sign_in_failed`` / ``locked_out`` entry and its data."""

    seq: int
    at: Instant
    kind: str
    actor: str
    address: str | None = None
    role: str | None = None
    store_id: int | None = None
    account: str | None = None
    scope: str | None = None
    failures: int | None = None
    seconds: int | float | None = None


class AccessOut(PublicOut):
    rows: list[AccessRowOut]
    flags: list[AccessFlagOut]
    sign_ins: list[SignInOut]


class IncidentRowOut(PublicOut):
    id: int
    reported_at: Instant
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
    resolved_at: Instant | None
    suppress_until: Instant | None


class OutcomeOut(PublicOut):
    id: int
    outcome: str
    resolved_by: str | None
    resolved_at: Instant | None


class LimitsOut(PublicOut):
    consent_months: int
    retention_years: int
    gallery_ttl_s: int
    gallery_validity_s: int
    retention_interval_s: int
    visit_live_s: int
    self_service_ttl_days: int
    audit_checkpoint_every: int


class ExpiringRowOut(PublicOut):
    consent_id: str
    customer_id: str | None
    customer_name: str | None
    expires_at: Instant
    days_left: int
    scope: list[str]


class DestroyedRowOut(PublicOut):
    at: Instant
    subject: str | None
    customer_name: str | None
    reason: str
    templates: int
    thumbnails: int


class RetentionOut(PublicOut):
    limits: LimitsOut
    expiring: list[ExpiringRowOut]
    destroyed: list[DestroyedRowOut]


class DeviceRowOut(PublicOut):
    id: str
    name: str
    store: str
    store_live: bool
    created_at: Instant
    gallery_version: int
    store_version: int
    versions_behind: int
    acked_at: Instant | None
    gallery_age_s: float | None
    last_seen_at: Instant | None
    since_contact_s: float | None
    credential: str
    revoked_at: Instant | None
    status: str


class RevokeOut(PublicOut):
    device_id: str
    credential: Literal["revoked"]


class ZoneOut(PublicOut):
    x: float
    y: float
    w: float
    h: float
    min_face_size: int


class StoreRowOut(PublicOut):
    code: str
    name: str
    live: bool
    signage_confirmed_at: Instant | None
    dpia_reference: str | None
    zone: ZoneOut | None
    zone_recorded_by: str | None
    zone_recorded_at: Instant | None
    gallery_version: int
    devices: int
    mode: str
    door_acknowledged: bool


class GoLiveOut(PublicOut):
    store: str
    live: bool
    dpia_reference: str | None
    mode: str
    gallery_version: int


class PauseOut(PublicOut):
    store: str
    live: bool


def file_answer(description: str, *media_types: str) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route answering a file (not JSON), so the OpenAPI schema names its
    media types instead of an empty JSON schema."""
    return {200: {"description": description, "content": {m: {} for m in media_types}}}
