"""Consent records, the versioned consent texts, and the retention policy.

Consent texts
-------------
Markdown files in ``consent/texts/`` named ``<version>.<language>.md`` (e.g.
``2026-11-v1.nl.md``); the first line is ``# <title>``. A text is identified by version and
language and stored by the SHA-256 of its exact file bytes: the hash recorded with a consent
proves which words the customer was shown. A published text is never edited; a change is a new
version.

Consent record fields (after ISO/IEC TS 27560, consent record information structure)
-------------------------------------------------------------------------------------
=====================  ===============================================================
``record_id``          unique id of this consent record
``pii_principal_id``   the person who consents: the customer's (pseudonymous) id
``purpose``            :data:`PURPOSE` (one specific purpose per record)
``processing``         the processing operations consented to (:data:`PROCESSING`)
``legal_basis``        :data:`LEGAL_BASIS` (explicit consent, GDPR Art. 9(2)(a))
``notice_version``     consent text version shown (e.g. ``2026-11-v1``)
``notice_language``    its language (``nl``/``en``)
``notice_sha256``      SHA-256 of the exact text shown
``method``             how consent was collected: ``register`` / ``self-service`` / ``console``
``collector``          who collected it: staff user id, or ``self-service``
``store_id``           where it was collected (None for self-service)
``given_at``           when consent was given (UTC)
``expires_at``         when it lapses unless renewed (:func:`consent_expiry`)
``withdrawn_at``       when it was withdrawn, if it was
``status``             ``active`` / ``withdrawn`` / ``expired`` (:func:`consent_status`)
=====================  ===============================================================

Retention policy
----------------
Consent lasts 12 months by default (configurable, at most :data:`MAX_CONSENT_MONTHS`). No template
is kept beyond 3 years after the customer's last interaction (BIPA); a deployment may choose a
shorter period, never a longer one. All helpers take ``now`` explicitly.
"""

from __future__ import annotations

import calendar
import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from importlib import resources
from typing import Literal

__all__ = [
    "CURRENT_CONSENT_VERSION",
    "CURRENT_PASS_CONSENT_VERSION",
    "DEFAULT_CONSENT_MONTHS",
    "DEFAULT_LANGUAGE",
    "LANGUAGES",
    "LEGAL_BASIS",
    "MAX_CONSENT_MONTHS",
    "MAX_RETENTION_YEARS",
    "PASS_LEGAL_BASIS",
    "PASS_PROCESSING",
    "PASS_PURPOSE",
    "PROCESSING",
    "PURPOSE",
    "PURPOSE_ID",
    "ConsentMethod",
    "ConsentRecord",
    "ConsentStatus",
    "ConsentText",
    "UnknownConsentTextError",
    "consent_expiry",
    "consent_status",
    "consent_text",
    "current_consent_text",
    "current_pass_consent_text",
    "is_pass_text",
    "list_consent_texts",
    "retention_deadline",
]

PURPOSE = "in-store recognition and personalised service"
PURPOSE_ID = "vertrouwd.instore-recognition"
LEGAL_BASIS = "GDPR Art. 9(2)(a) explicit consent"
PROCESSING: tuple[str, ...] = (
    "collection of three enrolment photos (discarded after template creation)",
    "creation and encrypted storage of face templates and one thumbnail",
    "comparison at the store entrance member zone",
    "showing name, thumbnail, history, preferences and allergies to store staff during a visit",
)
CURRENT_CONSENT_VERSION = "2026-11-v1"
PASS_PURPOSE = "membership with a pass and personalised service (no biometric processing)"  # noqa: S105 - a membership pass, not a password
PASS_LEGAL_BASIS = "GDPR Art. 6(1)(a) consent"  # noqa: S105 - a membership pass, not a password
PASS_PROCESSING: tuple[str, ...] = (
    "keeping the digest of the member's pass (never the pass itself)",
    "recording a visit when the member shows the pass at a store device",
    "showing name, history, preferences and allergies to store staff during a visit",
)
CURRENT_PASS_CONSENT_VERSION = "2026-12-pass-v1"  # noqa: S105 - a membership pass, not a password
"""The text of a membership without a face (issue 12): no photo, no template, a pass. Its
versions carry ``-pass-`` so a record tells which kind of membership was consented to."""
LANGUAGES: tuple[str, ...] = ("nl", "en")
DEFAULT_LANGUAGE = "nl"
DEFAULT_CONSENT_MONTHS = 12
MAX_CONSENT_MONTHS = 36
MAX_RETENTION_YEARS = 3

ConsentStatus = Literal["active", "withdrawn", "expired"]
ConsentMethod = Literal["register", "self-service", "console"]

_VERSION_RE = re.compile(r"^\d{4}-\d{2}-(?:pass-)?v\d+$")
_LANGUAGE_RE = re.compile(r"^[a-z]{2}$")


class UnknownConsentTextError(LookupError):
    """No consent text exists for the requested version and language."""


@dataclass(frozen=True)
class ConsentText:
    version: str
    language: str
    title: str
    body: str
    """The markdown after the title line."""
    sha256: str
    """SHA-256 (hex) of the exact file bytes: title and body as shown."""


def _texts_dir() -> resources.abc.Traversable:
    return resources.files("consent") / "texts"


@cache
def _load(version: str, language: str) -> ConsentText:
    if not _VERSION_RE.match(version) or not _LANGUAGE_RE.match(language):
        raise UnknownConsentTextError(f"no consent text {version!r} in {language!r}")
    path = _texts_dir() / f"{version}.{language}.md"
    if not path.is_file():
        raise UnknownConsentTextError(f"no consent text {version!r} in {language!r}")
    raw = path.read_bytes()
    text = raw.decode("utf-8")
    first, _, rest = text.partition("\n")
    if not first.startswith("# "):
        raise ValueError(f"consent text {path} must start with a '# title' line")
    return ConsentText(
        version=version,
        language=language,
        title=first[2:].strip(),
        body=rest.strip() + "\n",
        sha256=hashlib.sha256(raw).hexdigest(),
    )


def consent_text(version: str, language: str) -> ConsentText:
    """The consent text of ``version`` in ``language``; :class:`UnknownConsentTextError`."""
    return _load(version, language)


def current_consent_text(language: str = DEFAULT_LANGUAGE) -> ConsentText:
    """The text new consents are given on."""
    return _load(CURRENT_CONSENT_VERSION, language)


def current_pass_consent_text(language: str = DEFAULT_LANGUAGE) -> ConsentText:
    """The text new memberships without a face are given on (no biometric processing)."""
    return _load(CURRENT_PASS_CONSENT_VERSION, language)


def is_pass_text(version: str) -> bool:
    """Whether a consent given on text ``version`` is a membership without a face."""
    return "-pass-" in version


def list_consent_texts() -> list[ConsentText]:
    """Every packaged text, sorted by version then language."""
    found: list[tuple[str, str]] = []
    for entry in _texts_dir().iterdir():
        parts = entry.name.split(".")
        if (
            len(parts) == 3
            and parts[2] == "md"
            and _VERSION_RE.match(parts[0])
            and _LANGUAGE_RE.match(parts[1])
        ):
            found.append((parts[0], parts[1]))
    return [_load(v, lang) for v, lang in sorted(found)]


def _aware(dt: datetime, name: str) -> datetime:
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware")
    return dt.astimezone(UTC)


def _add_months(dt: datetime, months: int) -> datetime:
    index = dt.month - 1 + months
    year, month = dt.year + index // 12, index % 12 + 1
    day = min(dt.day, calendar.monthrange(year, month)[1])
    return dt.replace(year=year, month=month, day=day)


def consent_expiry(given_at: datetime, months: int = DEFAULT_CONSENT_MONTHS) -> datetime:
    """When a consent given (or renewed) at ``given_at`` lapses: ``months`` calendar months on.

    ``months`` must be 1..:data:`MAX_CONSENT_MONTHS`; day-of-month is clamped (31 Jan + 1 month
    is 28/29 Feb).
    """
    if isinstance(months, bool) or not isinstance(months, int):
        raise TypeError("months must be an integer")
    if not 1 <= months <= MAX_CONSENT_MONTHS:
        raise ValueError(f"consent validity must be 1 to {MAX_CONSENT_MONTHS} months")
    return _add_months(_aware(given_at, "given_at"), months)


def retention_deadline(last_interaction_at: datetime, years: int = MAX_RETENTION_YEARS) -> datetime:
    """The latest moment a template may still exist: ``years`` after the last interaction.

    ``years`` may be configured down (1 or 2), never above :data:`MAX_RETENTION_YEARS`:
    ``ValueError`` if it is.
    """
    if isinstance(years, bool) or not isinstance(years, int):
        raise TypeError("years must be an integer")
    if years > MAX_RETENTION_YEARS:
        raise ValueError(
            f"templates may not be kept beyond {MAX_RETENTION_YEARS} years after the last "
            f"interaction (got {years})"
        )
    if years < 1:
        raise ValueError("retention must be at least 1 year; use consent expiry for less")
    return _add_months(_aware(last_interaction_at, "last_interaction_at"), 12 * years)


def consent_status(
    *, expires_at: datetime, withdrawn_at: datetime | None, now: datetime
) -> ConsentStatus:
    """``withdrawn`` if withdrawn at or before ``now``; else ``expired`` at/after expiry."""
    now_utc = _aware(now, "now")
    if withdrawn_at is not None and _aware(withdrawn_at, "withdrawn_at") <= now_utc:
        return "withdrawn"
    if now_utc >= _aware(expires_at, "expires_at"):
        return "expired"
    return "active"


@dataclass(frozen=True)
class ConsentRecord:
    """A consent record with ISO/IEC TS 27560-style fields (see the module docstring)."""

    record_id: str
    pii_principal_id: str
    notice_version: str
    notice_language: str
    notice_sha256: str
    method: ConsentMethod
    collector: str
    store_id: str | None
    given_at: datetime
    expires_at: datetime
    withdrawn_at: datetime | None = None
    purpose: str = PURPOSE
    legal_basis: str = LEGAL_BASIS
    processing: tuple[str, ...] = PROCESSING

    @classmethod
    def new(
        cls,
        *,
        record_id: str,
        pii_principal_id: str,
        text: ConsentText,
        method: ConsentMethod,
        collector: str,
        store_id: str | None,
        now: datetime,
        months: int = DEFAULT_CONSENT_MONTHS,
    ) -> ConsentRecord:
        """A fresh, active consent given on ``text`` at ``now``."""
        given = _aware(now, "now")
        return cls(
            record_id=record_id,
            pii_principal_id=pii_principal_id,
            notice_version=text.version,
            notice_language=text.language,
            notice_sha256=text.sha256,
            method=method,
            collector=collector,
            store_id=store_id,
            given_at=given,
            expires_at=consent_expiry(given, months),
        )

    def status(self, now: datetime) -> ConsentStatus:
        return consent_status(expires_at=self.expires_at, withdrawn_at=self.withdrawn_at, now=now)

    def is_active(self, now: datetime) -> bool:
        return self.status(now) == "active"
