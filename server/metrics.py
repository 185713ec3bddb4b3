"""Prometheus metrics of one server process (``GET /metrics``): counts and timings only, never
a name, pseudonym, token or route parameter.

One ``CollectorRegistry`` per app (not the library's global one), so several apps in one
process (tests, the demo) each count their own. Request latency and open sockets come from a
pure ASGI middleware (routes stay as they are; the label is the route's template, e.g.
``/api/v1/visits/{visit_id}/reveal``, never the filled-in path); arrivals, cards and batch sizes
from the group-commit writer's hook; gallery publications, device acknowledgements still
pending and the database pool are read when scraped; the wait for a pooled database connection
is timed as it happens (:func:`watch_pool`).
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.pool import Pool, PoolProxiedConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

if TYPE_CHECKING:
    from server.runtime import Runtime

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)
# From a free connection handed over at once (well under a millisecond) to the pool's time-out
# (``pool_timeout``: 60 s for SQLite, whose one connection requests take turns on).
POOL_WAIT_BUCKETS = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0
)  # fmt: skip

_POOL_WATCHERS: weakref.WeakKeyDictionary[Pool, list[Callable[[float], None]]] = (
    weakref.WeakKeyDictionary()
)


def watch_pool(pool: Pool, observe: Callable[[float], None]) -> Callable[[], None]:
    """Call ``observe(seconds)`` with how long each checkout from ``pool`` took: the wait for a
    free connection (opening a new one, and PostgreSQL's pre-ping, included), also when it ends
    in the pool's time-out. Returns the function that stops it.

    SQLAlchemy's pool events fire only once a connection is handed over (``checkout``), never
    when one is asked for, so ``Pool.connect`` (what ``Engine.connect`` and every session call)
    is wrapped, once per pool; several apps on one runtime (tests, the demo) each subscribe."""
    watchers = _POOL_WATCHERS.get(pool)
    if watchers is None:
        watchers = _POOL_WATCHERS[pool] = []
        connect = pool.connect
        subscribed = watchers

        def timed_connect() -> PoolProxiedConnection:
            start = time.perf_counter()
            try:
                return connect()
            finally:
                waited = time.perf_counter() - start
                for fn in list(subscribed):
                    fn(waited)

        pool.connect = timed_connect  # type: ignore[method-assign]
    watchers.append(observe)

    def stop() -> None:
        if observe in watchers:
            watchers.remove(observe)

    return stop


class _FromDatabase(Collector):
    """Read at scrape time: gallery publications (the sum of the stores' monotonic gallery
    versions: one per publication), devices whose acknowledged version is behind their store's,
    and the connection pool."""

    def __init__(self) -> None:
        self.runtime: Runtime | None = None

    def collect(self) -> Iterator[Metric]:
        rt = self.runtime
        if rt is None:
            return
        from server.db.recognition import EdgeDevice
        from server.db.stores import Store

        with rt.sessions() as session:
            published = session.scalar(select(func.coalesce(func.sum(Store.gallery_version), 0)))
            pending = session.scalar(
                select(func.count())
                .select_from(EdgeDevice)
                .join(Store, Store.id == EdgeDevice.store_id)
                .where(
                    EdgeDevice.revoked_at.is_(None),
                    EdgeDevice.acked_version < Store.gallery_version,
                )
            )
        yield CounterMetricFamily(
            "vertrouwd_gallery_publications",
            "Gallery versions published, over all stores.",
            value=float(published or 0),
        )
        yield GaugeMetricFamily(
            "vertrouwd_device_acks_pending",
            "Devices (credential valid) that have not acknowledged their store's gallery version.",
            value=float(pending or 0),
        )
        pool: Any = rt.engine.pool
        for name, what, attr in (
            ("vertrouwd_db_pool_checked_out", "Database connections in use.", "checkedout"),
            ("vertrouwd_db_pool_overflow", "Connections opened beyond the pool size.", "overflow"),
        ):
            if hasattr(pool, attr):
                yield GaugeMetricFamily(name, what, value=float(getattr(pool, attr)()))


class ServerMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.arrivals = Counter(
            "vertrouwd_arrivals", "Arrival events received from devices, by outcome.",
            ["outcome"], registry=r,
        )  # fmt: skip
        self.cards = Counter(
            "vertrouwd_cards_pushed", "Arrival cards pushed to the store's tablets.", registry=r
        )
        self.batch_size = Histogram(
            "vertrouwd_arrival_batch_size", "Arrival requests per group-commit transaction.",
            buckets=BATCH_BUCKETS, registry=r,
        )  # fmt: skip
        self.sockets = Gauge(
            "vertrouwd_sockets_open", "Open WebSockets, by kind (tablet, device).", ["kind"],
            registry=r,
        )  # fmt: skip
        self.requests = Histogram(
            "vertrouwd_request_duration_seconds",
            "HTTP request latency by method, route template and status class.",
            ["method", "route", "status"], buckets=LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.pool_wait = Histogram(
            "vertrouwd_db_pool_wait_seconds",
            "Time a request waited for a database connection from the pool.",
            buckets=POOL_WAIT_BUCKETS, registry=r,
        )  # fmt: skip
        self._unwatch: Callable[[], None] | None = None
        self.database = _FromDatabase()
        r.register(self.database)
        for kind in ("tablet", "device"):  # every series present from the start, at 0
            self.sockets.labels(kind=kind).set(0)
        for outcome in ("accepted", "refused"):
            self.arrivals.labels(outcome=outcome)

    def bind(self, runtime: Runtime | None) -> None:
        """At start-up the app's runtime (its database is read and its pool timed); ``None`` at
        shut-down."""
        self.database.runtime = runtime
        if self._unwatch is not None:
            self._unwatch()
            self._unwatch = None
        if runtime is not None:
            self._unwatch = watch_pool(runtime.engine.pool, self.pool_wait.observe)

    def observe_batch(self, requests: int, accepted: int, refused: int, cards: int) -> None:
        """The arrival writer's hook, after each committed batch."""
        self.batch_size.observe(requests)
        self.arrivals.labels(outcome="accepted").inc(accepted)
        self.arrivals.labels(outcome="refused").inc(refused)
        self.cards.inc(cards)


def _route(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    if isinstance(path, str):
        return path
    if str(scope.get("path", "")).startswith("/static/"):
        return "/static"
    return "unmatched"  # never the raw path: it may hold a token


class MetricsMiddleware:
    """Times every HTTP request and counts open WebSockets (after the accept, until the
    handler returns)."""

    def __init__(self, app: ASGIApp, metrics: ServerMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            kind = "tablet" if scope.get("path") == "/ws/tablet" else "device"
            gauge = self.metrics.sockets.labels(kind=kind)
            opened = False

            async def send_ws(message: Message) -> None:
                nonlocal opened
                if message["type"] == "websocket.accept" and not opened:
                    opened = True
                    gauge.inc()
                await send(message)

            try:
                await self.app(scope, receive, send_ws)
            finally:
                if opened:
                    gauge.dec()
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_http(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_http)
        finally:
            self.metrics.requests.labels(
                method=scope.get("method", ""), route=_route(scope), status=f"{status // 100}xx"
            ).observe(time.perf_counter() - start)
