"""gateway/http/openapi.py in-process: the document built from the route table and a Rpc
over stub backends, held to the OpenAPI 3.0 schema by openapi-spec-validator.

The integration test (test_openapi.py) fetches /openapi.json from a running gateway and
has schemathesis call every operation; these build the document without a process, for
the built-in services and for the REST routes of tests/idl/rest.thrift, and check what a
wrong document would get wrong: a route left out or a path no route serves, the i64
bounds (numbers, or strings under GATEWAY_JSON_INT64=string and api.js_conv), and each
declared exception under the status the gateway answers it with.
"""

from __future__ import annotations

import re
from types import SimpleNamespace
from typing import Any

import pytest
from openapi_schema_validator import OAS30Validator
from openapi_spec_validator import OpenAPIV30SpecValidator, validate

from gateway.config import Address, RpcService, Settings, Target
from gateway.http import openapi, routes
from gateway.http.routing import RouteTable
from gateway.idl.catalog import load_all
from gateway.idl.model import Field, MapOf, Method, Scalar, ServiceTypes, Struct
from gateway.rpc.calls import Rpc
from gateway.upstream.services import Service
from tests.stubs import StubBackends, StubPool
from thrift_wire.integers import I64_MAX, I64_MIN

I64, I32, STRING = Scalar("i64"), Scalar("i32"), Scalar("string")
JSON = "application/json"


class WithUsers(StubBackends):
    """The built-in services and tests/idl/rest.thrift's Users, whose methods are REST
    routes (api.get, api.post, ...), on stub pools; ``methods`` limits what is exposed."""

    def __init__(self, methods: tuple[str, ...] = ("*",)) -> None:
        super().__init__()
        target = Target((Address("127.0.0.1", 1),), methods=methods)
        self.catalog = load_all(Settings(rpc_services=(RpcService("users", "tests.gen.rest.Users", target),)))
        self.by_name["users"] = Service("users", [StubPool("users")], self.catalog["users"].methods,
                                        health=self.catalog["users"].health)


def build(backends: StubBackends, i64_strings: bool = False) -> tuple[RouteTable, Rpc, dict[str, Any]]:
    """The route table, the Rpc and the document, as the app factory makes them."""
    table = routes.table((name, config.exposed_types) for name, config in backends.catalog.items())
    rpc = Rpc(backends, i64_strings=i64_strings)
    return table, rpc, openapi.document(table, rpc)


@pytest.fixture(scope="module")
def built() -> tuple[RouteTable, Rpc, dict[str, Any]]:
    return build(WithUsers())


@pytest.fixture(scope="module")
def doc(built: tuple[RouteTable, Rpc, dict[str, Any]]) -> dict[str, Any]:
    return built[2]


@pytest.fixture(scope="module")
def strings_doc() -> dict[str, Any]:
    return build(WithUsers(), i64_strings=True)[2]


def accepts(document: dict[str, Any], schema: dict[str, Any], value: Any) -> bool:
    """Whether ``value`` fits ``schema`` (an OpenAPI 3.0 schema of ``document``, its
    $refs into the document's components)."""
    root = {**schema, "components": document["components"]}
    return OAS30Validator(root).is_valid(value)


def body_schema(operation: dict[str, Any]) -> dict[str, Any]:
    return operation["requestBody"]["content"][JSON]["schema"]


def result_schema(operation: dict[str, Any], status: str = "200") -> dict[str, Any]:
    return operation["responses"][status]["content"][JSON]["schema"]


# The document as a whole ----------------------------------------------------------------------

def test_the_document_is_valid_openapi_3_0(doc: dict[str, Any], strings_doc: dict[str, Any]) -> None:
    for document in (doc, strings_doc):
        assert document["openapi"].startswith("3.0.")  # the Swagger UI bundled renders 3.0
        validate(document, cls=OpenAPIV30SpecValidator)


def test_the_document_of_the_built_in_services_alone_is_valid() -> None:
    _, _, document = build(StubBackends())
    validate(document, cls=OpenAPIV30SpecValidator)
    assert not any(path.startswith("/v1/") for path in document["paths"])


def test_every_route_of_the_table_is_in_the_document(built: tuple[RouteTable, Rpc, dict[str, Any]]) -> None:
    table, rpc, document = built
    paths = document["paths"]
    for route in table:
        if route.openapi is None:  # /openapi.json and /docs describe the document itself
            assert route.openapi_path not in paths, route.rule
        elif route.rule == "/rpc/<service>/<method>":  # one operation per exposed method
            for name, service in rpc.services.items():
                for method in service.types.methods:
                    assert "post" in paths[f"/rpc/{name}/{method}"], (name, method)
        else:
            assert route.method.lower() in paths.get(route.openapi_path, {}), (route.method, route.rule)


def test_every_path_of_the_document_reaches_a_route(built: tuple[RouteTable, Rpc, dict[str, Any]]) -> None:
    # The other way round: no operation the router would answer 404 or 405.
    table, _, document = built
    for path, operations in document["paths"].items():
        concrete = re.sub(r"\{\w+\}", "1", path)
        for method in operations:
            match = table.match(method.upper(), concrete)
            assert match is not None and match.route.openapi is not None, (method, path)


def test_operation_ids_are_unique_and_path_parameters_declared(doc: dict[str, Any]) -> None:
    ids = [op["operationId"] for operations in doc["paths"].values() for op in operations.values()]
    assert len(ids) == len(set(ids))
    for path, operations in doc["paths"].items():
        names = set(re.findall(r"\{(\w+)\}", path))
        for method, operation in operations.items():
            declared = {p["name"] for p in operation.get("parameters", []) if p["in"] == "path"}
            assert declared == names, (method, path)


def test_every_error_answer_is_a_problem_document(doc: dict[str, Any]) -> None:
    problem = doc["components"]["schemas"]["Problem"]
    assert set(problem["required"]) == {"type", "title", "status", "detail", "code"}
    for path, operations in doc["paths"].items():
        for method, operation in operations.items():
            for status, answer in operation["responses"].items():
                if status[0] in "45":
                    assert answer["content"] == {"application/problem+json": {"schema": {
                        "$ref": "#/components/schemas/Problem"}}}, (method, path, status)


def test_exposure_limits_the_document() -> None:
    # A service's `methods` option: the others are neither routes nor operations.
    _, _, document = build(WithUsers(methods=("getUser",)))
    paths = document["paths"]
    assert "/rpc/users/getUser" in paths and "/v1/users/{id}" in paths
    assert not {"/rpc/users/createUser", "/rpc/users/plain", "/v1/users", "/v1/counter"} & set(paths)


# i64 ----------------------------------------------------------------------------------------

def test_i64_is_a_bounded_integer_by_default(doc: dict[str, Any]) -> None:
    add = doc["paths"]["/rpc/calculator/add"]["post"]
    arguments = body_schema(add)
    assert arguments["properties"]["a"] == {"type": "integer", "minimum": I64_MIN, "maximum": I64_MAX}
    assert accepts(doc, arguments, {"a": I64_MAX, "b": I64_MIN})
    assert not accepts(doc, arguments, {"a": I64_MAX + 1, "b": 0})
    assert not accepts(doc, arguments, {"a": "1", "b": 0})
    assert accepts(doc, result_schema(add), {"result": I64_MIN})
    assert not accepts(doc, result_schema(add), {"result": I64_MIN - 1})
    # The hand-written routes' i64s too: /add's answer and /calc's body.
    hand_written = result_schema(doc["paths"]["/add/{a}/{b}"]["get"])
    assert accepts(doc, hand_written, {"result": I64_MAX})
    assert not accepts(doc, hand_written, {"result": I64_MAX + 1})
    calc = body_schema(doc["paths"]["/calc"]["post"])
    assert accepts(doc, calc, {"op": "add", "a": I64_MIN, "b": 1})
    assert not accepts(doc, calc, {"op": "add", "a": I64_MIN - 1, "b": 1})


def test_i64_is_a_string_under_json_int64_string(strings_doc: dict[str, Any]) -> None:
    add = strings_doc["paths"]["/rpc/calculator/add"]["post"]
    for schema in (body_schema(add)["properties"]["a"], result_schema(add)["properties"]["result"]):
        assert schema["type"] == "string" and schema["format"] == "int64"
        for fits in (str(I64_MAX), str(I64_MIN), "0"):
            assert accepts(strings_doc, schema, fits)
        for wrong in ("", "1.5", "+1", "0x10", "12345678901234567890"):
            assert not accepts(strings_doc, schema, wrong), wrong


def test_the_hand_written_routes_keep_integers_under_json_int64_string(strings_doc: dict[str, Any]) -> None:
    # /add and /calc answer JSON numbers whatever GATEWAY_JSON_INT64 says.
    add = strings_doc["paths"]["/add/{a}/{b}"]["get"]
    assert result_schema(add)["properties"]["result"]["type"] == "integer"


def test_smaller_integers_have_their_own_ranges(doc: dict[str, Any]) -> None:
    # rest.thrift: listUsers(1: i32 limit = 10, ..., 4: optional set<i16> shards)
    by_name = {p["name"]: p for p in doc["paths"]["/v1/users"]["get"]["parameters"]}
    assert by_name["limit"]["schema"] == {"type": "integer", "minimum": -2 ** 31, "maximum": 2 ** 31 - 1}
    assert by_name["shards"]["schema"]["items"] == {"type": "integer", "minimum": -2 ** 15, "maximum": 2 ** 15 - 1}
    assert by_name["shards"]["schema"]["uniqueItems"] is True  # a set


def test_js_conv_makes_one_i64_a_string_and_leaves_the_others(doc: dict[str, Any]) -> None:
    # rest.thrift: bump(1: i64 by (api.js_conv = "true"), 2: i64 plain) -> Counter
    # {1: i64 value (api.js_conv), 2: i64 plain}.
    bump = doc["paths"]["/v1/counter"]["post"]
    arguments = body_schema(bump)["properties"]
    assert arguments["by"]["type"] == "string" and arguments["plain"]["type"] == "integer"
    counter = doc["components"]["schemas"]["thrift.Counter"]["properties"]
    answer = result_schema(bump)["properties"]
    for properties in (counter, answer):
        assert properties["value"]["type"] == "string" and properties["plain"]["type"] == "integer"


def test_path_integers_are_strings_of_at_most_19_digits(doc: dict[str, Any]) -> None:
    a = doc["paths"]["/add/{a}/{b}"]["get"]["parameters"][0]
    assert accepts(doc, a["schema"], "-9223372036854775808")
    assert not accepts(doc, a["schema"], "1e3") and not accepts(doc, a["schema"], "")


# Answers and declared exceptions ------------------------------------------------------------

def test_declared_exceptions_are_listed_under_their_statuses(doc: dict[str, Any]) -> None:
    def said(path: str, method: str, status: str) -> str:
        return str(doc["paths"][path][method]["responses"][status]["description"])

    # calculator.thrift: CalculatorError, no api.http_code: 400.
    assert "CalculatorError" in said("/rpc/calculator/divide", "post", "400")
    # cache.thrift: NotFound is 404 by its name; InvalidKey and StoreUnavailable 400.
    assert "`NotFound` (`not_found`)" in said("/rpc/cache/get", "post", "404")
    assert "InvalidKey" in said("/rpc/cache/get", "post", "400")
    assert "NotFound" not in said("/rpc/cache/get", "post", "400")
    # rest.thrift: api.http_code 404 and 409; Refused without one is 400 - on the REST
    # route and on /rpc alike.
    for path, method in (("/v1/users", "post"), ("/rpc/users/createUser", "post")):
        assert "`Conflict` (`conflict`)" in said(path, method, "409")
        assert "Refused" in said(path, method, "400")
    assert "UserNotFound" in said("/v1/users/{id}", "get", "404")
    assert "UserNotFound" in said("/v1/users/{id}", "delete", "404")


def test_a_method_without_declared_exceptions_lists_none(doc: dict[str, Any]) -> None:
    responses = doc["paths"]["/rpc/users/plain"]["post"]["responses"]
    assert "declared exception" not in responses["400"]["description"]
    assert not {"404", "409"} & set(responses)


def test_void_and_oneway_answers(doc: dict[str, Any]) -> None:
    paths = doc["paths"]
    assert set(paths["/v1/users/{id}"]["delete"]["responses"]) >= {"204"}  # void over REST
    assert "202" in paths["/v1/notify"]["post"]["responses"]  # oneway over REST
    assert "202" in paths["/rpc/users/notify"]["post"]["responses"]
    void = result_schema(paths["/rpc/cache/ping"]["post"])  # void over /rpc: {}
    assert accepts(doc, void, {}) and not accepts(doc, void, {"result": None})


def test_a_rest_answer_leaves_out_header_status_and_hidden_fields(doc: dict[str, Any]) -> None:
    # User: etag (api.header = "ETag"), status (api.http_code), secret (api.none).
    get_user = doc["paths"]["/v1/users/{id}"]["get"]
    answer = get_user["responses"]["2XX"]  # api.http_code picks the success at run time
    assert "200" not in get_user["responses"]
    assert set(answer["headers"]) == {"ETag"}
    properties = answer["content"][JSON]["schema"]["properties"]
    assert {"id", "name", "role", "tags"} <= set(properties)
    assert not {"etag", "status", "secret"} & set(properties)


def test_rest_parameters_come_from_where_the_idl_says(doc: dict[str, Any]) -> None:
    parameters = {(p["in"], p["name"]) for p in doc["paths"]["/v1/users/{id}"]["get"]["parameters"]}
    assert {("path", "id"), ("query", "fields"), ("header", "X-Tenant"), ("cookie", "session")} <= parameters


def test_a_recursive_struct_and_a_map_with_integer_keys() -> None:
    # A struct that contains itself is one named component referring to itself; a map
    # whose keys are not strings is a list of [key, value] pairs.
    node = Struct("Node", "struct", object)
    node.fields = [Field(1, "value", I64, True), Field(2, "next", node, False),
                   Field(3, "weights", MapOf(I32, STRING), False)]
    method = Method("walk", [Field(1, "start", node, True)], node, [], False)
    rpc = SimpleNamespace(services={"graph": SimpleNamespace(types=ServiceTypes("Graph", {"walk": method}))},
                          i64_strings=False)
    schemas = openapi._Schemas()
    paths = openapi.rpc_operations(rpc, schemas)  # type: ignore[arg-type]
    component = schemas.components["thrift.Node"]
    assert component["properties"]["next"] == {"$ref": "#/components/schemas/thrift.Node"}
    assert component["required"] == ["value"]
    document = {"openapi": "3.0.3", "info": {"title": "t", "version": "1"}, "paths": paths,
                "components": {"schemas": {"Problem": {"type": "object"}, **schemas.components}}}
    validate(document, cls=OpenAPIV30SpecValidator)
    chain = {"value": 1, "next": {"value": 2, "weights": [[1, "a"]]}}
    assert accepts(document, component, chain)
    assert not accepts(document, component, {"value": 1, "next": {"weights": {}}})


def exception(name: str, status: str | None = None) -> Field:
    annotations = {"api.http_code": status} if status else {}
    return Field(1, "e", Struct(name, "exception", object, [], annotations), False)


def test_a_declared_exception_on_a_status_the_gateway_also_uses_is_still_listed() -> None:
    method = Method("m", [], STRING, [exception("StoreDown", "503")], False)
    rpc = SimpleNamespace(services={"svc": SimpleNamespace(types=ServiceTypes("Svc", {"m": method}))})
    paths = openapi.rpc_operations(rpc, openapi._Schemas())  # type: ignore[arg-type]
    assert "StoreDown" in paths["/rpc/svc/m"]["post"]["responses"]["503"]["description"]
