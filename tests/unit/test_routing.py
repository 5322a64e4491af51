"""The route table: one declaration per route, and the permission of the route that
matched - whatever spelling of the path reached it, on the direct path and through Flask.

In one process: the whole WSGI stack of ``create_app`` with API keys, backends stubbed
so that a call that should not happen is seen.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
from typing import Any

import pytest

from gateway.app import create_app
from gateway.config import Settings
from gateway.http import routing
from gateway.http.routes import table
from gateway.http.routing import AUTHENTICATED, DEFERRED, OPEN, Pattern, Route, RouteTable, needs
from tests.stubs import StubBackends, builtin_services

ROUTES = table(builtin_services())

KEYS = {"nothing": (), "reader": ("cache.get",), "adder": ("calculator.add",), "all": ("*",)}


def _call(app: Any, method: str, path: str, key: str | None, body: bytes = b"") -> tuple[int, bytes]:
    # The environ is built by hand: a test client would parse "//add/1/2" as a URL whose
    # host is "add". Gunicorn hands the path as sent.
    environ = {
        "REQUEST_METHOD": method, "PATH_INFO": path, "QUERY_STRING": "", "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000", "SERVER_PROTOCOL": "HTTP/1.1", "REMOTE_ADDR": "127.0.0.1",
        "wsgi.input": io.BytesIO(body), "wsgi.url_scheme": "http", "wsgi.errors": io.StringIO(),
        "wsgi.version": (1, 0), "wsgi.multithread": False, "wsgi.multiprocess": False, "wsgi.run_once": False,
        "CONTENT_LENGTH": str(len(body)) if body else "",
    }
    if key is not None:
        environ["HTTP_X_API_KEY"] = key
    status: list[str] = []
    chunks = app(environ, lambda line, headers, exc_info=None: status.append(line))
    data = b"".join(chunks)
    return int(status[0][:3]), data


@pytest.fixture(scope="module", params=[True, False], ids=["direct", "flask"])
def stack(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, list[str]]:
    folder = tmp_path_factory.mktemp("keys")
    keys_file = folder / "keys"
    keys_file.write_text("".join(f"{name} {hashlib.sha256(name.encode()).hexdigest()} {' '.join(perms)}\n"
                                 for name, perms in KEYS.items()))
    stubs = StubBackends()
    called: list[str] = []

    def recording(pool: Any, answer: Any) -> Any:
        def call(method: Any, *args: Any, headers: Any = None, deadline: Any = None, expired: Any = None) -> Any:
            called.append(f"{pool}.{getattr(method, 'name', method)}")
            return answer
        return call

    stubs.calc_pool.round_trip = recording("calculator", 3)  # type: ignore[method-assign]
    stubs.cache_pool.round_trip = recording("cache", b"1")  # type: ignore[method-assign]
    settings = Settings(auth="api_key", api_keys_file=str(keys_file), runtime_dir=str(folder), access_log="")
    app = create_app(settings, backends=stubs, direct=request.param)  # type: ignore[arg-type]
    return app, called


# Spellings of a path that Werkzeug routes to the same route as the plain one.
SPELLINGS = ["{}", "/{}", "//{}", "////{}"]
WRITES = [
    ("PUT", "/cache/k", b'{"value": 1}'), ("POST", "/set", b'{"key": "k", "value": 1}'),
    ("POST", "/rpc/cache/put", b'{"key": "k", "value": "MQ=="}'), ("DELETE", "/cache/k", b""),
]


# What each client may not do: "nothing" holds no permission, "reader" only cache.get.
REFUSED = [("nothing", request) for request in [
    ("GET", "/add/1/2", b""), ("HEAD", "/add/1/2", b""), ("GET", "/calc/multiply/2/3", b""),
    ("POST", "/rpc/calculator/multiply", b'{"a": 2, "b": 3}'), ("POST", "/calc", b'{"op": "add", "a": 1, "b": 2}'),
    ("GET", "/cache/k", b""), ("GET", "/get/k", b""), ("GET", "/metrics", b""), *WRITES,
]] + [("reader", request) for request in [*WRITES, ("GET", "/metrics", b""), ("GET", "/add/1/2", b"")]]


@pytest.mark.parametrize("spelling", SPELLINGS)
@pytest.mark.parametrize(("key", "request_"), REFUSED)
def test_a_client_without_the_permission_is_refused_however_the_path_is_spelled(
        stack: tuple[Any, list[str]], spelling: str, key: str, request_: tuple[str, str, bytes]) -> None:
    app, called = stack
    called.clear()
    method, path, body = request_
    status, data = _call(app, method, spelling.format(path.lstrip("/")) if spelling != "{}" else path, key, body)
    assert status == 403, data
    assert called == []


@pytest.mark.parametrize("path", ["/cache/k", "//cache/k", "///get/k"])
def test_a_permitted_read_through_extra_slashes_is_the_plain_route(stack: tuple[Any, list[str]], path: str) -> None:
    app, called = stack
    called.clear()
    status, data = _call(app, "GET", path, "reader")
    assert status == 200, data
    assert called == ["cache.get"]
    assert b'"k"' in data or b'"value"' in data


@pytest.mark.parametrize("path", ["//add/1/2", "/add/1/2"])
def test_the_permitted_client_is_answered_on_every_spelling(stack: tuple[Any, list[str]], path: str) -> None:
    app, called = stack
    called.clear()
    status, data = _call(app, "GET", path, "adder")
    assert (status, json.loads(data)) == (200, {"result": 3})
    assert called == ["calculator.add"]


@pytest.mark.parametrize("path", ["/nowhere", "//nowhere", "/add/1", "/cache/", "/rpc/calculator"])
def test_a_path_that_matches_no_route_needs_credentials_and_reaches_nothing(
        stack: tuple[Any, list[str]], path: str) -> None:
    app, called = stack
    called.clear()
    assert _call(app, "GET", path, None)[0] == 401
    assert _call(app, "GET", path, "nothing")[0] == 404
    assert called == []


@pytest.mark.parametrize(("path", "key"), [("/healthz", None), ("//healthz", None), ("/readyz", None)])
def test_the_probes_are_open_on_every_spelling(stack: tuple[Any, list[str]], path: str, key: str | None) -> None:
    app, _ = stack
    assert _call(app, "GET", path, key)[0] in (200, 503)


def test_a_non_ascii_path_matches_as_werkzeug_decodes_it(stack: tuple[Any, list[str]]) -> None:
    app, called = stack
    called.clear()
    café = "/cache/café".encode().decode("latin-1")  # WSGI: the path's bytes as latin-1
    assert _call(app, "PUT", café, "reader", b'{"value": 1}')[0] == 403
    assert _call(app, "GET", café, "reader")[0] == 200
    assert called == ["cache.get"]


# The table itself ---------------------------------------------------------------------

@pytest.mark.parametrize(("rule", "path", "params"), [
    ("/add/<a>/<b>", "/add/2/3", {"a": "2", "b": "3"}),
    ("/add/<a>/<b>", "/add/-2/x y", {"a": "-2", "b": "x y"}),
    ("/add/<a>/<b>", "/add/2", None),
    ("/add/<a>/<b>", "/add/2/3/", None),
    ("/add/<a>/<b>", "/add//3", None),
    ("/add/<a>/<b>", "/add/2/", None),
    ("/add/<a>/<b>", "/adder/2/3", None),
    ("/calc", "/calc", {}),
    ("/calc", "/calc/", None),
    ("/cache/<key:key>", "/cache/a", {"key": "a"}),
    ("/cache/<key:key>", "/cache//a//b/", {"key": "/a//b/"}),
    ("/cache/<key:key>", "/cache/", None),
    ("/calc/<op>/<a>/<b>", "/calc/add/1/2", {"op": "add", "a": "1", "b": "2"}),
    ("/calc/<op>/<a>/<b>", "/calc/add/1/2/3", None),
    ("/v1/users/<id>/posts", "/v1/users/42/posts", {"id": "42"}),
    ("/v1/users/<id>/posts", "/v1/users/42/post", None),
    ("/v1/users/<id>/posts", "/v1/users//posts", None),
    ("/v1/<a>/x/<key:rest>", "/v1/1/x/a/b/", {"a": "1", "rest": "a/b/"}),
    # A rule is one regular expression: its literal text is text, never a pattern.
    ("/v1/a.b/<x>", "/v1/aXb/1", None),
    ("/v1/a.b/<x>", "/v1/a.b/1", {"x": "1"}),
    ("/v1/(a)+/<x>", "/v1/(a)+/1", {"x": "1"}),
    # A newline is a character like any other, in a segment and in the rest.
    ("/add/<a>/<b>", "/add/1\n/2", {"a": "1\n", "b": "2"}),
    ("/cache/<key:key>", "/cache/a\nb\n", {"key": "a\nb\n"}),
])
def test_pattern(rule: str, path: str, params: dict[str, str] | None) -> None:
    assert Pattern(rule).match(path) == params


@pytest.mark.parametrize("rule", ["/a/<int:n>", "/a/<key:k>/<b>", "/a/x<b>", "a/<b>", "/a/<b>x/c"])
def test_a_rule_the_matcher_cannot_honour_is_refused_at_start_up(rule: str) -> None:
    with pytest.raises(ValueError):
        Pattern(rule)


def test_every_api_rule_is_one_the_matcher_takes() -> None:
    for route in ROUTES:
        Pattern(route.rule)



# CONTRACT.md, Security: what each operation of /openapi.json needs.
CONTRACT_PERMISSIONS = {
    ("GET", "/add/{a}/{b}"): "calculator.add",
    ("GET", "/calc/{op}/{a}/{b}"): "calculator.{op}",
    ("POST", "/calc"): "calculator.<op in the body>",
    ("PUT", "/cache/{key}"): "cache.put",
    ("GET", "/cache/{key}"): "cache.get",
    ("DELETE", "/cache/{key}"): "cache.remove",
    ("POST", "/set"): "cache.put",
    ("GET", "/get/{key}"): "cache.get",
    ("GET", "/healthz"): "open",
    ("GET", "/readyz"): "open",
    ("GET", "/metrics"): "metrics",
    ("GET", "/rpc"): "valid credentials",
    ("POST", "/thrift/{service}"): "<service>.<method in the message>",
}


def _declared(route: Route) -> str:
    if route.access is DEFERRED:  # the handler checks, once it has read the body
        return "<service>.<method in the message>" if route.rule.startswith("/thrift/") else "calculator.<op in the body>"
    return {OPEN: "open", AUTHENTICATED: "valid credentials"}.get(route.access, route.access.template)


def test_every_operation_in_openapi_needs_the_contracts_permission() -> None:
    app = create_app(Settings(access_log=""), backends=StubBackends())  # type: ignore[arg-type]
    document = app.test_client().get("/openapi.json").get_json()
    seen = 0
    for path, operations in document["paths"].items():
        for method in operations:
            sample = re.sub(r"\{(\w+)\}", r"\1", path)  # "/calc/{op}/{a}/{b}" -> "/calc/op/a/b"
            match = ROUTES.match(method.upper(), sample)
            assert match is not None, f"{method} {path} is listed but no route serves it"
            if path.startswith("/rpc/"):
                service, rpc_method = path.split("/")[2:]
                assert match.route.access.permission(match.params) == f"{service}.{rpc_method}"
            else:
                assert _declared(match.route) == CONTRACT_PERMISSIONS[(method.upper(), path)], path
            seen += 1
    assert seen >= len(CONTRACT_PERMISSIONS) + 10  # the hand-written routes and the /rpc methods


def _handler(*args: Any, **kwargs: Any) -> Any:
    return {}


def test_a_route_without_a_declared_access_cannot_be_declared() -> None:
    with pytest.raises(TypeError, match="declares no Access"):
        Route("GET", "/x", _handler, "calculator.add")  # type: ignore[arg-type]


def test_a_permission_naming_an_unknown_parameter_is_refused() -> None:
    with pytest.raises(ValueError, match="not path parameters"):
        Route("GET", "/x/<a>", _handler, needs("calculator.{op}"))


def test_two_routes_for_one_method_and_path_are_refused() -> None:
    with pytest.raises(ValueError, match="two routes for GET"):
        RouteTable([Route("GET", "/x/<a>", _handler, OPEN), Route("GET", "/x/<b>", _handler, OPEN)])


def test_a_literal_segment_wins_over_a_parameter_whatever_the_order_declared() -> None:
    table = RouteTable([Route("GET", "/v1/users/<id>", _handler, OPEN), Route("GET", "/v1/users/me", _other, OPEN),
                        Route("GET", "/v1/<key:rest>", _third, OPEN)])
    assert table.match("GET", "/v1/users/me").route.handler is _other  # type: ignore[union-attr]
    assert table.match("GET", "/v1/users/7").route.handler is _handler  # type: ignore[union-attr]
    assert table.match("GET", "/v1/users/7/x").route.handler is _third  # type: ignore[union-attr]


def test_the_first_segment_index_finds_what_trying_every_route_in_order_finds() -> None:
    """The table tries only the routes a path's first segment can reach; trying every
    route of the method in rank order must give the same match for any path."""
    table = RouteTable([*ROUTES, Route("GET", "/<a>/fixed", _other, OPEN), Route("GET", "/<key:rest>", _third, OPEN),
                        Route("GET", "/", _handler, OPEN)])
    segments = ["add", "cache", "v1", "fixed", "x", "", "calc", "rpc", "openapi.json", "1"]
    paths = {"/", "", "/add"} | {f"/{a}/{b}" for a in segments for b in segments} | {
        f"/{a}/{b}/{c}" for a in segments for b in segments[:4] for c in segments[:4]}
    # What an attacker sends: trailing slashes, percent-encoding left as sent, empty
    # segments, a first segment only a prefix of a route's, non-ASCII.
    paths |= {"/add/1/2/", "/add/1/", "/%61dd/1/2", "/add%2F1/2", "/add//2", "/ad/1/2", "/addx/1/2",
              "/cache/", "/cache//k", "/rpc/calculator/", "/rpc//add", "/caché/k", "/metrics/"}
    for method in ("GET", "HEAD", "PUT", "POST", "DELETE"):
        ordered = table._by_method.get("GET" if method == "HEAD" else method, [])
        for path in paths:
            linear = next((r for r in ordered if r.pattern.match(path) is not None), None)
            found = table.match(method, path)
            assert (found.route if found else None) is linear, (method, path)


def _other(*args: Any, **kwargs: Any) -> Any:
    return {}


def _third(*args: Any, **kwargs: Any) -> Any:
    return {}


def test_head_matches_the_get_route_and_other_methods_match_nothing() -> None:
    assert ROUTES.match("HEAD", "/cache/k").route.access == needs("cache.get")  # type: ignore[union-attr]
    assert ROUTES.match("OPTIONS", "/cache/k") is None
    assert ROUTES.match("POST", "/add/1/2") is None


@pytest.mark.parametrize(("path", "expected"), [("//add/1/2", "/add/1/2"), ("///x", "/x"), ("/a//b", "/a//b"),
                                                ("/", "/"), ("//", "/"), ("", "")])
def test_normalised_path_strips_leading_slashes_as_werkzeug_does(path: str, expected: str) -> None:
    assert routing.normalised_path(path) == expected


def test_the_routes_werkzeug_and_the_table_find_agree() -> None:
    """For every spelling, Werkzeug's router (fed the normalised path) picks the rule the
    table picks: the guard's route is the one Flask would run."""
    app = create_app(Settings(access_log=""), backends=StubBackends())  # type: ignore[arg-type]
    adapter = app.url_map.bind("localhost")
    for method, path in [("GET", "//add/1/2"), ("GET", "/calc/add/1/2"), ("PUT", "///cache//a//b"),
                         ("GET", "/get/%"), ("POST", "//rpc/cache/get"), ("GET", "//docs/assets/x"),
                         ("HEAD", "/cache/k"), ("GET", "/metrics")]:
        normal = routing.normalised_path(path)
        endpoint, _ = adapter.match(normal, method)
        match = ROUTES.match(method, normal)
        assert match is not None and match.route.endpoint == endpoint, (method, path)

