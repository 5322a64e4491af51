"""Any Thrift service over HTTP/JSON: ``POST /rpc/<service>/<method>``, driven by the IDL.

Each call goes through the same ``Service`` (pool, balancing, timeouts, metrics) as the
hand-written routes; only the conversion is generic (``transcode``). A declared exception
becomes a problem document whose ``code`` is the exception's name in snake_case and which
carries the exception's fields.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from thrift.Thrift import TException

from gateway.errors import GatewayError, NotFound, snake_case
from gateway.idl.model import Enum, ListOf, MapOf, Method, ServiceTypes, SetOf, Struct
from gateway.rpc import transcode
from gateway.upstream.services import Backends, Service
from thrift_wire.methods import ServiceMethods


class DeclaredException(GatewayError):
    """A backend raised an exception its IDL declares. Its status is the exception
    type's ``api.http_code`` annotation when it has one, else 404 when it is named
    NotFound and 400 otherwise."""

    title = "Declared exception"

    def __init__(self, name: str, fields: dict[str, Any], status: int | None = None) -> None:
        code = snake_case(name)
        super().__init__(f"the backend raised {name}", fields=fields)
        self.code = code  # type: ignore[misc]
        self.status = status or (404 if code == "not_found" else 400)  # type: ignore[misc]


def declared_status(exception: Struct) -> int | None:
    """The HTTP status an exception type's ``api.http_code`` annotation gives it."""
    text = exception.annotations.get("api.http_code", "").strip()
    if not text:
        return None
    if not text.isdigit() or not 400 <= int(text) <= 599:
        raise ValueError(f"{exception.name}: api.http_code = {text!r} is not an error status (400-599)")
    return int(text)


@dataclass
class RpcService:
    name: str
    client: Service
    types: ServiceTypes
    # Per method, the IDL default of each argument (None where it has none).
    defaults: dict[str, dict[str, Any]]


def _argument_defaults(methods: ServiceMethods, types: ServiceTypes) -> dict[str, dict[str, Any]]:
    out = {}
    for name, method in types.methods.items():
        template = methods[name].args_class()  # the generated class applies the defaults
        # In the arguments' IDL order, which ``Rpc.arguments`` follows.
        out[name] = {f.name: getattr(template, f.name) for f in method.arguments}
    return out


class Rpc:
    """Every configured service's exposed methods, called with JSON values.

    ``i64_strings`` (``GATEWAY_JSON_INT64=string``): every i64 answered is a JSON string,
    and one given may be a string or a number."""

    def __init__(self, backends: Backends, *, i64_strings: bool = False) -> None:
        self.i64_strings = i64_strings
        self.services = {}
        for name, config in backends.catalog.items():
            types = config.exposed_types
            self.services[name] = RpcService(name, backends.by_name[name], types,
                                             _argument_defaults(config.methods, types))

    def call_json(self, service: RpcService, method: Method, body: dict[str, Any],
                  headers: dict[str, str] | None = None, deadline: float | None = None) -> Any:
        """Convert, call, convert back: the JSON result of ``method`` (found by ``lookup``)."""
        values = transcode.fields_from_json(method.arguments, body, "", i64_strings=self.i64_strings)
        result = self.invoke(service, method, self.arguments(service, method, values), headers, deadline)
        return self.result_json(method, result)

    def arguments(self, service: RpcService, method: Method, values: dict[str, Any]) -> tuple[Any, ...]:
        """The call's arguments in IDL order: ``values`` by name, the IDL defaults for the rest."""
        return tuple([values[name] if name in values else default
                      for name, default in service.defaults[method.name].items()])

    def invoke(self, service: RpcService, method: Method, args: tuple[Any, ...],
               headers: dict[str, str] | None, deadline: float | None = None) -> Any:
        """Call the backend; a declared exception becomes a ``DeclaredException``."""
        try:
            return service.client.invoke(method.name, *args, headers=headers, deadline=deadline)
        except TException as err:
            declared = next((f.type for f in method.exceptions if type(err) is f.type.cls), None)
            if declared is None:
                raise
            raise DeclaredException(declared.name, transcode.struct_to_json(declared, err, self.i64_strings),
                                    declared_status(declared)) from err

    def result_json(self, method: Method, result: Any) -> Any:
        return transcode.to_json(method.result, result, self.i64_strings) if method.result is not None else None

    def lookup(self, service_name: str, method_name: str) -> tuple[RpcService, Method]:
        service = self.services.get(service_name)
        if service is None:
            raise NotFound(f"no Thrift service {service_name!r} (GET /rpc lists them)")
        method = service.types.methods.get(method_name)
        if method is None:
            raise NotFound(f"{service_name} has no method {method_name!r} (GET /rpc lists them)")
        return service, method

    def describe(self) -> dict[str, Any]:
        """Every service and method with its argument and result types, for GET /rpc."""
        def field(f: Any) -> dict[str, Any]:
            return {"name": f.name, "type": str(f.type), "required": f.required}

        return {
            name: {
                "methods": {
                    m.name: {
                        "path": f"/rpc/{name}/{m.name}",
                        "arguments": [field(a) for a in m.arguments],
                        "result": str(m.result) if m.result is not None else "void",
                        "exceptions": [str(e.type) for e in m.exceptions],
                        "oneway": m.oneway,
                    }
                    for m in s.types.methods.values()
                },
                "types": _struct_types(s.types),
            }
            for name, s in self.services.items()
        }


def _struct_types(types: ServiceTypes) -> dict[str, Any]:
    """The structs, unions, exceptions and enums a service's methods use, by name."""
    seen: dict[str, Any] = {}

    def visit(t: Any) -> None:
        if isinstance(t, Struct) and t.name not in seen:
            seen[t.name] = {"kind": t.kind, "fields": [
                {"name": f.name, "type": str(f.type), "required": f.required} for f in t.fields]}
            for f in t.fields:
                visit(f.type)
        elif isinstance(t, Enum) and t.name not in seen:
            seen[t.name] = {"kind": "enum", "values": t.by_name}
        elif isinstance(t, (ListOf, SetOf)):
            visit(t.elem)
        elif isinstance(t, MapOf):
            visit(t.key)
            visit(t.value)

    for m in types.methods.values():
        for f in [*m.arguments, *m.exceptions]:
            visit(f.type)
        visit(m.result)
    return seen
