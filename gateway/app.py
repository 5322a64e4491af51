"""The Flask application factory."""

from __future__ import annotations

import atexit
import tempfile
from pathlib import Path
from typing import Any

import gevent
from flask import Flask
from flask.json.provider import DefaultJSONProvider

from gateway import metrics
from gateway.config import Settings
from gateway.http import flask_views, guard, handlers, observer, openapi, problems, routes
from gateway.http.body import BodyBudget
from gateway.http.direct import DirectRoutes
from gateway.http.json_text import compact_encoder
from gateway.http.routing import RouteMatcher
from gateway.rpc.calls import Rpc
from gateway.security.ratelimit import HOST_COUNTERS_FILE
from gateway.upstream.discovery import Discovery
from gateway.upstream.services import Backends
from telemetry import ids
from telemetry.tracing import Tracer

# How often each worker writes its metrics for /metrics to see; off the request path.
METRICS_INTERVAL_S = 1.0


def _publish_metrics(backends: Backends) -> None:
    while True:
        for service in backends.services:
            service.record_pool_gauges()
        metrics.flush()
        gevent.sleep(METRICS_INTERVAL_S)


class StrictJSONProvider(DefaultJSONProvider):
    """Flask's JSON, but never NaN or Infinity, which strict parsers refuse; keys in
    the order the handlers wrote them."""

    sort_keys = False

    def __init__(self, app: Flask) -> None:
        super().__init__(app)
        # The answers written without Flask (direct.py, guard.py) are all compact: one
        # encoder made once (json_text.py). json.dumps with any argument of its own builds
        # a new JSONEncoder per call - about 7 us of a worker's CPU per answer under load.
        self.encode_compact = compact_encoder(ensure_ascii=self.ensure_ascii, default=self.default)

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        kwargs.setdefault("allow_nan", False)
        return super().dumps(obj, **kwargs)


def create_app(settings: Settings | None = None, backends: Backends | None = None, *, direct: bool = True) -> Flask:
    """Build the app. Under Gunicorn this runs once per worker, after the fork and after
    gevent's patching, so each worker gets pools of its own (no ``preload_app``).

    ``direct=False`` leaves the API routes to Flask too (the tests compare the two)."""
    settings = settings or Settings.from_env()
    app = Flask(__name__, static_folder=None)  # serves no files: every answer is JSON
    # Every answer must be JSON: no automatic OPTIONS (an empty 200), no 308 redirect
    # merging the "//" a cache key may contain.
    app.config["PROVIDE_AUTOMATIC_OPTIONS"] = False
    app.url_map.merge_slashes = False
    app.json = StrictJSONProvider(app)

    ids.reseed()  # after the fork: each worker makes its own ids
    tracer = Tracer.from_environment("gateway")
    if tracer.exporting:
        atexit.register(tracer.shutdown)  # the spans still batched go out as the worker exits
    backends = backends or Backends.from_settings(settings, tracer=tracer, on_call=observer.note_backend_call)
    app.extensions["gateway.settings"] = settings
    app.extensions["gateway.upstream.services"] = backends
    rpc = Rpc(backends, i64_strings=settings.json_int64 == "string")
    table = routes.table((name, service.types) for name, service in rpc.services.items())
    app.extensions[flask_views.CONTEXT_EXTENSION] = context = handlers.Context(backends, rpc, openapi.document(table, rpc))

    problems.register(app)
    flask_views.register(app, table)
    # The middleware, outermost first: RequestObserver (request id, body guard, metrics,
    # access log, server span) -> RouteMatcher (the one match) -> Guard (CORS, auth,
    # permissions, rate limits; absent when nothing is configured) -> DirectRoutes (the
    # JSON routes) -> Flask (the rest).
    inner = DirectRoutes(context, app.json.encode_compact, app.wsgi_app) if direct else app.wsgi_app
    runtime_dir = Path(settings.runtime_dir or tempfile.mkdtemp(prefix="gateway-"))
    guarded = guard.build(settings, inner, app.json.encode_compact, runtime_dir / HOST_COUNTERS_FILE)
    app.wsgi_app = observer.RequestObserver(  # type: ignore[method-assign]
        RouteMatcher(table, guarded), settings.access_log, body_timeout_s=settings.body_timeout_ms / 1000,
        body_budget=BodyBudget(settings.body_buffer_bytes), tracer=tracer, dumps=app.json.encode_compact)
    gevent.spawn(_publish_metrics, backends)
    discovery = Discovery(backends.services, settings.dns_refresh_ms / 1000, settings.dns_servers)
    if discovery.needed:
        gevent.spawn(discovery.run)
    return app
