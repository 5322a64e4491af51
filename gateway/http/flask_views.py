"""Flask's side of the route table: every route registered as a Flask rule, and the
views that need Flask (Prometheus text, the docs page and its files).

Flask answers what the direct path leaves to it (HEAD, the views below, every route when
the app is built with ``direct=False``) and routes it with Werkzeug's own router. A view
runs only for the route ``RouteMatcher`` matched - the one whose permission the guard
checked: were the two routers ever to disagree, the answer is a 404, never a handler
reached around its check.
"""

from __future__ import annotations

from typing import Any, Callable

from flask import Flask, Response, current_app, request, send_from_directory
from swagger_ui_bundle import swagger_ui_path
from werkzeug.routing import BaseConverter

from gateway import metrics
from gateway.errors import NotFound
from gateway.http.handlers import Reply
from gateway.http.routing import MATCH_ENVIRON_KEY, Route

CONTEXT_EXTENSION = "gateway.context"  # the handlers.Context the handlers take
DOCS_ASSETS = frozenset({"swagger-ui.css", "swagger-ui-bundle.js"})


class CacheKeyConverter(BaseConverter):
    """Everything after the prefix, slashes included - a key may start with ``/`` or
    contain ``//``, which Werkzeug's ``path`` converter would refuse or merge."""

    regex = r"[\s\S]+"  # any character, newline included, so the key rule can refuse it
    part_isolating = False


def register(app: Flask, routes: Any) -> None:
    """Every route of the table as a Flask rule."""
    app.url_map.converters["key"] = CacheKeyConverter
    for route in routes:
        app.add_url_rule(route.rule, route.endpoint, _view(route), methods=[route.method])


def _view(route: Route) -> Callable[..., Any]:
    handler = route.handler

    def view(**params: str) -> Any:
        match = request.environ.get(MATCH_ENVIRON_KEY)
        if match is None or match.route is not route:
            raise NotFound(f"no route {request.method} {request.path}")
        if route.flask_view:
            return handler(**params)
        answer = handler(current_app.extensions[CONTEXT_EXTENSION], request.environ, **params)
        if isinstance(answer, Reply):
            if answer.content_type is not None:
                response = Response(answer.body, content_type=answer.content_type)
            elif answer.body is not None:
                response = current_app.json.response(answer.body)
            else:
                response = Response(status=answer.status)
                del response.headers["Content-Type"]  # no body, so no type (Werkzeug would say HTML)
            response.status_code = answer.status
            response.headers.extend(answer.headers)
            return response
        return answer

    view.__name__ = route.endpoint
    return view


# The views that answer something other than JSON ---------------------------------------

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


def docs() -> Response:
    """Swagger UI, from the swagger-ui-bundle package: no CDN."""
    return Response(DOCS_PAGE, mimetype="text/html")


def docs_asset(name: str) -> Response:
    if name not in DOCS_ASSETS:
        raise NotFound(f"no docs asset {name!r}")
    return send_from_directory(swagger_ui_path, name, max_age=3600)


def metrics_text() -> Response:
    for service in current_app.extensions[CONTEXT_EXTENSION].backends.services:
        service.record_pool_gauges()
    body, content_type = metrics.render()
    return Response(body, content_type=content_type)
