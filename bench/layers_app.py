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
what the step costs. Each switch replaces an attribute of a module or class, looked up
by name; a target that is gone stops the worker with ``SystemExit`` rather than measure
the gateway unchanged under the step's name. Two steps are switched by the environment
that ``bench/breakdown.py`` gives their gateway, checked here: ``access_log``
(``GATEWAY_ACCESS_LOG=""``) and ``theader`` (the calculator's address with
``?transport=framed``).
"""

from __future__ import annotations

import gc
import importlib
import os
from typing import Any, Callable

from bench.steps import BY_NAME
from gateway import metrics
from gateway.http import handlers, observer, routing
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


class _NoTimer(BaseException):
    """A ``gevent.Timeout`` that never fires (a BaseException, as the pool catches it)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def start(self) -> None:
        pass

    def close(self) -> None:
        pass

    cancel = close


class _GeventWithoutTimers:
    """The ``gevent`` module as the pool sees it, its ``Timeout`` a no-op."""

    Timeout = _NoTimer

    def __init__(self, real: Any) -> None:
        self._real = real

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


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
    elif step in ("call_headers", "theader"):
        _patch(handlers, "call_headers", _nothing)
        if step == "theader":
            _require("transport=framed" in os.environ.get("GATEWAY_CALCULATOR_ADDRS", ""),
                     "needs the calculator's address with ?transport=framed")
    elif step == "deadline_timer":
        _patch(pool, "gevent", _GeventWithoutTimers(pool.gevent))
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


if OFF:
    if OFF not in BY_NAME:
        raise SystemExit(f"BENCH_OFF={OFF!r}: one of {', '.join(BY_NAME)}")
    _switch_off(OFF)

app = importlib.import_module("gateway.wsgi").app

if OFF == "service":
    # What the replacement reads of a Service, there on the one it serves.
    calculator = app.extensions["gateway.upstream.services"]["calculator"]
    for attribute in ("pools", "methods", "carries_headers"):
        _require(hasattr(calculator, attribute), f"Service.{attribute} is gone")
elif OFF == "gc":
    gc.disable()
