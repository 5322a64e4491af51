"""Backends stop cleanly on every SIGTERM, whatever their connections are doing, and fast.

Driven with Apache's own generated client (the ``thrift`` package), as a user's client
would be, and with raw sockets for the half-sent frames no client library produces.
"""

from __future__ import annotations

import signal
import socket
import time
from pathlib import Path
from typing import Any

import pytest
from thrift.protocol.TBinaryProtocol import TBinaryProtocol
from thrift.transport.TSocket import TSocket
from thrift.transport.TTransport import TFramedTransport

from backends import snapshot
from tests.harness import Backend, Process
from thrift_idl.gen.cache import Cache
from thrift_idl.gen.calculator import Calculator


def _store(port: int, count: int) -> None:
    transport = TFramedTransport(TSocket("127.0.0.1", port))
    transport.open()
    client = Cache.Client(TBinaryProtocol(transport))
    for i in range(count):
        client.put(f"k{i}", b"v%d" % i, None)
    transport.close()


@pytest.mark.parametrize("attempt", range(8))
def test_sigterm_after_connections_close_exits_0_and_writes_the_snapshot(
    attempt: int, procs: list[Process], log_dir: Path, tmp_path: Path
) -> None:
    # The repro of the crash: connections that have just closed while stop() looks at
    # the idle ones (a yielding poll inside the loop over them).
    path = tmp_path / "cache.snapshot"
    cache = Backend("cache", log_dir, args=("--snapshot", str(path)))
    procs.append(cache)
    _store(cache.port, 5)
    socket.create_connection(("127.0.0.1", cache.port)).close()
    code = cache.stop(signal.SIGTERM if attempt % 2 else signal.SIGINT)
    assert code == 0, cache.output()[-2000:]
    assert "Traceback" not in cache.output()
    assert sorted(k for k, _, _ in snapshot.read(path)) == [f"k{i}" for i in range(5)]


def test_a_half_sent_frame_does_not_hold_up_the_stop(procs: list[Process], log_dir: Path, tmp_path: Path) -> None:
    path = tmp_path / "cache.snapshot"
    cache = Backend("cache", log_dir, args=("--snapshot", str(path)))
    procs.append(cache)
    _store(cache.port, 3)
    stalled = [socket.create_connection(("127.0.0.1", cache.port)) for _ in range(3)]
    stalled[0].sendall(b"\x00\x00")  # 2 bytes of a frame length
    stalled[1].sendall(b"\x00\x00\x01\x00\x80\x01")  # a frame header and part of its body
    # stalled[2] is idle: connected, nothing sent
    idle = TFramedTransport(TSocket("127.0.0.1", cache.port))
    idle.open()
    Cache.Client(TBinaryProtocol(idle)).ping()  # an idle keep-alive client between calls
    time.sleep(0.2)  # let the server read what was sent (no state to poll from outside)
    started = time.monotonic()
    assert cache.stop() == 0
    assert time.monotonic() - started < 2.0
    assert sorted(k for k, _, _ in snapshot.read(path)) == ["k0", "k1", "k2"]
    for sock in stalled:
        sock.close()
    idle.close()


def _call_in_flight(procs: list[Process], log_dir: Path, *args: str) -> tuple[Backend, TFramedTransport, Any]:
    """A calculator slowed by the test-only delay, with one call sent and not answered."""
    calculator = Backend("calculator", log_dir, args=args)
    procs.append(calculator)
    transport = TFramedTransport(TSocket("127.0.0.1", calculator.port))
    transport.open()
    client = Calculator.Client(TBinaryProtocol(transport))
    client.send_add(2, 3)
    time.sleep(0.2)  # the call has arrived (no state to poll from outside)
    return calculator, transport, client


def test_a_call_in_flight_finishes_within_the_drain_limit(procs: list[Process], log_dir: Path) -> None:
    # A slow call is answered even though the stop came first...
    calculator, transport, client = _call_in_flight(procs, log_dir, "--delay-ms", "700")
    calculator.send(signal.SIGTERM)
    assert client.recv_add() == 5
    assert calculator.popen.wait(10) == 0
    transport.close()


def test_the_drain_is_bounded(procs: list[Process], log_dir: Path) -> None:
    # ... but one that outlasts --drain-timeout-ms is cut off, and the process exits 0.
    calculator, transport, _ = _call_in_flight(procs, log_dir, "--delay-ms", "20000", "--drain-timeout-ms", "500")
    started = time.monotonic()
    calculator.send(signal.SIGTERM)
    assert calculator.popen.wait(10) == 0
    assert time.monotonic() - started < 3.0
    transport.close()
