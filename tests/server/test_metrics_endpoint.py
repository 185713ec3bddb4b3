"""``GET /metrics`` (issue 16, item 14) through the real app: a tablet socket, a device's real
arrival through the group-commit writer, gallery publications and a device that has not
acknowledged; counts and timings only (no name, pseudonym, token or filled-in path); with
``VERTROUWD_METRICS_TOKEN`` only a bearer gets them."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr

from server.app import create_app
from server.runtime import Runtime
from server.settings import ServerSettings
from tests.server.conftest import StoreFixture, sign_in
from tests.server.factories import device_token
from tests.server.members import enrol_member

pytestmark = [pytest.mark.faces]


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = float(s.value)
    return out


def value(text: str, name: str, **labels: str) -> float:
    return samples(text)[(name, tuple(sorted(labels.items())))]


def test_metrics_count_sockets_arrivals_cards_and_time_requests_without_identities(
    client: TestClient, runtime: Runtime, store: StoreFixture, faces: Path
) -> None:
    member = enrol_member(runtime, store, faces)
    token = device_token(runtime, client, store.code)
    sign_in(client, "sales")
    with client.websocket_connect("/ws/tablet") as ws:
        assert ws.receive_json()["type"] == "hello"
        text = client.get("/metrics").text
        assert value(text, "vertrouwd_sockets_open", kind="tablet") == 1
        assert value(text, "vertrouwd_arrivals_total", outcome="accepted") == 0
        at = datetime.now(UTC).isoformat()
        event = {"id": uuid.uuid4().hex, "kind": "arrival", "subject_id": member.subject_id,
                 "at": at, "score": 0.4, "margin": 0.3, "frames": 3}  # fmt: skip
        r = client.post("/api/v1/device/events", json={"events": [event]},
                        headers={"Authorization": f"Bearer {token}"})  # fmt: skip
        assert r.status_code == 202, r.text
        assert ws.receive_json()["type"] == "arrival"
    r = client.get("/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    text = r.text
    assert value(text, "vertrouwd_sockets_open", kind="tablet") == 0  # closed again
    assert value(text, "vertrouwd_arrivals_total", outcome="accepted") == 1
    assert value(text, "vertrouwd_cards_pushed_total") == 1
    assert value(text, "vertrouwd_arrival_batch_size_count") >= 1
    assert value(text, "vertrouwd_gallery_publications_total") >= 1  # at least the go-live
    assert value(text, "vertrouwd_device_acks_pending") == 1  # registered, never acknowledged
    route = "/api/v1/device/events"
    assert value(text, "vertrouwd_request_duration_seconds_count",
                 method="POST", route=route, status="2xx") == 1  # fmt: skip
    for secret in (member.subject_id, member.name, member.customer_id, token, "obama"):
        assert secret not in text


def test_a_metrics_token_keeps_them_private(
    settings: ServerSettings, runtime: Runtime, store: StoreFixture
) -> None:
    secret = "m" * 24
    guarded = settings.model_copy(update={"metrics_token": SecretStr(secret)})
    runtime.settings, before = guarded, runtime.settings
    try:
        with TestClient(create_app(guarded, runtime=runtime)) as c:
            assert c.get("/metrics").status_code == 401
            wrong = c.get("/metrics", headers={"Authorization": "Bearer " + "x" * 24})
            assert wrong.status_code == 401
            ok = c.get("/metrics", headers={"Authorization": f"Bearer {secret}"})
            assert ok.status_code == 200
            assert "vertrouwd_request_duration_seconds" in ok.text
    finally:
        runtime.settings = before


def test_the_sample_grafana_dashboard_queries_only_metrics_that_exist(
    client: TestClient, store: StoreFixture
) -> None:
    """``deploy/grafana/vertrouwd-dashboard.json``: every series it asks for is exposed by the
    server's /metrics or the edge's (``edge.health``), so the sample shows data once imported."""
    import json
    import re

    from edge.health import HELP, LABELLED, PREFIX

    repo = Path(__file__).resolve().parents[2]
    dashboard = json.loads((repo / "deploy" / "grafana" / "vertrouwd-dashboard.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    wanted = {m for e in exprs for m in re.findall(r"vertrouwd_[a-z_]+", e)}
    assert client.get("/healthz").status_code == 200  # one request timed before the scrape
    server = {
        s.name
        for family in text_string_to_metric_families(client.get("/metrics").text)
        for s in family.samples
    }
    edge = {PREFIX + k + ("_total" if kind == "counter" else "") for k, (kind, _) in HELP.items()}
    edge |= {PREFIX + p.rstrip("_") + "_total" for p in LABELLED}
    missing = wanted - server - edge
    assert not missing, missing
    assert len(dashboard["panels"]) >= 10


def test_the_wait_for_a_pooled_connection_is_a_histogram_that_counts_requests(
    client: TestClient, store: StoreFixture
) -> None:
    """``vertrouwd_db_pool_wait_seconds``: every checkout from the pool is timed, so requests
    that use the database add to its count (issue 16, item 14)."""
    before = value(client.get("/metrics").text, "vertrouwd_db_pool_wait_seconds_count")
    sign_in(client, "sales")  # the sign-in and its session each take a connection
    assert client.get("/api/v1/auth/me").status_code == 200
    text = client.get("/metrics").text  # and reading the gallery figures takes one too
    after = value(text, "vertrouwd_db_pool_wait_seconds_count")
    assert after >= before + 2
    assert value(text, "vertrouwd_db_pool_wait_seconds_bucket", le="+Inf") == after
    assert value(text, "vertrouwd_db_pool_wait_seconds_sum") >= 0


def test_a_wait_that_runs_into_the_pools_time_out_is_counted_with_its_length(
    tmp_path: Path,
) -> None:
    """The histogram sees the waits that matter most: SQLite's one connection taken, the next
    request waits for the pool's time-out (0.2 s here) and the wait is reported at least that
    long. Several subscribers each hear it; one that stopped does not."""
    from sqlalchemy import exc

    from server.db.session import make_engine
    from server.metrics import watch_pool

    engine = make_engine(f"sqlite:///{tmp_path / 'pool.db'}", pool_timeout=0.2)
    first: list[float] = []
    second: list[float] = []
    stop_first = watch_pool(engine.pool, first.append)
    stop_second = watch_pool(engine.pool, second.append)
    try:
        with engine.connect():
            assert len(first) == 1
            with pytest.raises(exc.TimeoutError), engine.connect():
                pass
        assert len(first) == 2
        # the pool waited out its time-out, and that is what was seen (5 % for the pool timing
        # its wait on the wall clock, the hook on the monotonic one)
        assert first[1] >= 0.2 * 0.95
        assert second == first
        stop_first()
        with engine.connect():
            pass
        assert len(first) == 2
        assert len(second) == 3
    finally:
        stop_second()
        engine.dispose()
