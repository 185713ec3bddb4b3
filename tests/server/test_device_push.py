"""Gallery push: a real server (uvicorn in a thread) and a real edge ``GalleryClient``.

A new gallery version (an enrolment, a withdrawal) must reach every online device within 10 s
(DESIGN, invariant 4). The device polls only once an hour here, so only the push over
``/ws/device`` can make it fetch and acknowledge the new version in time.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
from sqlalchemy import select
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from edge.events import ArrivalEvent
from edge.gallery import GalleryClient, GalleryState, push_url
from edge.provision import DeviceIdentity, load_or_create_keys, register
from edge.sender import EventSender
from server.db.clienteling import Visit
from server.db.recognition import EdgeDevice
from server.db.session import transaction
from server.db.stores import Store
from server.runtime import Runtime
from server.serve import ServerThread
from server.services.membership import enrolment, lifecycle
from server.services.recognition import devices, gallery
from tests.server.conftest import PASSWORD, StoreFixture
from tests.server.factories import make_staff

PROPAGATION_LIMIT_S = 10.0
HOUR = 3600.0


@dataclass
class Device:
    identity: DeviceIdentity
    client: GalleryClient
    http: httpx.Client


def acked_version(rt: Runtime, device_id: str) -> int:
    with transaction(rt.sessions) as session:
        device = session.get(EdgeDevice, device_id)
        assert device is not None
        return device.acked_version


def wait_for_ack(rt: Runtime, device_id: str, version: int, timeout: float) -> float | None:
    """Seconds until the device's acknowledgement of ``version`` is in the database (bounded
    polling of that real condition), or None when it did not come within ``timeout``."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if acked_version(rt, device_id) >= version:
            return time.monotonic() - started
        time.sleep(0.02)
    return None


def enrolment_code(rt: Runtime, store: StoreFixture) -> str:
    with transaction(rt.sessions) as session:
        return devices.create_enrolment_code(
            session, store=devices.store_by_code(session, store.code), now=rt.now()
        )


@pytest.fixture
def device(
    runtime: Runtime, store: StoreFixture, live: ServerThread, tmp_path: Path
) -> Iterator[Device]:
    data = tmp_path / "edge"
    http = httpx.Client(timeout=10.0)
    identity = register(
        server_url=live.base_url,
        enrolment_code=enrolment_code(runtime, store),
        name="entrance",
        data_dir=data,
        client=http,
    )
    client = GalleryClient(
        identity=identity,
        keys=load_or_create_keys(data),
        state=GalleryState(ttl_s=identity.gallery_ttl_s),
        data_dir=data,
        client=http,
        poll_s=HOUR,  # only the push can make it poll in time
        confirm_s=HOUR,
        push=True,
    )
    client.start()
    try:
        yield Device(identity, client, http)
    finally:
        client.shutdown()
        http.close()


def connected(dev: Device, rt: Runtime) -> None:
    """Wait until the device installed the first gallery and its push socket is open."""
    assert wait_for_ack(rt, dev.identity.device_id, 1, PROPAGATION_LIMIT_S) is not None
    assert dev.client.push_connected.wait(PROPAGATION_LIMIT_S), "push socket did not open"


def enrol_lin(runtime: Runtime, store: StoreFixture, faces: Path) -> enrolment.EnrolmentResult:
    photo = (faces / "people" / "lin_manuel_miranda" / "img1.png").read_bytes()
    with transaction(runtime.sessions) as session:
        return enrolment.enrol(
            session,
            runtime.context(),
            request=enrolment.EnrolmentRequest(
                name="Lin Manuel Miranda",
                preferred_name="Lin",
                language="en",
                photos=[photo],
                consent_confirmed=True,
                confirmation_name="Lin Manuel Miranda",
                channel="register",
                collected_by="cashier",
            ),
            store=devices.store_by_code(session, store.code),
            analyser=runtime.faces,
            threshold=runtime.threshold,
        )


def test_enrolment_and_withdrawal_reach_an_online_device_within_10_s(
    runtime: Runtime, store: StoreFixture, device: Device, faces: Path
) -> None:
    connected(device, runtime)
    result = enrol_lin(runtime, store, faces)
    version = result.gallery_versions[store.id]
    took = wait_for_ack(runtime, device.identity.device_id, version, PROPAGATION_LIMIT_S)
    assert took is not None, f"version {version} not acknowledged within 10 s"
    print(f"enrolment -> device ack: {took * 1000:.0f} ms")
    active = device.client.state.current()
    assert active is not None
    assert active.version == version
    assert active.index.subject_ids == (result.subject_id,)

    with transaction(runtime.sessions) as session:
        withdrawn = lifecycle.withdraw(
            session,
            runtime.context(),
            customer_id=result.customer_id,
            actor="test",
            channel="portal",
        )
    version = withdrawn.gallery_versions[store.code]
    took = wait_for_ack(runtime, device.identity.device_id, version, PROPAGATION_LIMIT_S)
    assert took is not None, f"withdrawal (version {version}) not acknowledged within 10 s"
    print(f"withdrawal -> device ack: {took * 1000:.0f} ms")
    active = device.client.state.current()
    assert active is not None
    assert active.version == version
    assert result.subject_id not in active.index.subject_ids  # the template is gone
    # the poll interval is an hour: every poll after the first was woken by the push
    assert device.client.push_notices >= 2


def test_withdrawal_style_publication_reaches_the_device_within_10_s(
    runtime: Runtime, store: StoreFixture, device: Device
) -> None:
    connected(device, runtime)
    timings = []
    for _ in range(3):  # repeated: each publication is pushed, not only the first
        with transaction(runtime.sessions) as session:
            row = session.get(Store, store.id)
            assert row is not None
            version = gallery.publish(
                session,
                store=row,
                reason="withdrawal",
                actor="test",
                now=runtime.now(),
                notify=runtime.broker.publish,
            )
        took = wait_for_ack(runtime, device.identity.device_id, version, PROPAGATION_LIMIT_S)
        assert took is not None, f"version {version} not acknowledged within 10 s"
        timings.append(took)
    print("publish -> device ack: " + ", ".join(f"{t * 1000:.0f} ms" for t in timings))
    assert device.client.state.version == version


def test_socket_greets_with_the_current_version(
    runtime: Runtime, store: StoreFixture, device: Device, live: ServerThread
) -> None:
    """A device that was offline learns the current version the moment it reconnects."""
    connected(device, runtime)
    headers = {"Authorization": f"Bearer {device.identity.token}"}
    with connect(push_url(live.base_url), additional_headers=headers, proxy=None) as ws:
        hello = json.loads(ws.recv(timeout=10))
    with transaction(runtime.sessions) as session:
        row = session.get(Store, store.id)
        assert row is not None
        assert hello == {"type": "gallery", "version": row.gallery_version}


def _close_code(url: str, token: str | None) -> int | None:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    with (
        connect(url, additional_headers=headers, proxy=None) as ws,
        pytest.raises(ConnectionClosed) as closed,
    ):
        ws.recv(timeout=10)
    assert closed.value.rcvd is not None
    return closed.value.rcvd.code


def test_unknown_missing_or_revoked_credential_is_closed_4401(
    runtime: Runtime, store: StoreFixture, device: Device, live: ServerThread
) -> None:
    url = push_url(live.base_url)
    assert _close_code(url, "not-a-token") == 4401
    assert _close_code(url, None) == 4401
    with transaction(runtime.sessions) as session:
        devices.revoke_device(
            session,
            runtime.context(),
            device_id=device.identity.device_id,
            actor="test",
        )
    assert _close_code(url, device.identity.token) == 4401


def wait_for_reason(dev: Device, reason: str, timeout: float) -> float | None:
    """Seconds until the device's gallery state says ``reason`` (bounded polling of that real
    condition), or None."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if dev.client.state.status().reason == reason:
            return time.monotonic() - started
        time.sleep(0.02)
    return None


@contextmanager
def officer_client(rt: Runtime, live: ServerThread) -> Iterator[httpx.Client]:
    make_staff(rt, "officer", "privacy_officer", None)
    with httpx.Client(base_url=live.base_url, timeout=10.0) as http:
        r = http.post("/api/v1/auth/login", json={"username": "officer", "password": PASSWORD})
        assert r.status_code == 200, r.text
        yield http


def test_revoking_in_the_console_closes_that_socket_and_stops_matching_at_once(
    runtime: Runtime, store: StoreFixture, device: Device, live: ServerThread, tmp_path: Path
) -> None:
    """The device polls once an hour here: only the closed socket (4401) can make it find out
    within seconds. Another device of the same store keeps its socket and never sees the
    revocation message."""
    connected(device, runtime)
    assert device.client.state.status().matching
    other = register(
        server_url=live.base_url,
        enrolment_code=enrolment_code(runtime, store),
        name="second door",
        data_dir=tmp_path / "other",
        client=device.http,
    )
    headers = {"Authorization": f"Bearer {other.token}"}
    with (
        connect(push_url(live.base_url), additional_headers=headers, proxy=None) as bystander,
        officer_client(runtime, live) as officer,
    ):
        assert json.loads(bystander.recv(timeout=10))["type"] == "gallery"
        r = officer.post(f"/api/v1/console/devices/{device.identity.device_id}/revoke")
        assert r.status_code == 200, r.text
        took = wait_for_reason(device, "credential_revoked", PROPAGATION_LIMIT_S)
        assert took is not None, "the revoked device kept matching"
        assert took < 5.0
        assert not device.client.push_connected.is_set()
        with pytest.raises(TimeoutError):
            bystander.recv(timeout=0.5)  # nothing for the other device, and still open
    r = device.http.get(
        live.base_url + "/api/v1/device/gallery",
        headers={"Authorization": f"Bearer {device.identity.token}"},
    )
    assert r.status_code == 401


def test_pausing_a_store_stops_its_online_devices_at_once(
    runtime: Runtime, store: StoreFixture, device: Device, live: ServerThread
) -> None:
    connected(device, runtime)
    assert device.client.state.status().matching
    with officer_client(runtime, live) as officer:
        r = officer.post(
            f"/api/v1/console/stores/{store.code}/pause", json={"reason": "camera moved"}
        )
        assert r.status_code == 200, r.text
    took = wait_for_reason(device, "store_not_live", PROPAGATION_LIMIT_S)
    assert took is not None, "the paused store's device kept matching"
    assert took < 5.0
    assert device.client.state.current() is None


def revoke_where_no_broker_reaches(rt: Runtime, dev: Device) -> None:
    """As ``vertrouwd devices revoke`` on the embedded default: no message to the sockets."""
    with transaction(rt.sessions) as session:
        devices.revoke_device(
            session, rt.context().quiet(), device_id=dev.identity.device_id, actor="test"
        )


def test_a_revocation_no_broker_carried_closes_the_socket_at_the_next_check(
    runtime: Runtime, store: StoreFixture, device: Device, live: ServerThread
) -> None:
    """``vertrouwd devices revoke`` on the embedded default reaches no server process: the
    socket's own credential check (``device_recheck_s``) closes it."""
    connected(device, runtime)
    runtime.settings = runtime.settings.model_copy(update={"device_recheck_s": 0.2})
    headers = {"Authorization": f"Bearer {device.identity.token}"}
    with connect(push_url(live.base_url), additional_headers=headers, proxy=None) as ws:
        assert json.loads(ws.recv(timeout=10))["type"] == "gallery"
        revoke_where_no_broker_reaches(runtime, device)
        started = time.monotonic()
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=10)
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 4401
        assert time.monotonic() - started < 5.0


# --- arrivals over the push socket (issue 19) ------------------------------------------------


def visits_of(rt: Runtime, customer_id: str) -> int:
    with transaction(rt.sessions) as session:
        return len(session.scalars(select(Visit).where(Visit.customer_id == customer_id)).all())


def test_the_edge_sends_its_arrivals_on_the_push_socket_and_posts_while_it_is_down(
    runtime: Runtime, store: StoreFixture, device: Device, faces: Path
) -> None:
    """The real sender with the real gallery client's socket as its channel: a batch goes over
    the socket (no HTTP request at all), is committed as a visit and answered; a sent-again
    batch counts as a duplicate. With the socket closed, the next batch is posted."""
    connected(device, runtime)
    member = enrol_lin(runtime, store, faces)
    posts: list[str] = []
    with httpx.Client(
        timeout=10.0, event_hooks={"request": [lambda r: posts.append(r.url.path)]}
    ) as http:
        sender = EventSender(
            server_url=device.identity.server_url,
            token=device.identity.token,
            client=http,
            channel=device.client.send_events,
        )
        event = ArrivalEvent(member.subject_id, runtime.now(), 0.3, 0.5, 3)
        sender.put(event)
        assert sender.send_once()
        assert (sender.sent, sender.over_socket, posts) == (1, 1, [])
        assert visits_of(runtime, member.customer_id) == 1
        sender.put(event)  # the same event again (a lost answer, retried)
        assert sender.send_once()
        assert (sender.sent, sender.duplicates, sender.over_socket) == (1, 1, 2)
        device.client.shutdown()  # the socket closes: the sender posts instead
        assert not device.client.push_connected.is_set()
        later = ArrivalEvent(member.subject_id, runtime.now(), 0.3, 0.5, 3)
        sender.put(later)
        assert sender.send_once()
        assert (sender.sent, sender.duplicates, sender.over_socket) == (2, 1, 2)
        assert posts == ["/api/v1/device/events"]
    assert visits_of(runtime, member.customer_id) == 1  # the visit was still live


def _answer(ws: Any, message: str | bytes) -> dict[str, Any]:
    """Send one message on a device socket and read its answer (skipping gallery notices)."""
    ws.send(message)
    while True:
        data = json.loads(ws.recv(timeout=10))
        if data["type"] == "events_answer":
            return cast(dict[str, Any], data)


def test_bad_batches_on_the_socket_are_answered_with_a_reason_and_the_socket_stays_open(
    runtime: Runtime, store: StoreFixture, device: Device, live: ServerThread, faces: Path
) -> None:
    connected(device, runtime)
    member = enrol_lin(runtime, store, faces)
    good = ArrivalEvent(member.subject_id, runtime.now(), 0.3, 0.5, 3).to_json()
    naive = dict(good, id="e-naive-0001", at=runtime.now().replace(tzinfo=None).isoformat())
    headers = {"Authorization": f"Bearer {device.identity.token}"}
    with connect(push_url(live.base_url), additional_headers=headers, proxy=None) as ws:
        assert json.loads(ws.recv(timeout=10))["type"] == "gallery"
        nan = json.dumps({"type": "events", "id": 1, "events": [good]}).replace(
            '"score": 0.3', '"score": NaN'
        )
        assert "NaN" in nan
        refused: list[tuple[str | bytes, int | None, str]] = [
            (nan, 1, "score"),
            (json.dumps({"type": "events", "id": 2, "events": [naive]}), 2, "timezone"),
            (json.dumps({"type": "events", "id": 3, "events": [good], "extra": 1}), 3, "extra"),
            ("not json", None, "invalid"),
            (b"\x00binary", None, "text"),
            (json.dumps({"type": "events", "id": 4, "events": [good] * 501}), 4, "events"),
        ]
        for message, ident, reason in refused:
            answer = _answer(ws, message)
            assert answer["status"] == 422, answer
            assert answer.get("id") == ident
            assert reason in answer["detail"].lower(), answer
        huge = json.dumps({"type": "events", "id": 5, "events": [], "pad": "x" * 1_100_000})
        assert _answer(ws, huge)["status"] == 413
        assert visits_of(runtime, member.customer_id) == 0  # nothing half-written
        answer = _answer(ws, json.dumps({"type": "events", "id": 6, "events": [good]}))
        assert (answer["status"], answer["id"], answer["accepted"]) == (202, 6, 1)
    assert visits_of(runtime, member.customer_id) == 1


def test_a_revoked_device_batch_on_its_open_socket_makes_no_visit(
    runtime: Runtime, store: StoreFixture, device: Device, live: ServerThread, faces: Path
) -> None:
    """Revoked without any broker message reaching the socket (the command line's quiet
    context): its next batch is refused by the writer's credential check (401, then 4401)."""
    connected(device, runtime)
    member = enrol_lin(runtime, store, faces)
    event = ArrivalEvent(member.subject_id, runtime.now(), 0.3, 0.5, 3).to_json()
    headers = {"Authorization": f"Bearer {device.identity.token}"}
    with connect(push_url(live.base_url), additional_headers=headers, proxy=None) as ws:
        assert json.loads(ws.recv(timeout=10))["type"] == "gallery"
        revoke_where_no_broker_reaches(runtime, device)
        answer = _answer(ws, json.dumps({"type": "events", "id": 9, "events": [event]}))
        assert (answer["status"], answer["id"]) == (401, 9)
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=10)
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 4401
    assert visits_of(runtime, member.customer_id) == 0
