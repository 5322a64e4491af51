"""The Flask routes: the API routes of ``api.py``, /rpc, the documentation, operations."""

from __future__ import annotations

from typing import Any, Callable

from flask import Blueprint, Response, current_app, request, send_from_directory
from swagger_ui_bundle import swagger_ui_path
from werkzeug.routing import BaseConverter

from gateway import api, metrics
from gateway.backends import Backends
from gateway.errors import NotFound, NotReady

bp = Blueprint("gateway", __name__)
DOCS_ASSETS = frozenset({"swagger-ui.css", "swagger-ui-bundle.js"})


class CacheKeyConverter(BaseConverter):
    """Everything after the prefix, slashes included - a key may start with ``/`` or
    contain ``//``, which Werkzeug's ``path`` converter would refuse or merge."""

    regex = r"[\s\S]+"  # any character, newline included, so the key rule can refuse it
    part_isolating = False


def backends() -> Backends:
    return current_app.extensions["gateway.backends"]


# Calculator, cache, /rpc calls: the handlers live in api.py, free of Flask -------------

def _view(route: api.Route) -> Callable[..., api.Answer]:
    handler = route.handler

    def view(**params: str) -> api.Answer:
        return handler(current_app.extensions["gateway.context"], request.environ, **params)

    view.__name__ = route.endpoint
    return view


for _api_route in api.ROUTES:
    bp.add_url_rule(_api_route.rule, _api_route.endpoint, _view(_api_route), methods=[_api_route.method])


# Any Thrift service, by its IDL ------------------------------------------------------------

@bp.get("/rpc")
def rpc_list() -> dict[str, Any]:
    return {"services": current_app.extensions["gateway.rpc"].describe()}


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
