"""Browser-facing defences as one ASGI middleware (privacy invariant 15).

**Origin.** Staff are signed in by a cookie; ``SameSite=Strict`` keeps it off cross-*site*
requests but not off requests from another port or a sibling host of the same site. So:

- a state-changing request (any method but GET/HEAD/OPTIONS) whose ``Origin`` is not the
  configured public origin (``public_url``, plus ``trusted_origins``; outside production also
  the origin the request was addressed to), or whose
  ``Sec-Fetch-Site`` says ``same-site``/``cross-site``, is refused with 403;
- a browser's request that carries the session cookie and changes state must also carry the
  header ``X-Vertrouwd: 1`` (:data:`CSRF_HEADER`), which the pages' scripts send: a form post
  from another page cannot set it, and a cross-origin ``fetch`` that sets it needs a CORS
  pre-flight this server never grants (a request with neither ``Origin`` nor
  ``Sec-Fetch-Site`` is not a browser's: tools need not send it); the one exception is a
  top-level form submission that the browser marks ``Sec-Fetch-Site: same-origin`` (the
  register's receipt form), which no other page can cause;
- a cookie-carrying GET from another site that is not a top-level navigation (a ``fetch``,
  an ``<img>``, a ``<script>``: ``Sec-Fetch-Mode`` other than ``navigate``) is refused;
- a WebSocket handshake whose ``Origin`` is foreign is refused before it is accepted (403).

Devices, POS systems and the command line send no ``Origin`` and no cookie: they are not
affected. Every refusal of a request that carries a session cookie is written to the audit log
as ``access.denied`` (``what: "origin"``) with the staff member it would have acted for; one
without a cookie (nobody's authority was used) is logged only, so an anonymous flood cannot
grow the audit chain.

**Headers.** Every answer gets ``X-Content-Type-Options: nosniff``, ``X-Frame-Options: DENY``,
a ``Referrer-Policy`` and, unless the route set its own, a Content-Security-Policy with
``frame-ancestors 'none'`` whose ``script-src``/``style-src`` admit only this server's files
and inline blocks that carry the request's nonce (``request.state.csp_nonce``). Every answer
outside ``/static`` is ``Cache-Control: no-store`` unless the route chose otherwise: personal
data (live cards with photos, profiles, searches, the console, the self-service page) must not
stay in a browser's or a proxy's cache.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import itertools
import logging
import secrets
from collections.abc import Iterable
from datetime import timedelta
from http.cookies import SimpleCookie
from urllib.parse import urlsplit

from starlette.datastructures import MutableHeaders
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from server.db.session import transaction
from server.deps import SESSION_COOKIE
from server.runtime import Runtime
from server.services.errors import ServiceError
from server.services.staff import access
from server.services.staff import accounts as staff

log = logging.getLogger(__name__)

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_HEADER = "x-vertrouwd"
_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}


def origin_of(url: str) -> str | None:
    """``scheme://host[:port]`` of ``url``, lower case, without a default port; ``None`` for
    anything that is not an absolute http(s) URL (``null``, garbage)."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        return None
    host = parts.hostname.lower()
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    if port is None or port == _DEFAULT_PORTS[scheme]:
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


def csp(nonce: str) -> str:
    return (
        "default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; "
        f"style-src 'self' 'nonce-{nonce}'; script-src 'self' 'nonce-{nonce}'; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
        "frame-ancestors 'none'"
    )


_NONCE_KEY = secrets.token_bytes(32)
_nonces = itertools.count()


def _nonce() -> str:
    """A fresh CSP nonce for every answer: 128 bits of a keyed BLAKE2b of a counter under a
    random key made at start, as unguessable as ``secrets.token_urlsafe(16)`` but with no
    system call. (``os.urandom`` releases the GIL on every call: on the event loop, once a
    request, that handed the interpreter to the arrival writer for up to a switch interval.)"""
    digest = hashlib.blake2b(
        next(_nonces).to_bytes(8, "big"), key=_NONCE_KEY, digest_size=16
    ).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


class BrowserGuard:
    """The origin checks and the response headers described in the module docstring."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        public_url: str,
        trusted_origins: Iterable[str],
        own_host: bool = False,
    ) -> None:
        """``own_host``: also admit the origin the request itself was addressed to (its
        ``Host``), as Django does; for development and tests, where a server listens on a port
        picked at run time. A page on another port or host still differs from it; production
        admits only the configured origins."""
        self.app = app
        allowed = {origin_of(public_url), *(origin_of(o) for o in trusted_origins)}
        self.allowed = frozenset(o for o in allowed if o is not None)
        self.own_host = own_host

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        refusal = self.refusal(scope, headers)
        if refusal is not None:
            await self._refuse(scope, receive, send, headers, refusal)
            return
        if scope["type"] == "websocket":
            # This frame lives as long as the socket: keep no decoded copy of its headers
            # (about 1.7 KB of each socket's memory, bench/sockets.py's tracemalloc diff).
            del headers
            await self.app(scope, receive, send)
            return
        nonce = _nonce()
        scope.setdefault("state", {})["csp_nonce"] = nonce
        static = scope["path"].startswith(("/static/", "/docs-assets/"))

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                out = MutableHeaders(scope=message)
                out.setdefault("X-Content-Type-Options", "nosniff")
                out.setdefault("X-Frame-Options", "DENY")
                out.setdefault("Referrer-Policy", "same-origin")
                out.setdefault("Content-Security-Policy", csp(nonce))
                if not static:
                    out.setdefault("Cache-Control", "no-store")
            await send(message)

        await self.app(scope, receive, with_headers)

    def _foreign(self, scope: Scope, headers: dict[str, str], origin: str) -> bool:
        seen = origin_of(origin)
        if seen in self.allowed:
            return False
        if self.own_host and "host" in headers:
            scheme = {"ws": "http", "wss": "https"}.get(scope["scheme"], scope["scheme"])
            return seen != origin_of(f"{scheme}://{headers['host']}")
        return True

    def refusal(self, scope: Scope, headers: dict[str, str]) -> str | None:
        """Why this request is refused, or ``None``."""
        origin = headers.get("origin")
        site = headers.get("sec-fetch-site", "").lower()
        has_cookie = _session_token(headers) is not None
        if scope["type"] == "websocket":
            if origin is not None and self._foreign(scope, headers, origin):
                return "a WebSocket from a foreign origin"
            if site in ("same-site", "cross-site") and has_cookie:
                return "a WebSocket from another site"
            return None
        method = scope["method"]
        if method in SAFE_METHODS:
            if (
                has_cookie
                and site in ("same-site", "cross-site")
                and headers.get("sec-fetch-mode", "navigate") != "navigate"
            ):
                return f"a {site} {method} that is not a navigation"
            return None
        if origin is not None and self._foreign(scope, headers, origin):
            return "a request from a foreign origin"
        if site in ("same-site", "cross-site"):
            return f"a {site} request"
        # A browser sends Origin (and Sec-Fetch-Site) with every change; a tool (the command
        # line, an integration test, a script) sends neither and cannot be forged into sending
        # a cookie by someone else's page: the header is asked of browsers.
        browser = origin is not None or bool(site)
        # A top-level form submission from one of this server's own pages (the register posts
        # the receipt form: a pass token never goes into a URL) cannot carry a header; the
        # browser itself vouches for it with Sec-Fetch-Site: same-origin, which no other page,
        # not even one on another port of the same host, can make it send.
        own_form = site == "same-origin" and headers.get("sec-fetch-mode") == "navigate"
        if has_cookie and browser and not own_form and headers.get(CSRF_HEADER) != "1":
            return f"a signed-in request without the {CSRF_HEADER} header"
        return None

    async def _refuse(
        self, scope: Scope, receive: Receive, send: Send, headers: dict[str, str], reason: str
    ) -> None:
        method = scope.get("method", "WEBSOCKET")
        path = scope["path"]
        origin = headers.get("origin")
        log.warning("refused %s %s: %s (origin %r)", method, path, reason, (origin or "")[:100])
        token = _session_token(headers)
        if token is not None:
            app = scope.get("app")
            runtime = getattr(getattr(app, "state", None), "runtime", None)
            if isinstance(runtime, Runtime):
                await asyncio.to_thread(
                    _audit, runtime, token, f"{method} {path}"[:200], origin, reason
                )
        detail = f"refused: {reason} (this server answers only its own pages)"
        if scope["type"] == "websocket":
            # Closing before accepting answers the handshake with 403.
            await send({"type": "websocket.close", "code": 4403, "reason": "foreign origin"})
            return
        response = JSONResponse({"detail": detail}, status_code=403)
        await response(scope, receive, send)


def _session_token(headers: dict[str, str]) -> str | None:
    raw = headers.get("cookie")
    if not raw:
        return None
    cookies: SimpleCookie = SimpleCookie()
    try:
        cookies.load(raw)
    except Exception:  # a malformed Cookie header: no session
        return None
    morsel = cookies.get(SESSION_COOKIE)
    return morsel.value if morsel is not None and morsel.value else None


def _audit(runtime: Runtime, token: str, path: str, origin: str | None, reason: str) -> None:
    """``access.denied`` for a refused request that carried a session cookie, naming the staff
    member whose session it was (without refreshing it), or nobody if it is not valid."""
    now = runtime.now()
    with transaction(runtime.sessions) as session:
        try:
            who: staff.StaffIdentity | None = staff.authenticate(
                session,
                token=token,
                now=now,
                idle=timedelta(seconds=runtime.settings.session_idle_s),
                refresh=False,
            )
        except ServiceError:
            who = None
        access.record_denial(
            session,
            who,
            what="origin",
            now=now,
            path=path,
            origin=(origin or "")[:200] or None,
            reason=reason,
        )
