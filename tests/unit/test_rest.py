"""REST binding plans from the IDL's annotations, in one process: what the plan refuses
at start-up, how text becomes each type, and the direct path answering REST routes
exactly as Flask does (the users service stubbed; the real server is in
tests/integration/test_rest_routes.py)."""

from __future__ import annotations

import math
from typing import Any

import pytest

from gateway.app import create_app
from gateway.config import Address, RpcService, Settings, Target
from gateway.errors import InvalidArgument
from gateway.http import rest
from gateway.idl.catalog import load_all
from gateway.idl.model import Enum, Field, ListOf, Method, Scalar, ServiceTypes, SetOf, Struct
from gateway.upstream.services import Service
from tests.gen.rest import ttypes
from tests.stubs import StubBackends, StubPool, builtin_services

I64, I32, STRING = Scalar("i64"), Scalar("i32"), Scalar("string")


def _method(*arguments: Field, annotations: dict[str, str], result: Any = STRING, exceptions: Any = ()) -> Method:
    return Method("m", list(arguments), result, list(exceptions), False, annotations)


def _plan(method: Method) -> list[rest.Binding]:
    return rest.plan("svc", ServiceTypes("Svc", {method.name: method}))


def test_the_plan_maps_hertz_paths_to_router_rules() -> None:
    binding, = _plan(_method(Field(1, "id", I64, True, {"api.path": "id"}), Field(2, "rest", STRING, True, {"api.path": "rest"}),
                             annotations={"api.get": "/v1/:id/files/*rest"}))
    assert (binding.http_method, binding.rule) == ("GET", "/v1/<id>/files/<key:rest>")
    assert [(p.source, p.name) for p in binding.params] == [("path", "id"), ("path", "rest")]


def test_unannotated_fields_come_from_the_query_for_get_and_delete_and_the_body_otherwise() -> None:
    for verb, source in (("api.get", "query"), ("api.delete", "query"), ("api.post", "body"), ("api.put", "body"),
                         ("api.patch", "body")):
        binding, = _plan(_method(Field(1, "n", I32, True), annotations={verb: "/x"}))
        assert binding.params[0].source == source, verb


@pytest.mark.parametrize(("method", "says"), [
    (_method(annotations={"api.get": "/v1/:id"}), ":id, which no field takes"),
    (_method(Field(1, "id", I64, True, {"api.path": "uid"}), annotations={"api.get": "/v1/:id"}), "has no :uid"),
    (_method(Field(1, "p", Struct("P", "struct", object), True, {"api.query": "p"}), Field(2, "n", I32, True),
             annotations={"api.get": "/x"}), "cannot be read from a query"),
    (_method(Field(1, "m", ListOf(ListOf(I32)), True, {"api.header": "M"}), annotations={"api.get": "/x"}),
     "cannot be read from a header"),
    (_method(Field(1, "id", I64, True, {"api.path": "id", "api.query": "id"}), annotations={"api.get": "/:id"}),
     "bound to 2 places"),
    (_method(annotations={"api.get": "v1/x"}), "does not start with /"),
    (_method(Field(1, "a-b", I64, True, {"api.path": "a-b"}), annotations={"api.get": "/:a-b"}), "not a parameter name"),
    (_method(Field(1, "r", STRING, True, {"api.path": "r"}), annotations={"api.get": "/*r/x"}), "must be the last"),
    (_method(annotations={"api.get": "/a:b"}), "not literal text"),
    (_method(annotations={"api.get": "/x"}, exceptions=[Field(1, "e", Struct("E", "exception", object, [],
                                                                             {"api.http_code": "200"}), False)]),
     "not an error status"),
])
def test_what_the_plan_refuses_names_the_method(method: Method, says: str) -> None:
    with pytest.raises(rest.RestError, match=says) as raised:
        _plan(method)
    assert str(raised.value).startswith("svc.m: ")


COLOUR = Enum("Colour", {"RED": 1, "BLUE": 5}, {1: "RED", 5: "BLUE"})


@pytest.mark.parametrize(("t", "texts", "value"), [
    (I64, ["-9223372036854775808"], -(2 ** 63)), (Scalar("byte"), ["127"], 127), (I32, ["0"], 0),
    (Scalar("double"), ["2.5"], 2.5), (Scalar("double"), ["-1e3"], -1000.0), (Scalar("double"), ["Infinity"], math.inf),
    (Scalar("bool"), ["true"], True), (Scalar("bool"), ["false"], False), (STRING, ["a,b"], "a,b"),
    (Scalar("binary"), ["aGk="], b"hi"), (COLOUR, ["BLUE"], 5), (COLOUR, ["1"], 1),
    (ListOf(I32), ["1,2", "3"], [1, 2, 3]), (SetOf(STRING), ["a,b,a"], {"a", "b"}), (ListOf(COLOUR), ["RED,5"], [1, 5]),
    (I32, ["7", "8"], 7),  # a scalar given twice takes the first, as Go's Query().Get does
])
def test_text_converts_to_the_fields_type(t: Any, texts: list[str], value: Any) -> None:
    assert rest.from_text(t, texts, "query parameter 'n'") == value


@pytest.mark.parametrize(("t", "text"), [
    (I64, "9223372036854775808"), (Scalar("byte"), "128"), (I32, "+5"), (I32, " 5"), (I32, "1_000"), (I32, "٣"),
    (I32, "1.0"), (Scalar("double"), "1e999"), (Scalar("double"), "nan"), (Scalar("bool"), "True"),
    (Scalar("bool"), "1"), (Scalar("binary"), "not base64!"), (COLOUR, "GREEN"), (COLOUR, "2"), (ListOf(I32), "1,x"),
])
def test_text_that_does_not_convert_is_invalid_argument_naming_the_parameter(t: Any, text: str) -> None:
    with pytest.raises(InvalidArgument, match="query parameter 'n'"):
        rest.from_text(t, [text], "query parameter 'n'")


# The direct path and Flask answer REST routes alike ------------------------------------

class _UsersStub(StubBackends):
    def __init__(self, outcome: Any) -> None:
        super().__init__()
        settings = Settings(rpc_services=(RpcService("users", "tests.gen.rest.Users",
                                                     Target((Address("127.0.0.1", 1),))),))
        self.catalog = load_all(settings)
        self.users_pool = StubPool("users")
        self.users_pool.outcome = outcome
        self.by_name["users"] = Service("users", [self.users_pool], self.catalog["users"].methods,
                                        health=self.catalog["users"].health)


CASES = [
    ("GET", "/v1/users/5", ttypes.User(id=5, name="a", role=1, tags=[], etag="e", status=203, secret="s")),
    ("HEAD", "/v1/users/5", ttypes.User(id=5, name="a", role=1, tags=[])),
    ("GET", "/v1/users/x", None),
    ("GET", "/v1/users/404", ttypes.UserNotFound(id=404)),
    ("DELETE", "/v1/users/5", None),
    ("POST", "/v1/notify", None),
    ("PATCH", "/v1/users/5", None),
    ("GET", "/v1/users", [ttypes.User(id=1, name="b", role=2, tags=["t"], big_id=2 ** 60)]),
    ("GET", "/v1/files/a//b", "a//b"),
    ("GET", "/v1/users/5", ttypes.User(id=5, name="a", role=1, tags=[], status=599)),  # a code without a reason
    ("GET", "/v1/users/5", ttypes.User(id=5, name="a", role=1, tags=[], status=304, etag="e")),
]


def _answer(direct: bool, method: str, path: str, outcome: Any) -> tuple[Any, ...]:
    app = create_app(Settings(access_log=""), backends=_UsersStub(outcome), direct=direct)  # type: ignore[arg-type]
    body = b'{"message": "m"}' if path == "/v1/notify" else None
    response = app.test_client().open(path, method=method, data=body)
    headers = sorted((k, v) for k, v in response.headers.items() if k not in ("X-Request-ID", "traceparent"))
    return response.status, headers, response.get_data()


@pytest.mark.parametrize(("method", "path", "outcome"), CASES)
def test_the_direct_path_answers_rest_routes_exactly_as_flask_does(method: str, path: str, outcome: Any) -> None:
    assert _answer(True, method, path, outcome) == _answer(False, method, path, outcome)


def test_a_route_the_idl_gives_twice_or_over_a_hand_written_one_stops_start_up() -> None:
    from gateway.config import ConfigError
    from gateway.http import routes

    add = _method(Field(1, "a", STRING, True, {"api.path": "a"}), Field(2, "b", STRING, True, {"api.path": "b"}),
                  annotations={"api.get": "/add/:a/:b"})
    with pytest.raises(ValueError, match=r"two routes for GET /add/<a>/<b>: the route add and svc\.m "
                                         r"\(api\.get = \"/add/:a/:b\"\)"):
        routes.table([*builtin_services(), ("svc", ServiceTypes("Svc", {"m": add}))])
    catalog = load_all(Settings(rpc_services=(RpcService("users", "tests.gen.rest.Users",
                                                         Target((Address("127.0.0.1", 1),))),)))
    routes.check(catalog)  # the test IDL's own routes are fine
    twice = Method("n", [], STRING, [], False, {"api.get": "/v1/users/me"})
    catalog["users"].types.methods["twice"] = twice
    try:
        with pytest.raises(ConfigError, match="GATEWAY_RPC_SERVICES: two routes for GET /v1/users/me"):
            routes.check(catalog)
    finally:
        del catalog["users"].types.methods["twice"]


# What a backend's result makes of the answer -------------------------------------------

@pytest.mark.parametrize("direct", [True, False])
@pytest.mark.parametrize("etag", ["a\r\nSet-Cookie: x=1", "a\nb", "nul\x00", "snow\u2603man", "bell\x07"])
def test_a_header_value_http_cannot_carry_is_502_naming_the_header(direct: bool, etag: str) -> None:
    # Not the 500 of Gunicorn's refusal after the handler, and no second header smuggled in.
    status, headers, data = _answer(direct, "GET", "/v1/users/5", ttypes.User(id=5, name="a", role=1, tags=[],
                                                                            etag=etag))
    assert status.startswith("502")
    assert b'"code":"bad_gateway"' in data.replace(b" ", b"") and b"ETag" in data
    assert not any(k in ("ETag", "Set-Cookie") for k, _ in headers)


@pytest.mark.parametrize("direct", [True, False])
def test_a_header_value_in_latin1_with_a_tab_is_sent_as_it_is(direct: bool) -> None:
    _, headers, _ = _answer(direct, "GET", "/v1/users/5", ttypes.User(id=5, name="a", role=1, tags=[], etag="W/\"x\ty\xe9\""))
    assert ("ETag", "W/\"x\ty\xe9\"") in headers


@pytest.mark.parametrize("direct", [True, False])
@pytest.mark.parametrize(("code", "expected"), [(100, "200"), (199, "200"), (600, "200"), (-1, "200"), (0, "200"),
                                                (201, "201"), (599, "599")])
def test_only_a_final_status_is_taken_from_the_result(direct: bool, code: int, expected: str) -> None:
    status, _, data = _answer(direct, "GET", "/v1/users/5", ttypes.User(id=5, name="a", role=1, tags=[], status=code))
    assert status.startswith(expected) and b'"name":"a"' in data.replace(b" ", b"")


@pytest.mark.parametrize("direct", [True, False])
@pytest.mark.parametrize("code", [204, 304])
def test_a_204_or_304_from_the_result_has_no_body(direct: bool, code: int) -> None:
    status, headers, data = _answer(direct, "GET", "/v1/users/5",
                                    ttypes.User(id=5, name="a", role=1, tags=[], status=code, etag="e"))
    assert status.startswith(str(code)) and data == b""
    assert ("ETag", "e") in headers and not any(k == "Content-Type" for k, _ in headers)


def test_an_answer_header_that_is_not_a_header_name_stops_start_up() -> None:
    user = Struct("U", "struct", object, [Field(1, "tag", STRING, False, {"api.header": "E Tag"})])
    with pytest.raises(rest.RestError, match="result field tag is api.header = 'E Tag'"):
        _plan(_method(annotations={"api.get": "/x"}, result=user))
    assert _plan(_method(annotations={}, result=user)) == []  # no route: /rpc answers the struct whole

