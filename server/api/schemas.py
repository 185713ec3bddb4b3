"""Request/response schemas. ``*Public`` models never carry an embedding, key or token hash."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class _In(BaseModel):
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
    at: datetime
    score: float = Field(ge=0, le=4)
    margin: float | None = Field(default=None, ge=0)
    frames: int = Field(default=1, ge=1, le=1000)


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


class StatusOut(BaseModel):
    status: str
    gallery_versions: dict[str, int] = Field(default_factory=dict)


class RenewOut(BaseModel):
    status: str
    consent_id: str
    previous_consent_id: str
    expires_at: datetime
