"""The gateway's one exception hierarchy.

Each class names its HTTP status and the contract's stable ``code``; ``problems.py`` is
the one place that turns them into responses. Nothing here knows about Flask, so the pool
and the backend clients raise these too.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar


class GatewayError(Exception):
    status: ClassVar[int] = 500
    code: ClassVar[str] = "internal"
    title: ClassVar[str] = "Internal Server Error"

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        # Extra members of the problem document (RFC 9457 allows extensions).
        self.extra = extra

    def headers(self) -> dict[str, str]:
        return {}


class InvalidJson(GatewayError):
    status, code, title = 400, "invalid_json", "Invalid JSON body"


class InvalidArgument(GatewayError):
    status, code, title = 400, "invalid_argument", "Invalid argument"


class InvalidThrift(GatewayError):
    """A ``/thrift`` body that is not one call message of the declared protocol."""

    status, code, title = 400, "invalid_thrift", "Invalid Thrift message"


class UnsupportedMediaType(GatewayError):
    status, code, title = 415, "unsupported_media_type", "Unsupported Media Type"


class DivisionByZero(GatewayError):
    status, code, title = 400, "division_by_zero", "Division by zero"


class Overflow(GatewayError):
    status, code, title = 400, "overflow", "Result out of range"


class InvalidKey(GatewayError):
    status, code, title = 400, "invalid_key", "Invalid cache key"


class NotFound(GatewayError):
    status, code, title = 404, "not_found", "Not Found"


class Unauthenticated(GatewayError):
    """No credentials, or credentials that do not check out (the detail says which,
    never anything secret)."""

    status, code, title = 401, "unauthenticated", "Unauthenticated"

    def headers(self) -> dict[str, str]:
        return {"WWW-Authenticate": 'Bearer realm="gateway"'}


class Forbidden(GatewayError):
    """Valid credentials without the permission the route needs."""

    status, code, title = 403, "forbidden", "Forbidden"


class RateLimited(GatewayError):
    status, code, title = 429, "rate_limited", "Too Many Requests"

    def __init__(self, detail: str, *, retry_after_s: int, rate_headers: dict[str, str]) -> None:
        super().__init__(detail)
        self._headers = {"Retry-After": str(retry_after_s), **rate_headers}

    def headers(self) -> dict[str, str]:
        return self._headers


class RequestTimeout(GatewayError):
    """The request body did not arrive within GATEWAY_BODY_TIMEOUT_MS."""

    status, code, title = 408, "request_timeout", "Request Timeout"


class ClientDisconnected(GatewayError):
    """The client left in the middle of its request: there is no one to answer."""

    status, code, title = 400, "client_disconnected", "Client disconnected"


class PayloadTooLarge(GatewayError):
    status, code, title = 413, "payload_too_large", "Payload Too Large"


class BackendError(GatewayError):
    """A backend could not give an answer; carries which backend and address."""

    def __init__(self, detail: str, *, backend: str, address: str) -> None:
        super().__init__(detail)
        self.backend = backend
        self.address = address


class _RetryLater:
    # A refused or dropped connection usually heals within seconds (a restart).
    RETRY_AFTER_S = 1

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.RETRY_AFTER_S)}


class NotReady(_RetryLater, GatewayError):
    """Some configured backend does not answer ``ping`` (``/readyz``)."""

    status, code, title = 503, "backend_unavailable", "Not ready"


class BackendUnavailable(_RetryLater, BackendError):
    status, code, title = 503, "backend_unavailable", "Backend unavailable"


class Overloaded(BackendUnavailable):
    status, code, title = 503, "overloaded", "Overloaded"


class BackendTimeout(BackendError):
    status, code, title = 504, "backend_timeout", "Backend timeout"


class DeadlineExceeded(BackendError):
    """The request's deadline (its client's, or the call timeout) passed: no call or retry
    is started after it, and a backend that got the call too late did not run it."""

    status, code, title = 504, "deadline_exceeded", "Deadline exceeded"


class BadGateway(BackendError):
    status, code, title = 502, "bad_gateway", "Bad gateway"


def snake_case(name: str) -> str:
    """A type's name as a problem's code: ``UserNotFound`` -> ``user_not_found``."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", name).lower()
