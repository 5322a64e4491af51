"""The route table: every route the gateway serves, declared once.

The hand-written routes are listed here; the routes the configured services' IDLs
declare with CloudWeGo's ``api.*`` annotations are added from their binding plans
(``rest.py``) when the app is built.

Each line gives a route's method and path, its handler, what it takes to be let in -
``OPEN``, ``AUTHENTICATED``, ``DEFERRED`` (the handler checks, once it has read the body)
or the ``service.method`` permission it ``needs`` - and its OpenAPI operation. The direct
path, the Flask rules, the guard's check, the metrics route label and ``/openapi.json``
all come from this table; a route that does not say what it takes cannot be declared.
The permissions are the contract's (CONTRACT.md, Security): a hand-written route needs
the permission of the Thrift method it calls.
"""

from __future__ import annotations

from typing import Iterable, Mapping

from gateway.config import ConfigError
from gateway.http import flask_views, handlers, openapi, rest, thrift_over_http
from gateway.http.routing import AUTHENTICATED, DEFERRED, OPEN, Route, RouteTable, needs
from gateway.idl.catalog import ServiceConfig
from gateway.idl.model import ServiceTypes

CALCULATOR, CACHE = "calculator", "cache"  # the built-in services (either may be off)

ROUTES = [
    # Calculator
    Route("GET", "/add/<a>/<b>", handlers.add, needs("calculator.add"), openapi.ADD, service=CALCULATOR),
    Route("GET", "/calc/<op>/<a>/<b>", handlers.calc_path, needs("calculator.{op}"), openapi.CALC_PATH,
          service=CALCULATOR),
    Route("POST", "/calc", handlers.calc_body, DEFERRED, openapi.CALC_BODY,  # the operation is in the body
          service=CALCULATOR),
    # Cache
    Route("PUT", "/cache/<key:key>", handlers.cache_put, needs("cache.put"), openapi.CACHE_PUT, service=CACHE),
    Route("GET", "/cache/<key:key>", handlers.cache_get, needs("cache.get"), openapi.CACHE_GET, service=CACHE),
    Route("DELETE", "/cache/<key:key>", handlers.cache_delete, needs("cache.remove"), openapi.CACHE_DELETE,
          service=CACHE),
    Route("POST", "/set", handlers.seed_set, needs("cache.put"), openapi.SEED_SET, service=CACHE),
    Route("GET", "/get/<key:key>", handlers.seed_get, needs("cache.get"), openapi.SEED_GET, service=CACHE),
    # Operations
    Route("GET", "/healthz", handlers.healthz, OPEN, openapi.HEALTHZ),
    Route("GET", "/readyz", handlers.readyz, OPEN, openapi.READYZ),
    Route("GET", "/metrics", flask_views.metrics_text, needs("metrics"), openapi.METRICS, flask_view=True),
    # Any Thrift service, by its IDL
    Route("GET", "/rpc", handlers.rpc_list, AUTHENTICATED, openapi.RPC_LIST),
    Route("POST", "/rpc/<service>/<method>", handlers.rpc_call, needs("{service}.{method}"), openapi.rpc_operations),
    # Thrift clients over HTTP: the method, so the permission, is in the message
    Route("POST", "/thrift/<service>", thrift_over_http.call, DEFERRED, openapi.THRIFT_OVER_HTTP),
    # Documentation (left out of the document it serves)
    Route("GET", "/openapi.json", handlers.openapi_document, AUTHENTICATED),
    Route("GET", "/docs", flask_views.docs, AUTHENTICATED, flask_view=True),
    Route("GET", "/docs/assets/<name>", flask_views.docs_asset, AUTHENTICATED, flask_view=True),
]


def rest_routes(services: Iterable[tuple[str, ServiceTypes]]) -> list[Route]:
    """The routes the services' IDLs declare (``rest.py``): each needs the permission of
    the method it calls."""
    return [Route(b.http_method, b.rule, rest.RestHandler(b), needs(f"{b.service}.{b.method.name}"),
                  openapi.rest_operations(b), service=b.service)
            for b in rest.bindings(services)]


def table(services: Iterable[tuple[str, ServiceTypes]]) -> RouteTable:
    """The routes of the configured ``services`` (each with its exposed methods): the
    hand-written ones of those configured (the Calculator's and the Cache's may be off)
    and those their IDLs declare. Raises ``ValueError`` (a ``rest.RestError`` or two
    routes for one method and path) in one line."""
    services = list(services)
    configured = {name for name, _ in services}
    return RouteTable([*(r for r in ROUTES if not r.service or r.service in configured), *rest_routes(services)])


def check(catalog: Mapping[str, ServiceConfig]) -> None:
    """What ``table`` would refuse for these services, as the ``ConfigError`` that stops
    start-up in Gunicorn's master with one line."""
    try:
        table((name, config.exposed_types) for name, config in catalog.items())
    except ValueError as err:
        raise ConfigError(f"GATEWAY_RPC_SERVICES: {err}") from None
