"""Group commit for arrival events: one writer thread, one transaction for all that wait.

Every store's devices post arrivals to the same database. Handling each request in its own
transaction spends a third of the time on BEGIN/COMMIT and, on SQLite, makes request threads
queue for the single writer anyway. Instead, requests hand their events to this writer and
wait; the writer takes everything that is waiting (up to ``max_batch`` requests), authenticates
them with one query and ingests them with one set-based statement per step
(:func:`server.services.recognition.arrivals.ingest_batch`: about eight round trips for the whole
batch, not
ten per event), commits once, then answers each request and pushes the teasers in one hand-over
to the broker (one Redis pipeline). Under light load a batch is one request, so nothing waits for
a batch to fill; under heavy load batches grow, and the cost per event falls instead of rising.

If a batch fails (an error no request should be able to cause, but one bad request must never
fail another's events), it is rolled back and each of its requests is handled again alone.

The queue is bounded: when it is full the request is refused at once with 503 (the edge keeps
the events in its own queue and retries) instead of piling up work nobody waits for.

Threading: only the writer thread touches the database session; ``submit`` may be called from
any thread or the event loop; results come back through ``concurrent.futures.Future``.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import Session, sessionmaker

from consent.keys import KeyProvider
from server.db.session import transaction
from server.realtime import tablet_channel
from server.services.errors import Unauthorized, Unavailable
from server.services.recognition import devices
from server.services.recognition.arrivals import ArrivalIn, IngestResult, ingest_batch

log = logging.getLogger(__name__)


_UNAVAILABLE = (OperationalError, PoolTimeout)


class Busy(Unavailable):
    pass


@dataclass
class _Job:
    token: str
    events: list[ArrivalIn]
    now: datetime
    future: Future[IngestResult] = field(default_factory=Future)
    waiter: asyncio.Future[IngestResult] | None = None
    """Set by :meth:`ArrivalWriter.receive`: answered on its event loop, together with the
    rest of its batch and the batch's cards, in one hand-over to that loop."""


_STOP = object()


class ArrivalWriter:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        kek: KeyProvider,
        visit_live: timedelta,
        publish: Callable[[list[tuple[str, dict[str, Any]]]], None],
        max_batch: int = 64,
        queue_size: int = 5000,
        observe: Callable[[int, int, int, int], None] | None = None,
    ) -> None:
        """``observe(requests, accepted, refused, cards)`` after each committed batch (the
        server's Prometheus metrics)."""
        self._sessions = sessions
        self._kek = kek
        self._visit_live = visit_live
        self._publish = publish
        self._max_batch = max_batch
        self._observe = observe
        self._queue: queue.Queue[_Job | object] = queue.Queue(queue_size)
        self._thread = threading.Thread(target=self._run, name="arrival-writer", daemon=True)
        self.batches = 0
        self.jobs = 0

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        if self._thread.is_alive():
            self._queue.put(_STOP)
            self._thread.join(timeout)

    def submit(self, *, token: str, events: list[ArrivalIn], now: datetime) -> Future[IngestResult]:
        return self._enqueue(_Job(token, events, now)).future

    def _enqueue(self, job: _Job) -> _Job:
        try:
            self._queue.put_nowait(job)
        except queue.Full:
            raise Busy("too many arrivals queued; retry shortly") from None
        return job

    async def receive(self, *, token: str, events: list[ArrivalIn], now: datetime) -> IngestResult:
        waiter: asyncio.Future[IngestResult] = asyncio.get_running_loop().create_future()
        self._enqueue(_Job(token, events, now, waiter=waiter))
        return await waiter

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is _STOP:
                return
            batch = [first]
            while len(batch) < self._max_batch:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is _STOP:
                    self._queue.put(_STOP)  # finish this batch, then stop
                    break
                batch.append(item)
            self._handle([job for job in batch if isinstance(job, _Job)])

    def _handle(self, batch: list[_Job]) -> None:
        outcomes: list[tuple[_Job, IngestResult | BaseException, int | None]] = []
        try:
            with transaction(self._sessions) as session:
                # One clock for the batch: the newest request's (they waited microseconds).
                now = max(job.now for job in batch)
                # A bad credential fails its own request before anything is written for it,
                # so it does not disturb the other requests in the batch.
                known = devices.authenticate_devices(
                    session, tokens=[job.token for job in batch], now=now
                )
                accepted = [(job, known[job.token]) for job in batch if job.token in known]
                outcomes.extend(
                    (job, Unauthorized("device credential unknown or revoked"), None)
                    for job in batch
                    if job.token not in known
                )
                results = ingest_batch(
                    session,
                    [(device, job.events) for job, device in accepted],
                    kek=self._kek,
                    visit_live=self._visit_live,
                    now=now,
                )
                outcomes.extend(
                    (job, result, device.store_id)
                    for (job, device), result in zip(accepted, results, strict=True)
                )
        except Exception as exc:  # the batch did not commit: nothing of it was written
            log.warning("arrival batch of %d failed: %s", len(batch), type(exc).__name__)
            if len(batch) > 1 and not isinstance(exc, _UNAVAILABLE):
                # One request's bad events must not fail the others': handle each alone, so
                # only the request that causes the error gets it. (Not when the database is
                # down or busy: that would fail each of them again, one slow timeout at a time.)
                for job in batch:
                    self._handle([job])
                return
            self._answer([(job, exc) for job in batch if not job.future.done()], [])
            return
        self.batches += 1
        self.jobs += len(batch)
        # Committed: the visits exist, tell the tablets (one round trip to the broker for all).
        cards = [
            (tablet_channel(store_id), message)
            for _, outcome, store_id in outcomes
            if store_id is not None and isinstance(outcome, IngestResult)
            for message in outcome.messages
        ]
        if self._observe is not None:
            done = [o for _, o, _ in outcomes if isinstance(o, IngestResult)]
            self._observe(
                len(batch),
                sum(o.accepted for o in done),
                sum(o.refused for o in done),
                len(cards),
            )
        self._answer([(job, outcome) for job, outcome, _ in outcomes], cards)

    def _answer(
        self,
        outcomes: list[tuple[_Job, IngestResult | BaseException]],
        cards: list[tuple[str, dict[str, Any]]],
    ) -> None:
        """Push the cards, then answer the requests. Requests that wait on an event loop are
        answered there, with the cards published from there too, in ONE hand-over to the loop
        (not one wake-up for the cards and one for each request)."""
        on_loop: dict[asyncio.AbstractEventLoop, list[tuple[_Job, Any]]] = {}
        for job, outcome in outcomes:
            if job.waiter is not None:
                on_loop.setdefault(job.waiter.get_loop(), []).append((job, outcome))
            elif isinstance(outcome, BaseException):
                job.future.set_exception(outcome)
            else:
                job.future.set_result(outcome)
        if not on_loop:
            self._push(cards)
            return
        for loop, answers in on_loop.items():
            try:
                loop.call_soon_threadsafe(self._settle, cards, answers)
            except RuntimeError:  # that loop has closed (shutting down): nobody waits there
                self._push(cards)
            cards = []  # published once, with the first loop's answers

    def _push(self, cards: list[tuple[str, dict[str, Any]]]) -> None:
        try:
            self._publish(cards)
        except Exception as exc:  # the broker is down: the visits stand, tablets catch up
            log.warning("arrival cards not pushed: %s", type(exc).__name__)

    def _settle(
        self,
        cards: list[tuple[str, dict[str, Any]]],
        answers: list[tuple[_Job, IngestResult | BaseException]],
    ) -> None:
        """On the requests' event loop: the cards first (as before the answers), then each
        request's answer (unless its client went away and the request was cancelled)."""
        self._push(cards)
        for job, outcome in answers:
            assert job.waiter is not None
            if job.waiter.done():
                continue
            if isinstance(outcome, BaseException):
                job.waiter.set_exception(outcome)
            else:
                job.waiter.set_result(outcome)
