"""The gateway with its backend call cut short at one layer, for ``make breakdown``.

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
"""

from __future__ import annotations

import os
from typing import Any

from gateway.app import create_app
from gateway.upstream import connection, services

LAYER = os.environ.get("BENCH_LAYER", "full")

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

app = create_app()
