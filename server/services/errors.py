"""Service-level errors; ``server.app`` maps them to HTTP status codes with their reason."""

from __future__ import annotations

from typing import ClassVar


class ServiceError(Exception):
    """A refusal with a reason for the caller.

    ``keep_writes``: the request's transaction is committed, not rolled back, before the error is
    answered. Services set it when the only thing they wrote is the audit entry of the refusal
    itself (``access.denied``), which must survive the refusal.
    """

    status_code = 400
    headers: ClassVar[dict[str, str]] = {}

    def __init__(self, reason: str, *, keep_writes: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.keep_writes = keep_writes


class BadInput(ServiceError):
    status_code = 422


class NotFound(ServiceError):
    status_code = 404


class Forbidden(ServiceError):
    status_code = 403


class Unauthorized(ServiceError):
    status_code = 401


class Conflict(ServiceError):
    status_code = 409


class TooLarge(ServiceError):
    status_code = 413


class Unavailable(ServiceError):
    """Busy, not broken (a full work queue): the client retries after ``Retry-After``."""

    status_code = 503
    headers: ClassVar[dict[str, str]] = {"Retry-After": "5"}
