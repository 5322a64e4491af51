"""The one place where exceptions become HTTP answers: RFC 9457 problem documents.

``for_exception`` decides the answer; ``register`` hands it to Flask for the routes Flask
serves, and ``direct.py`` writes it itself for the routes it answers.
"""

from __future__ import annotations

import logging
import re
from typing import Any, Callable, NamedTuple

from flask import Flask, Response, current_app
from werkzeug.exceptions import HTTPException
from werkzeug.http import HTTP_STATUS_CODES

from gateway.errors import GatewayError

log = logging.getLogger(__name__)

PROBLEM_TYPE = "application/problem+json"

# Werkzeug's own errors (routing 404/405, ...) by the contract's codes.
_HTTP_CODES = {
    400: "invalid_json",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
}


# Werkzeug's status lines, reason upper-cased as its Response writes them; a code it has
# no reason for (a backend's api.http_code may be any final status) is "UNKNOWN", as there.
_STATUS_LINES = {code: f"{code} {reason.upper()}" for code, reason in HTTP_STATUS_CODES.items()}
_STATUS_LINES.update({code: f"{code} UNKNOWN" for code in range(100, 600) if code not in _STATUS_LINES})


class Problem(NamedTuple):
    status: int
    body: dict[str, Any]
    headers: dict[str, str]


def problem(status: int, code: str, title: str, detail: str, headers: dict[str, str] | None = None,
            **extra: Any) -> Problem:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail, "code": code, **extra}
    return Problem(status, body, headers or {})


def for_exception(err: BaseException) -> Problem:
    """The answer to an exception a route raised."""
    if isinstance(err, GatewayError):
        if err.status >= 500:
            log.warning("%s: %s", err.code, err.detail)
        return problem(err.status, err.code, err.title, err.detail, err.headers(), **err.extra)
    if isinstance(err, HTTPException):
        status = err.code or 500
        code = _HTTP_CODES.get(status) or re.sub(r"\W+", "_", (err.name or "error").lower()).strip("_")
        headers = {}
        if status == 405 and getattr(err, "valid_methods", None):
            headers["Allow"] = ", ".join(sorted(err.valid_methods))
        return problem(status, code, err.name, err.description or err.name, headers)
    log.error("unexpected error", exc_info=err)
    return problem(500, "internal", "Internal Server Error", "an unexpected error occurred; it has been logged")


def write_json(start_response: Callable[..., Any], dumps: Callable[[Any], str], status: int, body: Any,
               content_type: str = "application/json", extra: dict[str, str] | None = None) -> list[bytes]:
    """A JSON answer written straight to WSGI, as Flask's JSON provider writes one:
    compact (``dumps`` is the provider's ``encode_compact``), one trailing newline (for the
    answers given without Flask)."""
    data = (dumps(body) + "\n").encode()
    headers = [("Content-Type", content_type), ("Content-Length", str(len(data)))]
    if extra:
        headers.extend(extra.items())
    start_response(_STATUS_LINES[status], headers)
    return [data]


def write_bytes(start_response: Callable[..., Any], status: int, body: bytes, content_type: str,
                headers: Any = ()) -> list[bytes]:
    """An answer that is not JSON, written as it is (a Thrift reply for ``/thrift``)."""
    start_response(_STATUS_LINES[status], [("Content-Type", content_type), ("Content-Length", str(len(body))),
                                           *headers])
    return [body]


def write_empty(start_response: Callable[..., Any], status: int, headers: Any = ()) -> list[bytes]:
    """An answer without a body (204, 202), as Werkzeug writes one."""
    # No Content-Length on 204 and 304: one would describe a body they never have.
    start_response(_STATUS_LINES[status], [*([] if status in (204, 304) else [("Content-Length", "0")]), *headers])
    return []


def write_problem(start_response: Callable[..., Any], dumps: Callable[[Any], str], err: BaseException) -> list[bytes]:
    status, body, extra = for_exception(err)
    return write_json(start_response, dumps, status, body, PROBLEM_TYPE, extra)


def _flask_response(err: Exception) -> Response:
    status, body, headers = for_exception(err)
    response = current_app.json.response(body)
    response.status_code = status
    response.mimetype = PROBLEM_TYPE
    response.headers.update(headers)
    return response


def register(app: Flask) -> None:
    """Install the handler on the app (blueprint handlers would miss routing errors)."""
    app.register_error_handler(Exception, _flask_response)
