"""A device credential revoked while the edge runs: the real server (a child process) closes the
device's push socket and answers 401, and the real edge CLI (another child process) stops
matching, deletes its sealed gallery and says why on /healthz and /metrics.

Two ways in: the privacy officer's console (the server hears of it at once and closes the
socket) and a change no broker carried (``vertrouwd devices revoke`` on the embedded default,
here a direct database write: the socket's own credential check closes it). The edge polls at
its defaults (once a minute), so only the closed socket can stop it within seconds."""

from __future__ import annotations

import functools
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import cv2
import httpx
import numpy as np
import pytest
from sqlalchemy import select

from server.db.recognition import EdgeDevice
from server.db.session import transaction
from server.runtime import build_runtime
from server.serve import free_port
from server.services.recognition import devices
from server.services.staff import accounts as staff
from server.settings import ServerSettings
from tests.faults.harness import (
    PASSWORD,
    REPO,
    ServerProcess,
    closing_all,
    login,
    record,
    seed_store,
    wait_until,
)
from tests.waiting import HANG_S

pytestmark = pytest.mark.faults

RECHECK_S = 1.0
"""The server's socket credential check in this test (``VERTROUWD_DEVICE_RECHECK_S``, 30 s by
default): how fast a revocation no broker carried reaches a connected device."""


def _video(path: Path, frames: int = 300) -> Path:
    """A plain moving-noise video (no faces): the edge needs a readable source."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), 10.0, (320, 240))
    rng = np.random.default_rng(7)
    for _ in range(frames):
        writer.write(rng.integers(0, 255, size=(240, 320, 3), dtype=np.uint8))
    writer.release()
    return path


@functools.cache
def _probe() -> httpx.Client:
    """One client for every probe: ``httpx.get`` builds a TLS context from the CA bundle on
    each call (~55 ms of CPU), and wait_until probes every 20 ms: that took a core from the edge
    and server processes the test waits for."""
    return httpx.Client(timeout=2)


def _health(port: int) -> dict[str, Any] | None:
    try:
        r = _probe().get(f"http://127.0.0.1:{port}/healthz")
    except httpx.TransportError:
        return None
    data: dict[str, Any] = r.json()
    return data


@pytest.mark.parametrize("via", ["console", "database"])
def test_revoked_credential_stops_matching_with_the_reason_on_healthz(
    tmp_path: Path, via: str
) -> None:
    settings = ServerSettings(data_dir=tmp_path / "server", environment="test")
    seeded = seed_store(settings, members=0)
    rt = build_runtime(settings, migrate=False)
    try:
        with transaction(rt.sessions) as session:
            staff.create_staff(
                session,
                username="officer",
                password=PASSWORD,
                role="privacy_officer",
                store_id=None,
            )
    finally:
        rt.close()
    server = ServerProcess(settings, env={"VERTROUWD_DEVICE_RECHECK_S": str(RECHECK_S)})
    server.start()
    health_port = free_port()
    edge_dir = tmp_path / "edge"
    env = {k: v for k, v in os.environ.items() if not k.startswith("VERTROUWD_")}
    env["PYTHONUNBUFFERED"] = "1"
    edge_log = tmp_path / "edge.log"
    with edge_log.open("wb") as log:
        edge = subprocess.Popen(
            [
                sys.executable, "-m", "edge.cli", "--source", str(_video(tmp_path / "door.avi")),
                "--server", server.base, "--enrol-code", seeded.enrolment_code,
                "--data-dir", str(edge_dir), "--health-port", str(health_port),
            ],
            cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip

    def stop_edge() -> None:
        if edge.poll() is None:
            edge.send_signal(signal.SIGTERM)
            edge.wait(15)

    class EdgeProc:
        close = staticmethod(stop_edge)

    with closing_all(server, EdgeProc()):
        wait_until(
            lambda: (_health(health_port) or {}).get("matching") is True, HANG_S, "edge matching"
        )
        assert (edge_dir / "gallery.sealed").exists()

        wait_until(
            lambda: (_health(health_port) or {}).get("push_connected") is True,
            HANG_S,
            "push socket",
        )
        rt = build_runtime(settings, migrate=False)
        try:
            with transaction(rt.sessions) as session:
                device = session.scalars(select(EdgeDevice)).one()
                if via == "database":
                    devices.revoke_device(
                        session,
                        rt.context(),
                        device_id=device.id,
                        actor="test",
                    )
        finally:
            rt.close()
        if via == "console":
            cookie = login(server.base, "officer")
            r = httpx.post(
                f"{server.base}/api/v1/console/devices/{device.id}/revoke",
                cookies={"vt_session": cookie},
                timeout=10,
            )
            assert r.status_code == 200, r.text
        stop_s = wait_until(
            lambda: (_health(health_port) or {}).get("reason") == "credential_revoked",
            HANG_S,
            "matching stopped for the revoked credential",
        )
        health = _health(health_port)
        assert health is not None
        assert health["matching"] is False
        assert health["gallery_version"] == 0
        r = httpx.get(f"http://127.0.0.1:{health_port}/healthz", timeout=2)
        assert r.status_code == 503  # a monitoring probe sees the device as unhealthy
        metrics = httpx.get(f"http://127.0.0.1:{health_port}/metrics", timeout=2).text
        assert "vertrouwd_edge_matching_enabled 0.0\n" in metrics
        assert not (edge_dir / "gallery.sealed").exists()  # nothing left to match with
        assert not (edge_dir / "queue").exists()
        # the server refuses the device everywhere now
        identity_token = _token(edge_dir)
        refused = httpx.post(
            f"{server.base}/api/v1/device/events",
            headers={"Authorization": f"Bearer {identity_token}"},
            json={"events": []},
            timeout=5,
        )
        assert refused.status_code == 401
        stop_edge()
        assert edge.returncode == 0, edge_log.read_text()[-3000:]
    assert "credential refused" in edge_log.read_text()
    # Stopped by the closed socket (code 4401, then the poll it woke), not by the next of the
    # edge's minute-apart polls: the cause, where a bound on the seconds it took would fail on
    # a loaded machine (stop_s is recorded above).
    assert "push socket: device credential refused" in edge_log.read_text()

    record(
        f"revoked_device_{via}",
        {
            "edge_confirm_poll_s": 60,
            "server_recheck_s": RECHECK_S if via == "database" else None,
            "matching_off_after_revocation_s": round(stop_s, 2),
            "healthz_status": 503,
            "reason": "credential_revoked",
        },
    )


def _token(edge_dir: Path) -> str:
    import json

    return str(json.loads((edge_dir / "device.json").read_text())["token"])
