"""REST routes designed in the IDL, with CloudWeGo's (Kitex/Hertz) annotations.

```thrift
User getUser(1: GetUserRequest req) (api.get = "/v1/users/:id")
```

A method annotated ``api.get`` / ``api.post`` / ``api.put`` / ``api.patch`` /
``api.delete`` gets that route. Its *binding plan* - where each request field is read
from, how text becomes the field's type, how the answer is shaped - is computed once,
when the IDL is loaded (as Hertz does), and everything the plan refuses stops start-up
with one line naming the service and method. Each route is one more entry of the route
table (``routes.py``): permissions (``service.method``), exposure, metrics labels and
``/openapi.json`` follow from it.

The request's fields are the one struct argument's fields when the method takes exactly
one struct, else the arguments. Each is read from ``api.path`` (a ``:name`` segment),
``api.query``, ``api.header``, ``api.cookie`` or ``api.body`` (a key of the JSON body);
a field without any is read by its own name from the query string for GET and DELETE,
from the JSON body for POST, PUT and PATCH.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from dataclasses import dataclass
from typing import Any, Iterable
from urllib.parse import parse_qs

from werkzeug.http import parse_cookie
from werkzeug.wsgi import get_content_length

from gateway.errors import BadGateway, InvalidArgument
from gateway.http import deadlines, validation
from gateway.http.handlers import Context, Reply, call_headers
from gateway.http.wsgi_types import Environ
from gateway.idl.model import Enum, Field, ListOf, Method, Scalar, ServiceTypes, SetOf, Struct
from gateway.rpc import transcode
from gateway.rpc.calls import declared_status
from thrift_wire.integers import INT_BITS, int_range

ROUTE_ANNOTATIONS = {"api.get": "GET", "api.post": "POST", "api.put": "PUT", "api.patch": "PATCH",
                     "api.delete": "DELETE"}
SOURCES = {"api.path": "path", "api.query": "query", "api.header": "header", "api.cookie": "cookie",
           "api.body": "body"}
TEXT_SOURCES = ("path", "query", "header", "cookie")
_BODYLESS = ("GET", "DELETE")  # unannotated fields come from the query string
_INT_TEXT = re.compile(r"-?[0-9]{1,20}", re.ASCII)
_DOUBLE_TEXT = re.compile(r"-?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][-+]?[0-9]+)?", re.ASCII)
_NON_FINITE = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*", re.ASCII)
# An answer's header: its name a token (RFC 9110, 5.1), its value what Gunicorn sends -
# Latin-1 text without control characters but the tab. Gunicorn refuses anything else
# with an exception after the handler has returned: a 500 for what the backend sent.
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+", re.ASCII)
_HEADER_VALUE = re.compile(r"[ \t\x21-\x7e\x80-\xff]*")
_BODYLESS_STATUS = (204, 304)  # answers that have no body, whatever the result held


class RestError(ValueError):
    """An annotation the gateway cannot serve; the message names the method."""


@dataclass(frozen=True)
class Param:
    """Where one request field is read from."""

    field: Field
    source: str  # path, query, header, cookie, body
    name: str  # its name there: the path parameter, the query key, the header, ...

    @property
    def described(self) -> str:
        return f"{self.source} parameter {self.name!r}" if self.source != "body" else f"body member {self.name!r}"


@dataclass(frozen=True)
class Binding:
    """One route of one method: its HTTP side, planned once."""

    service: str
    method: Method
    http_method: str
    template: str  # as the IDL writes it: /v1/users/:id
    rule: str  # as the router writes it: /v1/users/<id>
    request: Struct | None  # the one struct argument whose fields are read; None: the arguments
    params: tuple[Param, ...]

    @property
    def body(self) -> dict[str, Param]:
        return {p.name: p for p in self.params if p.source == "body"}

    @property
    def fields(self) -> list[Field]:
        return self.request.fields if self.request is not None else self.method.arguments


def plan(service: str, types: ServiceTypes) -> list[Binding]:
    """Every route the service's annotations declare; raises ``RestError``."""
    bindings = []
    for method in types.methods.values():
        where = f"{service}.{method.name}"
        for exception in method.exceptions:
            try:
                declared_status(exception.type)
            except ValueError as err:
                raise RestError(f"{where}: {err}") from None
        routed = any(key in method.annotations for key in ROUTE_ANNOTATIONS)
        if routed and isinstance(method.result, Struct):  # /rpc answers the struct whole: no headers
            for f in method.result.fields:
                if "api.header" in f.annotations and not _HEADER_NAME.fullmatch(_answer_header(f)):
                    raise RestError(f"{where}: result field {f.name} is api.header = "
                                    f"{f.annotations['api.header']!r}, which is not an HTTP header name")
        for key, http_method in ROUTE_ANNOTATIONS.items():
            template = method.annotations.get(key)
            if template is not None:
                bindings.append(_binding(where, service, method, http_method, template.strip()))
    return bindings


def _binding(where: str, service: str, method: Method, http_method: str, template: str) -> Binding:
    rule, path_names = _rule(where, template)
    only = method.arguments[0].type if len(method.arguments) == 1 else None
    request = only if isinstance(only, Struct) and only.kind == "struct" else None
    fields = request.fields if request is not None else method.arguments
    params = []
    for f in fields:
        annotated = [(SOURCES[k], v.strip() or f.name) for k, v in f.annotations.items() if k in SOURCES]
        if len(annotated) > 1:
            raise RestError(f"{where}: field {f.name} is bound to {len(annotated)} places; one only")
        source, name = annotated[0] if annotated else ("query" if http_method in _BODYLESS else "body", f.name)
        if source in TEXT_SOURCES and not _text_type(f.type):
            raise RestError(f"{where}: field {f.name} ({f.type}) cannot be read from a {source} parameter: "
                            "only numbers, booleans, strings, enums and lists of them can")
        if source == "path" and name not in path_names:
            raise RestError(f"{where}: field {f.name} is api.path = {name!r}, which {template} has no :{name} for")
        params.append(Param(f, source, name))
    bound = {p.name for p in params if p.source == "path"}
    for name in path_names:
        if name not in bound:
            raise RestError(f"{where}: {template} has :{name}, which no field takes (api.path = \"{name}\")")
    body_keys = [p.name for p in params if p.source == "body"]
    if len(set(body_keys)) != len(body_keys):
        raise RestError(f"{where}: two fields read the same body member")
    return Binding(service, method, http_method, template, rule, request, tuple(params))


def _rule(where: str, template: str) -> tuple[str, list[str]]:
    """Hertz's ``/v1/users/:id`` (and a final ``*rest``) as the router's ``/v1/users/<id>``."""
    if not template.startswith("/"):
        raise RestError(f"{where}: route {template!r} does not start with /")
    segments, names = [], []
    parts = template[1:].split("/")
    for i, part in enumerate(parts):
        if part[:1] in (":", "*"):
            name = part[1:]
            if not _NAME.fullmatch(name):
                raise RestError(f"{where}: route {template}: {part!r} is not a parameter name (letters, digits, _)")
            if name in names:
                raise RestError(f"{where}: route {template} names :{name} twice")
            if part[0] == "*" and i != len(parts) - 1:
                raise RestError(f"{where}: route {template}: *{name} must be the last segment")
            names.append(name)
            segments.append(f"<key:{name}>" if part[0] == "*" else f"<{name}>")
        elif any(c in part for c in ":*<>") or (not part and i != len(parts) - 1):
            raise RestError(f"{where}: route {template}: segment {part!r} is not literal text or :name")
        else:
            segments.append(part)
    return "/" + "/".join(segments), names


def _text_type(t: Any) -> bool:
    if isinstance(t, (ListOf, SetOf)):
        return isinstance(t.elem, (Scalar, Enum))
    return isinstance(t, (Scalar, Enum))


# Serving a route ----------------------------------------------------------------------

class RestHandler:
    """The handler of one binding: read the request's fields, call, shape the answer."""

    def __init__(self, binding: Binding) -> None:
        self.binding = binding
        self.__name__ = f"rest_{binding.service}_{binding.method.name}_{binding.http_method.lower()}"
        self.described = (f"{binding.service}.{binding.method.name} "
                          f"(api.{binding.http_method.lower()} = \"{binding.template}\")")
        # Planned once, not per request: the body's members and whether any is required.
        self._body_members = binding.body
        self._body_required = any(p.field.required for p in self._body_members.values())

    def __call__(self, ctx: Context, environ: Environ, **path: str) -> Reply:
        binding = self.binding
        rpc = ctx.rpc
        service, method = rpc.lookup(binding.service, binding.method.name)
        values = self._read(environ, path, rpc.i64_strings)
        if binding.request is not None:
            args: tuple[Any, ...] = (binding.request.cls(**values),)
        else:
            args = rpc.arguments(service, method, values)
        result = rpc.invoke(service, method, args, call_headers(environ), deadlines.of(environ))
        if method.oneway:
            return Reply(202)
        if method.result is None:
            return Reply(204)
        return _answer(method.result, result, rpc.i64_strings, binding.service)

    def _read(self, environ: Environ, path: dict[str, str], i64_strings: bool) -> dict[str, Any]:
        values: dict[str, Any] = {}
        query = cookies = None
        body = self._body(environ) if self._body_members else {}
        for param in self.binding.params:
            f = param.field
            if param.source == "body":
                if body.get(param.name) is not None:
                    values[f.name] = transcode.from_json(f.type, body[param.name], param.name,
                                                         i64_strings or transcode.js_conv(f))
            else:
                if param.source == "path":
                    texts = [path[param.name]]
                elif param.source == "query":
                    query = query if query is not None else _query(environ)
                    texts = query.get(param.name, [])
                elif param.source == "header":
                    texts = _header(environ, param.name)
                else:
                    cookies = cookies if cookies is not None else parse_cookie(environ.get("HTTP_COOKIE", ""))
                    texts = cookies.getlist(param.name)
                if texts:
                    values[f.name] = from_text(f.type, texts, param.described)
            if f.name not in values and f.required:
                raise InvalidArgument(f"{param.described} is required ({f.name}: {f.type})")
        return values

    def _body(self, environ: Environ) -> dict[str, Any]:
        raw = validation.read_body(environ, get_content_length(environ))
        if not raw.strip() and not self._body_required:
            return {}  # nothing to send and nothing required: an empty body is fine
        body = validation.json_object(raw)
        unknown = sorted(set(body) - set(self._body_members))
        if unknown:
            raise InvalidArgument(f"body member {unknown[0]!r}: no such field (expected "
                                  f"{', '.join(self._body_members) or 'none'})")
        return body


def _query(environ: Environ) -> dict[str, list[str]]:
    # WSGI gives the query's bytes as latin-1; its percent-escapes are UTF-8.
    text = environ.get("QUERY_STRING", "").encode("latin-1", "replace").decode("utf-8", "replace")
    return parse_qs(text, keep_blank_values=True)


def _header(environ: Environ, name: str) -> list[str]:
    key = name.upper().replace("-", "_")
    value = environ.get(key if key in ("CONTENT_TYPE", "CONTENT_LENGTH") else f"HTTP_{key}")
    return [] if value is None else [value.encode("latin-1", "replace").decode("utf-8", "replace")]


def from_text(t: Any, texts: list[str], where: str) -> Any:
    """The field's value from the text of a path, query, header or cookie parameter;
    a list takes every value given and each value's comma-separated parts."""
    if isinstance(t, (ListOf, SetOf)):
        items = [_scalar_from_text(t.elem, part, where) for text in texts for part in text.split(",") if part != ""]
        return set(items) if isinstance(t, SetOf) else items
    return _scalar_from_text(t, texts[0], where)


def _scalar_from_text(t: Any, text: str, where: str) -> Any:
    if isinstance(t, Enum):
        if text in t.by_name:
            return t.by_name[text]
        if _INT_TEXT.fullmatch(text) and int(text) in t.by_value:
            return int(text)
        raise InvalidArgument(f"{where}: {text!r} is not one of {', '.join(t.by_name)} ({t.name})")
    kind = t.kind
    if kind in INT_BITS:
        low, high = int_range(kind)
        if not _INT_TEXT.fullmatch(text) or not low <= int(text) <= high:
            raise InvalidArgument(f"{where}: {text!r} is not an integer of the {kind} range")
        return int(text)
    if kind == "double":
        if text in _NON_FINITE:
            return _NON_FINITE[text]
        if not _DOUBLE_TEXT.fullmatch(text) or math.isinf(float(text)):
            raise InvalidArgument(f"{where}: {text!r} is not a number")
        return float(text)
    if kind == "bool":
        if text not in ("true", "false"):
            raise InvalidArgument(f"{where}: {text!r} is not true or false")
        return text == "true"
    if kind == "binary":
        try:
            return base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidArgument(f"{where}: {text!r} is not base64") from None
    return text


def _answer_header(f: Field) -> str:
    return f.annotations["api.header"].strip() or f.name


def _answer(result_type: Any, result: Any, i64_strings: bool, service: str) -> Reply:
    """A struct result is the body itself, less the fields that go to headers or the
    status; any other result is ``{"result": ...}``."""
    if not isinstance(result_type, Struct):
        return Reply(200, {"result": transcode.to_json(result_type, result, i64_strings)})
    status, headers, body = 200, [], {}
    for f in result_type.fields:
        value = getattr(result, f.name)
        if value is None or f.annotations.get("api.none", "").lower() == "true":
            continue
        if "api.http_code" in f.annotations:
            # A final status only: a 1xx is not an answer, and past 599 is no status.
            # Either leaves the status as if the field were unset.
            if type(value) is int and 200 <= value <= 599:
                status = value
        elif "api.header" in f.annotations:
            name, text = _answer_header(f), _header_text(f.type, value)
            if _HEADER_VALUE.fullmatch(text) is None:
                raise BadGateway(f"{service} answered {name} (field {f.name}) with characters an HTTP header "
                                 "cannot carry: control characters or beyond Latin-1", backend=service, address="")
            headers.append((name, text))
        else:
            body[f.name] = transcode.to_json(f.type, value, i64_strings or transcode.js_conv(f))
    # 204 and 304 have no body (RFC 9110, 15.3.5 and 15.4.5): what else the result held is not sent.
    return Reply(status, None if status in _BODYLESS_STATUS else body, tuple(headers))


def _header_text(t: Any, value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(t, Enum):
        return t.by_value.get(value, str(value))
    if isinstance(value, (list, set, tuple)):
        return ",".join(_header_text(getattr(t, "elem", None), v) for v in value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    return str(value)


def bindings(services: Iterable[tuple[str, ServiceTypes]]) -> list[Binding]:
    """Every configured service's routes, in configuration order."""
    return [b for name, types in services for b in plan(name, types)]
