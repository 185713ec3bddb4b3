from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from importlib import resources

import pytest

from consent.records import (
    CURRENT_CONSENT_VERSION,
    PURPOSE,
    ConsentRecord,
    UnknownConsentTextError,
    consent_expiry,
    consent_status,
    consent_text,
    current_consent_text,
    list_consent_texts,
    retention_deadline,
)


def test_current_texts_in_both_languages() -> None:
    assert CURRENT_CONSENT_VERSION == "2026-11-v1"
    nl = current_consent_text("nl")
    en = current_consent_text("en")
    assert (nl.version, nl.language) == ("2026-11-v1", "nl")
    assert (en.version, en.language) == ("2026-11-v1", "en")
    assert current_consent_text() == nl  # Dutch is the default
    assert nl.sha256 != en.sha256
    assert {(t.version, t.language) for t in list_consent_texts()} >= {
        ("2026-11-v1", "nl"),
        ("2026-11-v1", "en"),
    }


def test_hash_is_over_exact_file_bytes() -> None:
    text = consent_text("2026-11-v1", "en")
    raw = (resources.files("consent") / "texts" / "2026-11-v1.en.md").read_bytes()
    assert text.sha256 == hashlib.sha256(raw).hexdigest()
    assert raw.decode().startswith(f"# {text.title}\n")


@pytest.mark.parametrize(
    ("language", "phrases"),
    [
        (
            "en",
            [
                "explicit consent",
                "in-store recognition and personalised service",
                "12 months",
                "withdraw",
                "register",
                "self-service link",
                "never sell",
                "3 years",
                "discarded",
                "Autoriteit",
            ],
        ),
        (
            "nl",
            [
                "uitdrukkelijke toestemming",
                "herkenning in de winkel en persoonlijke service",
                "12 maanden",
                "intrekken",
                "kassa",
                "selfservicelink",
                "verkopen",
                "3 jaar",
                "weggegooid",
                "Autoriteit Persoonsgegevens",
            ],
        ),
    ],
)
def test_texts_say_what_consent_requires(language: str, phrases: list[str]) -> None:
    body = " ".join(consent_text("2026-11-v1", language).body.split())
    for phrase in phrases:
        assert phrase in body, phrase


@pytest.mark.parametrize(
    ("version", "language"),
    [
        ("2026-11-v1", "de"),
        ("1999-01-v1", "en"),
        ("../../etc/passwd", "en"),
        ("2026-11-v1", "../x"),
    ],
)
def test_unknown_text(version: str, language: str) -> None:
    with pytest.raises(UnknownConsentTextError):
        consent_text(version, language)


def test_consent_expiry_calendar_months() -> None:
    given = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
    assert consent_expiry(given) == datetime(2027, 11, 25, 10, 0, tzinfo=UTC)
    assert consent_expiry(given, months=6) == datetime(2027, 5, 25, 10, 0, tzinfo=UTC)
    jan31 = datetime(2027, 1, 31, tzinfo=UTC)
    assert consent_expiry(jan31, months=1) == datetime(2027, 2, 28, tzinfo=UTC)
    with pytest.raises(ValueError):
        consent_expiry(given, months=0)
    with pytest.raises(ValueError):
        consent_expiry(given, months=37)
    with pytest.raises(ValueError):
        consent_expiry(datetime(2026, 1, 1), months=12)  # naive


def test_retention_never_beyond_three_years() -> None:
    last = datetime(2028, 2, 29, 12, 0, tzinfo=UTC)
    assert retention_deadline(last) == datetime(2031, 2, 28, 12, 0, tzinfo=UTC)
    assert retention_deadline(last, years=1) == datetime(2029, 2, 28, 12, 0, tzinfo=UTC)
    with pytest.raises(ValueError, match="3 years"):
        retention_deadline(last, years=4)
    with pytest.raises(ValueError):
        retention_deadline(last, years=0)


def test_consent_status_with_injected_now(now: datetime) -> None:
    record = ConsentRecord.new(
        record_id="cr-1",
        pii_principal_id="cust-1",
        text=current_consent_text("en"),
        method="register",
        collector="staff-7",
        store_id="store-1",
        now=now,
    )
    assert record.purpose == PURPOSE
    assert record.notice_sha256 == current_consent_text("en").sha256
    assert record.expires_at == consent_expiry(now)
    assert record.status(now) == "active"
    assert record.is_active(now + timedelta(days=364))
    assert record.status(record.expires_at) == "expired"
    withdrawn = ConsentRecord(**{**record.__dict__, "withdrawn_at": now + timedelta(days=1)})
    assert withdrawn.status(now) == "active"
    assert withdrawn.status(now + timedelta(days=2)) == "withdrawn"
    assert (
        consent_status(
            expires_at=record.expires_at, withdrawn_at=None, now=now + timedelta(days=400)
        )
        == "expired"
    )
