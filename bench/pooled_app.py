"""The least a pooled-call gateway can do: the limit rows of ``make bench`` (issue 28).

A plain WSGI function making one pooled call per request with Apache's generated
clients (pure-Python ``TFramedTransport`` over ``TSocket``, ``TBinaryProtocolAccelerated``),
idle clients kept in a ``collections.deque`` per service. No validation, metrics,
logging, ids or deadlines: what is left is the send, the recv and the hub's wakeup that
every call needs, so the gateway's ``GET /add`` and ``GET /cache/<key>`` against it are
the gateway's own cost. Run on the same Gunicorn settings as the gateway (gevent
workers, which patch ``socket``, so ``TSocket`` waits through the hub as the gateway's
pool does).

* ``GET /add/<a>/<b>``: ``Calculator.add``, answered ``{"result": a+b}`` as the backend
  computed it.
* ``GET /cache/<key>``: ``Cache.get``, answered ``{"key": ..., "value": ...}`` - the shape
  of the gateway's answer, the stored bytes written into it as they are (the gateway's
  ``PUT`` stores compact JSON; nothing here parses or checks them); a miss (``NotFound``)
  is a 404 with a small JSON body.

The backends' addresses are the gateway's first ``GATEWAY_CALCULATOR_ADDRS`` and
``GATEWAY_CACHE_ADDRS`` entries, any ``?options`` left out: these clients speak framed
binary, which the backends read whatever the gateway is configured with.
``bench/layers_app.py`` (``BENCH_OFF=upstream``) makes the gateway's ``add`` calls
through ``add`` below, from the same deque.
"""

from __future__ import annotations

import json
import os
from collections import deque
from typing import Any, Callable, Iterable

from thrift.protocol.TBinaryProtocol import TBinaryProtocolAccelerated
from thrift.transport.TSocket import TSocket
from thrift.transport.TTransport import TFramedTransport

from thrift_idl.gen.cache import Cache
from thrift_idl.gen.cache.ttypes import NotFound
from thrift_idl.gen.calculator import Calculator


def _address(variable: str, default: str) -> tuple[str, int]:
    host, port = os.environ.get(variable, default).split(",")[0].split("?")[0].rsplit(":", 1)
    return host, int(port)


CALCULATOR = _address("GATEWAY_CALCULATOR_ADDRS", "127.0.0.1:9090")
CACHE = _address("GATEWAY_CACHE_ADDRS", "127.0.0.1:9091")
# The same bound as the gateway's call timeout would give: a dead backend is an error, not a hang.
TIMEOUT_MS = 5000

# Last in, first out: the connection used most recently is the one most likely warm.
_idle: deque[Calculator.Client] = deque()
_cache_idle: deque[Cache.Client] = deque()
_NOT_FOUND = b'{"error":"not found"}\n'
_JSON_HEADERS = ("Content-Type", "application/json")
_json_string = json.JSONEncoder().encode  # made once: a key as a JSON string, escaped


def _open(address: tuple[str, int]) -> TBinaryProtocolAccelerated:
    sock = TSocket(*address)
    sock.setTimeout(TIMEOUT_MS)
    transport = TFramedTransport(sock)
    transport.open()
    return TBinaryProtocolAccelerated(transport)


def _client() -> Calculator.Client:
    return Calculator.Client(_open(CALCULATOR))


def _cache_client() -> Cache.Client:
    return Cache.Client(_open(CACHE))


def add(a: int, b: int) -> int:
    """One pooled ``Calculator.add`` call."""
    client = _idle.pop() if _idle else _client()
    try:
        result = client.add(a, b)
    except BaseException:
        # A call that did not end cleanly leaves the connection in an unknown state: drop it.
        client._iprot.trans.close()
        raise
    _idle.append(client)
    return result


def cache_get(key: str) -> bytes | None:
    """One pooled ``Cache.get`` call: the stored bytes, or None for a miss."""
    client = _cache_idle.pop() if _cache_idle else _cache_client()
    try:
        stored = client.get(key)
    except NotFound:
        stored = None  # declared in the IDL: the whole reply was read, the connection is clean
    except BaseException:
        client._iprot.trans.close()
        raise
    _cache_idle.append(client)
    return stored


def _answer(start_response: Callable[..., Any], status: str, body: bytes) -> list[bytes]:
    start_response(status, [_JSON_HEADERS, ("Content-Length", str(len(body)))])
    return [body]


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    path = environ.get("PATH_INFO", "")
    if path.startswith("/cache/") and len(path) > 7:
        # WSGI carries the path's bytes as latin-1; the key is their UTF-8.
        key = path[7:].encode("latin-1").decode("utf-8", "replace")
        stored = cache_get(key)
        if stored is None:
            return _answer(start_response, "404 Not Found", _NOT_FOUND)
        return _answer(start_response, "200 OK", b'{"key":%s,"value":%s}\n' % (_json_string(key).encode(), stored))
    parts = path.split("/")
    if len(parts) != 4 or parts[1] != "add":
        return _answer(start_response, "404 Not Found", _NOT_FOUND)
    return _answer(start_response, "200 OK", b'{"result":%d}\n' % add(int(parts[2]), int(parts[3])))
