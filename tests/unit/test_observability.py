"""The request observer, in one process: the last resort for errors no layer answered."""

from __future__ import annotations

import io
import json
from typing import Any

from gateway.http.observer import RequestObserver


def _failing(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    raise RuntimeError("a bug in some layer")


def test_an_error_no_layer_answered_is_a_problem_document_not_gunicorns_html() -> None:
    seen: list[tuple[str, list[tuple[str, str]]]] = []
    observer = RequestObserver(_failing, "")
    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/x", "wsgi.input": io.BytesIO(), "REMOTE_ADDR": "127.0.0.1"}
    body = b"".join(observer(environ, lambda line, headers, exc_info=None: seen.append((line, headers))))
    (line, headers), = seen
    assert line.startswith("500 ")
    assert ("Content-Type", "application/problem+json") in headers
    assert dict(headers)["X-Request-ID"]  # the observer's own headers are still added
    assert json.loads(body)["code"] == "internal"
