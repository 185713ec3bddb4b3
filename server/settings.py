"""The server's one settings object (pydantic-settings, prefix ``VERTROUWD_``)."""

from __future__ import annotations

import secrets
from functools import lru_cache
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class ServerSettings(BaseSettings):
    """Everything the server process can be configured with. Unknown keys are an error."""

    model_config = SettingsConfigDict(env_prefix="VERTROUWD_", extra="forbid", env_file=None)

    environment: Literal["development", "test", "production"] = Field(
        "development", description="production refuses unsafe defaults"
    )
    data_dir: Path = Field(Path("var"), description="keys, SQLite file and other local state")
    database_url: str | None = Field(
        None, description="SQLAlchemy URL; default: SQLite file in data_dir"
    )
    secret_key: str | None = Field(
        None,
        min_length=32,
        description="keys self-service links; default: a random key kept 0600 in data_dir",
    )
    kek_path: Path | None = Field(None, description="local key-encryption keyring file (0600)")
    index_key_path: Path | None = Field(
        None,
        description="blind-index key (HMAC of e-mail, ids and name prefixes, 0600); "
        "default: data_dir/keys/blind-index.key",
    )
    signing_key_path: Path | None = Field(None, description="Ed25519 server signing key (0600)")
    public_url: str = Field(
        "http://127.0.0.1:8000",
        description="base URL printed in links; its origin is the only one whose pages may "
        "change anything or open a socket (cross-site request forgery); https in production",
    )
    trusted_origins: list[str] = Field(
        default_factory=list,
        max_length=20,
        description="further origins (scheme://host[:port]) whose pages may use this server, "
        "e.g. a second host name of the same server; none by default",
    )
    device_recheck_s: float = Field(
        30,
        gt=0,
        le=3600,
        description="a connected device's push socket re-checks its credential this often "
        "(a revocation through the console or a shared broker closes it at once)",
    )
    gallery_ttl_s: int = Field(
        900,
        ge=30,
        le=7 * 24 * 3600,
        description="a device stops matching after this long unconfirmed",
    )
    gallery_validity_s: int = Field(
        24 * 3600, ge=60, le=30 * 24 * 3600, description="expires_at of a sealed gallery"
    )
    consent_months: int = Field(12, ge=1, le=36, description="consent lifetime")
    retention_years: int = Field(3, ge=1, le=3, description="never more than 3 years (BIPA)")
    retention_interval_s: int = Field(
        900,
        ge=60,
        le=24 * 3600,
        description="the server runs the retention job (expiry, 3-year limit) this often",
    )
    audit_checkpoint_every: int = Field(
        256, ge=1, le=100_000, description="sign an audit checkpoint every this many entries"
    )
    key_rotation_batch: int = Field(
        500, ge=1, le=100_000, description="data keys re-wrapped per transaction by keys rotate"
    )
    key_rotation_days: int = Field(
        7,
        ge=1,
        le=90,
        description="a new key-encryption key (backup epoch) this often; the server's "
        "maintenance pass rotates and re-wraps the data keys when it is due",
    )
    backup_retention_days: int = Field(
        35,
        ge=1,
        le=3650,
        description="how long database backups are kept; an epoch's KEK is destroyed this long "
        "after it stopped being current, so erasure reaches every backup within "
        "key_rotation_days + backup_retention_days",
    )
    gallery_kem: Literal["mlkem768-x25519", "x25519"] = Field(
        "mlkem768-x25519", description="HPKE KEM for sealing galleries"
    )
    detector: str = Field("dlib_hog", description="face detector backend for enrolment")
    embedder: str = Field("dlib_resnet", description="face embedder backend")
    min_face_size: int = Field(80, ge=20, le=2000, description="enrolment: smallest face side, px")
    max_upload_bytes: int = Field(12_000_000, ge=10_000, le=100_000_000)
    photo_max_pixels: int = Field(
        16_000_000,
        ge=1_000_000,
        le=40_000_000,
        description="enrolment photos: larger ones are "
        "refused from the header, before decoding (phones save 12-16 MP; see services/faces.py)",
    )
    photo_analysis_pixels: int = Field(
        4_000_000, ge=300_000, le=40_000_000, description="larger photos are analysed scaled down"
    )
    photo_workers: int = Field(2, ge=1, le=64, description="threads analysing photos")
    photo_waiting: int = Field(
        4, ge=0, le=1000, description="photos that may wait for a thread; more: 503 Retry-After"
    )
    photo_budget_s: float = Field(
        60, gt=0, le=600, description="a request waits this long for its photo's analysis: 503"
    )
    duplicate_threshold: float | None = Field(
        None, gt=0, lt=2, description="default: the model's calibrated threshold"
    )
    max_false_matches_per_1000: float = Field(
        1.0,
        ge=0.0,
        le=1000.0,
        description="door mode goes live only while the calibration expects at most this many "
        "non-members per 1,000 visitors matched to a member, at the store's member count",
    )
    visit_live_s: int = Field(1800, ge=60, le=24 * 3600, description="a card lives this long")
    arrival_batch_max: int = Field(
        64,
        ge=1,
        le=1000,
        description="arrival requests the group-commit writer takes into one transaction "
        "(1: one transaction a request, the peer the load benchmark compares with)",
    )
    not_this_person_suppress_s: int = Field(
        4 * 3600,
        ge=0,
        le=7 * 24 * 3600,
        description="after 'not this person', that customer's arrivals from that camera make no "
        "card for this long",
    )
    card_follow_up_after_days: int = Field(
        7, ge=1, le=365, description="ask how a durable purchase is working out after this long"
    )
    card_follow_up_until_days: int = Field(
        45, ge=1, le=730, description="... and stop asking after this long"
    )
    recommender: Literal["co_purchase", "popular"] = Field(
        "co_purchase", description="what suggests items on the card"
    )
    recommender_rebuild_s: int = Field(
        600, ge=10, le=24 * 3600, description="rebuild the recommender's model this often"
    )
    session_idle_s: int = Field(1800, ge=60, le=24 * 3600, description="staff idle timeout")
    login_account_failures: int = Field(
        5, ge=1, le=1000, description="failed sign-ins of one account before it is locked out"
    )
    login_address_failures: int = Field(
        20,
        ge=1,
        le=10_000,
        description="failed sign-ins from one client address before it is locked out (higher: "
        "a store's tills may share an address)",
    )
    login_lockout_s: int = Field(
        30, ge=1, le=3600, description="first lockout; doubles with each further failure"
    )
    login_lockout_max_s: int = Field(3600, ge=1, le=7 * 24 * 3600, description="longest lockout")
    login_window_s: int = Field(
        900, ge=60, le=7 * 24 * 3600, description="failed sign-ins older than this are forgotten"
    )
    staff_language: Literal["nl", "en"] = Field(
        "nl",
        description="language of the staff pages (register, tablet, privacy console): Dutch "
        "for Dutch stores",
    )
    metrics_token: SecretStr | None = Field(
        None,
        min_length=16,
        description="when set, GET /metrics needs 'Authorization: Bearer <token>' (production)",
    )
    self_service_ttl_days: int = Field(90, ge=1, le=400)
    privacy_contact: str | None = Field(
        None,
        max_length=300,
        description="how customers reach the privacy officer (e-mail, address); on /privacy, the "
        "entrance sign and the Art. 30 record",
    )
    controller_name: str = Field(
        "the store operator",
        max_length=200,
        description="the controller named on /privacy and in the Art. 30 record",
    )
    processors: list[str] = Field(
        default_factory=list,
        description="processors that handle member data for the controller (e.g. the hosting "
        "provider), listed as recipients in the Art. 30 record; none by default",
    )
    redis_url: str | None = Field(
        None, description="Redis for WebSocket fan-out across server processes; none: in-process"
    )
    migrate_on_start: bool = Field(True, description="run Alembic upgrades when a process starts")
    log_level: str = Field("INFO")
    timezone: str = Field(
        "Europe/Amsterdam",
        max_length=64,
        description="IANA time zone of the stores: pages show times in it and the console's days "
        "(periods, per-day counts) run from midnight to midnight there; the database and the "
        "machine-readable exports stay in UTC",
    )

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        zones = _iana_zones()
        if not zones:
            raise ValueError(
                "VERTROUWD_TIMEZONE: no time zone database on this machine (install tzdata)"
            )
        if value not in zones:
            raise ValueError(
                f"VERTROUWD_TIMEZONE: {value[:64]!r} is not an IANA time zone name "
                "(e.g. Europe/Amsterdam, Europe/Brussels, UTC)"
            )
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            raise ValueError(f"VERTROUWD_TIMEZONE: {value!r} cannot be loaded") from None
        return value

    @model_validator(mode="after")
    def _refuse_unsafe(self) -> ServerSettings:
        if self.environment == "production" and not self.secret_key:
            raise ValueError(
                "VERTROUWD_SECRET_KEY must be set in production (every server process shares it)"
            )
        if len(self.public_url.rstrip("/")) > 54:
            raise ValueError(
                "VERTROUWD_PUBLIC_URL is too long: a self-service link (the URL, /me/ and a "
                "22-character id) must fit in 80 characters for a small QR code; use at most "
                "54 characters"
            )
        if self.environment == "production" and not self.public_url.startswith("https://"):
            raise ValueError(
                f"VERTROUWD_PUBLIC_URL must be an https:// URL in production, not "
                f"{self.public_url[:100]!r}: staff sign-in cookies are marked Secure only over "
                "https, and self-service links carry a customer's access"
            )
        return self

    @property
    def zone(self) -> ZoneInfo:
        """The stores' time zone (``timezone``) as a ``tzinfo``."""
        return ZoneInfo(self.timezone)

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'vertrouwd.db').resolve()}"

    @property
    def resolved_kek_path(self) -> Path:
        return self.kek_path or self.data_dir / "keys" / "kek.json"

    @property
    def resolved_index_key_path(self) -> Path:
        return self.index_key_path or self.data_dir / "keys" / "blind-index.key"

    @property
    def resolved_signing_key_path(self) -> Path:
        return self.signing_key_path or self.data_dir / "keys" / "server-signing.key"


@lru_cache(maxsize=1)
def _iana_zones() -> frozenset[str]:
    """The zone names zoneinfo knows (the system's database or the tzdata package), without
    ``localtime``, which is the host's setting rather than a zone."""
    return frozenset(available_timezones() - {"localtime"})


@lru_cache(maxsize=1)
def get_settings() -> ServerSettings:
    return ServerSettings()


def random_secret() -> str:
    return secrets.token_urlsafe(32)
