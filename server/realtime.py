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
import json
import logging
import queue as thread_queue
import threading
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from typing import Any, Protocol

log = logging.getLogger(__name__)

Message = dict[str, Any]


class Outgoing(dict[str, Any]):
    """A message as delivered to subscribers: a plain dict, plus its JSON text, encoded on
    first use and shared by every WebSocket that sends it (200 tablets, one ``json.dumps``).
    Only the event loop thread touches it."""

    _text: str | None = None

    @property
    def text(self) -> str:
        if self._text is None:
            self._text = json.dumps(self, separators=(",", ":"))
        return self._text


def as_text(message: Message) -> str:
    return message.text if isinstance(message, Outgoing) else json.dumps(message)


class _Mailbox:
    """One subscriber's pending messages: bounded, the oldest dropped first, one waiter.

    ``asyncio.Queue`` does the same with three deques and an Event (about 3 KB a subscriber,
    allocated even while empty): at 5,000 idle tablet sockets a process that is 15 MB for
    nothing (``bench/sockets.py``; target < 50 KB a socket). Here: a list that is almost always
    empty and, only while the socket waits, one future. Only the event loop thread touches it."""

    __slots__ = ("_items", "_size", "_waiter")

    def __init__(self, size: int) -> None:
        self._items: list[Message] = []
        self._size = size
        self._waiter: asyncio.Future[None] | None = None

    def put(self, message: Message) -> bool:
        """Adds ``message``; True when the oldest pending one was dropped to make room."""
        dropped = len(self._items) >= self._size
        if dropped:
            del self._items[0]
        self._items.append(message)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        return dropped

    async def get(self) -> Message:
        while not self._items:
            waiter = asyncio.get_running_loop().create_future()
            self._waiter = waiter
            try:
                await waiter
            finally:
                self._waiter = None
        return self._items.pop(0)


class Broker(Protocol):
    async def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Called once in the server's event loop before any subscriber arrives."""

    def publish(self, channel: str, message: Message) -> None:
        """Deliver ``message`` to every current subscriber of ``channel``; never blocks."""

    def publish_many(self, items: list[tuple[str, Message]]) -> None:
        """:meth:`publish` for each (channel, message), in order, in one hand-over."""

    def flush(self, timeout: float) -> bool:
        """Wait until what was published has been handed on (a CLI before it exits); True
        when it all was."""

    def subscribe(
        self, channel: str
    ) -> contextlib.AbstractAsyncContextManager[AsyncIterator[Message]]:
        """Subscribe for the duration of the ``async with`` block."""

    async def close(self) -> None: ...


class InProcessBroker:
    def __init__(self, queue_size: int = 256) -> None:
        self._subs: dict[str, set[_Mailbox]] = defaultdict(set)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue_size = queue_size
        self.dropped = 0

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    async def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self.bind(loop)

    def publish(self, channel: str, message: Message) -> None:
        self.publish_many([(channel, message)])

    def publish_many(self, items: list[tuple[str, Message]]) -> None:
        if not items:
            return
        loop = self._loop
        if loop is None:  # nothing subscribed in this process (a CLI): nobody to tell
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._deliver_many(items)
        else:
            loop.call_soon_threadsafe(self._deliver_many, items)

    def flush(self, timeout: float) -> bool:
        return True  # delivery is a hand-over to this process's own event loop

    def _deliver_many(self, items: list[tuple[str, Message]]) -> None:
        for channel, message in items:
            self._deliver(channel, message)

    def _deliver(self, channel: str, message: Message) -> None:
        # One Outgoing object for every subscriber: its JSON is encoded once, not per tablet.
        message = message if isinstance(message, Outgoing) else Outgoing(message)
        for mailbox in list(self._subs.get(channel, ())):
            if mailbox.put(message):
                self.dropped += 1

    @contextlib.asynccontextmanager
    async def subscribe(self, channel: str) -> AsyncIterator[AsyncIterator[Message]]:
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        mailbox = _Mailbox(self._queue_size)
        self._subs[channel].add(mailbox)

        async def messages() -> AsyncIterator[Message]:
            while True:
                yield await mailbox.get()

        try:
            yield messages()
        finally:
            self._subs[channel].discard(mailbox)
            if not self._subs[channel]:
                del self._subs[channel]

    async def close(self) -> None:
        self._subs.clear()


def tablet_channel(store_id: int) -> str:
    return f"store:{store_id}:tablets"


def device_channel(store_id: int) -> str:
    """The channel a store's edge devices listen on (``GET /ws/device``)."""
    return f"store:{store_id}:devices"


def revoked(device_id: str) -> Message:
    """To the server's socket of one device: its credential was revoked, close it now. The
    server never forwards this message to any device."""
    return {"type": "revoked", "device": device_id}


SESSION_ENDED = "session_ended"


def session_ended(staff_id: int) -> Message:
    """To the server's tablet sockets of one store: a session of this staff member ended (a
    sign-out); each of their sockets re-checks its own session at once and closes when it is
    over (server/session_watch.py). Never forwarded to a tablet; it carries no token."""
    return {"type": SESSION_ENDED, "staff": staff_id}


class RedisBroker:
    """Fan-out across server processes through Redis publish/subscribe.

    ``publish`` queues for Redis (from any thread, never blocking: a sender thread does the
    round trips, retries a failed batch a few times, and drops and counts what it cannot send);
    each process keeps ONE pattern subscription
    (``store:*``) whose listener task hands every message to a local ``InProcessBroker``, which
    fans it out to that process's WebSocket clients. So an arrival handled by process A reaches
    a tablet connected to process B, and a process with 200 tablets still holds one Redis
    connection for them. Messages are JSON; Redis sees pseudonymous ids and first names only
    (the same data the tablets get).
    """

    PATTERN = "store:*"
    SEND_ATTEMPTS = 4  # a batch Redis refuses this often (with backoff) is dropped, counted
    SEND_BACKOFF_S = 0.25

    def __init__(
        self,
        url: str,
        queue_size: int = 256,
        *,
        outbox_size: int = 10_000,
        ready_timeout_s: float = 10.0,
    ) -> None:
        import redis

        self.url = url
        self.local = InProcessBroker(queue_size)
        # Only the sender thread uses this client, so its timeouts never reach a caller.
        self._sync = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()
        self._ready_timeout_s = ready_timeout_s
        # publish() only queues (never blocks, as the Protocol says); one sender thread owns
        # the Redis round trips. Bounded: when Redis is away long enough to fill it, new
        # messages are dropped and counted (devices poll, tablets reload: nothing is lost
        # for good, only late).
        self._outbox: thread_queue.Queue[list[tuple[str, str]] | None] = thread_queue.Queue(
            outbox_size
        )
        self._stats = threading.Condition()
        self.queued = 0
        self.sent = 0
        self.dropped = 0
        self.failures = 0
        self._sender = threading.Thread(target=self._send_loop, name="redis-publish", daemon=True)
        self._sender.start()

    async def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self.local.bind(loop)
        self._task = loop.create_task(self._listen(), name="redis-broker")
        try:
            await asyncio.wait_for(self._ready.wait(), self._ready_timeout_s)
        except TimeoutError:
            # Serve anyway: writes do not need Redis, and the listener keeps reconnecting.
            log.warning("redis not reachable at start-up; live fan-out resumes when it is")

    async def _listen(self) -> None:
        import redis.asyncio as aredis

        backoff = 0.2
        while True:
            client = aredis.Redis.from_url(self.url)
            try:
                async with client.pubsub() as pubsub:
                    await pubsub.psubscribe(self.PATTERN)
                    self._ready.set()
                    backoff = 0.2
                    async for item in pubsub.listen():
                        if item.get("type") != "pmessage":
                            continue
                        channel = item["channel"]
                        channel = channel.decode() if isinstance(channel, bytes) else channel
                        try:
                            message = json.loads(item["data"])
                        except (TypeError, ValueError):
                            continue
                        self.local.publish(str(channel), message)
            except asyncio.CancelledError:
                raise
            except Exception:  # Redis restarted or unreachable: reconnect with backoff
                log.warning("redis subscription lost; reconnecting")
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
            finally:
                await client.aclose()

    def publish(self, channel: str, message: Message) -> None:
        self.publish_many([(channel, message)])

    def publish_many(self, items: list[tuple[str, Message]]) -> None:
        """Queues the messages for the sender thread and returns at once."""
        if not items:
            return
        batch = [(channel, json.dumps(m, separators=(",", ":"))) for channel, m in items]
        try:
            with self._stats:
                self.queued += len(batch)
            self._outbox.put_nowait(batch)
        except thread_queue.Full:
            with self._stats:
                self.dropped += len(batch)
                self._stats.notify_all()
            log.warning("redis publish queue full; %d message(s) dropped", len(batch))

    def _send_loop(self) -> None:
        while True:
            batch = self._outbox.get()
            if batch is None:
                return
            while True:  # everything waiting goes in one pipeline: one round trip
                try:
                    more = self._outbox.get_nowait()
                except thread_queue.Empty:
                    break
                if more is None:
                    self._outbox.put(None)
                    break
                batch.extend(more)
            self._send(batch)

    def _send(self, batch: list[tuple[str, str]]) -> None:
        for attempt in range(self.SEND_ATTEMPTS):
            try:
                pipe = self._sync.pipeline(transaction=False)
                for channel, text in batch:
                    pipe.publish(channel, text)
                pipe.execute()
            except Exception as exc:  # unreachable, timed out, restarting
                with self._stats:
                    self.failures += 1
                    self._stats.notify_all()
                log.warning(
                    "redis publish failed (%s), attempt %d", type(exc).__name__, attempt + 1
                )
                time.sleep(self.SEND_BACKOFF_S * 2**attempt)  # the sender's own pace only
                continue
            with self._stats:
                self.sent += len(batch)
                self._stats.notify_all()
            return
        with self._stats:
            self.dropped += len(batch)
            self._stats.notify_all()
        log.error("redis publish gave up; %d message(s) dropped", len(batch))

    def flush(self, timeout: float) -> bool:
        return self.wait_until(lambda b: b.sent + b.dropped >= b.queued, timeout) and (
            self.dropped == 0
        )

    def wait_until(self, test: Callable[[RedisBroker], bool], timeout: float) -> bool:
        """Block until ``test(self)`` holds, re-checked whenever a counter changes (tests)."""
        with self._stats:
            return self._stats.wait_for(lambda: test(self), timeout)

    def subscribe(
        self, channel: str
    ) -> contextlib.AbstractAsyncContextManager[AsyncIterator[Message]]:
        return self.local.subscribe(channel)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.local.close()
        with contextlib.suppress(thread_queue.Full):
            self._outbox.put_nowait(None)
        await asyncio.to_thread(self._sender.join, 5)
        self._sync.close()


def make_broker(redis_url: str | None) -> InProcessBroker | RedisBroker:
    """The embedded default (one process) unless a Redis URL is configured."""
    return RedisBroker(redis_url) if redis_url else InProcessBroker()
