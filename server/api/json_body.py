"""JSON request bodies are JSON: ``NaN``, ``Infinity`` and ``-Infinity`` are refused with 422.

Python's ``json.loads`` (which Starlette uses for FastAPI's bodies) accepts those literals,
although RFC 8259 does not. A non-finite number that got through would be stored and later break
every JSON answer and audit entry that includes it, so it is refused here, once, for every route,
with the same error shape FastAPI gives any other malformed body. A number too large for a float
(``1e999``, or 400 digits) parses as infinity: it is refused the same way (it would otherwise
reach the schemas, whose error answer, echoing the input, could not itself be written as JSON).

The body is only parsed a second time when it contains one of the words or a number that may
overflow at all, so the usual request pays for one substring scan and one regex search.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

_WORDS = (b"NaN", b"Infinity")
_MAY_OVERFLOW = re.compile(rb"[eE][+-]?\d{3}|\d{300}")


class NonFiniteNumberError(ValueError):
    pass


def _refuse_constant(name: str) -> Any:
    raise NonFiniteNumberError(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise NonFiniteNumberError(f"{text[:20]} is too large for a number")
    return value


def non_finite_literal(body: bytes) -> str | None:
    """Why ``body`` is refused (it holds a NaN/Infinity literal), or None. Words inside strings
    are fine; a body that is not valid JSON at all is left to the app's own error."""
    if not any(word in body for word in _WORDS) and _MAY_OVERFLOW.search(body) is None:
        return None
    try:
        json.loads(body, parse_constant=_refuse_constant, parse_float=_finite_float)
    except NonFiniteNumberError as exc:
        return str(exc)
    except ValueError:  # not JSON at all (or not UTF-8): FastAPI answers that itself
        return None
    return None


def _is_json(scope: Scope) -> bool:
    for name, value in scope.get("headers", []):
        if name == b"content-type":
            kind = bytes(value).split(b";", 1)[0].strip().lower()
            return kind == b"application/json" or kind.endswith(b"+json")
    return False


class StrictJSON:
    """ASGI middleware: reads a JSON request body, refuses non-finite literals, then hands the
    body on unchanged. Bodies of other types (the enrolment photos) stream through untouched."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _is_json(scope):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                await self.app(scope, _replay([message], receive), send)
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        reason = non_finite_literal(body)
        if reason is not None:
            response = JSONResponse(
                {
                    "detail": [
                        {
                            "type": "json_invalid",
                            "loc": ["body"],
                            "msg": "JSON decode error",
                            "ctx": {"error": f"{reason}; numbers must be finite"},
                        }
                    ]
                },
                status_code=422,
            )
            await response(scope, receive, send)
            return
        first: Message = {"type": "http.request", "body": body, "more_body": False}
        await self.app(scope, _replay([first], receive), send)


def _replay(messages: list[Message], receive: Receive) -> Receive:
    pending = list(messages)

    async def replay() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replay
