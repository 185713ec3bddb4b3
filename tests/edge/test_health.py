"""Health and metrics endpoint: JSON health, Prometheus text, no identities."""

from __future__ import annotations

import httpx

from edge.health import HealthServer, render_prometheus
from tests.waiting import HANG_S


def test_prometheus_text_format() -> None:
    text = render_prometheus(
        {
            "fps": 31.5,
            "frames_processed": 100,
            "frames_dropped": 4,
            "stage_seconds_detect": 1.25,
            "stage_seconds_embed": 0.5,
            "gallery_age_seconds": float("nan"),
        }
    )
    assert "# TYPE vertrouwd_edge_fps gauge\nvertrouwd_edge_fps 31.5\n" in text
    assert "vertrouwd_edge_frames_processed_total 100.0\n" in text
    assert "vertrouwd_edge_frames_dropped_total 4.0\n" in text
    assert 'vertrouwd_edge_stage_seconds_total{stage="detect"} 1.25\n' in text
    assert 'vertrouwd_edge_stage_seconds_total{stage="embed"} 0.5\n' in text
    assert "gallery_age" not in text  # unknown values are left out, not invented


def test_server_serves_health_and_metrics() -> None:
    state = {"ok": True, "matching": True, "reason": "ok", "gallery_version": 3}
    server = HealthServer(
        "127.0.0.1",
        0,
        health=lambda: dict(state),
        metrics=lambda: {"fps": 12.0, "arrivals_sent": 2},
    )
    server.start()
    try:
        with httpx.Client(base_url=server.url, timeout=HANG_S) as client:
            health = client.get("/healthz")
            assert health.status_code == 200
            assert health.json()["gallery_version"] == 3
            metrics = client.get("/metrics")
            assert metrics.status_code == 200
            assert metrics.headers["content-type"].startswith("text/plain")
            assert "vertrouwd_edge_arrivals_sent_total 2" in metrics.text
            state["ok"] = False
            assert client.get("/healthz").status_code == 503
            assert client.get("/other").status_code == 404
    finally:
        server.shutdown()
