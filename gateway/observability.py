"""Per-request bookkeeping: the X-Request-ID header and the HTTP metrics."""

from __future__ import annotations

import re
import time
import uuid

from flask import Flask, Response, g, request

from gateway import metrics

REQUEST_ID_HEADER = "X-Request-ID"
# A caller's id is echoed only if it is short and plain: it ends up in logs and headers.
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:@/+=-]{1,128}", re.ASCII)


def _start() -> None:
    g.started = time.perf_counter()
    sent = request.headers.get(REQUEST_ID_HEADER, "")
    g.request_id = sent if _SANE_REQUEST_ID.fullmatch(sent) else uuid.uuid4().hex


def _finish(response: Response) -> Response:
    response.headers[REQUEST_ID_HEADER] = g.get("request_id") or uuid.uuid4().hex
    route = request.url_rule.rule if request.url_rule is not None else "unmatched"
    metrics.HTTP_REQUESTS.labels(route, request.method, str(response.status_code)).inc()
    if "started" in g:
        metrics.HTTP_LATENCY.labels(route).observe(time.perf_counter() - g.started)
    return response


def register(app: Flask) -> None:
    app.before_request(_start)
    app.after_request(_finish)
