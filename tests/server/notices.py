"""The gallery notices a CLI process sends the running servers through Redis, read from a
test's own subscription (``test_retention_notify``, ``test_cli_shared_paths``)."""

from __future__ import annotations

import json
import os
import time
from typing import Any

import pytest

REDIS_URL = os.environ.get("VERTROUWD_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def redis_client() -> Any:
    """A client of the test Redis (``make test`` starts it); the test fails if it is down."""
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        pytest.fail(f"Redis is not reachable at {REDIS_URL} (make test starts it): {exc}")
    return client


def gallery_notice(pubsub: Any, version: int, deadline_s: float = 30) -> dict[str, Any] | None:
    """The notice of ``version`` on the subscribed channel, or None by the deadline. Another
    test run sharing this Redis may publish other versions on a same-named channel (the
    channel is a store id in that run's database): those are skipped."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        item = pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
        if item is not None and item["type"] == "message":
            message = dict(json.loads(item["data"]))
            if message.get("version") == version:
                return message
    return None
