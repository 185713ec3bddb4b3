"""A notification that fails after a commit never turns the committed write into an error.

* With Redis unreachable (a closed loopback port), a withdrawal and an erasure answer success,
  their data is committed, and the broker's sender thread logs the failed publishes (no
  personal data) and retries them; ``publish`` itself only queues.
* A post-commit callback that raises is logged with its name only, and run again later on the
  retry thread.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from server.app import create_app
from server.db.membership import ConsentRecord, Customer, FaceTemplate
from server.db.session import after_commit, after_commit_retries, transaction
from server.db.stores import Store
from server.realtime import RedisBroker
from server.runtime import Runtime
from server.services.recognition import devices
from server.settings import ServerSettings
from tests.server.conftest import StoreFixture, sign_in
from tests.server.members import enrol_member


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # closed again when this returns: connection refused


@pytest.fixture
def redis_down(runtime: Runtime) -> Iterator[RedisBroker]:
    broker = RedisBroker(f"redis://127.0.0.1:{_closed_port()}/0", ready_timeout_s=0.5)
    saved = runtime.broker
    runtime.broker = broker
    try:
        yield broker
    finally:
        runtime.broker = saved


@pytest.mark.faces
def test_withdrawal_and_erasure_succeed_and_commit_while_redis_is_down(
    settings: ServerSettings,
    runtime: Runtime,
    store: StoreFixture,
    faces: Path,
    redis_down: RedisBroker,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    anna = enrol_member(runtime, store, faces, "obama")
    bram = enrol_member(runtime, store, faces, "biden")
    with TestClient(create_app(settings, runtime=runtime)) as client:
        sign_in(client, "cashier")
        r = client.post(f"/api/v1/customers/{anna.customer_id}/withdraw")
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "withdrawn"
        r = client.post(f"/api/v1/customers/{bram.customer_id}/erase")
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "erased"
        # the notices were handed over, and the sender keeps failing to reach Redis
        assert redis_down.wait_until(lambda b: b.failures >= 2, timeout=60)
        assert redis_down.sent == 0
    with runtime.sessions() as s:
        status = s.scalars(
            select(ConsentRecord.status).where(ConsentRecord.customer_id == anna.customer_id)
        ).one()
        assert status == "withdrawn"
        assert s.scalar(select(func.count()).select_from(FaceTemplate)) == 0
        assert s.get(Customer, bram.customer_id) is None
    server_log = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("server"))
    assert "redis publish failed (ConnectionError)" in server_log
    for secret in ("Barack", "Obama", "Biden", anna.customer_id, bram.customer_id):
        assert secret not in server_log


def test_a_failing_post_commit_callback_is_logged_and_retried(
    runtime: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    calls: list[int] = []

    def tell_the_tablets() -> None:
        calls.append(len(calls))
        if len(calls) == 1:
            raise ConnectionError("broker down while telling about Anna de Vries")

    with transaction(runtime.sessions) as session:
        devices.create_store(session, code="zwolle", name="Zwolle", now=runtime.now())
        after_commit(session, tell_the_tablets)
    # committed, although its notice failed
    with runtime.sessions() as session:
        assert session.scalars(select(Store.code).where(Store.code == "zwolle")).one() == "zwolle"
    assert after_commit_retries.wait_idle(timeout=60)
    assert calls == [0, 1]  # run again, once, on the retry thread
    assert "tell_the_tablets failed (ConnectionError); retrying" in caplog.text
    assert "tell_the_tablets done on retry 1" in caplog.text
    assert "Anna" not in caplog.text
