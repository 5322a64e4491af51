"""The gateway with one part cut short or switched off, for ``make breakdown``.

The app is ``gateway.wsgi``'s (the one users run, the garbage collector's freeze
included), made after the patches below.

``BENCH_LAYER`` says where ``GET /add`` stops and answers the sum itself:

* ``http``: at ``Service.invoke`` - every HTTP-side cost (Gunicorn, the request observer's
  id, trace ids, metrics and access log, the direct router, validation, the JSON answer),
  no backend call at all;
* ``encode``: at the connection - the service's balancer, metrics and retry bookkeeping,
  the pool's checkout, reuse check and deadline, and the codec encoding the THeader call,
  but no system call to the backend;
* ``full`` (or unset): nothing cut - the gateway as users run it.

Each layer's CPU per request minus the one before is what that layer costs. Only the
Calculator's ``add`` is cut short (the breakdown drives ``GET /add/2/3``); every other
route still reaches its backend.

``BENCH_OFF=<step>`` (a name from ``bench/steps.py``) switches one step of every request
off, the rest as users run it: the full gateway's CPU per request minus this one's is
what the step costs. ``BENCH_OFF=<step>+<step>+...`` switches several off at once (a
stair of the breakdown's staircase), their patches applied in ``bench/steps.py``'s order.
Each switch replaces an attribute of a module or class, looked up by name; a target that
is gone stops the worker with ``SystemExit`` rather than measure the gateway unchanged
under the step's name. Two steps are switched by the environment that
``bench/breakdown.py`` gives their gateway, checked here: ``access_log``
(``GATEWAY_ACCESS_LOG=""``) and ``theader`` (the calculator's address with
``?transport=framed``).
"""

from __future__ import annotations

import gc
import importlib
import os
from typing import Any, Callable

from bench.steps import BY_NAME, order
from gateway import metrics
from gateway.http import handlers, observer, problems, routing, validation
from gateway.upstream import connection, pool, services
from telemetry import tracing

LAYER = os.environ.get("BENCH_LAYER", "full")
OFF = os.environ.get("BENCH_OFF", "")


def _patch(owner: Any, name: str, new: Any) -> Any:
    """Replace ``owner.name`` with ``new``; the old value back."""
    if not hasattr(owner, name):
        raise SystemExit(f"BENCH_OFF={OFF}: {getattr(owner, '__name__', owner)}.{name} is gone; "
                         "bench/layers_app.py must switch this step off where it is now")
    old = getattr(owner, name)
    setattr(owner, name, new)
    return old


def _require(condition: bool, what: str) -> None:
    if not condition:
        raise SystemExit(f"BENCH_OFF={OFF}: {what}")


if LAYER == "http":
    _invoke = services.Service.invoke

    def _service_invoke(self: services.Service, method_name: str, *args: Any, **kwargs: Any) -> Any:
        if self.name == "calculator" and method_name == "add":
            return args[0] + args[1]
        return _invoke(self, method_name, *args, **kwargs)

    services.Service.invoke = _service_invoke  # type: ignore[method-assign]
elif LAYER == "encode":
    _exchange = connection.ThriftConnection.exchange

    def _connection_exchange(self: connection.ThriftConnection, method: Any, args: tuple[Any, ...],
                             headers: dict[str, str] | None = None) -> Any:
        if method.name != "add":
            return _exchange(self, method, args, headers)
        self._codec.encode_call(method, 1, args, headers)  # the bytes a call would send
        return args[0] + args[1]

    connection.ThriftConnection.exchange = _connection_exchange  # type: ignore[method-assign]
elif LAYER != "full":
    raise SystemExit(f"BENCH_LAYER={LAYER!r}: one of http, encode, full")


def _nothing(*args: Any, **kwargs: Any) -> None:
    return None


class _NoTimer:
    """A call's timer that never fires: what ``pool._arm`` gives with the step off."""

    def close(self) -> None:
        pass


def _memoised(match: Callable[..., Any]) -> Callable[..., Any]:
    found: dict[tuple[str, str], Any] = {}
    missing = object()

    def memoised_match(self: Any, method: str, path: str) -> Any:
        key = (method, path)
        result = found.get(key, missing)
        if result is missing:
            result = found[key] = match(self, method, path)
        return result

    return memoised_match


def _straight_to_pool(self: Any, method_name: str, *args: Any, key: str | None = None,
                      headers: dict[str, str] | None = None, deadline: float | None = None) -> Any:
    first = next(iter(self.pools.values()))
    return first.round_trip(self.methods[method_name], *args, headers=headers if self.carries_headers else None)


def _without_id_headers(call: Callable[..., Any]) -> Callable[..., Any]:
    """``RequestObserver.__call__`` handing the app a start_response that drops the
    X-Request-ID and traceparent headers the observer appended, before Gunicorn sees them."""
    request_id_header = observer.REQUEST_ID_HEADER

    def observe(self: Any, environ: Any, start_response: Callable[..., Any]) -> Any:
        def start(status_line: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            if len(headers) < 2 or headers[-2][0] != request_id_header or headers[-1][0] != "traceparent":
                # Answered 500, counted as errors by the breakdown: never measured as a step off.
                raise RuntimeError(f"BENCH_OFF={OFF}: the observer no longer appends X-Request-ID and "
                                   f"traceparent last: {headers!r}")
            del headers[-2:]
            return start_response(status_line, headers, exc_info)

        # The observer closes a connection through Gunicorn's response, start_response's __self__.
        start.__self__ = getattr(start_response, "__self__", None)  # type: ignore[attr-defined]
        return call(self, environ, start)

    return observe


def _passing_through(self: Any, environ: Any, start_response: Callable[..., Any]) -> Any:
    return self._app(environ, start_response)


_FIVE = {"result": 5}
_FIVE_BYTES = b'{"result":5}\n'


def _constant_json(write_json: Callable[..., Any]) -> Callable[..., Any]:
    """``problems.write_json`` writing GET /add/2/3's answer as a constant."""
    _require(200 in getattr(problems, "_STATUS_LINES", {}), "gateway.http.problems._STATUS_LINES[200] is gone")
    ok = problems._STATUS_LINES[200]
    length = str(len(_FIVE_BYTES))

    def constant_write_json(start_response: Callable[..., Any], dumps: Callable[[Any], str], status: int,
                            body: Any, content_type: str = "application/json",
                            extra: dict[str, str] | None = None) -> list[bytes]:
        if status == 200 and not extra and body == _FIVE:
            start_response(ok, [("Content-Type", content_type), ("Content-Length", length)])
            return [_FIVE_BYTES]
        return write_json(start_response, dumps, status, body, content_type, extra)

    return constant_write_json


def _switch_off(step: str) -> None:
    if step == "access_log":
        _require(os.environ.get("GATEWAY_ACCESS_LOG") == "", 'needs GATEWAY_ACCESS_LOG=""')
    elif step == "metrics":
        _patch(metrics, "http_request", _nothing)
        _patch(metrics, "thrift_call", _nothing)
    elif step == "ids":
        _patch(observer, "new_request_id", lambda: "0123456789abcdef0123456789abcdef")
        # telemetry.tracing imports these by name: its own globals are what it calls.
        _patch(tracing, "new_trace_id", lambda: "4bf92f3577b34da6a3ce929d0e0e4736")
        _patch(tracing, "new_span_id", lambda: "00f067aa0ba902b7")
    elif step == "response_headers":
        _require(hasattr(observer, "REQUEST_ID_HEADER"), "gateway.http.observer.REQUEST_ID_HEADER is gone")
        _patch(observer.RequestObserver, "__call__", _without_id_headers(observer.RequestObserver.__call__))
    elif step == "observer":
        _patch(observer.RequestObserver, "__call__", _passing_through)
    elif step in ("call_headers", "theader"):
        _patch(handlers, "call_headers", _nothing)
        if step == "theader":
            _require("transport=framed" in os.environ.get("GATEWAY_CALCULATOR_ADDRS", ""),
                     "needs the calculator's address with ?transport=framed")
    elif step == "validation":
        _patch(validation, "path_int", lambda name, text: int(text))
    elif step == "json_answer":
        _patch(problems, "write_json", _constant_json(getattr(problems, "write_json", None)))
    elif step == "deadline_timer":
        _patch(pool, "_arm", lambda seconds, throws: _NoTimer())
    elif step == "reuse_check":
        _patch(connection.ThriftConnection, "is_reusable", lambda self: True)
    elif step == "service":
        _patch(services.Service, "invoke", _straight_to_pool)
    elif step == "routing":
        _patch(routing.RouteTable, "match", _memoised(routing.RouteTable.match))
    elif step == "upstream":
        from bench import pooled_app

        invoke = services.Service.invoke

        def pooled_invoke(self: services.Service, method_name: str, *args: Any, **kwargs: Any) -> Any:
            if self.name == "calculator" and method_name == "add":
                return pooled_app.add(*args)
            return invoke(self, method_name, *args, **kwargs)

        _patch(services.Service, "invoke", pooled_invoke)
    elif step != "gc":
        raise AssertionError(step)


STEPS_OFF = [name for name in OFF.split("+") if name]
unknown = [name for name in STEPS_OFF if name not in BY_NAME]
if unknown or (OFF and not STEPS_OFF):
    raise SystemExit(f"BENCH_OFF={OFF!r}: unknown {', '.join(unknown) or 'step'}; "
                     f"one or more of {', '.join(BY_NAME)}, joined by +")
STEPS_OFF = order(STEPS_OFF)
for name in STEPS_OFF:
    _switch_off(name)

app = importlib.import_module("gateway.wsgi").app

if "service" in STEPS_OFF:
    # What the replacement reads of a Service, there on the one it serves.
    calculator = app.extensions["gateway.upstream.services"]["calculator"]
    for attribute in ("pools", "methods", "carries_headers"):
        _require(hasattr(calculator, attribute), f"Service.{attribute} is gone")
if "observer" in STEPS_OFF:
    # What the pass-through reads: the observer is the app's outermost middleware.
    _require(isinstance(app.wsgi_app, observer.RequestObserver) and hasattr(app.wsgi_app, "_app"),
             "app.wsgi_app is no longer a RequestObserver with an _app")
if "gc" in STEPS_OFF:
    gc.disable()
