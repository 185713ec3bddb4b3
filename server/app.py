"""The FastAPI application."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from server import docs
from server.api import (
    auth,
    console,
    customers,
    devices,
    pages,
    pos,
    privacy,
    register,
    selfservice,
    tablet,
)
from server.api import metrics as metrics_api
from server.api.json_body import StrictJSON
from server.api.schemas import ERROR_RESPONSES
from server.metrics import MetricsMiddleware, ServerMetrics
from server.runtime import Runtime, build_runtime
from server.security import BrowserGuard
from server.services.errors import ServiceError
from server.services.membership import retention
from server.services.recognition.arrival_writer import ArrivalWriter
from server.settings import ServerSettings, get_settings

log = logging.getLogger(__name__)
STATIC_DIR = Path(__file__).resolve().parent / "static"


class BodyLimit:
    """Refuses a request body over ``limit`` bytes with 413 before reading it all: at once when
    Content-Length says so, otherwise as soon as the streamed body passes the limit."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length" and value.isdigit() and int(value) > self.limit:
                await self._refuse(send)
                return
        seen = 0
        exceeded = False

        async def limited() -> Message:
            nonlocal seen, exceeded
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    exceeded = True
                    raise _TooLargeError
            return message

        async def guarded(message: Message) -> None:
            # The app may turn the error into its own answer (FastAPI's form parser makes any
            # error while reading the body a 400); once over the limit, ours is the only one.
            if not exceeded:
                await send(message)

        with contextlib.suppress(_TooLargeError):
            await self.app(scope, limited, guarded)
        if exceeded:
            await self._refuse(send)

    async def _refuse(self, send: Send) -> None:
        response = JSONResponse(
            {"detail": f"request body larger than {self.limit:,} bytes"}, status_code=413
        )
        await response({"type": "http"}, _empty_receive, send)


class _TooLargeError(Exception):
    pass


async def _empty_receive() -> Message:
    return {"type": "http.disconnect"}


def create_app(settings: ServerSettings | None = None, runtime: Runtime | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        rt = runtime or build_runtime(settings, migrate=settings.migrate_on_start)
        await rt.broker.start(asyncio.get_running_loop())
        app.state.runtime = rt
        metrics.bind(rt)
        # Arrivals from every device: one writer thread, group commit.
        writer = ArrivalWriter(
            rt.sessions,
            kek=rt.kek,
            visit_live=timedelta(seconds=rt.settings.visit_live_s),
            publish=rt.broker.publish_many,
            max_batch=rt.settings.arrival_batch_max,
            observe=metrics.observe_batch,
        )
        writer.start()
        app.state.arrival_writer = writer
        # Consent expiry and the retention limit, enforced from inside the server process.
        maintenance = asyncio.create_task(retention.periodic(rt), name="retention")
        yield
        maintenance.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await maintenance
        await asyncio.to_thread(writer.stop)
        await rt.broker.close()
        metrics.bind(None)
        if runtime is None:
            rt.close()

    metrics = ServerMetrics()  # GET /metrics (server/api/metrics.py)
    # Docs pages from local copies of their scripts (server/docs.py), never from a CDN.
    app = FastAPI(
        title="Vertrouwd",
        version="0.1.0",
        lifespan=lifespan,
        responses=ERROR_RESPONSES,
        docs_url=None,
        redoc_url=None,
    )
    app.state.metrics = metrics
    docs.install(app)

    @app.exception_handler(ServiceError)
    async def service_error(_request: Request, exc: ServiceError) -> JSONResponse:
        return JSONResponse(
            {"detail": exc.reason}, status_code=exc.status_code, headers=exc.headers or None
        )

    @app.exception_handler(OperationalError)
    async def database_down(_request: Request, exc: OperationalError) -> JSONResponse:
        # The database is unreachable or overloaded: say so and let clients retry (edges
        # queue their events); never a 500 with a stack trace.
        log.warning("database unavailable: %s", type(exc.orig).__name__)
        return JSONResponse(
            {"detail": "the database is unavailable; retry shortly"},
            status_code=503,
            headers={"Retry-After": "5"},
        )

    @app.exception_handler(PoolTimeout)
    async def database_busy(_request: Request, _exc: PoolTimeout) -> JSONResponse:
        # Every connection stayed taken for the pool's whole timeout (SQLite has one): busy,
        # not broken; the client retries.
        log.warning("database connection pool exhausted")
        return JSONResponse(
            {"detail": "the server is busy; retry shortly"},
            status_code=503,
            headers={"Retry-After": "5"},
        )

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    app.include_router(auth.router)
    app.include_router(devices.router)
    app.include_router(customers.router)
    app.include_router(selfservice.router)
    app.include_router(tablet.router)
    app.include_router(pos.router)
    app.include_router(register.router)
    app.include_router(pages.router)
    app.include_router(console.router)
    # A console page refused: the sign-in or refusal page, not the JSON error answer.
    app.add_exception_handler(console.PageRefused, console.page_refused)
    app.include_router(privacy.router)
    app.include_router(metrics_api.router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    # NaN/Infinity in a JSON body: 422 (inside the body limit, which bounds what it reads).
    app.add_middleware(StrictJSON)
    # Enrolment uploads: a few photos; anything far larger is refused before it is read.
    app.add_middleware(BodyLimit, limit=settings.max_upload_bytes * 3 + 1_000_000)
    # Foreign origins are refused before anything is read; every answer gets the
    # security headers (server/security.py). Only the metrics middleware sits outside it.
    app.add_middleware(
        BrowserGuard,
        public_url=settings.public_url,
        trusted_origins=settings.trusted_origins,
        own_host=settings.environment != "production",
    )
    app.add_middleware(MetricsMiddleware, metrics=metrics)  # outermost: times everything
    return app
