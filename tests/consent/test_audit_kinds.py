"""Audit kinds are one enum with one typed payload a kind (issue 17), and a payload stores
exactly the dict that was stored before the kinds were typed (the hash chain covers it)."""

from __future__ import annotations

from datetime import UTC, datetime

from consent import audit
from consent.audit_kinds import (
    PAYLOADS,
    AccessDenied,
    AuditKind,
    ConsentWithdrawn,
    ConsoleExported,
    ProfileViewed,
    StoreZoneRecorded,
    read,
)


def test_every_kind_has_exactly_one_payload_and_matches_the_format() -> None:
    assert set(PAYLOADS) == set(AuditKind)
    assert len(set(PAYLOADS.values())) == len(AuditKind)
    for kind, cls in PAYLOADS.items():
        assert cls.KIND is kind
        assert audit.KIND_PATTERN.match(kind.value), kind
    assert frozenset(k.value for k in AuditKind) == audit.AUDIT_KINDS


def test_payloads_store_the_dicts_written_before_they_were_typed() -> None:
    """Literal dicts as the services wrote them before (keys, order, optional keys left out,
    ``None`` kept where it was kept), and the same record hash."""
    cases = [
        (
            ConsentWithdrawn(consent_id="c1", reason="withdrawn"),
            {"consent_id": "c1", "reason": "withdrawn"},
        ),
        (
            ConsentWithdrawn(consent_id="c1", reason="withdrawn", channel="portal"),
            {"consent_id": "c1", "reason": "withdrawn", "channel": "portal"},
        ),
        (
            ProfileViewed(visit_id=7, store_id=1, what="card", session="abc", agent="Safari"),
            {"visit_id": 7, "store_id": 1, "what": "card", "session": "abc", "agent": "Safari"},
        ),
        (
            ProfileViewed(visit_id=7, store_id=1, what="card"),
            {"visit_id": 7, "store_id": 1, "what": "card"},
        ),
        (
            AccessDenied(what="console", role=None, store_id=None, path="/console"),
            {"what": "console", "role": None, "store_id": None, "path": "/console"},
        ),
        (
            AccessDenied(what="customer", role="sales", store_id=2, action="erase", found=False),
            {"what": "customer", "role": "sales", "store_id": 2, "action": "erase", "found": False},
        ),
        (
            ConsoleExported(
                view="access", format="csv", from_="2026-11-01", to="2026-11-30",
                timezone="Europe/Amsterdam", rows=3,
            ),
            {"view": "access", "format": "csv", "from": "2026-11-01", "to": "2026-11-30",
             "timezone": "Europe/Amsterdam", "rows": 3},
        ),
        (
            StoreZoneRecorded(store="utrecht", x=0.2, y=0.1, w=0.6, h=0.8, min_face_size=90),
            {"store": "utrecht", "x": 0.2, "y": 0.1, "w": 0.6, "h": 0.8, "min_face_size": 90},
        ),
    ]  # fmt: skip
    at = datetime(2026, 11, 25, 15, 5, tzinfo=UTC)
    for payload, before in cases:
        data = payload.as_data()
        assert data == before
        assert list(data) == list(before)  # the same order in the stored JSON column
        typed = audit.next_record(
            None, kind=payload.KIND, actor="a", subject=None, data=data, at=at
        )
        old = audit.next_record(
            None, kind=payload.KIND.value, actor="a", subject=None, data=before, at=at
        )
        assert typed.hash == old.hash
        assert read(payload.KIND, before) == payload  # and it reads back typed


def test_reading_an_older_or_unknown_entry_does_not_fail() -> None:
    old = read("consent.withdrawn", {"consent_id": "c1", "reason": "r", "legacy": 1})
    assert old == ConsentWithdrawn(consent_id="c1", reason="r")
    assert read("test.unknown", {"x": 1}) is None
