"""The in-process broker's subscriber mailbox: bounded, oldest dropped first, a waiting
subscriber woken by a publish from the loop or from another thread (a sync route's thread)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import pytest

from server.realtime import InProcessBroker, as_text

pytestmark = pytest.mark.db_agnostic  # the broker's own logic: no database
T = TypeVar("T")


def run(scenario: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run`` in a thread of its own: a browser test earlier in the same process
    (Playwright's sync API) leaves an event loop running in the main thread."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, scenario).result()


def test_a_slow_subscriber_loses_its_oldest_messages_and_keeps_the_order() -> None:
    async def scenario() -> tuple[list[int], int]:
        broker = InProcessBroker(queue_size=4)
        await broker.start(asyncio.get_running_loop())
        async with broker.subscribe("store-1") as messages:
            for n in range(6):  # nobody reads meanwhile: 0 and 1 make room for 4 and 5
                broker.publish("store-1", {"n": n})
            got = [(await anext(messages))["n"] for _ in range(4)]
        return got, broker.dropped

    got, dropped = run(scenario())
    assert got == [2, 3, 4, 5]
    assert dropped == 2


def test_a_waiting_subscriber_wakes_for_a_publish_from_another_thread() -> None:
    async def scenario() -> tuple[str, str, int]:
        broker = InProcessBroker(queue_size=4)
        await broker.start(asyncio.get_running_loop())
        async with (
            broker.subscribe("store-1") as mine,
            broker.subscribe("store-2") as theirs,
        ):
            waiting = asyncio.ensure_future(anext(mine))
            await asyncio.sleep(0)  # let it reach its wait (an event-loop turn, not a delay)
            assert not waiting.done()
            thread = threading.Thread(
                target=broker.publish, args=("store-1", {"type": "card", "id": "v1"})
            )
            thread.start()
            first = await waiting
            thread.join()
            broker.publish("store-2", {"type": "card", "id": "v2"})
            other = await anext(theirs)
        return as_text(first), as_text(other), broker.dropped

    first, other, dropped = run(scenario())
    assert first == '{"type":"card","id":"v1"}'
    assert other == '{"type":"card","id":"v2"}'
    assert dropped == 0


def test_leaving_unsubscribes() -> None:
    async def scenario() -> bool:
        broker = InProcessBroker()
        await broker.start(asyncio.get_running_loop())
        async with broker.subscribe("store-1"):
            pass
        broker.publish("store-1", {"n": 1})  # nobody left: nothing kept, nothing raised
        return "store-1" in broker._subs

    assert run(scenario()) is False
