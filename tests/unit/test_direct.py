"""The direct path: which requests it takes, and that it answers exactly as Flask would."""

from __future__ import annotations

import json
from typing import Any

import pytest
from werkzeug.test import Client

from gateway import errors
from gateway.app import create_app
from gateway.config import Settings
from gateway.http import handlers
from gateway.http.direct import DirectRoutes
from gateway.http.routes import table
from gateway.http.routing import RouteMatcher
from gateway.rpc.calls import Rpc
from tests.stubs import StubBackends, builtin_services
from thrift_idl.gen.cache import ttypes as cache_types
from thrift_idl.gen.calculator.ttypes import CalculatorError

ROUTES = table(builtin_services())


def _never(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    raise AssertionError(f"fell through to Flask: {environ['REQUEST_METHOD']} {environ['PATH_INFO']}")


@pytest.mark.parametrize(("method", "path", "body"), [
    ("GET", "/add/2/3", None), ("GET", "/add/x/3", None), ("GET", "/calc/divide/7/2", None),
    ("POST", "/calc", b'{"op": "add", "a": 1, "b": 2}'), ("GET", "/cache/k", None),
    ("PUT", "/cache/k", b'{"value": 1}'), ("DELETE", "/cache/a//b", None), ("GET", "/get/k", None),
    ("POST", "/set", b'{"key": "k", "value": 1}'), ("POST", "/rpc/calculator/add", b'{"a": 1, "b": 2}'),
])
def test_the_api_routes_do_not_reach_flask(method: str, path: str, body: bytes | None) -> None:
    stubs = StubBackends()
    stubs.calc_pool.outcome, stubs.cache_pool.outcome = 3, b"1"
    context = handlers.Context(stubs, Rpc(stubs), {})  # type: ignore[arg-type]
    direct = RouteMatcher(ROUTES, DirectRoutes(context, json.dumps, _never))
    response = Client(direct).open(path, method=method, data=body)
    assert response.status_code in (200, 400), response.get_data()


# Requests and backend outcomes; each is answered by both apps and the answers compared.
CASES: list[tuple[str, str, bytes | None, Any]] = [
    ("GET", "/add/2/3", None, 5),
    ("GET", "/add/x/3", None, 5),
    ("GET", "/add/99999999999999999999/3", None, 5),
    ("GET", "/add/2/3", None, errors.BackendTimeout("slow", backend="calculator", address="127.0.0.1:1")),
    ("GET", "/add/2/3", None, errors.Overloaded("full", backend="calculator", address="127.0.0.1:1")),
    ("GET", "/add/2/3", None, RuntimeError("a bug")),
    ("GET", "/add/2/3/", None, 5),
    ("GET", "/add//3", None, 5),
    ("HEAD", "/add/2/3", None, 5),
    ("DELETE", "/add/2/3", None, 5),
    ("OPTIONS", "/add/2/3", None, 5),
    ("GET", "/calc/modulo/1/2", None, 5),
    ("GET", "/calc/divide/7/2", None, 3),
    ("POST", "/calc", b'{"op": "add", "a": 1, "b": 2}', 3),
    ("POST", "/calc", b'{"op": "add", "a": true, "b": 2}', 3),
    ("POST", "/calc", b"not json", 3),
    ("POST", "/calc", b"[1]", 3),
    ("PUT", "/calc", b"{}", 3),
    ("GET", "/cache/k", None, b'{"n": [1, "\xc3\xa9"]}'),
    ("GET", "/cache/k", None, cache_types.NotFound(key="k")),
    ("GET", "/cache/k", None, b"\xff not json"),
    ("GET", "/cache/caf%C3%A9", None, b"1"),
    ("GET", "/cache/%FF", None, b"1"),
    ("GET", "/cache/a%2Fb//c", None, b"1"),
    ("GET", "/cache/", None, b"1"),
    ("PUT", "/cache/k", b'{"value": {"a": 1}, "ttl": 5}', None),
    ("PUT", "/cache/k", b'{"value": 1, "ttl": -1}', None),
    ("PUT", "/cache/k", b'{"ttl": 5}', None),
    ("PUT", "/cache/k", b'{"value": 1}', cache_types.TooLarge(size=10, limit=5)),
    ("POST", "/cache/k", b'{"value": 1}', None),
    ("DELETE", "/cache/k", None, None),
    ("POST", "/set", b'{"key": "k", "value": 1}', None),
    ("POST", "/set", b'{"key": 5, "value": 1}', None),
    ("GET", "/get/k", None, cache_types.NotFound(key="k")),
    ("GET", "/healthz", None, None),
    ("GET", "/readyz", None, None),
    ("HEAD", "/healthz", None, None),
    ("GET", "/openapi.json", None, None),
    ("GET", "//add/2/3", None, 5),
    ("GET", "///cache//k", None, b"1"),
    ("GET", "/docs", None, None),
    ("POST", "/rpc/calculator/add", b'{"a": 1, "b": 2}', 3),
    ("POST", "/rpc/calculator/add", b'{"a": "x", "b": 2}', 3),
    ("POST", "/rpc/calculator/add", b'{"a": 1, "b": 2}', CalculatorError(code="overflow", message="big")),
    ("POST", "/rpc/calculator/nope", b"{}", 3),
    ("POST", "/rpc/nope/add", b"{}", 3),
    ("GET", "/rpc/calculator/add", None, 3),
    ("POST", "/rpc/cache/put", b'{"key": "k", "value": "MQ==", "ttl_seconds": 5}', None),
    ("GET", "/rpc", None, None),
]


def _answer(direct: bool, method: str, path: str, body: bytes | None, outcome: Any) -> tuple[Any, ...]:
    stubs = StubBackends()
    stubs.calc_pool.outcome = stubs.cache_pool.outcome = outcome
    app = create_app(Settings(), backends=stubs, direct=direct)  # type: ignore[arg-type]
    response = app.test_client().open(path, method=method, data=body)
    headers = [(k, v) for k, v in response.headers.items() if k not in ("X-Request-ID", "traceparent")]  # fresh per request
    return response.status, headers, response.get_data()


@pytest.mark.parametrize(("method", "path", "body", "outcome"), CASES)
def test_the_direct_path_answers_exactly_as_flask_does(method: str, path: str, body: bytes | None,
                                                        outcome: Any) -> None:
    assert _answer(True, method, path, body, outcome) == _answer(False, method, path, body, outcome)
