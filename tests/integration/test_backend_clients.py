"""Apache's generated clients, in every transport and protocol, against our backends.

Our Calculator and Cache read each client's format from its first bytes and answer in
kind, on one port: the tutorial's ``TBufferedTransport`` + ``TBinaryProtocol`` client
works as it is, and so do framed, compact, JSON, THeader and multiplexed clients.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import pytest
from thrift.protocol.TBinaryProtocol import TBinaryProtocol, TBinaryProtocolAccelerated
from thrift.protocol.TCompactProtocol import TCompactProtocol, TCompactProtocolAccelerated
from thrift.protocol.THeaderProtocol import THeaderProtocol
from thrift.protocol.TJSONProtocol import TJSONProtocol
from thrift.protocol.TMultiplexedProtocol import TMultiplexedProtocol
from thrift.transport.THeaderTransport import THeaderClientType, THeaderSubprotocolID
from thrift.transport.TSocket import TSocket
from thrift.transport.TTransport import TBufferedTransport, TFramedTransport

from tests.harness import Backend, Process
from thrift_idl.gen.cache import Cache
from thrift_idl.gen.cache.ttypes import NotFound
from thrift_idl.gen.calculator import Calculator
from thrift_idl.gen.calculator.ttypes import CalculatorError

PROTOCOLS = {"binary": TBinaryProtocol, "binary-accelerated": TBinaryProtocolAccelerated,
             "compact": TCompactProtocol, "compact-accelerated": TCompactProtocolAccelerated, "json": TJSONProtocol}
CLIENTS = [(t, p, False) for t in ("buffered", "framed") for p in PROTOCOLS] + [
    ("header", "binary", False), ("header", "compact", False),
    ("buffered", "binary", True), ("framed", "compact", True)]


@pytest.fixture(scope="module")
def backends(log_dir: Path) -> Iterator[tuple[Backend, Backend]]:
    procs: list[Process] = []
    try:
        procs.append(Backend("calculator", log_dir, args=("--log-calls",)))
        procs.append(Backend("cache", log_dir))
        yield procs[0], procs[1]  # type: ignore[misc]
    finally:
        for proc in procs:
            proc.stop()


def client(module: Any, port: int, transport: str, protocol: str, multiplexed: bool) -> tuple[Any, Any]:
    sock = TSocket("127.0.0.1", port)
    sock.setTimeout(10_000)
    if transport == "header":
        sub = THeaderSubprotocolID.COMPACT if protocol == "compact" else THeaderSubprotocolID.BINARY
        prot: Any = THeaderProtocol(sock, [THeaderClientType.HEADERS], sub)
        trans = prot.trans
    else:
        trans = TFramedTransport(sock) if transport == "framed" else TBufferedTransport(sock)
        prot = PROTOCOLS[protocol](trans)
    if multiplexed:
        prot = TMultiplexedProtocol(prot, module.__name__.rsplit(".", 1)[-1])
    trans.open()
    return trans, module.Client(prot)


@pytest.mark.parametrize(("transport", "protocol", "multiplexed"), CLIENTS,
                         ids=[f"{t}-{p}{'-multiplexed' if m else ''}" for t, p, m in CLIENTS])
def test_apache_clients_against_our_calculator_and_cache(
    backends: tuple[Backend, Backend], transport: str, protocol: str, multiplexed: bool
) -> None:
    calculator, cache = backends
    trans, calc = client(Calculator, calculator.port, transport, protocol, multiplexed)
    try:
        calc.ping()
        assert calc.add(2, 3) == 5
        assert calc.divide(-7, 2) == -3
        with pytest.raises(CalculatorError) as info:
            calc.divide(1, 0)
        assert info.value.code == "division_by_zero"
        assert [calc.multiply(i, i) for i in range(20)] == [i * i for i in range(20)]  # one connection, many calls
    finally:
        trans.close()
    trans, store = client(Cache, cache.port, transport, protocol, multiplexed)
    key = f"k-{transport}-{protocol}-{multiplexed}"
    try:
        store.put(key, b"\x00\xff" * 1000, None)
        assert store.get(key) == b"\x00\xff" * 1000
        store.remove(key)
        with pytest.raises(NotFound):
            store.get(key)
    finally:
        trans.close()


def test_call_logs_name_the_format(backends: tuple[Backend, Backend]) -> None:
    trans, calc = client(Calculator, backends[0].port, "buffered", "binary", False)
    calc.add(40, 2)
    trans.close()
    assert backends[0].search(r"call add from 127\.0\.0\.1 request_id=- trace_id=- buffered/binary")
