"""A device credential revoked while the edge runs: the real server (a child process) answers
401, and the real edge CLI (another child process) stops matching, deletes its sealed gallery
and says why on /healthz and /metrics."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import cv2
import httpx
import numpy as np
import pytest
from sqlalchemy import select

from server.db.models import EdgeDevice
from server.db.session import transaction
from server.runtime import build_runtime
from server.serve import free_port
from server.services import devices
from server.settings import ServerSettings
from tests.faults.harness import REPO, ServerProcess, closing_all, record, seed_store, wait_until

pytestmark = [pytest.mark.faults, pytest.mark.timeout(120)]

CONFIRM_S = 1.0
"""The edge's confirming poll interval in this test (default 60 s, at most a third of the
TTL): how fast a revocation is noticed when the device has nothing to send."""


def _video(path: Path, frames: int = 300) -> Path:
    """A plain moving-noise video (no faces): the edge needs a readable source."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), 10.0, (320, 240))
    rng = np.random.default_rng(7)
    for _ in range(frames):
        writer.write(rng.integers(0, 255, size=(240, 320, 3), dtype=np.uint8))
    writer.release()
    return path


def _health(port: int) -> dict[str, Any] | None:
    try:
        r = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
    except httpx.TransportError:
        return None
    data: dict[str, Any] = r.json()
    return data


def test_revoked_credential_stops_matching_with_the_reason_on_healthz(tmp_path: Path) -> None:
    settings = ServerSettings(data_dir=tmp_path / "server", environment="test")
    seeded = seed_store(settings, members=0)
    server = ServerProcess(settings)
    server.start()
    health_port = free_port()
    edge_dir = tmp_path / "edge"
    env = {k: v for k, v in os.environ.items() if not k.startswith("VERTROUWD_")}
    env |= {
        "VERTROUWD_EDGE_GALLERY_CONFIRM_S": str(CONFIRM_S),
        "VERTROUWD_EDGE_GALLERY_POLL_S": str(CONFIRM_S),
        "PYTHONUNBUFFERED": "1",
    }
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
            lambda: (_health(health_port) or {}).get("matching") is True, 60, "edge matching"
        )
        assert (edge_dir / "gallery.sealed").exists()

        rt = build_runtime(settings, migrate=False)
        try:
            with transaction(rt.sessions) as session:
                device = session.scalars(select(EdgeDevice)).one()
                devices.revoke_device(session, device_id=device.id, actor="test", now=rt.now())
        finally:
            rt.close()
        revoked_at = time.monotonic()
        stop_s = wait_until(
            lambda: (_health(health_port) or {}).get("reason") == "credential_revoked",
            10,
            "matching stopped for the revoked credential",
        )
        health = _health(health_port)
        assert health is not None
        assert health["matching"] is False
        assert health["gallery_version"] == 0
        r = httpx.get(f"http://127.0.0.1:{health_port}/healthz", timeout=2)
        assert r.status_code == 503  # a monitoring probe sees the device as unhealthy
        metrics = httpx.get(f"http://127.0.0.1:{health_port}/metrics", timeout=2).text
        assert "vertrouwd_edge_matching_enabled 0\n" in metrics
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
        assert time.monotonic() - revoked_at < 10
        stop_edge()
        assert edge.returncode == 0, edge_log.read_text()[-3000:]
    assert "credential refused" in edge_log.read_text()

    record(
        "revoked_device",
        {
            "confirm_poll_s": CONFIRM_S,
            "matching_off_after_revocation_s": round(stop_s, 2),
            "healthz_status": 503,
            "reason": "credential_revoked",
        },
    )


def _token(edge_dir: Path) -> str:
    import json

    return str(json.loads((edge_dir / "device.json").read_text())["token"])
