"""Per-request bookkeeping: the X-Request-ID header and the HTTP metrics.

Written as WSGI middleware around the Flask app rather than as ``before_request`` /
``after_request`` hooks: it reads the WSGI environ directly, where the hooks would go
through Flask's context-local proxies a dozen times per request - measurably slower on
the hot path (see bench/results.md).
"""

from __future__ import annotations

import random
import re
import time
from typing import Any, Callable, Iterable

from gateway import metrics

REQUEST_ID_HEADER = "X-Request-ID"
REQUEST_ID_ENVIRON_KEY = "gateway.request_id"
# A caller's id is echoed only if it is short and plain: it ends up in logs and headers.
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:@/+=-]{1,128}", re.ASCII)

# uuid4() reads os.urandom on every call; a generator seeded from it once per worker
# (the app is built after the fork) gives ids as unique at a tenth of the cost.
_random = random.Random()

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


def new_request_id() -> str:
    return "%032x" % _random.getrandbits(128)


class RequestObserver:
    """WSGI middleware: gives every request an id, answers with it, and counts it."""

    def __init__(self, app: WSGIApp) -> None:
        self._app = app
        _random.seed()  # from os.urandom, in this process: never shared across a fork

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        started = time.perf_counter()
        sent = environ.get("HTTP_X_REQUEST_ID")
        request_id = sent if sent and _SANE_REQUEST_ID.fullmatch(sent) else new_request_id()
        environ[REQUEST_ID_ENVIRON_KEY] = request_id
        status, route = "500", "unmatched"

        def start(status_line: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            nonlocal status, route
            status = status_line[:3]
            # Flask answers inside its request context; the request (and the rule it
            # matched) is gone from the environ once the app returns.
            rule = getattr(environ.get("werkzeug.request"), "url_rule", None)
            if rule is not None:
                route = rule.rule
            headers.append((REQUEST_ID_HEADER, request_id))
            return start_response(status_line, headers, exc_info)

        try:
            return self._app(environ, start)
        finally:
            metrics.http_request(route, environ.get("REQUEST_METHOD", ""), status, time.perf_counter() - started)
