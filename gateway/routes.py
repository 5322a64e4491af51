"""The route table: every route the gateway serves, declared once.

Each line gives a route's method and path, its handler, what it takes to be let in -
``OPEN``, ``AUTHENTICATED``, ``DEFERRED`` (the handler checks, once it has read the body)
or the ``service.method`` permission it ``needs`` - and its OpenAPI operation. The direct
path, the Flask rules, the guard's check, the metrics route label and ``/openapi.json``
all come from this table; a route that does not say what it takes cannot be declared.
The permissions are the contract's (CONTRACT.md, Security): a hand-written route needs
the permission of the Thrift method it calls.
"""

from __future__ import annotations

from gateway import api, flask_views, openapi
from gateway.routing import AUTHENTICATED, DEFERRED, OPEN, Route, RouteTable, needs

ROUTES = RouteTable([
    # Calculator
    Route("GET", "/add/<a>/<b>", api.add, needs("calculator.add"), openapi.ADD),
    Route("GET", "/calc/<op>/<a>/<b>", api.calc_path, needs("calculator.{op}"), openapi.CALC_PATH),
    Route("POST", "/calc", api.calc_body, DEFERRED, openapi.CALC_BODY),  # the operation is in the body
    # Cache
    Route("PUT", "/cache/<key:key>", api.cache_put, needs("cache.put"), openapi.CACHE_PUT),
    Route("GET", "/cache/<key:key>", api.cache_get, needs("cache.get"), openapi.CACHE_GET),
    Route("DELETE", "/cache/<key:key>", api.cache_delete, needs("cache.remove"), openapi.CACHE_DELETE),
    Route("POST", "/set", api.seed_set, needs("cache.put"), openapi.SEED_SET),
    Route("GET", "/get/<key:key>", api.seed_get, needs("cache.get"), openapi.SEED_GET),
    # Operations
    Route("GET", "/healthz", api.healthz, OPEN, openapi.HEALTHZ),
    Route("GET", "/readyz", api.readyz, OPEN, openapi.READYZ),
    Route("GET", "/metrics", flask_views.metrics_text, needs("metrics"), openapi.METRICS, flask_view=True),
    # Any Thrift service, by its IDL
    Route("GET", "/rpc", api.rpc_list, AUTHENTICATED, openapi.RPC_LIST),
    Route("POST", "/rpc/<service>/<method>", api.rpc_call, needs("{service}.{method}"), openapi.rpc_operations),
    # Documentation (left out of the document it serves)
    Route("GET", "/openapi.json", api.openapi_document, AUTHENTICATED),
    Route("GET", "/docs", flask_views.docs, AUTHENTICATED, flask_view=True),
    Route("GET", "/docs/assets/<name>", flask_views.docs_asset, AUTHENTICATED, flask_view=True),
])
