"""Arrival events: idempotent by id, refused outside the replay window, only for a consent that
covers the device's store, one card per visit, and the device credential is required."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from server.db.clienteling import Visit
from server.db.recognition import EventReceipt
from server.runtime import Runtime
from tests.server.conftest import StoreFixture
from tests.server.factories import arrival_event, device_token, make_member, make_store


def post(client: TestClient, token: str, *events: dict[str, object]) -> dict[str, int]:
    r = client.post(
        "/api/v1/device/events",
        headers={"Authorization": f"Bearer {token}"},
        json={"events": list(events)},
    )
    assert r.status_code == 202, r.text
    return dict(r.json())


def count(rt: Runtime, model: type[Visit] | type[EventReceipt]) -> int:
    with rt.sessions() as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


def test_the_same_event_twice_is_one_visit(
    client: TestClient, runtime: Runtime, store: StoreFixture
) -> None:
    member = make_member(runtime, "Anna de Vries", stores=[store.code])
    token = device_token(runtime, client, store.code)
    first = arrival_event(member.subject_id, event_id="e-0000000001")
    assert post(client, token, first) == {"accepted": 1, "duplicates": 0, "refused": 0}
    assert post(client, token, first) == {"accepted": 0, "duplicates": 1, "refused": 0}
    # A second, different event during the same visit is accepted but makes no second card.
    assert (
        post(client, token, arrival_event(member.subject_id, event_id="e-0000000002"))["accepted"]
        == 1
    )
    assert count(runtime, Visit) == 1
    assert count(runtime, EventReceipt) == 2


def test_events_outside_the_replay_window_are_refused(
    client: TestClient, runtime: Runtime, store: StoreFixture
) -> None:
    member = make_member(runtime, "Anna de Vries", stores=[store.code])
    token = device_token(runtime, client, store.code)
    old = arrival_event(
        member.subject_id, event_id="e-old-000001", at=datetime.now(UTC) - timedelta(days=2)
    )
    future = arrival_event(
        member.subject_id, event_id="e-future-001", at=datetime.now(UTC) + timedelta(hours=1)
    )
    assert post(client, token, old, future) == {"accepted": 0, "duplicates": 0, "refused": 2}
    assert count(runtime, Visit) == 0


def test_a_consent_for_another_store_makes_no_visit(
    client: TestClient, runtime: Runtime, store: StoreFixture
) -> None:
    other = make_store(runtime, "elsewhere")
    member = make_member(runtime, "Anna de Vries", stores=[other.code])
    token = device_token(runtime, client, store.code)
    unknown = arrival_event("s_" + "0" * 32, event_id="e-unknown-01")
    mine = arrival_event(member.subject_id, event_id="e-other-0001")
    assert post(client, token, mine, unknown) == {"accepted": 0, "duplicates": 0, "refused": 2}
    assert count(runtime, Visit) == 0


def test_events_need_a_valid_device_credential(
    client: TestClient, runtime: Runtime, store: StoreFixture
) -> None:
    member = make_member(runtime, "Anna de Vries", stores=[store.code])
    body = {"events": [arrival_event(member.subject_id, event_id="e-noauth-001")]}
    assert client.post("/api/v1/device/events", json=body).status_code == 401
    r = client.post(
        "/api/v1/device/events", json=body, headers={"Authorization": "Bearer not-a-token"}
    )
    assert r.status_code == 401
    assert count(runtime, EventReceipt) == 0


def test_the_credential_is_checked_before_the_body(client: TestClient, runtime: Runtime) -> None:
    """No credential and a malformed body: 401, not 422 (the route's one dependency reads the
    credential before the body is validated, as the separate dependencies did)."""
    bad = {"events": [{"id": "short"}]}
    r = client.post("/api/v1/device/events", json=bad)
    assert r.status_code == 401, r.text
    assert r.json() == {"detail": "device credential missing"}
    assert count(runtime, EventReceipt) == 0


def test_an_event_from_before_the_consent_makes_no_visit(
    client: TestClient, runtime: Runtime, store: StoreFixture
) -> None:
    """A member who withdrew and joined again keeps their pseudonym: an event a device queued
    under the earlier consent and replays now must not become a visit. A device clock a minute
    behind is tolerated."""
    member = make_member(runtime, "Anna de Vries", stores=[store.code])
    token = device_token(runtime, client, store.code)
    before = arrival_event(
        member.subject_id, event_id="e-before-0001", at=runtime.now() - timedelta(minutes=10)
    )
    assert post(client, token, before) == {"accepted": 0, "duplicates": 0, "refused": 1}
    assert count(runtime, Visit) == 0
    skewed = arrival_event(
        member.subject_id, event_id="e-skewed-0001", at=runtime.now() - timedelta(minutes=1)
    )
    assert post(client, token, skewed) == {"accepted": 1, "duplicates": 0, "refused": 0}
    assert count(runtime, Visit) == 1
