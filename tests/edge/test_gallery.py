"""Gallery sync: install, 304 keeps it current, fail closed on TTL/expiry/401/403, restart."""

from __future__ import annotations

import dataclasses
import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import numpy as np
import pytest

from edge.capture import Backoff
from edge.gallery import GALLERY_FILE, GalleryClient, GalleryState, push_url
from edge.provision import DeviceIdentity, load_or_create_keys, register
from models.types import Embedding
from tests.edge.fakeserver import CODE, FakeServer

T0 = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


def _vec(seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=128).astype(np.float32)
    return v / np.linalg.norm(v)


@dataclass
class Rig:
    server: FakeServer
    clock: Clock
    data: Path
    identity: DeviceIdentity
    http: httpx.Client

    def client(self, state: GalleryState | None = None) -> GalleryClient:
        return GalleryClient(
            identity=self.identity,
            keys=load_or_create_keys(self.data),
            state=state or GalleryState(ttl_s=600, now=self.clock),
            data_dir=self.data,
            client=self.http,
            poll_s=5,
            now=self.clock,
        )


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    clock = Clock()
    server = FakeServer(tmp_path, now=clock)
    data = tmp_path / "data"
    with server.client() as http:
        identity = register(
            server_url="http://server.test",
            enrolment_code=CODE,
            name="e",
            data_dir=data,
            client=http,
        )
        yield Rig(server, clock, data, identity, http)


def test_poll_installs_writes_and_acks(rig: Rig) -> None:
    rig.server.publish({"s-a": _vec(1), "s-b": np.stack([_vec(2), _vec(3)])})
    client = rig.client()
    assert client.state.current() is None
    assert client.poll_once() == "installed"
    active = client.state.current()
    assert active is not None
    assert active.version == 1
    assert active.index.subject_ids == ("s-a", "s-b")
    assert len(active.index) == 3
    match = active.index.match(Embedding(_vec(3), "dlib_resnet_v1"))
    assert match.subject_id == "s-b"
    assert match.distance == pytest.approx(0.0, abs=1e-5)
    assert (rig.data / GALLERY_FILE).read_bytes() == rig.server.blob
    assert rig.server.acks == [1]
    # unchanged: If-None-Match, 304, still current
    assert client.poll_once() == "current"
    assert rig.server.gallery_requests[-1].headers["If-None-Match"] == '"1"'
    assert client.state.status().reason == "ok"


def test_not_confirmed_within_ttl_stops_matching_until_confirmed(rig: Rig) -> None:
    rig.server.publish({"s-a": _vec(1)})
    client = rig.client()
    client.poll_once()
    rig.clock.now += timedelta(seconds=599)
    assert client.state.current() is not None
    rig.clock.now += timedelta(seconds=2)  # server unreachable for longer than the TTL
    assert client.state.current() is None
    assert client.state.status().reason == "not_confirmed_current"
    assert client.poll_once() == "current"
    assert client.state.current() is not None


def test_expired_gallery_stops_matching_even_when_confirmed(rig: Rig) -> None:
    rig.server.publish({"s-a": _vec(1)}, ttl=timedelta(minutes=5))
    client = rig.client()
    client.poll_once()
    rig.clock.now += timedelta(minutes=4)
    assert client.poll_once() == "current"
    rig.clock.now += timedelta(minutes=1)
    assert client.state.current() is None
    assert client.state.status().reason == "expired"


def test_revoked_credential_clears_gallery_and_disk_copy(rig: Rig) -> None:
    rig.server.publish({"s-a": _vec(1)})
    client = rig.client()
    client.poll_once()
    rig.server.revoked = True
    assert client.poll_once() == "revoked"
    assert client.state.current() is None
    assert client.state.status().reason == "credential_revoked"
    assert not (rig.data / GALLERY_FILE).exists()
    # and a restart cannot resurrect it from disk
    assert rig.client().load_from_disk() is False


def test_store_not_live_means_no_matching(rig: Rig) -> None:
    rig.server.publish({"s-a": _vec(1)})
    client = rig.client()
    client.poll_once()
    rig.server.live = False
    assert client.poll_once() == "not_live"
    assert client.state.current() is None
    assert client.state.status().reason == "store_not_live"


def test_restart_loads_unexpired_gallery_from_disk_only(rig: Rig) -> None:
    rig.server.publish({"s-a": _vec(1)}, ttl=timedelta(minutes=30))
    rig.client().poll_once()
    restarted = rig.client()
    assert restarted.load_from_disk() is True
    assert restarted.state.version == 1
    assert restarted.state.current() is not None
    # counted as confirmed at issue time: offline, it matches at most a TTL after issue
    rig.clock.now += timedelta(seconds=601)
    assert restarted.state.current() is None
    rig.clock.now += timedelta(minutes=30)
    assert rig.client().load_from_disk() is False  # expired on disk: not even installed


def test_tampered_stale_or_foreign_galleries_are_refused(rig: Rig) -> None:
    rig.server.publish({"s-a": _vec(1)})
    rig.server.publish({"s-a": _vec(1), "s-b": _vec(2)})
    client = rig.client()
    assert client.poll_once() == "installed"
    assert client.state.version == 2
    good = rig.server.blob
    assert good is not None
    # tampered
    rig.server.version = 3
    rig.server.blob = good[:-1] + bytes([good[-1] ^ 1])
    assert client.poll_once() == "refused"
    # older version
    rig.server.blob = rig.server.seal({"s-z": _vec(9)}, version=1)
    assert client.poll_once() == "refused"
    # sealed for another device
    rig.server.blob = rig.server.seal({"s-z": _vec(9)}, version=4, device_id="dev-2")
    assert client.poll_once() == "refused"
    active = client.state.current()
    assert active is not None
    assert active.version == 2  # the installed gallery stays
    assert active.index.subject_ids == ("s-a", "s-b")
    assert rig.server.acks == [2]


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_push_url_follows_the_server_scheme() -> None:
    assert push_url("http://10.0.0.5:8000") == "ws://10.0.0.5:8000/ws/device"
    assert push_url("https://vertrouwd.example") == "wss://vertrouwd.example/ws/device"
    with pytest.raises(ValueError, match="http"):
        push_url("ftp://x")


def test_without_the_push_socket_the_device_polls_every_poll_s(rig: Rig) -> None:
    """The server's WebSocket is unreachable: the device keeps retrying it with backoff and
    meanwhile polls at ``poll_s`` (not at the slower interval it uses while pushed to)."""
    rig.server.publish({"s-a": _vec(1)})
    identity = dataclasses.replace(rig.identity, server_url=f"http://127.0.0.1:{_closed_port()}")
    backoff = Backoff(initial=0.05, maximum=0.2)
    client = GalleryClient(
        identity=identity,
        keys=load_or_create_keys(rig.data),
        state=GalleryState(ttl_s=600, now=rig.clock),
        data_dir=rig.data,
        client=rig.http,  # the fake server answers polls whatever the host
        poll_s=0.1,
        confirm_s=3600,
        now=rig.clock,
        push=True,
        push_backoff=backoff,
    )
    client.start()
    try:
        deadline = time.monotonic() + 10
        while len(rig.server.gallery_requests) < 4 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(rig.server.gallery_requests) >= 4, "fallback polling did not happen"
        assert not client.push_connected.is_set()
        assert backoff.attempt >= 1  # the socket is being retried, with backoff
    finally:
        client.shutdown()
    assert client.state.version == 1
    assert rig.server.acks == [1]


def test_events_on_a_socket_that_never_answers_are_posted_until_the_next_connection(
    rig: Rig,
) -> None:
    """A server from before arrivals on the push socket reads them and says nothing: the first
    batch waits out its timeout, later ones on that connection are not sent on it at all (the
    sender posts them at once), instead of every batch waiting."""
    from websockets.sync.server import ServerConnection, serve

    received: list[str] = []
    closed = threading.Event()

    def silent(ws: ServerConnection) -> None:
        ws.send(json.dumps({"type": "gallery", "version": 1}))
        try:
            for message in ws:
                received.append(str(message))
        finally:
            closed.set()

    rig.server.publish({"s-a": _vec(1)})
    with serve(silent, "127.0.0.1", 0) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        port = server.socket.getsockname()[1]
        identity = dataclasses.replace(rig.identity, server_url=f"http://127.0.0.1:{port}")
        client = GalleryClient(
            identity=identity,
            keys=load_or_create_keys(rig.data),
            state=GalleryState(ttl_s=600, now=rig.clock),
            data_dir=rig.data,
            client=rig.http,
            poll_s=3600,
            confirm_s=3600,
            now=rig.clock,
            push=True,
        )
        client.start()
        try:
            assert client.push_connected.wait(10)
            assert client.send_events([{"id": "e-1"}], 0.3) is None  # waited, unanswered
            assert client.send_events([{"id": "e-2"}], 0.3) is None  # not sent on it
        finally:
            client.shutdown()
        assert closed.wait(10)
        server.shutdown()
    assert [json.loads(m)["events"] for m in received] == [[{"id": "e-1"}]]
