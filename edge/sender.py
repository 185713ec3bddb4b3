"""Sending arrival events to the server: a bounded in-memory queue, batched, retried.

``EventSender`` is an ``EventSink``. ``put`` never blocks: when the queue is full the oldest
event is dropped and counted. One sender thread posts batches to
``POST /api/v1/device/events``; an event leaves the queue only when the server accepted it
(202, as accepted or duplicate: ids are idempotency keys, so a retry after a lost answer is
harmless). Failures back off exponentially with jitter.

Seam for the offline queue: a disk-backed, encrypted ``EventSink`` that replays on reconnect
can replace the in-memory deque without touching the pipeline.
"""

from __future__ import annotations

import collections
import logging
import threading
from collections.abc import Callable

import httpx

from edge.capture import Backoff
from edge.events import ArrivalEvent

log = logging.getLogger(__name__)

EVENTS_PATH = "/api/v1/device/events"


class EventSender:
    def __init__(
        self,
        *,
        server_url: str,
        token: str,
        client: httpx.Client,
        max_queue: int = 1000,
        batch_size: int = 50,
        backoff: Backoff | None = None,
        on_unauthorized: Callable[[], None] | None = None,
        stop: threading.Event | None = None,
        wait: Callable[[float], bool] | None = None,
    ) -> None:
        if max_queue < 1 or batch_size < 1:
            raise ValueError("max_queue and batch_size must be positive")
        self.url = server_url.rstrip("/") + EVENTS_PATH
        self._token = token
        self.client = client
        self.max_queue = max_queue
        self.batch_size = batch_size
        self.backoff = backoff or Backoff(initial=1.0, maximum=60.0)
        self._on_unauthorized = on_unauthorized
        self.stop = stop or threading.Event()
        self._wait = wait or self.stop.wait
        self._queue: collections.deque[ArrivalEvent] = collections.deque()
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self.sent = 0
        self.duplicates = 0
        self.dropped = 0
        self.rejected = 0
        self.failures = 0
        self.last_success: float | None = None

    # -- EventSink -------------------------------------------------------------------------

    def put(self, event: ArrivalEvent) -> None:
        with self._cond:
            if len(self._queue) >= self.max_queue:
                self._queue.popleft()
                self.dropped += 1
                log.warning("event queue full; dropped the oldest event")
            self._queue.append(event)
            self._cond.notify_all()

    @property
    def pending(self) -> int:
        with self._cond:
            return len(self._queue)

    # -- sending ---------------------------------------------------------------------------

    def send_once(self) -> bool:
        """Post one batch; True when the queue made progress (or was empty)."""
        with self._cond:
            batch = list(self._queue)[: self.batch_size]
        if not batch:
            return True
        body = {"events": [e.to_json() for e in batch]}
        headers = {"Authorization": f"Bearer {self._token}"}
        try:
            response = self.client.post(self.url, json=body, headers=headers)
        except httpx.HTTPError as exc:
            self.failures += 1
            log.warning("sending events failed: %s", type(exc).__name__)
            return False
        status = response.status_code
        if status in (200, 202):
            self._remove(batch)
            accepted, duplicates = _counts(response, len(batch))
            self.sent += accepted
            self.duplicates += duplicates
            self.backoff.reset()
            return True
        self.failures += 1
        if status == 401:
            log.error("device credential refused while sending events")
            if self._on_unauthorized is not None:
                self._on_unauthorized()
            return False
        if status in (400, 413, 422):
            # the server will never take this batch: drop it rather than retry forever
            self._remove(batch)
            self.rejected += len(batch)
            log.error("server refused %d events (%d)", len(batch), status)
            return True
        log.warning("sending events answered %d", status)
        return False

    def _remove(self, batch: list[ArrivalEvent]) -> None:
        ids = {e.id for e in batch}
        with self._cond:
            self._queue = collections.deque(e for e in self._queue if e.id not in ids)
            self._cond.notify_all()

    def drain(self, timeout: float) -> bool:
        """Wait until every queued event was sent (True) or ``timeout`` passed (False)."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._queue, timeout=timeout)

    def run(self) -> None:
        while not self.stop.is_set():
            with self._cond:
                self._cond.wait_for(lambda: bool(self._queue) or self.stop.is_set())
            if self.stop.is_set():
                return
            if not self.send_once() and self._wait(self.backoff.next_delay()):
                return

    def start(self) -> None:
        self._thread = threading.Thread(target=self.run, name="edge-sender", daemon=True)
        self._thread.start()

    def shutdown(self, timeout: float = 5.0) -> None:
        self.stop.set()
        with self._cond:
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)


def _counts(response: httpx.Response, default: int) -> tuple[int, int]:
    try:
        data = response.json()
        return int(data.get("accepted", default)), int(data.get("duplicates", 0))
    except (ValueError, AttributeError, TypeError):
        return default, 0
