"""The check-in kiosk: its state machine, and the page, state and button the device serves."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from edge.checkin import KioskState, Presence
from edge.health import HealthServer

ABSENT = Presence(False, False, 0.0, 0.0)
PASSING = Presence(True, False, 0.4, 0.9)
STANDING = Presence(True, True, 0.6, 0.9)


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def _kiosk(clock: Clock, *, trigger: bool = False) -> KioskState:
    return KioskState(
        trigger_required=trigger,
        trigger_window_s=10,
        welcome_s=4,
        looking_timeout_s=15,
        clock=clock,
    )


def test_someone_passing_never_starts_a_look() -> None:
    kiosk = _kiosk(Clock())
    for _ in range(50):
        assert kiosk.step(PASSING, confirmed=False) is False
    assert kiosk.snapshot().state == "idle"


def test_standing_looks_then_welcome_then_idle_after_the_welcome_time() -> None:
    clock = Clock()
    kiosk = _kiosk(clock)
    assert kiosk.step(STANDING, confirmed=False) is True
    assert kiosk.snapshot().state == "looking"
    assert kiosk.step(STANDING, confirmed=False) is True
    assert kiosk.step(STANDING, confirmed=True) is False  # recognised: stop looking
    assert kiosk.snapshot().state == "welcome"
    clock.t += 3.9
    assert kiosk.snapshot().state == "welcome"
    clock.t += 0.2
    assert kiosk.snapshot().state == "idle"  # on time even without a frame
    assert kiosk.step(STANDING, confirmed=False) is False
    # the welcomed member still stands there: not looked at again until the spot is empty
    for _ in range(5):
        assert kiosk.step(STANDING, confirmed=False) is False
    assert kiosk.step(ABSENT, confirmed=False) is False
    assert kiosk.step(STANDING, confirmed=False) is True


def test_nobody_recognised_gives_up_after_the_timeout_and_waits_for_an_empty_spot() -> None:
    clock = Clock()
    kiosk = _kiosk(clock)
    assert kiosk.step(STANDING, confirmed=False) is True
    clock.t += 15
    assert kiosk.step(STANDING, confirmed=False) is False
    assert kiosk.snapshot().state == "idle"
    assert kiosk.step(STANDING, confirmed=False) is False
    assert not kiosk.relearn_due()
    clock.t += 15  # still "someone" there a whole timeout later: probably no person at all
    assert kiosk.relearn_due()
    assert kiosk.step(STANDING, confirmed=False) is True


def test_leaving_while_looked_at_goes_back_to_idle() -> None:
    kiosk = _kiosk(Clock())
    assert kiosk.step(STANDING, confirmed=False) is True
    assert kiosk.step(ABSENT, confirmed=False) is False
    assert kiosk.snapshot().state == "idle"


def test_with_a_trigger_only_a_press_opens_a_window() -> None:
    clock = Clock()
    kiosk = _kiosk(clock, trigger=True)
    before_press = kiosk.needs_presence
    assert not before_press  # not even the presence gate runs
    for _ in range(5):
        assert kiosk.step(None, confirmed=False) is False
    kiosk.press()
    assert kiosk.snapshot().state == "looking"
    assert kiosk.needs_presence
    assert kiosk.step(None, confirmed=False) is True
    clock.t += 10
    assert kiosk.step(None, confirmed=False) is False  # the window closed
    assert kiosk.snapshot().state == "idle"


@pytest.fixture
def served() -> Iterator[tuple[HealthServer, KioskState, dict[str, bool]]]:
    kiosk = _kiosk(Clock(), trigger=True)
    flags = {"available": True}
    server = HealthServer(
        "127.0.0.1",
        0,
        health=lambda: {"ok": True},
        metrics=lambda: {},
        kiosk=kiosk,
        kiosk_available=lambda: flags["available"],
    )
    server.start()
    try:
        yield server, kiosk, flags
    finally:
        server.shutdown()


def _request(
    url: str, *, method: str = "GET", content_type: str | None = None
) -> tuple[int, dict[str, str], bytes]:
    headers = {"Content-Type": content_type} if content_type else {}
    body = b"{}" if method == "POST" else None
    req = urllib.request.Request(url, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def test_the_kiosk_page_state_and_button(
    served: tuple[HealthServer, KioskState, dict[str, bool]],
) -> None:
    server, kiosk, flags = served
    status, headers, body = _request(server.url + "/kiosk")
    assert status == 200
    assert headers["Content-Type"].startswith("text/html")
    assert "script-src 'self'" in headers["Content-Security-Policy"]
    assert b'<script src="/kiosk.js">' in body
    assert _request(server.url + "/kiosk.js")[0] == 200

    status, _, body = _request(server.url + "/kiosk/state")
    state: dict[str, Any] = json.loads(body)
    assert state == {"available": True, "state": "idle", "trigger_required": True}

    # a plain form post (what a foreign page can send without a preflight) is refused
    url = server.url + "/kiosk/checkin"
    assert _request(url, method="POST", content_type="text/plain")[0] == 415
    assert _request(url, method="POST")[0] == 415
    assert kiosk.presses == 0
    status, _, body = _request(url, method="POST", content_type="application/json")
    assert status == 202
    assert json.loads(body)["state"] == "looking"
    assert kiosk.presses == 1

    flags["available"] = False  # not in check-in mode, or matching is off
    status, _, body = _request(server.url + "/kiosk/state")
    assert json.loads(body) == {"available": False, "state": "idle", "trigger_required": True}
    assert _request(url, method="POST", content_type="application/json")[0] == 409
    assert kiosk.presses == 1


def test_without_a_kiosk_there_are_no_kiosk_routes() -> None:
    server = HealthServer("127.0.0.1", 0, health=lambda: {"ok": True}, metrics=lambda: {})
    server.start()
    try:
        assert _request(server.url + "/kiosk")[0] == 404
        assert _request(server.url + "/kiosk/checkin", method="POST")[0] == 404
        assert _request(server.url + "/healthz")[0] == 200
    finally:
        server.shutdown()
