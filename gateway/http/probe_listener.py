"""A listener of its own for health probes: ``GATEWAY_PROBE_BIND`` (off by default).

Why: under overload every ``worker_connections`` slot of the API listener is held by busy
keep-alive clients, so a probe on a new connection waits in the backlog until a slot
frees - seconds - and the kubelet, at its 1 s default timeout, kills a pod that is only
busy. Gunicorn's gevent worker gives each listening socket its own
``Pool(worker_connections)`` (``GeventWorker.run``), so a second address has slots the
API clients cannot take - Envoy's admin listener, kept apart for the same reason.

On that listener only ``/healthz`` and ``/readyz`` are answered (any other path: 404
``not_found``), so exposing it to the kubelet exposes nothing else. A request is known to
have come through it by ``SERVER_NAME`` / ``SERVER_PORT``, which Gunicorn takes from the
listening socket's own address (``http/wsgi.py`` ``create``), never from the request:
a client's ``Host`` header cannot move a request from one listener to the other.

The master adds the address to Gunicorn's bind list and records the socket it bound
(``gunicorn.conf.py`` hooks); the workers, forked from it, find the record here.
"""

from __future__ import annotations

import os
import re
import socket
from typing import Any, Callable, Iterable, Mapping

from gateway.config import ConfigError

ENV = "GATEWAY_PROBE_BIND"
PROBE_PATHS = frozenset({"/healthz", "/readyz"})

# host:port, the host a name, an IPv4 address or a bracketed IPv6 address. A TCP address
# only: on a Unix socket Gunicorn takes SERVER_NAME from the Host header.
_ADDRESS = re.compile(r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):([0-9]{1,5})", re.ASCII)

# (SERVER_NAME, SERVER_PORT) of each probe socket, recorded by the master once bound.
_listening: set[tuple[str, str]] = set()


def probe_bind(environ: Mapping[str, str] = os.environ) -> str | None:
    """``GATEWAY_PROBE_BIND`` as Gunicorn's bind string, or None when unset or empty.
    Raises ``ConfigError`` naming the variable for anything but ``host:port`` with a
    port from 1 to 65535 (0 would be a port the kubelet cannot know)."""
    value = environ.get(ENV, "").strip()
    if not value:
        return None
    match = _ADDRESS.fullmatch(value)
    if not match or not 1 <= int(match.group(2)) <= 65535:
        raise ConfigError(f"{ENV}={value!r}: expected host:port (e.g. 0.0.0.0:8001), a port from 1 to 65535")
    return value


def _host_port(bind: str) -> tuple[str, int]:
    host, port = bind.rsplit(":", 1)
    return host.strip("[]"), int(port)


def add_to_bind(cfg: Any, bind: str) -> None:
    """Add ``bind`` to Gunicorn's bind list, once, whatever ``-b`` said."""
    binds = list(cfg.bind)
    if bind not in binds:
        cfg.set("bind", [*binds, bind])


def record_listeners(listeners: Iterable[Any], bind: str) -> None:
    """In the master, once bound: remember which of Gunicorn's sockets is the probe's."""
    wanted = _host_port(bind)
    _listening.clear()
    for listener in listeners:
        if listener.cfg_addr == wanted or tuple(listener.getsockname()[:2]) == wanted:
            name = listener.getsockname()
            _listening.add((str(name[0]), str(name[1])))


def is_probe_listener(address: tuple[str, int]) -> bool:
    """Whether a socket bound at ``address`` is a probe listener (for messages)."""
    bind = probe_bind()
    return bind is not None and tuple(address[:2]) == _host_port(bind)


class ProbeListenerOnly:
    """WSGI middleware: on the probe listener, only the probe paths reach the app."""

    def __init__(self, app: Callable[..., Iterable[bytes]], listening: set[tuple[str, str]],
                 dumps: Callable[[Any], str]) -> None:
        # Imported here, in the worker: the master imports this module for its hooks and
        # must not load Flask's side of the gateway before the workers patch with gevent.
        from gateway.http.observer import REQUEST_ID_HEADER
        from gateway.http.problems import PROBLEM_TYPE, problem, write_json
        from telemetry.ids import new_request_id

        _, body, _ = problem(404, "not_found", "Not Found",
                             "this listener (GATEWAY_PROBE_BIND) answers only /healthz and /readyz")
        self._refusal = body
        self._content_type = PROBLEM_TYPE
        self._request_id = (REQUEST_ID_HEADER, new_request_id)
        self._write = write_json
        self._app = app
        self._listening = listening
        self._dumps = dumps

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if (environ.get("SERVER_NAME"), environ.get("SERVER_PORT")) not in self._listening:
            return self._app(environ, start_response)
        if environ.get("PATH_INFO") in PROBE_PATHS:
            return self._app(environ, start_response)
        header, new_id = self._request_id
        return self._write(start_response, self._dumps, 404, self._refusal, self._content_type, {header: new_id()})


def restrict(app: Callable[..., Iterable[bytes]], dumps: Callable[[Any], str]) -> Callable[..., Iterable[bytes]]:
    """``app`` itself when there is no probe listener (nothing added to the API's path);
    else ``app`` behind ``ProbeListenerOnly``. Should the master's record be missing (a
    server other than our gunicorn.conf.py), the configured address itself is used."""
    bind = probe_bind()
    if bind is None:
        return app
    listening = set(_listening)
    if not listening:
        host, port = _host_port(bind)
        # Gunicorn names a listener by its socket's address, never by a host name: a name
        # given here stands for every address it resolves to, or the probe port would
        # serve every route (fail open) behind a name like localhost.
        listening = {(host, str(port)), *((str(info[4][0]), str(port)) for info in _resolve(host, port))}
    return ProbeListenerOnly(app, listening, dumps)


def _resolve(host: str, port: int) -> list[Any]:
    try:
        return socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError:
        return []  # unresolvable: nothing can be bound at it either
