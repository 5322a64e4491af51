"""The OpenAPI 3 document of every route (``/openapi.json``), /rpc routes included.

Each route of the table (``gateway/http/routes.py``) names its operation; the hand-written
routes' operations are written here, the /rpc routes' are generated from the IDL types
the transcoder uses, so the document can never disagree with what it accepts.
"""

from __future__ import annotations

import re
from typing import Any, Iterable

from gateway.config import MAX_BODY_BYTES
from gateway.errors import snake_case
from gateway.http.problems import PROBLEM_TYPE
from gateway.http.rest import Binding
from gateway.http.routing import Route
from gateway.http.validation import OPERATIONS
from gateway.idl.model import Enum, ListOf, MapOf, Scalar, SetOf, Struct
from gateway.rpc.calls import Rpc, declared_status
from gateway.rpc.transcode import js_conv
from thrift_idl.cache_rules import MAX_KEY_BYTES, MAX_TTL_SECONDS
from thrift_wire.integers import I64_MAX, I64_MIN, INT_BITS, int_range

_JSON = "application/json"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _problem(description: str) -> dict[str, Any]:
    return {"description": description, "content": {PROBLEM_TYPE: {"schema": _ref("Problem")}}}


def _ok(schema: dict[str, Any], description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {_JSON: {"schema": schema}}}


def _object(required: dict[str, Any], optional: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"type": "object", "required": list(required), "properties": {**required, **(optional or {})}}


I64 = {"type": "integer", "minimum": I64_MIN, "maximum": I64_MAX}
I64_STRING = {"type": "string", "format": "int64", "pattern": r"^-?[0-9]{1,19}$",
              "description": "a signed 64-bit integer as a string (a number is accepted too)"}
ANY_JSON: dict[str, Any] = {}  # any JSON value
BACKEND_ERRORS = {
    "502": _problem("The backend's answer was not a valid reply (`bad_gateway`)"),
    "503": _problem("The backend is down (`backend_unavailable`) or no pooled connection was free (`overloaded`)"),
    "504": _problem("The backend did not answer within the call timeout (`backend_timeout`), or by the "
                    "request's deadline - its Grpc-Timeout or Connect-Timeout-Ms header (`deadline_exceeded`)"),
}
BODY_ERRORS = {
    "400": _problem("Not a JSON object (`invalid_json`) or a bad argument (`invalid_argument`)"),
    "413": _problem("Body over 2 MiB, or a stored value over 1 MiB (`payload_too_large`)"),
}


def _path_int(name: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "description": "a signed 64-bit integer",
            "schema": {"type": "string", "pattern": r"^-?[0-9]{1,19}$"}}


def _body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"required": True, "content": {_JSON: {"schema": schema}},
            "description": f"JSON, whatever the Content-Type; at most {MAX_BODY_BYTES} bytes"}


KEY_PARAM = {"name": "key", "in": "path", "required": True,
             "description": f"1 to {MAX_KEY_BYTES} bytes of UTF-8, no whitespace or control characters, "
                            "percent-encoded; %2F and / are the same",
             "schema": {"type": "string", "minLength": 1}}
TTL = {"type": "integer", "nullable": True, "minimum": 1, "maximum": MAX_TTL_SECONDS,
       "description": "seconds until the entry expires; null or absent: never"}
CALC_RESULT = _object({"op": {"type": "string", "enum": list(OPERATIONS)}, "a": I64, "b": I64, "result": I64})
CALC_ERRORS = {"400": _problem("Bad argument, `division_by_zero` or `overflow`"), **BACKEND_ERRORS}


# The operations of the hand-written routes; ``gateway/http/routes.py`` gives each its method
# and path. A dict is copied into the document as it is.

ADD = {
    "summary": "a + b", "operationId": "add", "tags": ["calculator"],
    "parameters": [_path_int("a"), _path_int("b")],
    "responses": {"200": _ok(_object({"result": I64})), **CALC_ERRORS},
}
CALC_PATH = {
    "summary": "a op b", "operationId": "calcPath", "tags": ["calculator"],
    "parameters": [{"name": "op", "in": "path", "required": True,
                    "schema": {"type": "string", "enum": list(OPERATIONS)}}, _path_int("a"), _path_int("b")],
    "responses": {"200": _ok(CALC_RESULT), **CALC_ERRORS},
}
CALC_BODY = {
    "summary": "a op b, from a JSON body", "operationId": "calcBody", "tags": ["calculator"],
    "requestBody": _body(_object({"op": {"type": "string", "enum": list(OPERATIONS)}, "a": I64, "b": I64})),
    "responses": {"200": _ok(CALC_RESULT), **CALC_ERRORS, **BODY_ERRORS},
}
CACHE_PUT = {
    "summary": "store a value", "operationId": "cachePut", "tags": ["cache"], "parameters": [KEY_PARAM],
    "requestBody": _body(_object({"value": ANY_JSON}, {"ttl": TTL})),
    "responses": {"200": _ok(_object({"key": {"type": "string"}, "stored": {"type": "boolean", "enum": [True]}})),
                  **BODY_ERRORS, **BACKEND_ERRORS},
}
CACHE_GET = {
    "summary": "read a value", "operationId": "cacheGet", "tags": ["cache"], "parameters": [KEY_PARAM],
    "responses": {"200": _ok(_object({"key": {"type": "string"}, "value": ANY_JSON})),
                  "400": _problem("Bad key (`invalid_key`)"), "404": _problem("No such key (`not_found`)"),
                  **BACKEND_ERRORS},
}
CACHE_DELETE = {
    "summary": "delete a value", "operationId": "cacheDelete", "tags": ["cache"], "parameters": [KEY_PARAM],
    "responses": {"200": _ok(_object({"key": {"type": "string"}, "deleted": {"type": "boolean", "enum": [True]}})),
                  "400": _problem("Bad key (`invalid_key`)"), "404": _problem("No such key (`not_found`)"),
                  **BACKEND_ERRORS},
}
SEED_SET = {
    "summary": "store a value (seed route)", "operationId": "seedSet", "tags": ["cache"],
    "requestBody": _body(_object({"key": {"type": "string"}, "value": ANY_JSON}, {"ttl": TTL})),
    "responses": {"200": _ok(_object({"success": {"type": "boolean", "enum": [True]}})), **BODY_ERRORS, **BACKEND_ERRORS},
}
SEED_GET = {
    "summary": "read a value, null when absent (seed route)", "operationId": "seedGet", "tags": ["cache"],
    "parameters": [KEY_PARAM],
    "responses": {"200": _ok(_object({"value": ANY_JSON})), "400": _problem("Bad key (`invalid_key`)"),
                  **BACKEND_ERRORS},
}
HEALTHZ = {
    "summary": "the worker serves", "operationId": "healthz", "tags": ["operations"],
    "responses": {"200": _ok(_object({"status": {"type": "string", "enum": ["ok"]}}))},
}
READYZ = {
    "summary": "every backend answers ping", "operationId": "readyz", "tags": ["operations"],
    "responses": {"200": _ok(_object({"status": {"type": "string", "enum": ["ready"]}, "backends": {"type": "object"}})),
                  "503": _problem("Some backend did not answer (`backend_unavailable`)")},
}
METRICS = {
    "summary": "Prometheus metrics of every worker", "operationId": "metrics", "tags": ["operations"],
    "responses": {"200": {"description": "Prometheus text format",
                          "content": {"text/plain": {"schema": {"type": "string"}}}}},
}
_THRIFT_MEDIA = ("application/x-thrift", "application/vnd.apache.thrift.binary",
                 "application/vnd.apache.thrift.compact", "application/vnd.apache.thrift.json")
_THRIFT_BODY = {media: {"schema": {"type": "string", "format": "binary"}} for media in _THRIFT_MEDIA}
THRIFT_OVER_HTTP = {
    "summary": "one Thrift call message, answered in the client's protocol (THttpClient, the JavaScript library)",
    "operationId": "thriftOverHttp", "tags": ["rpc"],
    "parameters": [{"name": "service", "in": "path", "required": True, "schema": {"type": "string", "minLength": 1}}],
    "requestBody": {"required": True, "content": _THRIFT_BODY,
                    "description": "application/x-thrift (binary, compact or JSON by its first byte, or "
                                   "`; protocol=TBINARY|TCOMPACT|TJSON`), or application/vnd.apache.thrift.binary, "
                                   ".compact, .json"},
    "responses": {
        "200": {"description": "The reply message (a declared exception or TApplicationException included), "
                               "with the client's sequence id and Content-Type", "content": _THRIFT_BODY},
        "400": _problem("Not one call message of the declared protocol (`invalid_thrift`)"),
        "404": _problem("No such service (`not_found`)"),
        "413": BODY_ERRORS["413"],
        "415": _problem("Another Content-Type (`unsupported_media_type`)"),
        **BACKEND_ERRORS,
    },
}
RPC_LIST = {
    "summary": "every Thrift service and method", "operationId": "rpcList", "tags": ["rpc"],
    "responses": {"200": _ok(_object({"services": {"type": "object"}}))},
}


class _Schemas:
    """JSON Schemas of Thrift types; structs become named components (they may recurse).
    With ``i64_strings`` (``GATEWAY_JSON_INT64=string``) every i64 is a string."""

    def __init__(self, i64_strings: bool = False) -> None:
        self.components: dict[str, Any] = {}
        self.i64_strings = i64_strings

    def of(self, t: Any, i64_strings: bool = False) -> dict[str, Any]:
        if isinstance(t, Scalar):
            if t.kind == "i64" and (i64_strings or self.i64_strings):
                return I64_STRING
            if t.kind in INT_BITS:
                low, high = int_range(t.kind)
                return {"type": "integer", "minimum": low, "maximum": high}
            return {"bool": {"type": "boolean"}, "double": {"type": "number"}, "string": {"type": "string"},
                    "binary": {"type": "string", "format": "byte"}}[t.kind]
        if isinstance(t, Enum):
            return {"type": "string", "enum": list(t.by_name)}
        if isinstance(t, (ListOf, SetOf)):
            return {"type": "array", "items": self.of(t.elem, i64_strings),
                    **({"uniqueItems": True} if isinstance(t, SetOf) else {})}
        if isinstance(t, MapOf):
            if isinstance(t.key, Scalar) and t.key.kind == "string":
                return {"type": "object", "additionalProperties": self.of(t.value, i64_strings)}
            return {"type": "array", "description": f"[key, value] pairs of a {t}",
                    # OpenAPI 3.0 has no tuples: the pair's two types are not described.
                    "items": {"type": "array", "minItems": 2, "maxItems": 2, "items": {}}}
        assert isinstance(t, Struct)
        name = f"thrift.{t.name}"
        if name not in self.components:
            self.components[name] = {}  # placeholder first: the struct may contain itself
            self.components[name] = self.fields(t.fields, union=t.kind == "union")
        return _ref(name)

    def fields(self, fields: list[Any], union: bool = False) -> dict[str, Any]:
        schema: dict[str, Any] = {
            "type": "object", "additionalProperties": False,
            "properties": {f.name: self.of(f.type, js_conv(f)) for f in fields},
        }
        required = [f.name for f in fields if f.required]
        if required:
            schema["required"] = required
        if union:
            schema.update(minProperties=1, maxProperties=1)
        return schema


def rpc_operations(rpc: Rpc, schemas: _Schemas) -> dict[str, Any]:
    """The operations of ``POST /rpc/<service>/<method>``: one per exposed method."""
    paths = {}
    for service_name, service in rpc.services.items():
        for method in service.types.methods.values():
            if method.oneway:
                responses = {"202": _ok({"type": "object", "maxProperties": 0}, "Sent (oneway)")}
            elif method.result is None:
                responses = {"200": _ok({"type": "object", "maxProperties": 0})}
            else:
                responses = {"200": _ok(_object({"result": schemas.of(method.result)}))}
            paths[f"/rpc/{service_name}/{method.name}"] = {"post": {
                "summary": f"{service_name}.{method.name}", "tags": [f"rpc: {service_name}"],
                "operationId": f"rpc_{service_name}_{method.name}",
                "requestBody": _body(schemas.fields(method.arguments)),
                "responses": _merged(responses, BODY_ERRORS, _declared_responses(method), BACKEND_ERRORS),
            }}
    return paths


def _merged(*parts: dict[str, Any]) -> dict[str, Any]:
    """Responses by status; two problems on one status (a declared exception whose
    api.http_code is 503, and the gateway's own 503) are both described."""
    out: dict[str, Any] = {}
    for part in parts:
        for status, response in part.items():
            if status in out and "content" in out[status] and PROBLEM_TYPE in out[status]["content"]:
                out[status] = _problem(f"{out[status]['description']}; {response['description']}")
            else:
                out[status] = response
    return out


def _declared_responses(method: Any) -> dict[str, Any]:
    """400 for a wrong argument, and each declared exception under its status: its
    ``api.http_code``, else 404 for one named NotFound and 400 for the others."""
    by_status: dict[int, list[str]] = {400: []}
    for e in method.exceptions:
        status = declared_status(e.type) or (404 if snake_case(e.type.name) == "not_found" else 400)
        by_status.setdefault(status, []).append(f"`{e.type.name}` (`{snake_case(e.type.name)}`)")
    out = {}
    for status, names in sorted(by_status.items()):
        said = "A declared exception: " + ", ".join(names) if names else ""
        if status == 400:
            said = "A wrong argument (`invalid_argument`, naming it), bad JSON" + (f"; {said}" if said else "")
        out[str(status)] = _problem(said)
    return out


def rest_operations(binding: Binding) -> Any:
    """The operation of one REST route from the IDL: its parameters, body and answers."""

    def describe(rpc: Rpc, schemas: _Schemas) -> dict[str, Any]:
        method = binding.method
        parameters = [
            {"name": p.name, "in": p.source, "required": p.source == "path" or p.field.required,
             "schema": _text_schema(schemas.of(p.field.type, js_conv(p.field)), p.source),
             **({"style": "form", "explode": True} if p.source == "query" and not isinstance(p.field.type, Scalar)
                else {})}
            for p in binding.params if p.source != "body"
        ]
        operation: dict[str, Any] = {
            "summary": f"{binding.service}.{method.name}", "tags": [binding.service],
            "operationId": f"{binding.service}_{method.name}_{binding.http_method.lower()}",
            "parameters": parameters,
            "responses": _merged(_rest_answer(method, schemas), _declared_responses(method), BACKEND_ERRORS),
        }
        body = binding.body
        if body:
            properties = {name: schemas.of(p.field.type, js_conv(p.field)) for name, p in body.items()}
            required = [name for name, p in body.items() if p.field.required]
            operation["requestBody"] = {
                "required": bool(required), "description": f"JSON, whatever the Content-Type; at most {MAX_BODY_BYTES} bytes",
                "content": {_JSON: {"schema": {"type": "object", "additionalProperties": False, "properties": properties,
                                               **({"required": required} if required else {})}}}}
            operation["responses"] = _merged(operation["responses"], {k: v for k, v in BODY_ERRORS.items() if k != "400"})
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", binding.rule)
        return {path: {binding.http_method.lower(): operation}}

    return describe


def _text_schema(schema: dict[str, Any], source: str) -> dict[str, Any]:
    # A path segment is never empty: an empty one is another path (404).
    return {**schema, "minLength": 1} if source == "path" and schema.get("type") == "string" else schema


def _rest_answer(method: Any, schemas: _Schemas) -> dict[str, Any]:
    if method.oneway:
        return {"202": {"description": "Sent (oneway)"}}
    if method.result is None:
        return {"204": {"description": "Done (void)"}}
    if not isinstance(method.result, Struct):
        return {"200": _ok(_object({"result": schemas.of(method.result)}))}
    fields = [f for f in method.result.fields
              if not {"api.header", "api.http_code"} & set(f.annotations)
              and f.annotations.get("api.none", "").lower() != "true"]
    headers = {f.annotations["api.header"].strip() or f.name: {"schema": schemas.of(f.type)}
               for f in method.result.fields if "api.header" in f.annotations}
    answer = _ok(schemas.fields(fields))
    if headers:
        answer["headers"] = headers
    # A field annotated api.http_code chooses the status at run time: any success.
    dynamic = any("api.http_code" in f.annotations for f in method.result.fields)
    return {"2XX" if dynamic else "200": answer}


def document(routes: Iterable[Route], rpc: Rpc) -> dict[str, Any]:
    """The document of ``routes``: each route's operation under its path and method."""
    schemas = _Schemas(rpc.i64_strings)
    paths: dict[str, Any] = {}
    for route in routes:
        if route.openapi is None:
            continue
        described = (route.openapi(rpc, schemas) if callable(route.openapi)
                     else {route.openapi_path: {route.method.lower(): route.openapi}})
        for path, operations in described.items():
            paths.setdefault(path, {}).update(operations)
    return {
        # 3.0, not 3.1: the Swagger UI bundled for /docs renders 3.0 documents.
        "openapi": "3.0.3",
        "info": {"title": "Thrift gateway", "version": "1",
                 "description": "HTTP/JSON in front of Thrift services. Every error is an RFC 9457 problem "
                                "document with a stable `code`."},
        "paths": paths,
        "components": {"schemas": {
            "Problem": _object({"type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
                                "detail": {"type": "string"}, "code": {"type": "string"}}),
            **schemas.components,
        }},
    }
