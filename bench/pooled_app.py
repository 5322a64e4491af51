"""The least a pooled-call gateway can do: the limit row of ``make bench`` (issue 28).

A plain WSGI function making one pooled call per request with Apache's generated
``Calculator.Client`` (pure-Python ``TFramedTransport`` over ``TSocket``,
``TBinaryProtocolAccelerated``), idle clients kept in a ``collections.deque``. No
validation, metrics, logging, ids or deadlines: what is left is the send, the recv and
the hub's wakeup that every call needs, so the gateway's ``GET /add`` against it is the
gateway's own cost. Run on the same Gunicorn settings as the gateway (gevent workers,
which patch ``socket``, so ``TSocket`` waits through the hub as the gateway's pool does).

Answers ``GET /add/<a>/<b>`` with ``{"result": a+b}`` as the backend computed it.
"""

from __future__ import annotations

import os
from collections import deque
from typing import Any, Callable, Iterable

from thrift.protocol.TBinaryProtocol import TBinaryProtocolAccelerated
from thrift.transport.TSocket import TSocket
from thrift.transport.TTransport import TFramedTransport

from thrift_idl.gen.calculator import Calculator

HOST, PORT = os.environ.get("GATEWAY_CALCULATOR_ADDRS", "127.0.0.1:9090").split(",")[0].rsplit(":", 1)
# The same bound as the gateway's call timeout would give: a dead backend is an error, not a hang.
TIMEOUT_MS = 5000

_idle: deque[Calculator.Client] = deque()
_NOT_FOUND = b'{"error":"not found"}\n'


def _client() -> Calculator.Client:
    sock = TSocket(HOST, int(PORT))
    sock.setTimeout(TIMEOUT_MS)
    transport = TFramedTransport(sock)
    transport.open()
    return Calculator.Client(TBinaryProtocolAccelerated(transport))


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    parts = environ.get("PATH_INFO", "").split("/")
    if len(parts) != 4 or parts[1] != "add":
        start_response("404 Not Found", [("Content-Type", "application/json"),
                                         ("Content-Length", str(len(_NOT_FOUND)))])
        return [_NOT_FOUND]
    a, b = int(parts[2]), int(parts[3])
    # Last in, first out: the connection used most recently is the one most likely warm.
    client = _idle.pop() if _idle else _client()
    try:
        result = client.add(a, b)
    except BaseException:
        # A call that did not end cleanly leaves the connection in an unknown state: drop it.
        client._iprot.trans.close()
        raise
    _idle.append(client)
    body = b'{"result":%d}\n' % result
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]
