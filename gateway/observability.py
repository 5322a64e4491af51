"""Per-request bookkeeping: the X-Request-ID header and the HTTP metrics."""

from __future__ import annotations

import re
import time
import random

from flask import Flask, Response, g, request

from gateway import metrics

REQUEST_ID_HEADER = "X-Request-ID"
# A caller's id is echoed only if it is short and plain: it ends up in logs and headers.
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:@/+=-]{1,128}", re.ASCII)


# uuid4() reads os.urandom on every call; a generator seeded from it once per worker
# (the app is built after the fork) gives ids as unique at a tenth of the cost.
_random = random.Random()


def new_request_id() -> str:
    return "%032x" % _random.getrandbits(128)


def _start() -> None:
    g.started = time.perf_counter()
    sent = request.headers.get(REQUEST_ID_HEADER, "")
    g.request_id = sent if _SANE_REQUEST_ID.fullmatch(sent) else new_request_id()


def _finish(response: Response) -> Response:
    response.headers[REQUEST_ID_HEADER] = g.get("request_id") or new_request_id()
    route = request.url_rule.rule if request.url_rule is not None else "unmatched"
    started = g.get("started")
    elapsed = time.perf_counter() - started if started is not None else 0.0
    metrics.http_request(route, request.method, response.status_code, elapsed)
    return response


def register(app: Flask) -> None:
    _random.seed()  # from os.urandom, in this process: never shared across a fork
    app.before_request(_start)
    app.after_request(_finish)
