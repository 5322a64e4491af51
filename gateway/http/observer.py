"""Per-request bookkeeping: the X-Request-ID header, the body's guard, the HTTP metrics,
the access log.

Written as WSGI middleware around the Flask app rather than as ``before_request`` /
``after_request`` hooks: it reads the WSGI environ directly, where the hooks would go
through Flask's context-local proxies a dozen times per request - measurably slower on
the hot path (see bench/results.md).
"""

from __future__ import annotations

import contextvars
import json
import re
import sys
import time
from typing import Any, Callable, Iterable

from gateway import metrics
from gateway.config import Settings
from gateway.http import problems
from gateway.http.access_log import AccessLog
from gateway.http.body import BodyBudget, GuardedInput
from gateway.http.deadlines import DEADLINE_ENVIRON_KEY
from gateway.http.routing import MATCH_ENVIRON_KEY
from gateway.http.wsgi_types import Environ, StartResponse, WSGIApp
from telemetry.ids import new_request_id
from telemetry.tracing import IdsOnly, Tracer

REQUEST_ID_HEADER = "X-Request-ID"
REQUEST_ID_ENVIRON_KEY = "gateway.request_id"
SPAN_ENVIRON_KEY = "gateway.span"  # the request's server span: its calls continue its trace
# A caller's id is echoed only if it is short and plain: it ends up in logs and headers.
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:@/+=-]{1,128}", re.ASCII)


# The backends a request called (``calculator@127.0.0.1:9090``), for its access log line.
# Each greenlet has its own context, so concurrent requests never see each other's.
backends_called: contextvars.ContextVar[list[str] | None] = contextvars.ContextVar("backends_called", default=None)



class RequestObserver:
    """WSGI middleware: gives every request an id, answers with it, and counts it."""

    def __init__(self, app: WSGIApp, access_log_target: str = "", *, body_timeout_s: float = 10.0,
                 body_budget: BodyBudget | None = None, tracer: Tracer | None = None,
                 dumps: Callable[[Any], str] = json.dumps) -> None:
        self._app = app
        self._dumps = dumps
        self._log = AccessLog.open(access_log_target)
        self._body_timeout_s = body_timeout_s
        self._budget = body_budget or BodyBudget(Settings.body_buffer_bytes)
        self._tracer = tracer or IdsOnly()

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        started = time.perf_counter()
        sent = environ.get("HTTP_X_REQUEST_ID")
        request_id = sent if sent and _SANE_REQUEST_ID.fullmatch(sent) else new_request_id()
        environ[REQUEST_ID_ENVIRON_KEY] = request_id
        status, route = "500", "unmatched"
        # Most requests (every GET) have no body: no guard, and not even its clock read.
        body = (_guard_body(environ, deadline=time.monotonic() + self._body_timeout_s, budget=self._budget)
                if environ.get("CONTENT_LENGTH") or "HTTP_TRANSFER_ENCODING" in environ else None)
        method = environ.get("REQUEST_METHOD", "")
        span = self._tracer.server(method, environ.get("HTTP_TRACEPARENT"), environ.get("HTTP_TRACESTATE"),
                                   **({"http.request.method": method, "url.path": environ.get("PATH_INFO", "")}
                                      if self._tracer.exporting else {}))
        environ[SPAN_ENVIRON_KEY] = span

        def start(status_line: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            nonlocal status, route
            status = status_line[:3]
            match = environ.get(MATCH_ENVIRON_KEY)  # the route's template, never the raw path
            if match is not None:
                route = match.route.rule
            headers.append((REQUEST_ID_HEADER, request_id))
            headers.append(("traceparent", span.traceparent))
            if body is not None and (body.broken or not body.finished):
                # A body left unread (or broken) would have Gunicorn wait for its rest
                # before the next request on this connection: close it after this answer.
                _force_close(start_response)
            return start_response(status_line, headers, exc_info)

        called: list[str] = []
        token = backends_called.set(called)
        try:
            environ[DEADLINE_ENVIRON_KEY] = time.monotonic()  # the deadline counts from here (deadlines.of)
            return self._app(environ, start)
        except Exception as err:
            # The last resort, for any layer: an error nothing answered is still a problem
            # document (500 `internal`, logged with its traceback), never Gunicorn's HTML.
            return problems.write_problem(
                lambda line, headers, exc_info=None: start(line, headers, sys.exc_info()), self._dumps, err)
        finally:
            if body is not None:
                body.release()
            backends_called.reset(token)
            elapsed = time.perf_counter() - started
            metrics.http_request(route, method, status, elapsed)
            if self._tracer.exporting:
                span.end(f"HTTP {status}" if status >= "500" else None, name=f"{method} {route}",
                         **{"http.route": route, "http.response.status_code": int(status)})
            if self._log is not None:
                self._log.request(request_id, method, environ.get("PATH_INFO", ""), route, int(status), elapsed,
                                  called, environ.get("REMOTE_ADDR"), span.trace_id)


def _guard_body(environ: dict[str, Any], deadline: float, budget: BodyBudget) -> GuardedInput | None:
    """Put the body behind its deadline and budget; None for a request without one."""
    length_text = environ.get("CONTENT_LENGTH") or ""
    chunked = "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
    if not chunked and (not length_text.isdigit() or int(length_text) == 0):
        return None
    guarded = GuardedInput(environ["wsgi.input"], None if chunked else int(length_text), deadline, budget)
    environ["wsgi.input"] = guarded
    return guarded


def _force_close(start_response: StartResponse) -> None:
    # Gunicorn drops a Connection header an app sets; its own response object, whose
    # method start_response is, closes the connection after this answer when told to.
    response = getattr(start_response, "__self__", None)
    if response is not None and hasattr(response, "force_close"):
        response.force_close()


def note_backend_call(backend: str, address: str) -> None:
    """Record, for the access log, that the current request called ``backend``."""
    called = backends_called.get()
    if called is not None:
        called.append(f"{backend}@{address}")
