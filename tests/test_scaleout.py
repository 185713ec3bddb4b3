"""Two server processes on one PostgreSQL database with Redis fan-out: an arrival handled by
process A reaches a tablet connected to process B (and one connected to A), exactly once."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import websockets

from consent.device import DeviceKeyPair
from server.db.membership import Customer
from server.db.session import transaction
from server.runtime import build_runtime
from server.serve import start_server_process
from server.services.recognition import devices
from server.services.staff import accounts as staff
from server.settings import ServerSettings
from tests.databases import postgres_database
from tests.waiting import HANG_S

REPO = Path(__file__).resolve().parents[1]
PASSWORD = "correct horse battery"
# one process at a time on the shared Redis (SHARED in tests/conftest.py)
REDIS_URL = os.environ.get("VERTROUWD_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def _redis_up() -> None:
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        pytest.fail(f"Redis is not reachable at {REDIS_URL} (make test starts it): {exc}")


def _start(env: dict[str, str], data_dir: Path) -> tuple[subprocess.Popen[bytes], str]:
    return start_server_process(env, data_dir, cwd=REPO, timeout=HANG_S)


@pytest.fixture
def two_servers(tmp_path: Path) -> Iterator[tuple[str, str, str, str]]:
    """(base A, base B, device token, subject id of an enrolled-looking member)."""
    _redis_up()
    with postgres_database() as url:
        data_dir = tmp_path / "server"
        settings = ServerSettings(data_dir=data_dir, database_url=url, environment="test")
        rt = build_runtime(settings)
        with transaction(rt.sessions) as session:
            store = devices.create_store(session, code="chain-1", name="Chain 1", now=rt.now())
            devices.go_live(
                session, store=store, dpia_reference="D", signage_confirmed=True, actor="t",
                now=rt.now(),
            )  # fmt: skip
            staff.create_staff(
                session, username="sales", password=PASSWORD, role="sales", store_id=store.id
            )
            code = devices.create_enrolment_code(session, store=store, now=rt.now())
        rt.close()
        env = {k: v for k, v in os.environ.items() if not k.startswith("VERTROUWD_")}
        env |= {
            "VERTROUWD_ENVIRONMENT": "test",
            # door mode knowingly (tests/conftest.py)
            "VERTROUWD_MAX_FALSE_MATCHES_PER_1000": os.environ[
                "VERTROUWD_MAX_FALSE_MATCHES_PER_1000"
            ],
            "VERTROUWD_DATABASE_URL": url,
            "VERTROUWD_REDIS_URL": REDIS_URL,
        }
        a, base_a = _start(env, data_dir)
        b, base_b = _start(env, data_dir)
        try:
            keys = DeviceKeyPair.generate()
            r = httpx.post(
                f"{base_a}/api/v1/devices/register",
                json={
                    "enrolment_code": code,
                    "name": "door",
                    "public_key": base64.b64encode(keys.public_bytes()).decode(),
                },
                timeout=HANG_S,
            )
            assert r.status_code == 201, r.text
            token = r.json()["token"]
            subject = _member(settings, store.code)
            yield base_a, base_b, token, subject
        finally:
            for p in (a, b):
                p.terminate()
                p.wait(10)


def _member(settings: ServerSettings, store_code: str) -> str:
    """A member with an active consent (no templates needed for an arrival event)."""
    from consent.records import PURPOSE, consent_expiry, current_consent_text
    from server.db.membership import ConsentRecord
    from server.services.ids import new_id, new_subject_id

    rt = build_runtime(settings, migrate=False)
    try:
        with transaction(rt.sessions) as session:
            now = rt.now()
            text = current_consent_text("en")
            c = Customer(
                id=new_id(), subject_id=new_subject_id(), name="Anna de Vries",
                preferred_name="Anna", language="en", created_at=now, last_interaction_at=now,
            )  # fmt: skip
            session.add(c)
            session.flush()
            session.add(
                ConsentRecord(
                    id=new_id(),
                    customer_id=c.id,
                    purpose=PURPOSE,
                    scope=[store_code],
                    text_version=text.version,
                    text_language="en",
                    text_sha256=text.sha256,
                    channel="cli",
                    given_at=now,
                    expires_at=consent_expiry(now),
                    status="active",
                )
            )
            return c.subject_id
    finally:
        rt.close()


async def _listen(
    base: str, cookie: str, out: list[dict[str, object]], ready: asyncio.Event, got: asyncio.Event
) -> None:
    url = base.replace("http://", "ws://") + "/ws/tablet"
    async with websockets.connect(url, additional_headers={"Cookie": f"vt_session={cookie}"}) as ws:
        hello = json.loads(await ws.recv())
        assert hello["type"] == "hello"
        ready.set()
        while True:
            out.append(json.loads(await ws.recv()))
            got.set()


def test_arrival_on_process_a_reaches_tablets_on_a_and_b(
    two_servers: tuple[str, str, str, str],
) -> None:
    base_a, base_b, token, subject = two_servers

    async def scenario() -> tuple[list[dict[str, object]], list[dict[str, object]], float]:
        cookie_b = httpx.post(
            f"{base_b}/api/v1/auth/login",
            json={"username": "sales", "password": PASSWORD},
            timeout=HANG_S,
        ).cookies["vt_session"]
        got_a: list[dict[str, object]] = []
        got_b: list[dict[str, object]] = []
        ready_a, ready_b = asyncio.Event(), asyncio.Event()
        arrived_a, arrived_b = asyncio.Event(), asyncio.Event()
        tasks = [
            asyncio.create_task(_listen(base_a, cookie_b, got_a, ready_a, arrived_a)),
            asyncio.create_task(_listen(base_b, cookie_b, got_b, ready_b, arrived_b)),
        ]
        await asyncio.wait_for(asyncio.gather(ready_a.wait(), ready_b.wait()), 10)
        start = time.perf_counter()
        async with httpx.AsyncClient() as http:
            r = await http.post(
                f"{base_a}/api/v1/device/events",
                headers={"Authorization": f"Bearer {token}"},
                json={
                    "events": [
                        {
                            "id": uuid.uuid4().hex,
                            "kind": "arrival",
                            "subject_id": subject,
                            "at": datetime.now(UTC).isoformat(),
                            "score": 0.4,
                            "margin": 0.3,
                            "frames": 3,
                        }
                    ]
                },
            )
        assert r.status_code == 202, r.text
        assert r.json()["accepted"] == 1, r.text

        # a bound on a hang, not a speed check (bench/load.py measures the fan-out latency)
        await asyncio.wait_for(asyncio.gather(arrived_a.wait(), arrived_b.wait()), 60)
        elapsed = time.perf_counter() - start
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        return got_a, got_b, elapsed

    # Its own thread: a session-scoped Playwright browser keeps an event loop on this one.
    with ThreadPoolExecutor(1) as pool:
        got_a, got_b, elapsed = pool.submit(asyncio.run, scenario()).result()
    assert [m["preferred_name"] for m in got_a] == ["Anna"]
    assert [m["preferred_name"] for m in got_b] == ["Anna"]  # crossed processes via Redis
    print(f"card on both processes' tablets after {elapsed * 1000:.0f} ms")
