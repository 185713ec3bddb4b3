"""Request/response schemas. ``*Public`` models never carry an embedding, key or token hash."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, FiniteFloat, model_validator


class _In(BaseModel):
    """Input. Every float field is ``FiniteFloat`` and every instant ``AwareDatetime`` (in every
    input schema of the app; tests/server/test_input_boundary.py walks them): NaN/Infinity would
    be stored and break later answers, and a time without a zone cannot be compared with the
    server's clock. Both are a 422 with the reason, before any work is done."""

    model_config = ConfigDict(extra="forbid")


class LoginIn(_In):
    username: str = Field(min_length=1, max_length=80)
    password: str = Field(min_length=1, max_length=200)


class StaffPublic(BaseModel):
    username: str
    display_name: str
    role: str
    store_id: int | None


class DeviceRegisterIn(_In):
    enrolment_code: str = Field(min_length=8, max_length=200)
    name: str = Field(min_length=1, max_length=120)
    public_key: str = Field(min_length=8, max_length=8000, description="base64")


class DeviceRegisterOut(BaseModel):
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


class EventsOut(BaseModel):
    accepted: int
    duplicates: int
    refused: int


class EnrolmentOut(BaseModel):
    customer_id: str
    templates: int
    self_service_url: str
    membership: Literal["face", "pass"] = "face"
    pass_token: str = Field(
        description="the member's pass, answered once for the receipt; only its digest is kept"
    )


class SelfServiceLinkOut(BaseModel):
    self_service_url: str
    qr_svg: str
    valid_until: datetime


class CustomerPublic(BaseModel):
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


class StatusOut(BaseModel):
    status: str
    gallery_versions: dict[str, int] = Field(default_factory=dict)


class RenewOut(BaseModel):
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
