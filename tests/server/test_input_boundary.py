"""Input at the schema boundary: a time without a zone and a non-finite number (NaN, Infinity,
a literal or an overflowing ``1e999``) are a 422 with the reason on every route, before any work
is done; one device's bad events never fail another store's arrivals in the group-commit batch;
and an infinite margin stored before these checks no longer breaks "not this person" or the
customer's export.

Real server (TestClient over the app), real SQLite or PostgreSQL (``VERTROUWD_TEST_DB``).
"""

from __future__ import annotations

import json
import typing
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from pydantic import AwareDatetime, BaseModel
from pydantic.types import AllowInfNan
from sqlalchemy import func, select

from server.api.json_body import non_finite_literal
from server.app import create_app
from server.db.audit import AuditEntry
from server.db.clienteling import Visit
from server.db.recognition import EventReceipt, Incident
from server.runtime import Runtime
from server.services.recognition.arrival_writer import ArrivalWriter
from server.services.recognition.arrivals import ArrivalIn
from server.settings import ServerSettings
from tests.server.conftest import StoreFixture, sign_in
from tests.server.factories import (
    arrival_event,
    device_token,
    make_member,
    make_store,
    make_visit,
    register_device,
)
from tests.server.members import new_link

EVENTS = "/api/v1/device/events"


def _post_raw(client: TestClient, token: str, body: str) -> Any:
    return client.post(
        EVENTS,
        content=body.encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )


def _count(rt: Runtime, model: type[Visit] | type[EventReceipt]) -> int:
    with rt.sessions() as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


# -- every input schema uses the safe types ---------------------------------------------------


def _leaves(annotation: Any) -> list[tuple[Any, tuple[Any, ...]]]:
    """The types in an annotation, each with the Annotated metadata around it."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        base, *meta = typing.get_args(annotation)
        return [(t, (*m, *meta)) for t, m in _leaves(base)]
    if origin is not None:
        return [leaf for arg in typing.get_args(annotation) for leaf in _leaves(arg)]
    return [(annotation, ())]


def _input_models(app: Any) -> set[type[BaseModel]]:
    found: set[type[BaseModel]] = set()

    def walk(model: type[BaseModel]) -> None:
        if model in found:
            return
        found.add(model)
        for f in model.model_fields.values():
            for t, _ in _leaves(f.annotation):
                if isinstance(t, type) and issubclass(t, BaseModel):
                    walk(t)

    def routes(items: list[Any]) -> list[Any]:  # included routers are kept as references
        out = []
        for r in items:
            sub = getattr(r, "original_router", None)
            out.extend(routes(sub.routes) if sub is not None else [r])
        return out

    for route in routes(app.routes):
        if isinstance(route, APIRoute) and route.body_field is not None:
            for t, _ in _leaves(route.body_field.field_info.annotation):
                if isinstance(t, type) and issubclass(t, BaseModel):
                    walk(t)
    return found


def test_every_input_float_is_finite_and_every_input_time_has_a_zone(
    settings: ServerSettings,
) -> None:
    models = _input_models(create_app(settings))
    names = {m.__name__ for m in models}
    assert {"EventsIn", "ArrivalEventIn", "SaleIn", "GoLiveIn", "ZoneIn"} <= names
    floats = times = 0
    for model in models:
        for name, f in model.model_fields.items():
            for t, meta in _leaves(f.annotation):
                allowed = [
                    m.allow_inf_nan for m in (*meta, *f.metadata) if isinstance(m, AllowInfNan)
                ]
                if t is float:
                    floats += 1
                    assert allowed == [False], f"{model.__name__}.{name} takes NaN/Infinity"
                if t is datetime:
                    raise AssertionError(f"{model.__name__}.{name}: datetime without a zone")
                if t is AwareDatetime:
                    times += 1
    assert floats >= 6  # score, margin, the zone's four
    assert times >= 2  # the arrival's and the sale's time


def test_the_literal_check_tells_numbers_from_words() -> None:
    assert non_finite_literal(b'{"a": NaN}') is not None
    assert non_finite_literal(b'{"a": [1, -Infinity]}') is not None
    assert non_finite_literal(b'{"a": "NaN and Infinity"}') is None  # words in a string
    assert non_finite_literal(b'{"a": 1.5}') is None
    assert non_finite_literal(b'{"a": 1e999}') is not None  # overflows to infinity
    assert non_finite_literal(b'{"a": 1e300, "b": "1e999"}') is None
    assert non_finite_literal(b"{not json NaN") is None  # left to the app's own 422


# -- arrivals ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("at", "field"),
    [("2026-12-02T04:10:00", "timezone"), ("2026-12-02", "timezone")],
)
def test_an_arrival_time_without_a_zone_is_422(
    client: TestClient, runtime: Runtime, store: StoreFixture, at: str, field: str
) -> None:
    member = make_member(runtime, "Anna de Vries", stores=[store.code])
    token = device_token(runtime, client, store.code)
    event = {**arrival_event(member.subject_id, event_id="e-naive-0001"), "at": at}
    r = client.post(EVENTS, headers={"Authorization": f"Bearer {token}"}, json={"events": [event]})
    assert r.status_code == 422, r.text
    assert field in r.text
    assert _count(runtime, EventReceipt) == 0
    assert _count(runtime, Visit) == 0


@pytest.mark.parametrize(
    ("field", "literal"),
    [
        ("margin", "Infinity"),
        ("margin", "NaN"),
        ("score", "NaN"),
        ("score", "-Infinity"),
        ("margin", "1e999"),  # parses as infinity
    ],
)
def test_a_non_finite_score_or_margin_is_422(
    client: TestClient,
    runtime: Runtime,
    store: StoreFixture,
    field: str,
    literal: str,
) -> None:
    member = make_member(runtime, "Anna de Vries", stores=[store.code])
    token = device_token(runtime, client, store.code)
    event = arrival_event(member.subject_id, event_id="e-nonfinite1")
    event[field] = "@@"
    body = json.dumps({"events": [event]}).replace('"@@"', literal)
    r = _post_raw(client, token, body)
    assert r.status_code == 422, r.text
    assert "finite" in r.text
    assert _count(runtime, EventReceipt) == 0
    # the connection and the server are fine: the next, good event is taken
    good = arrival_event(member.subject_id, event_id="e-good-00001")
    r = _post_raw(client, token, json.dumps({"events": [good]}))
    assert (r.status_code, r.json()["accepted"]) == (202, 1), r.text


def test_a_device_sending_bad_events_never_fails_another_stores_arrivals(
    client: TestClient, runtime: Runtime, store: StoreFixture
) -> None:
    """Store A's device posts 40 valid arrivals while store B's device posts events without a
    zone and with NaN, concurrently, through the real app and its group-commit writer."""
    other = make_store(runtime, "zwolle")
    members = [make_member(runtime, f"Member {i} A", stores=[store.code]) for i in range(8)]
    intruder = make_member(runtime, "Member B", stores=[other.code])
    good_token = device_token(runtime, client, store.code, name="a door")
    bad_token = device_token(runtime, client, other.code, name="b door")

    def good(i: int) -> tuple[str, int]:
        event = arrival_event(members[i % 8].subject_id, event_id=f"e-good-{i:06d}")
        r = _post_raw(client, good_token, json.dumps({"events": [event]}))
        return ("good", r.status_code)

    def bad(i: int) -> tuple[str, int]:
        event = arrival_event(intruder.subject_id, event_id=f"e-bad-{i:07d}")
        if i % 2:
            body = json.dumps({"events": [{**event, "at": "2026-12-02T04:10:00"}]})
        else:
            body = json.dumps({"events": [{**event, "margin": "@@"}]}).replace('"@@"', "NaN")
        r = _post_raw(client, bad_token, body)
        return ("bad", r.status_code)

    jobs = [(good, i) for i in range(40)] + [(bad, i) for i in range(40)]
    jobs.sort(key=lambda j: (j[1], j[0].__name__))  # interleaved
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda j: j[0](j[1]), jobs))
    assert sorted({a for a in answers if a[0] == "good"}) == [("good", 202)]
    assert sorted({a for a in answers if a[0] == "bad"}) == [("bad", 422)]
    assert _count(runtime, EventReceipt) == 40
    with runtime.sessions() as s:
        assert s.scalar(select(func.count()).select_from(Visit)) == 8


def test_a_batch_that_fails_is_retried_request_by_request(
    runtime: Runtime, store: StoreFixture
) -> None:
    """Behind the schema: if one request in a batch makes the batch fail (here an event whose
    time has no zone, handed to the writer directly), the batch is rolled back and each request
    handled alone, so only that request fails. All requests are queued before the writer starts,
    so they are one batch."""
    other = make_store(runtime, "zwolle")
    a = make_member(runtime, "Anna de Vries", stores=[store.code])
    b = make_member(runtime, "Bram Jansen", stores=[other.code])
    token_a = register_device(runtime, store.code, "a").token
    token_b = register_device(runtime, other.code, "b").token
    published: list[tuple[str, dict[str, Any]]] = []
    writer = ArrivalWriter(
        runtime.sessions,
        kek=runtime.kek,
        visit_live=timedelta(seconds=runtime.settings.visit_live_s),
        publish=published.extend,
    )
    now = runtime.now()
    naive = now.replace(tzinfo=None)
    plan = [(token_a, a, "e-a-000001", now), (token_b, b, "e-b-000001", naive)]
    plan.append((token_a, a, "e-a-000002", now))
    futures = [
        writer.submit(token=t, events=[ArrivalIn(i, m.subject_id, at, 0.4, 0.3)], now=now)
        for t, m, i, at in plan
    ]
    writer.start()
    try:
        first, broken, second = (f.exception(30) or f.result() for f in futures)
    finally:
        writer.stop()
    assert isinstance(broken, TypeError)  # naive vs aware: only its own request fails
    assert not isinstance(first, BaseException)
    assert not isinstance(second, BaseException)
    assert (first.accepted, second.accepted) == (1, 1)
    assert len(published) == 1  # store A's card, once
    assert _count(runtime, Visit) == 1
    assert _count(runtime, EventReceipt) == 2


# -- other routes ------------------------------------------------------------------------------


def test_console_zone_and_pos_numbers_refuse_non_finite_values(
    client: TestClient, runtime: Runtime, store: StoreFixture
) -> None:
    from tests.server.factories import make_staff

    make_store(runtime, "zwolle", live=False)
    make_staff(runtime, "officer", "privacy_officer", None)
    sign_in(client, "officer")
    zone = '{"x": 0.1, "y": 0.1, "w": NaN, "h": 0.5, "min_face_size": 90}'
    for z in (zone, zone.replace("NaN", "1e999")):
        r = client.post(
            "/api/v1/console/stores/zwolle/go-live",
            content=f'{{"signage_confirmed": true, "dpia_reference": "D-1", "zone": {z}}}',
            headers={"Content-Type": "application/json"},
        )
        assert r.status_code == 422, r.text
        assert "finite" in r.text
    sale = (
        '{"sale_id": "R-1", "at": "2026-11-25T14:03:00+01:00", "customer": null,'
        ' "lines": [{"sku": "X", "quantity": 1, "unit_price_cents": Infinity}]}'
    )
    r = client.post(
        "/api/v1/pos/sales",
        content=sale,
        headers={"Content-Type": "application/json", "Authorization": "Bearer vtpos_x"},
    )
    assert r.status_code == 422, r.text
    assert "finite" in r.text


# -- an infinite margin stored before the checks ------------------------------------------------


def test_a_stored_infinite_margin_breaks_neither_not_this_person_nor_the_export(
    client: TestClient, runtime: Runtime, store: StoreFixture
) -> None:
    member = make_member(runtime, "Anna de Vries", stores=[store.code])
    visit_id = make_visit(runtime, member.id, store.id)
    with runtime.sessions() as s, s.begin():
        visit = s.get(Visit, visit_id)
        assert visit is not None
        visit.margin = float("inf")
    with runtime.sessions() as s:
        stored = s.get(Visit, visit_id)
        assert stored is not None
        assert stored.margin == float("inf")  # really stored

    sign_in(client, "sales")
    r = client.post(f"/api/v1/visits/{visit_id}/not-this-person")
    assert r.status_code == 200, r.text
    with runtime.sessions() as s:
        incident = s.scalars(select(Incident)).one()
        assert incident.margin is None  # unknown, not infinite
        reported = s.scalars(select(AuditEntry).where(AuditEntry.kind == "incident.reported")).one()
        assert reported.data["margin"] is None

    token = new_link(runtime, member.id)
    for url in (f"/api/v1/me/{token}", f"/api/v1/me/{token}/export"):
        r = client.get(url)
        assert r.status_code == 200, r.text
        visits = r.json()["visits"]
        assert [v["margin"] for v in visits] == [None]
