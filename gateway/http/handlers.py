"""The JSON routes' handlers - calculator, cache, /rpc, the probes: validate, call one
backend, shape the JSON.

Free of Flask on purpose. The route table (``routes.py``) gives each its method, path
and permission; the same functions run on the direct path (``direct.py``), which answers
without Flask's per-request machinery, and as Flask views (``flask_views.py``). Each
takes the worker's ``Context``, the WSGI environ (for the body and the raw path) and the
rule's parameters, and returns the JSON body, or the body and a status other than 200.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple, Union

from thrift.Thrift import TException
from werkzeug.wsgi import get_content_length

from gateway.errors import (
    BackendUnavailable,
    BadGateway,
    DivisionByZero,
    GatewayError,
    InvalidArgument,
    InvalidKey,
    NotFound,
    NotReady,
    Overflow,
    PayloadTooLarge,
)
from gateway.http import deadlines, validation
from gateway.http.observer import REQUEST_ID_ENVIRON_KEY, SPAN_ENVIRON_KEY
from gateway.http.wsgi_types import Environ
from gateway.rpc.calls import Rpc
from gateway.security import permissions
from gateway.upstream.services import Backends
from thrift_idl.gen.cache import ttypes as cache_types
from thrift_idl.gen.calculator import ttypes as calculator_types
from thrift_idl.gen.calculator.constants import DIVISION_BY_ZERO, OVERFLOW
from thrift_wire.headers import REQUEST_ID_KEY, TRACEPARENT_KEY, TRACESTATE_KEY


class Reply(NamedTuple):
    """An answer with more to say than a JSON body: a status, headers, maybe no body, or
    bytes of a type of their own (a Thrift message for ``/thrift``)."""

    status: int
    body: Any = None  # the JSON value; None: no body (204, 202); bytes with content_type
    headers: tuple[tuple[str, str], ...] = ()
    content_type: str | None = None  # set: ``body`` is bytes of this type, written as they are


Answer = Union[dict[str, Any], tuple[dict[str, Any], int], Reply]


class Context(NamedTuple):
    """What the handlers use: made once per worker by the app factory."""

    backends: Backends
    rpc: Rpc
    openapi: dict[str, Any]  # the /openapi.json document


def json_body(environ: Environ) -> dict[str, Any]:
    return validation.json_object(validation.read_body(environ, get_content_length(environ)))


def call_headers(environ: Environ) -> dict[str, str] | None:
    """The THeader headers a backend call made for this request carries: its id and
    its trace context (the request's span, the parent of the call's)."""
    headers = {}
    request_id = environ.get(REQUEST_ID_ENVIRON_KEY)
    if request_id:
        headers[REQUEST_ID_KEY] = request_id
    span = environ.get(SPAN_ENVIRON_KEY)
    if span is not None:
        headers[TRACEPARENT_KEY] = span.traceparent
        if span.tracestate:
            headers[TRACESTATE_KEY] = span.tracestate
    return headers or None


def _key(environ: Environ, key: str) -> str:
    return validation.cache_key(key, environ.get("PATH_INFO", ""))


def _calculator_error(err: calculator_types.CalculatorError) -> GatewayError:
    cls = {DIVISION_BY_ZERO: DivisionByZero, OVERFLOW: Overflow}.get(err.code, InvalidArgument)
    return cls(err.message)


# The exceptions the Calculator's and the Cache's IDLs declare, as the errors these routes
# answer with (``/rpc`` answers any service's declared exceptions its own generic way).
_DECLARED: dict[type, Callable[[Any], GatewayError]] = {
    calculator_types.CalculatorError: _calculator_error,
    cache_types.NotFound: lambda e: NotFound(f"key {e.key!r} is not in the cache"),
    cache_types.InvalidKey: lambda e: InvalidKey(e.reason),
    cache_types.TooLarge: lambda e: PayloadTooLarge(f"value of {e.size} bytes exceeds the limit of {e.limit}"),
    cache_types.InvalidTtl: lambda e: InvalidArgument(f"ttl: {e.reason}"),
    cache_types.StoreUnavailable: lambda e: BackendUnavailable(
        f"the cache's store is unavailable: {e.reason}", backend="cache", address=""
    ),
}


def _invoke(ctx: Context, environ: Environ, service: str, method: str, *args: Any, key: str | None = None) -> Any:
    """Call one of our own backends for a hand-written route, its declared exceptions
    turned into the gateway's errors."""
    try:
        return ctx.backends[service].invoke(method, *args, key=key, headers=call_headers(environ),
                                            deadline=deadlines.of(environ))
    except TException as err:
        to_gateway_error = _DECLARED.get(type(err))
        if to_gateway_error is None:
            raise
        raise to_gateway_error(err) from err


def _calculate(ctx: Context, environ: Environ, op: str, a: int, b: int) -> dict[str, Any]:
    return {"op": op, "a": a, "b": b, "result": _invoke(ctx, environ, "calculator", op, a, b)}


def _store(ctx: Context, environ: Environ, key: str, body: dict[str, Any]) -> None:
    value, ttl = validation.encoded_value(body), validation.ttl(body)
    _invoke(ctx, environ, "cache", "put", key, value, ttl, key=key)


def _load(ctx: Context, environ: Environ, key: str) -> Any:
    stored = _invoke(ctx, environ, "cache", "get", key, key=key)
    try:
        return validation.strict_json(stored.decode("utf-8"))
    except (ValueError, RecursionError):
        # Stored by another client (/rpc/cache/put, a Thrift client): not ours to answer.
        raise BadGateway(f"the value stored under {key!r} is not JSON the gateway can answer with "
                         "(invalid, non-finite numbers, or nested too deep)", backend="cache", address="") from None


# Calculator ---------------------------------------------------------------------------

def add(ctx: Context, environ: Environ, a: str, b: str) -> dict[str, Any]:
    return {"result": _invoke(ctx, environ, "calculator", "add", validation.path_int("a", a),
                              validation.path_int("b", b))}


def calc_path(ctx: Context, environ: Environ, op: str, a: str, b: str) -> dict[str, Any]:
    return _calculate(ctx, environ, validation.operation(op), validation.path_int("a", a), validation.path_int("b", b))


def calc_body(ctx: Context, environ: Environ) -> dict[str, Any]:
    body = json_body(environ)
    op = validation.operation(body.get("op"))
    permissions.require(environ, f"calculator.{op}")  # the one route whose permission is in its body
    return _calculate(ctx, environ, op, validation.json_int(body, "a"), validation.json_int(body, "b"))


# Cache --------------------------------------------------------------------------------

def cache_put(ctx: Context, environ: Environ, key: str) -> dict[str, Any]:
    key = _key(environ, key)
    _store(ctx, environ, key, json_body(environ))
    return {"key": key, "stored": True}


def cache_get(ctx: Context, environ: Environ, key: str) -> dict[str, Any]:
    key = _key(environ, key)
    return {"key": key, "value": _load(ctx, environ, key)}


def cache_delete(ctx: Context, environ: Environ, key: str) -> dict[str, Any]:
    key = _key(environ, key)
    _invoke(ctx, environ, "cache", "remove", key, key=key)
    return {"key": key, "deleted": True}


def seed_set(ctx: Context, environ: Environ) -> dict[str, Any]:
    body = json_body(environ)
    _store(ctx, environ, validation.checked_key(body.get("key")), body)
    return {"success": True}


def seed_get(ctx: Context, environ: Environ, key: str) -> dict[str, Any]:
    key = _key(environ, key)
    try:
        return {"value": _load(ctx, environ, key)}
    except NotFound:
        # The seed API answered a miss with null rather than 404; kept for its users.
        return {"value": None}


# Any Thrift service, by its IDL ------------------------------------------------------------

def rpc_call(ctx: Context, environ: Environ, service: str, method: str) -> Answer:
    found_service, found = ctx.rpc.lookup(service, method)  # an unknown one is 404 whatever the body
    raw = validation.read_body(environ, get_content_length(environ))
    # A method without arguments needs no body: `curl -X POST .../rpc/calculator/ping`.
    body = {} if not found.arguments and not raw.strip() else validation.json_object(raw)
    result = ctx.rpc.call_json(found_service, found, body, call_headers(environ), deadlines.of(environ))
    if found.oneway:
        return {}, 202  # sent; a oneway call has no answer to wait for
    return {} if found.result is None else {"result": result}


def rpc_list(ctx: Context, environ: Environ) -> dict[str, Any]:
    return {"services": ctx.rpc.describe()}


def openapi_document(ctx: Context, environ: Environ) -> dict[str, Any]:
    return ctx.openapi


# Operations ---------------------------------------------------------------------------

def healthz(ctx: Context, environ: Environ) -> dict[str, Any]:
    return {"status": "ok"}


def readyz(ctx: Context, environ: Environ) -> dict[str, Any]:
    report = {service.name: service.ping_all() for service in ctx.backends.services}
    down = [f"{name} at {addr} ({state})" for name, addrs in report.items() for addr, state in addrs.items() if state != "ok"]
    if down:
        raise NotReady("not answering: " + ", ".join(down), backends=report)
    return {"status": "ready", "backends": report}
