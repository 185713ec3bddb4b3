"""Service-level errors; ``server.app`` maps them to HTTP status codes with their reason."""

from __future__ import annotations


class ServiceError(Exception):
    status_code = 400

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


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
