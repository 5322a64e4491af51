"""A large unframed call from Apache's own client, on a real Cache backend.

An unframed message ends where its parse ends; the backend used to parse everything
received again at every chunk, which for TJSONProtocol took seconds of its event loop
for one 1 MB value (issue 22, item 5). Here half of such a call sits in the backend while
another client's ping is answered, then the rest arrives and the value reads back whole.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import pytest
from thrift.protocol.TBinaryProtocol import TBinaryProtocol
from thrift.protocol.TCompactProtocol import TCompactProtocol
from thrift.protocol.TJSONProtocol import TJSONProtocol
from thrift.transport.TSocket import TSocket
from thrift.transport.TTransport import TBufferedTransport

from tests.harness import Backend, Process
from thrift_idl.gen.cache import Cache

VALUE = bytes(range(256)) * 3906 + b"\x00\xff\"\\[]{}"  # 1,000,000 bytes
_PROTOCOLS = {"json": TJSONProtocol, "binary": TBinaryProtocol, "compact": TCompactProtocol}


class _SendsInTwo(TSocket):
    """Apache's socket, except that a write of more than ``threshold`` bytes goes out in
    two halves with ``between()`` run after the first: a message half arrived."""

    def __init__(self, host: str, port: int, threshold: int, between: Callable[[], None]) -> None:
        super().__init__(host, port)
        self._threshold = threshold
        self._between = between

    def write(self, buff: bytes) -> None:
        if len(buff) <= self._threshold:
            super().write(buff)
            return
        half = len(buff) // 2
        super().write(buff[:half])
        self._between()
        super().write(buff[half:])


def _client(protocol: str, sock: TSocket) -> tuple[Any, TBufferedTransport]:
    transport = TBufferedTransport(sock)
    transport.open()
    return Cache.Client(_PROTOCOLS[protocol](transport)), transport


@pytest.mark.parametrize("protocol", ["json", "binary", "compact"])
def test_a_large_buffered_value_while_another_client_is_answered(procs: list[Process], log_dir: Path,
                                                                  protocol: str) -> None:
    cache = Backend("cache", log_dir)
    procs.append(cache)
    pinger, ping_transport = _client("json", TSocket(cache.host, cache.port))
    pings: list[None] = []
    big, big_transport = _client(protocol, _SendsInTwo(cache.host, cache.port, 65536,
                                                       lambda: pings.append(pinger.ping())))
    try:
        big.put("big", VALUE, None)
        assert len(pings) == 1  # answered while half of the put was in the backend
        assert big.get("big") == VALUE
        pinger.ping()
    finally:
        big_transport.close()
        ping_transport.close()
    assert cache.alive() and "closing connection" not in cache.output()
