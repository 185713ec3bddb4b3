"""Fan-out of live messages (prompt cards) to WebSocket clients.

``Broker`` is the seam: the embedded default is ``InProcessBroker`` (one process); a Redis
publish/subscribe broker plugs in behind the same Protocol for several server processes.

Threading: ``publish`` may be called from any thread (sync routes run in a thread pool); it hands
the message to the event loop that owns the subscriber queues. Each subscriber queue is bounded:
a tablet that cannot keep up loses its oldest pending messages, never blocks the publisher
(it catches up through the REST endpoint of live visits on reconnect).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import AsyncIterator
from typing import Any, Protocol

log = logging.getLogger(__name__)

Message = dict[str, Any]


class Broker(Protocol):
    def publish(self, channel: str, message: Message) -> None:
        """Deliver ``message`` to every current subscriber of ``channel``; never blocks."""

    def subscribe(
        self, channel: str
    ) -> contextlib.AbstractAsyncContextManager[AsyncIterator[Message]]:
        """Subscribe for the duration of the ``async with`` block."""

    async def close(self) -> None: ...


class InProcessBroker:
    def __init__(self, queue_size: int = 256) -> None:
        self._subs: dict[str, set[asyncio.Queue[Message]]] = defaultdict(set)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue_size = queue_size
        self.dropped = 0

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    def publish(self, channel: str, message: Message) -> None:
        loop = self._loop
        if loop is None:
            raise RuntimeError("broker is not bound to an event loop")
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._deliver(channel, message)
        else:
            loop.call_soon_threadsafe(self._deliver, channel, message)

    def _deliver(self, channel: str, message: Message) -> None:
        for queue in list(self._subs.get(channel, ())):
            while True:
                try:
                    queue.put_nowait(message)
                    break
                except asyncio.QueueFull:
                    with contextlib.suppress(asyncio.QueueEmpty):
                        queue.get_nowait()
                        self.dropped += 1

    @contextlib.asynccontextmanager
    async def subscribe(self, channel: str) -> AsyncIterator[AsyncIterator[Message]]:
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Message] = asyncio.Queue(self._queue_size)
        self._subs[channel].add(queue)

        async def messages() -> AsyncIterator[Message]:
            while True:
                yield await queue.get()

        try:
            yield messages()
        finally:
            self._subs[channel].discard(queue)
            if not self._subs[channel]:
                del self._subs[channel]

    async def close(self) -> None:
        self._subs.clear()


def tablet_channel(store_id: int) -> str:
    return f"store:{store_id}:tablets"
