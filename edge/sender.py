"""Sending arrival events to the server: in memory while it answers, on disk while it does not.

``EventSender`` is an ``EventSink``. ``put`` never blocks on the network or the disk: events go
to a bounded in-memory queue (when full, the oldest is dropped and counted). One sender thread
sends batches on the device's push socket while it is open (``channel``: the gallery client's
``send_events``; the server answers each with the status a POST would have had), and posts
them to ``POST /api/v1/device/events`` while it is not (or when its answer does not come):

* 2xx: the batch is done (accepted, or a duplicate: event ids are idempotency keys, so a batch
  sent again after a lost answer is counted once by the server).
* unreachable (connection error, timeout), 5xx (503 while the server's database is down) or any
  other unexpected answer: the device is *offline*. Every unsent event moves to the
  ``OfflineQueue`` (on disk, encrypted, bounded by count and age; see ``edge.offline_queue``) and
  the sender backs off (exponential with jitter, at least the server's ``Retry-After``, at most
  ``backoff.maximum``). While the disk queue holds anything, new events are appended behind it
  and batches are taken from its head, so the server receives events in the order they
  happened. A queued event is deleted only after the server answered 2xx for it.
* 400/413/422: the server will never take this batch; it is dropped (reason ``rejected``).
* 401: the device credential was revoked. Matching stops (``on_unauthorized``), every queued
  event is deleted from memory and disk together with the queue key, and later events are
  dropped (reason ``revoked``): a revoked device keeps no backlog that could leak later.

``shutdown()`` moves what is still in memory to the disk queue, so a restarted edge replays it.
Without an ``OfflineQueue`` (``offline=None``) unsent events stay in memory only.

Counters for the metrics: ``sent``, ``duplicates``, ``replayed`` (sent from the disk queue),
``failures`` and ``dropped_by_reason``. Thread-safety: ``put`` runs on the pipeline's publish
thread, everything else on the sender thread; they share the deque under ``_cond``.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import httpx

from edge.capture import Backoff
from edge.events import ArrivalEvent
from edge.gallery import SocketAnswer
from edge.offline_queue import OfflineQueue

log = logging.getLogger(__name__)

EVENTS_PATH = "/api/v1/device/events"
REFUSED_FOR_GOOD = (400, 413, 422)

Channel = Callable[[list[dict[str, Any]], float], SocketAnswer | None]
"""Sends a batch of events (their wire form) on the push socket and waits at most the given
seconds for the answer: ``GalleryClient.send_events``."""


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
        offline: OfflineQueue | None = None,
        on_unauthorized: Callable[[], None] | None = None,
        stop: threading.Event | None = None,
        wait: Callable[[float], bool] | None = None,
        channel: Channel | None = None,
        channel_timeout: float = 10.0,
    ) -> None:
        """``channel``: sends a batch over the device's push socket and gives the server's
        answer, or None when the socket is down (then the batch is posted)."""
        if max_queue < 1 or batch_size < 1:
            raise ValueError("max_queue and batch_size must be positive")
        self.url = server_url.rstrip("/") + EVENTS_PATH
        self._token = token
        self.client = client
        self.max_queue = max_queue
        self.batch_size = batch_size
        self.backoff = backoff or Backoff(initial=1.0, maximum=30.0)
        self.offline_queue = offline
        self._on_unauthorized = on_unauthorized
        self._channel = channel
        self._channel_timeout = channel_timeout
        self.over_socket = 0
        """Batches answered over the push socket (the rest were posted)."""
        self.stop = stop or threading.Event()
        self._wake = threading.Event()
        self._retry_now = False
        self._wait = wait or self._default_wait
        self._queue: collections.deque[ArrivalEvent] = collections.deque()
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._dropped: Counter[str] = Counter()
        self.sent = 0
        self.duplicates = 0
        self.replayed = 0
        self.failures = 0
        self.revoked = False
        self.offline = False
        """True from a failed attempt until the next answered one."""
        self.last_success: float | None = None
        self.retry_after: float | None = None
        """The server's last ``Retry-After`` in seconds (a lower bound for the next wait)."""

    # -- EventSink -------------------------------------------------------------------------

    def put(self, event: ArrivalEvent) -> None:
        with self._cond:
            if self.revoked:
                self._dropped["revoked"] += 1
                return
            if len(self._queue) >= self.max_queue:
                self._queue.popleft()
                self._dropped["queue_full"] += 1
                log.warning("event queue full; dropped the oldest event")
            self._queue.append(event)
            self._cond.notify_all()
        if self.offline:
            self._wake.set()  # the sender thread writes it to disk now, not at the next attempt

    # -- counters --------------------------------------------------------------------------

    @property
    def queued_on_disk(self) -> int:
        return len(self.offline_queue) if self.offline_queue is not None else 0

    @property
    def pending(self) -> int:
        """Events not yet accepted by the server, in memory and on disk."""
        with self._cond:
            in_memory = len(self._queue)
        return in_memory + self.queued_on_disk

    @property
    def dropped_by_reason(self) -> dict[str, int]:
        """Events dropped by reason: ``queue_full``, ``too_old``, ``unreadable``, ``rejected``,
        ``revoked``."""
        with self._cond:
            out = Counter(self._dropped)
        if self.offline_queue is not None:
            out.update(self.offline_queue.drop_counts())
        return dict(out)

    @property
    def dropped(self) -> int:
        return sum(self.dropped_by_reason.values())

    @property
    def rejected(self) -> int:
        with self._cond:
            return self._dropped["rejected"]

    # -- sending ---------------------------------------------------------------------------

    def _take_memory(self) -> list[ArrivalEvent]:
        with self._cond:
            taken = list(self._queue)
            self._queue.clear()
            return taken

    def spill(self) -> int:
        """Move every event in memory to the disk queue (oldest first); the number moved."""
        if self.offline_queue is None or self.revoked:
            return 0
        taken = self._take_memory()
        if not taken:
            return 0
        try:
            written = self.offline_queue.append(taken)
        except OSError as exc:  # disk full, read-only: keep them in memory rather than lose them
            log.error("offline queue not writable (%s); events stay in memory", type(exc).__name__)
            with self._cond:
                self._queue.extendleft(reversed(taken))
            return 0
        log.info("server unreachable: %d events queued on disk", written)
        return written

    def send_once(self) -> bool:
        """Post one batch; True when the queue made progress (or was empty)."""
        self._retry_now = False  # this is the attempt a wake() asked for
        disk = self.offline_queue
        from_disk = disk is not None and len(disk) > 0
        if from_disk:
            assert disk is not None
            self.spill()  # newer events go behind the backlog: order is kept
            queued = disk.head(self.batch_size)
            batch = [q.event for q in queued]
        else:
            with self._cond:
                batch = list(self._queue)[: self.batch_size]
        if not batch:
            return True
        answer = self._deliver([e.to_json() for e in batch])
        if answer is None:
            self._went_offline(None)
            return False
        status = answer.status
        if 200 <= status < 300:
            if from_disk:
                assert disk is not None
                disk.remove([q.seq for q in queued])
                self.replayed += len(batch)
            else:
                self._remove(batch)
            accepted, duplicates = _counts(answer.body, len(batch))
            self.sent += accepted
            self.duplicates += duplicates
            self.backoff.reset()
            self.offline = False
            self.retry_after = None
            with self._cond:
                self._cond.notify_all()
            return True
        if status == 401:
            self.failures += 1
            self._revoked()
            return False
        if status in REFUSED_FOR_GOOD:
            # the server will never take this batch: drop it rather than retry forever
            if from_disk:
                assert disk is not None
                disk.remove([q.seq for q in queued])
            else:
                self._remove(batch)
            with self._cond:
                self._dropped["rejected"] += len(batch)
                self._cond.notify_all()
            log.error("server refused %d events (%d)", len(batch), status)
            return True
        log.warning("sending events answered %d", status)
        self._went_offline(answer.retry_after)
        return False

    def _deliver(self, events: list[dict[str, Any]]) -> SocketAnswer | None:
        """One batch to the server: over the push socket while it is open, else posted. None
        when the server could not be reached."""
        if self._channel is not None:
            answer = self._channel(events, self._channel_timeout)
            if answer is not None:
                self.over_socket += 1
                return answer
        headers = {"Authorization": f"Bearer {self._token}"}
        try:
            response = self.client.post(self.url, json={"events": events}, headers=headers)
        except httpx.HTTPError as exc:
            log.warning("sending events failed: %s", type(exc).__name__)
            return None
        try:
            body = response.json()
        except ValueError:
            body = None
        return SocketAnswer(
            response.status_code,
            body if isinstance(body, dict) else {},
            _retry_after(response),
        )

    def _went_offline(self, retry_after: float | None) -> None:
        self.failures += 1
        self.offline = True
        self.retry_after = retry_after
        self.spill()

    def _revoked(self) -> None:
        self.credential_refused()
        if self._on_unauthorized is not None:
            self._on_unauthorized()

    def credential_refused(self) -> None:
        """The credential was revoked (found here or by the gallery poll): delete every queued
        event, in memory and on disk, with the queue key; drop what comes later."""
        log.error("device credential refused; queued events deleted")
        with self._cond:
            self.revoked = True
            self._dropped["revoked"] += len(self._queue)
            self._queue.clear()
        if self.offline_queue is not None:
            purged = self.offline_queue.purge()
            with self._cond:
                self._dropped["revoked"] += purged
        with self._cond:
            self._cond.notify_all()

    def _remove(self, batch: list[ArrivalEvent]) -> None:
        ids = {e.id for e in batch}
        with self._cond:
            self._queue = collections.deque(e for e in self._queue if e.id not in ids)
            self._cond.notify_all()

    def _idle(self) -> bool:
        return not self._queue and self.queued_on_disk == 0

    def drain(self, timeout: float) -> bool:
        """Wait until every queued event was sent (True) or ``timeout`` passed (False)."""
        with self._cond:
            return self._cond.wait_for(lambda: self._idle() or self.revoked, timeout=timeout)

    def wake(self) -> None:
        """Try again now instead of at the end of the current backoff (e.g. the gallery poll
        just reached the server)."""
        self._retry_now = True
        self._wake.set()

    def _default_wait(self, seconds: float) -> bool:
        """Wait out a backoff; True when stopped. Events put meanwhile are written to the disk
        queue as they come (durable within milliseconds, not at the next attempt)."""
        deadline = time.monotonic() + seconds
        while not self.stop.is_set():
            self.spill()
            remaining = deadline - time.monotonic()
            if self._retry_now or remaining <= 0:
                break
            self._wake.wait(remaining)  # put(), wake() and shutdown() set it
            self._wake.clear()
        self._retry_now = False
        return self.stop.is_set()

    def next_delay(self) -> float:
        delay = self.backoff.next_delay()
        if self.retry_after is not None:
            delay = max(delay, min(self.retry_after, self.backoff.maximum))
        return delay

    def run(self) -> None:
        while not self.stop.is_set():
            with self._cond:
                self._cond.wait_for(
                    lambda: (not self._idle() and not self.revoked) or self.stop.is_set()
                )
            if self.stop.is_set():
                return
            if not self.send_once() and self._wait(self.next_delay()):
                return

    def start(self) -> None:
        self._thread = threading.Thread(target=self.run, name="edge-sender", daemon=True)
        self._thread.start()

    def shutdown(self, timeout: float = 5.0) -> None:
        """Stop the sender thread and keep what is unsent on disk for the next run."""
        self.stop.set()
        self._wake.set()
        with self._cond:
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)
        if self._thread is None or not self._thread.is_alive():
            self.spill()


def _counts(body: dict[str, Any], default: int) -> tuple[int, int]:
    try:
        return int(body.get("accepted", default)), int(body.get("duplicates", 0))
    except (ValueError, TypeError):
        return default, 0


def _retry_after(response: httpx.Response) -> float | None:
    """``Retry-After`` in seconds (the HTTP-date form is not used by our server)."""
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if seconds >= 0 else None
