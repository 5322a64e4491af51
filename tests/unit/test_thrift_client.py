"""The gateway's Thrift call codec against the generated processors, in memory."""

from __future__ import annotations

import socket
from struct import pack

import pytest
from thrift.protocol.TBinaryProtocol import TBinaryProtocolAccelerated
from thrift.protocol.TProtocol import TProtocolException
from thrift.Thrift import TApplicationException
from thrift.transport.TTransport import TMemoryBuffer, TTransportException

from backends.cache import CacheHandler
from backends.cache_store import MemoryStore
from backends.calculator import CalculatorHandler
from gateway.thrift_client import ServiceSpec, ThriftConnection, decode_reply, encode_call
from thrift_idl.gen.cache import Cache
from thrift_idl.gen.cache.ttypes import CacheStats, NotFound
from thrift_idl.gen.calculator import Calculator
from thrift_idl.gen.calculator.ttypes import CalculatorError

CALC = ServiceSpec(Calculator)
CACHE = ServiceSpec(Cache)


def serve(processor, frame: bytes) -> bytes:
    """Run one framed call through a generated processor; its framed reply's body."""
    out = TMemoryBuffer()
    processor.process(TBinaryProtocolAccelerated(TMemoryBuffer(frame[4:])), TBinaryProtocolAccelerated(out))
    return out.getvalue()


def call(processor, spec: ServiceSpec, method: str, *args, seqid: int = 7):
    return decode_reply(spec.methods[method], seqid, serve(processor, encode_call(spec.methods[method], seqid, args)))


def test_spec_reads_every_method() -> None:
    assert set(CALC.methods) == {"ping", "add", "subtract", "multiply", "divide"}
    assert CALC.methods["add"].exception_fields == ("error",) and CALC.methods["add"].returns_value
    assert not CALC.methods["ping"].returns_value
    assert set(CACHE.methods["put"].exception_fields) == {"invalid_key", "too_large", "invalid_ttl", "unavailable"}


def test_values_declared_exceptions_and_void() -> None:
    calc = Calculator.Processor(CalculatorHandler())
    assert call(calc, CALC, "add", 2**62, 2**62 - 1) == 2**63 - 1
    assert call(calc, CALC, "divide", -7, 2) == -3
    assert call(calc, CALC, "ping") is None
    with pytest.raises(CalculatorError) as info:
        call(calc, CALC, "divide", 1, 0)
    assert info.value.code == "division_by_zero"
    cache = Cache.Processor(CacheHandler(MemoryStore(1000), 1000))
    assert call(cache, CACHE, "put", "k", b"\x00\xffbytes", None) is None
    assert call(cache, CACHE, "get", "k") == b"\x00\xffbytes"
    assert isinstance(call(cache, CACHE, "stats"), CacheStats)
    with pytest.raises(NotFound):
        call(cache, CACHE, "get", "missing")


def test_an_undeclared_backend_error_is_an_application_exception() -> None:
    class Broken(CalculatorHandler):
        def add(self, a: int, b: int) -> int:
            raise RuntimeError("bug")

    with pytest.raises(TApplicationException):
        call(Calculator.Processor(Broken()), CALC, "add", 1, 2)


def test_a_reply_to_another_call_is_refused() -> None:
    calc = Calculator.Processor(CalculatorHandler())
    reply = serve(calc, encode_call(CALC.methods["add"], 5, (1, 2)))
    with pytest.raises(TProtocolException, match="out of sequence"):
        decode_reply(CALC.methods["add"], 6, reply)  # a stale reply: wrong sequence id
    with pytest.raises(TProtocolException, match="out of sequence"):
        decode_reply(CALC.methods["subtract"], 5, reply)  # right id, wrong method


@pytest.mark.parametrize("garbage", [b"", b"\x00" * 11, b"\x00\x00\x00\x03abc\x00\x00\x00\x01", b"\x80\x01\x00\x02" + b"\xff" * 12])
def test_garbage_replies_are_protocol_errors(garbage: bytes) -> None:
    with pytest.raises(TProtocolException):
        decode_reply(CALC.methods["add"], 1, garbage)


def connection_with_peer() -> tuple[ThriftConnection, socket.socket]:
    ours, peer = socket.socketpair()
    return ThriftConnection(ours, CALC), peer


def frame(body: bytes) -> bytes:
    return pack("!i", len(body)) + body


def test_a_reply_split_over_many_packets_is_reassembled() -> None:
    conn, peer = connection_with_peer()
    calc = Calculator.Processor(CalculatorHandler())
    reply = frame(serve(calc, encode_call(CALC.methods["add"], 1, (20, 22))))
    for i in range(len(reply)):
        peer.send(reply[i : i + 1])
    assert conn.call("add", (20, 22)) == 42
    conn.close()
    peer.close()


def test_bytes_after_the_reply_or_a_huge_frame_are_refused() -> None:
    calc = Calculator.Processor(CalculatorHandler())
    conn, peer = connection_with_peer()
    peer.sendall(frame(serve(calc, encode_call(CALC.methods["add"], 1, (1, 1)))) + b"extra")
    with pytest.raises(TProtocolException, match="after the frame"):
        conn.call("add", (1, 1))
    conn2, peer2 = connection_with_peer()
    peer2.sendall(pack("!i", 2**31 - 1))  # announces a 2 GiB frame
    with pytest.raises(TTransportException) as info:
        conn2.call("add", (1, 1))
    assert info.value.type == TTransportException.SIZE_LIMIT
    for s in (conn, peer, conn2, peer2):
        s.close()


def test_a_closed_peer_is_end_of_file() -> None:
    conn, peer = connection_with_peer()
    peer.close()
    with pytest.raises(TTransportException):
        conn.call("add", (1, 1))
    conn.close()


def test_a_connection_is_not_reusable_once_its_socket_is_readable() -> None:
    quiet, peer1 = connection_with_peer()
    assert quiet.is_reusable()
    stray, peer2 = connection_with_peer()
    peer2.sendall(b"\x00")  # a reply nobody read
    assert not stray.is_reusable()
    closed, peer3 = connection_with_peer()
    peer3.close()  # EOF
    assert not closed.is_reusable()
    quiet.close()
    assert not quiet.is_reusable()
    for s in (peer1, peer2, stray, closed):
        s.close()
