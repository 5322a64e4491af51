"""The HTTP routes: validate, call one backend, shape the JSON. Nothing else."""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, Response, current_app, request, send_from_directory
from swagger_ui_bundle import swagger_ui_path
from werkzeug.routing import BaseConverter

from gateway import metrics, validation
from gateway.backends import Backends
from gateway.errors import BadGateway, NotFound, NotReady

bp = Blueprint("gateway", __name__)
DOCS_ASSETS = frozenset({"swagger-ui.css", "swagger-ui-bundle.js"})


class CacheKeyConverter(BaseConverter):
    """Everything after the prefix, slashes included - a key may start with ``/`` or
    contain ``//``, which Werkzeug's ``path`` converter would refuse or merge."""

    regex = r"[\s\S]+"  # any character, newline included, so the key rule can refuse it
    part_isolating = False


def backends() -> Backends:
    return current_app.extensions["gateway.backends"]


def _body() -> dict[str, Any]:
    return validation.json_object(validation.read_body(request.environ, request.content_length))


def _key(key: str) -> str:
    return validation.cache_key(key, request.environ.get("PATH_INFO", ""))


def _decoded(key: str, stored: bytes) -> Any:
    try:
        return json.loads(stored)
    except ValueError:
        raise BadGateway(f"the value stored under {key!r} is not JSON", backend="cache", address="") from None


def _calculate(op: str, a: int, b: int) -> dict[str, Any]:
    return {"op": op, "a": a, "b": b, "result": backends().calculator.call(op, a, b)}


# Calculator ---------------------------------------------------------------------------

@bp.get("/add/<a>/<b>")
def add(a: str, b: str) -> dict[str, Any]:
    return {"result": backends().calculator.call("add", validation.path_int("a", a), validation.path_int("b", b))}


@bp.get("/calc/<op>/<a>/<b>")
def calc_path(op: str, a: str, b: str) -> dict[str, Any]:
    return _calculate(validation.operation(op), validation.path_int("a", a), validation.path_int("b", b))


@bp.post("/calc")
def calc_body() -> dict[str, Any]:
    body = _body()
    op = validation.operation(body.get("op"))
    return _calculate(op, validation.json_int(body, "a"), validation.json_int(body, "b"))


# Cache --------------------------------------------------------------------------------

def _store(key: str, body: dict[str, Any]) -> None:
    value, ttl = validation.encoded_value(body), validation.ttl(body)
    backends().cache.call("put", key, value, ttl, key=key)


def _load(key: str) -> Any:
    return _decoded(key, backends().cache.call("get", key, key=key))


@bp.put("/cache/<key:key>")
def cache_put(key: str) -> dict[str, Any]:
    key = _key(key)
    _store(key, _body())
    return {"key": key, "stored": True}


@bp.get("/cache/<key:key>")
def cache_get(key: str) -> dict[str, Any]:
    key = _key(key)
    return {"key": key, "value": _load(key)}


@bp.delete("/cache/<key:key>")
def cache_delete(key: str) -> dict[str, Any]:
    key = _key(key)
    backends().cache.call("remove", key, key=key)
    return {"key": key, "deleted": True}


@bp.post("/set")
def seed_set() -> dict[str, Any]:
    body = _body()
    _store(validation.checked_key(body.get("key")), body)
    return {"success": True}


@bp.get("/get/<key:key>")
def seed_get(key: str) -> dict[str, Any]:
    key = _key(key)
    try:
        return {"value": _load(key)}
    except NotFound:
        # The seed API answered a miss with null rather than 404; kept for its users.
        return {"value": None}


# Any Thrift service, by its IDL ------------------------------------------------------------

@bp.get("/rpc")
def rpc_list() -> dict[str, Any]:
    return {"services": current_app.extensions["gateway.rpc"].describe()}


@bp.post("/rpc/<service>/<method>")
def rpc_call(service: str, method: str) -> Any:
    spec, result = current_app.extensions["gateway.rpc"].call(service, method, _body())
    if spec.oneway:
        return {}, 202  # sent; a oneway call has no answer to wait for
    return {} if spec.result is None else {"result": result}


# Documentation ------------------------------------------------------------------------------

DOCS_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8"><title>Thrift gateway API</title>
<link rel="stylesheet" href="/docs/assets/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/docs/assets/swagger-ui-bundle.js"></script>
<script>window.ui = SwaggerUIBundle({url: "/openapi.json", dom_id: "#swagger-ui"});</script>
</body>
</html>
"""


@bp.get("/openapi.json")
def openapi_document() -> Any:
    return current_app.extensions["gateway.openapi"]


@bp.get("/docs")
def docs() -> Response:
    """Swagger UI, from the swagger-ui-bundle package: no CDN."""
    return Response(DOCS_PAGE, mimetype="text/html")


@bp.get("/docs/assets/<name>")
def docs_asset(name: str) -> Response:
    if name not in DOCS_ASSETS:
        raise NotFound(f"no docs asset {name!r}")
    return send_from_directory(swagger_ui_path, name, max_age=3600)


# Operations ---------------------------------------------------------------------------

@bp.get("/healthz")
def healthz() -> dict[str, Any]:
    return {"status": "ok"}


@bp.get("/readyz")
def readyz() -> Any:
    report = {service.name: service.ping_all() for service in backends().services}
    down = [f"{name} at {addr} ({state})" for name, addrs in report.items() for addr, state in addrs.items() if state != "ok"]
    if down:
        raise NotReady("not answering: " + ", ".join(down), backends=report)
    return {"status": "ready", "backends": report}


@bp.get("/metrics")
def metrics_text() -> Response:
    for service in backends().services:
        service.record_pool_gauges()
    body, content_type = metrics.render()
    return Response(body, content_type=content_type)
