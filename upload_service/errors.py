"""One error hierarchy for the whole service.

Services raise these; a single handler registered on the app turns them into JSON under
``/api/``, an HTMX fragment for ``HX-Request`` and a full page otherwise.
"""

from __future__ import annotations

from typing import Any


class ServiceError(Exception):
    """Base class: carries an HTTP status, a machine code and a human message."""

    status = 400
    code = "bad_request"
    message = "The request is not valid."

    def __init__(
        self,
        message: str | None = None,
        *,
        code: str | None = None,
        details: list[Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.message = message or self.message
        self.code = code or self.code
        self.details = details or []
        self.headers = headers or {}
        super().__init__(self.message)


class BadRequest(ServiceError):
    status, code, message = 400, "bad_request", "The request is not valid."


class Unauthenticated(ServiceError):
    status, code, message = 401, "unauthenticated", "Authentication is required."


class Forbidden(ServiceError):
    status, code, message = 403, "forbidden", "You are not allowed to do this."


class NotFound(ServiceError):
    status, code, message = 404, "not_found", "Not found."


class Conflict(ServiceError):
    status, code, message = 409, "conflict", "The request conflicts with the current state."


class PreconditionFailed(ServiceError):
    status, code, message = 412, "precondition_failed", "The precondition did not hold."


class TooLarge(ServiceError):
    status, code, message = 413, "too_large", "The upload is too large."


class UnsupportedMediaType(ServiceError):
    status, code, message = 415, "unsupported_media_type", "Unsupported media type."


class RangeNotSatisfiable(ServiceError):
    status, code, message = 416, "range_not_satisfiable", "The requested range is not satisfiable."


class VerificationFailed(ServiceError):
    status, code, message = 422, "verification_failed", "The content did not match its checksum."


class RateLimited(ServiceError):
    status, code, message = 429, "rate_limited", "Too many requests; slow down."


class DependencyDown(ServiceError):
    status, code, message = 503, "dependency_unavailable", "A service we depend on is unavailable."


class InsufficientStorage(ServiceError):
    status, code, message = 507, "quota_exceeded", "Your storage quota is exhausted."
