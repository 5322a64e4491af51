"""The shared wire codecs against Apache's own implementation, in memory.

The other end of every exchange here is the thrift package's own transports, protocols
and generated processors and clients - never our codec talking to itself: our client
codec's calls are served by Apache's processor stack and its replies decoded by ours;
Apache's clients call our server codec and read our replies.
"""

from __future__ import annotations

import struct
from io import BytesIO
from typing import Any

import pytest
from thrift.protocol.TBinaryProtocol import TBinaryProtocol
from thrift.protocol.TCompactProtocol import TCompactProtocol
from thrift.protocol.THeaderProtocol import THeaderProtocol
from thrift.protocol.TJSONProtocol import TJSONProtocol
from thrift.protocol.TMultiplexedProtocol import TMultiplexedProtocol
from thrift.protocol.TProtocol import TProtocolException
from thrift.Thrift import TApplicationException
from thrift.TMultiplexedProcessor import TMultiplexedProcessor
from thrift.transport.THeaderTransport import THeaderClientType, THeaderSubprotocolID
from thrift.transport.TTransport import TBufferedTransport, TFramedTransport, TTransportBase

from backends.cache import CacheHandler
from backends.cache_store import MemoryStore
from backends.calculator import CalculatorHandler
from backends.dispatch import Dispatcher
from thrift_idl.gen.cache import Cache
from thrift_idl.gen.cache.ttypes import NotFound
from thrift_idl.gen.calculator import Calculator
from thrift_idl.gen.calculator.ttypes import CalculatorError
from thrift_wire.codec import ClientCodec, Format, FrameError, ServerCodec, detect
from thrift_wire.framing import FrameTooLarge
from thrift_wire.methods import ServiceMethods, probe

CALC, CACHE = ServiceMethods(Calculator), ServiceMethods(Cache)
FORMATS = [Format(t, p) for t in ("framed", "buffered") for p in ("binary", "compact", "json")] + [
    Format("header", "binary"), Format("header", "compact")]
ALL_CLIENT_TYPES = [THeaderClientType.HEADERS, THeaderClientType.FRAMED_BINARY, THeaderClientType.UNFRAMED_BINARY,
                    THeaderClientType.FRAMED_COMPACT, THeaderClientType.UNFRAMED_COMPACT]
_PROTOCOL_CLASSES = {"binary": TBinaryProtocol, "compact": TCompactProtocol, "json": TJSONProtocol}


class Duplex(TTransportBase):
    """A connection in memory: reads ``data``, collects what is written."""

    def __init__(self, data: bytes = b"") -> None:
        self.incoming = BytesIO(data)
        self.written = BytesIO()

    def isOpen(self) -> bool:  # noqa: N802 - Apache's name
        return True

    def read(self, sz: int) -> bytes:
        return self.incoming.read(sz)

    def write(self, buf: bytes) -> None:
        self.written.write(buf)

    def flush(self) -> None:
        pass


def apache_protocol(fmt: Format, raw: Duplex) -> Any:
    """Apache's own stack for ``fmt`` over ``raw``, as a user's client or server builds it."""
    if fmt.transport == "header":
        sub = THeaderSubprotocolID.COMPACT if fmt.protocol == "compact" else THeaderSubprotocolID.BINARY
        return THeaderProtocol(raw, ALL_CLIENT_TYPES, sub)
    transport = TFramedTransport(raw) if fmt.transport == "framed" else TBufferedTransport(raw)
    return _PROTOCOL_CLASSES[fmt.protocol](transport)


def apache_serves(processor: Any, fmt: Format, request: bytes) -> bytes:
    raw = Duplex(request)
    prot = apache_protocol(fmt, raw)
    processor.process(prot, prot)  # it flushes the reply itself
    return raw.written.getvalue()


def our_call(fmt: Format, processor: Any, methods: ServiceMethods, name: str, *args: Any, seqid: int = 7,
             chunk: int | None = None) -> Any:
    codec = ClientCodec(fmt)
    method = methods[name]
    reply = apache_serves(processor, fmt, codec.encode_call(method, seqid, args, {"request-id": "r1"}))
    if chunk is None:
        codec.feed(reply)
        return read_reply(codec, method, seqid)
    for i in range(0, len(reply), chunk):
        codec.feed(reply[i : i + chunk])
        found = codec.next_reply(method)
        if i + chunk < len(reply):
            assert found is None
    assert found is not None
    return codec.result(method, seqid, found)


def read_reply(codec: ClientCodec, method: Any, seqid: int) -> Any:
    """What the whole reply fed to ``codec`` carries."""
    found = codec.next_reply(method)
    assert found is not None, "the reply has not all arrived"
    return codec.result(method, seqid, found)


@pytest.mark.parametrize("fmt", FORMATS, ids=str)
def test_our_calls_against_apaches_processor(fmt: Format) -> None:
    calc = Calculator.Processor(CalculatorHandler())
    assert our_call(fmt, calc, CALC, "add", 2**62, 2**62 - 1) == 2**63 - 1
    assert our_call(fmt, calc, CALC, "divide", -7, 2, chunk=1) == -3  # reassembled from single bytes
    assert our_call(fmt, calc, CALC, "ping") is None
    with pytest.raises(CalculatorError) as info:
        our_call(fmt, calc, CALC, "divide", 1, 0)
    assert info.value.code == "division_by_zero"
    cache = Cache.Processor(CacheHandler(MemoryStore(10000), 10000))
    value = bytes(range(256)) * 4
    assert our_call(fmt, cache, CACHE, "put", "ключ", value, None, seqid=2**31 - 1) is None
    assert our_call(fmt, cache, CACHE, "get", "ключ", chunk=100) == value
    with pytest.raises(NotFound):
        our_call(fmt, cache, CACHE, "get", "missing")


@pytest.mark.parametrize("fmt", FORMATS, ids=str)
def test_an_unknown_method_is_apaches_application_exception(fmt: Format) -> None:
    with pytest.raises(TApplicationException) as info:
        _probe(fmt)
    assert info.value.type == TApplicationException.UNKNOWN_METHOD


def _probe(fmt: Format) -> Any:
    codec, method = ClientCodec(fmt), probe("no_such_method")
    codec.feed(apache_serves(Calculator.Processor(CalculatorHandler()), fmt, codec.encode_call(method, 3, ())))
    return read_reply(codec, method, 3)


@pytest.mark.parametrize("fmt", [f for f in FORMATS if f.transport != "header"], ids=str)
def test_multiplexed_calls_against_apaches_multiplexed_processor(fmt: Format) -> None:
    processor = TMultiplexedProcessor()
    processor.registerProcessor("Calculator", Calculator.Processor(CalculatorHandler()))
    processor.registerProcessor("Cache", Cache.Processor(CacheHandler(MemoryStore(1000), 1000)))
    muxed = Format(fmt.transport, fmt.protocol, "Calculator")
    assert our_call(muxed, processor, CALC, "multiply", 6, 7) == 42
    with pytest.raises(NotFound):
        our_call(Format(fmt.transport, fmt.protocol, "Cache"), processor, CACHE, "get", "k")


def apache_client_calls(fmt: Format, module: Any, dispatcher: Dispatcher, method: str, *args: Any) -> Any:
    """Apache's generated client calls our server codec and reads its reply."""
    out = Duplex()
    prot = apache_protocol(fmt, out)
    if fmt.multiplexed:
        prot = TMultiplexedProtocol(prot, module.__name__.rsplit(".", 1)[-1])  # the service's own name
    client = module.Client(prot)
    getattr(client, f"send_{method}")(*args)
    request = out.written.getvalue()
    detected = detect(request[:8])
    assert detected is not None and (detected.transport, detected.protocol) == (
        fmt.transport, "binary" if fmt.transport == "header" else fmt.protocol)
    server = ServerCodec(detected)
    for i in range(len(request)):  # byte by byte: every prefix is "not yet"
        assert server.next_call(dispatcher.lookup) is None
        server.feed(request[i : i + 1])
    call = server.next_call(dispatcher.lookup)
    assert call is not None and not server.buffered
    reply = dispatcher.answer(call)
    if reply is None:
        return None
    out.incoming = BytesIO(server.encode_reply(call, reply.name, reply.type, reply.value, reply.spec))
    return getattr(client, f"recv_{method}")()


@pytest.mark.parametrize("fmt", FORMATS + [Format("framed", "binary", "yes"), Format("buffered", "compact", "yes")],
                         ids=str)
def test_apaches_clients_against_our_server_codec(fmt: Format) -> None:
    calc = Dispatcher(CALC, CalculatorHandler())
    assert apache_client_calls(fmt, Calculator, calc, "add", 2, 3) == 5
    assert apache_client_calls(fmt, Calculator, calc, "ping") is None
    with pytest.raises(CalculatorError):
        apache_client_calls(fmt, Calculator, calc, "divide", 1, 0)
    cache = Dispatcher(CACHE, CacheHandler(MemoryStore(10000), 10000))
    assert apache_client_calls(fmt, Cache, cache, "put", "k", b"\x00\xff", 60) is None
    assert apache_client_calls(fmt, Cache, cache, "get", "k") == b"\x00\xff"


def test_our_server_codec_answers_an_unknown_method_as_apache_does() -> None:
    fmt = Format("buffered", "binary")
    out = Duplex()
    client = Calculator.Client(apache_protocol(fmt, out))
    client._seqid = 4
    client._oprot.writeMessageBegin("modulo", 1, 4)
    Calculator.ping_args().write(client._oprot)
    client._oprot.writeMessageEnd()
    client._oprot.trans.flush()
    server = ServerCodec(fmt)
    server.feed(out.written.getvalue())
    dispatcher = Dispatcher(CALC, CalculatorHandler())
    call = server.next_call(dispatcher.lookup)
    reply = dispatcher.answer(call)
    ours = server.encode_reply(call, reply.name, reply.type, reply.value, reply.spec)
    theirs = apache_serves(Calculator.Processor(CalculatorHandler()), fmt, out.written.getvalue())
    assert ours == theirs


def test_pipelined_calls_are_taken_one_at_a_time() -> None:
    fmt = Format("buffered", "compact")
    out = Duplex()
    client = Calculator.Client(apache_protocol(fmt, out))
    client.send_add(1, 2)
    client.send_add(3, 4)
    server, dispatcher = ServerCodec(fmt), Dispatcher(CALC, CalculatorHandler())
    server.feed(out.written.getvalue())
    first, second = server.next_call(dispatcher.lookup), server.next_call(dispatcher.lookup)
    assert (first.args.a, second.args.a) == (1, 3) and server.next_call(dispatcher.lookup) is None


def _framed_reply(seqid: int, name: str = "add") -> bytes:
    return apache_serves(Calculator.Processor(CalculatorHandler()), Format(),
                         ClientCodec(Format()).encode_call(CALC[name], seqid, (1, 2)))


def test_a_reply_to_another_call_is_refused() -> None:
    for seqid, method in ((6, "add"), (5, "subtract")):  # a stale reply; right id, wrong method
        codec = ClientCodec(Format())
        codec.feed(_framed_reply(5))
        with pytest.raises(TProtocolException, match="out of sequence"):
            read_reply(codec, CALC[method], seqid)


def test_bytes_after_the_reply_and_huge_frames_are_refused() -> None:
    codec = ClientCodec(Format())
    codec.feed(_framed_reply(1) + b"extra")
    with pytest.raises(FrameError, match="after the reply"):
        read_reply(codec, CALC["add"], 1)
    codec = ClientCodec(Format())
    codec.feed(struct.pack("!i", 2**31 - 1))
    with pytest.raises(FrameTooLarge):
        read_reply(codec, CALC["add"], 1)


@pytest.mark.parametrize("fmt", FORMATS, ids=str)
@pytest.mark.parametrize("garbage", [b"\x00\x00\x00\x0b" + b"\x00" * 11, b"\x00\x00\x00\x03abc",
                                     b"\x00\x00\x00\x10\x80\x01\x00\x02" + b"\xff" * 12, b"<html>"])
def test_garbage_replies_are_protocol_errors(fmt: Format, garbage: bytes) -> None:
    codec = ClientCodec(fmt)
    codec.feed(garbage)
    with pytest.raises((TProtocolException, FrameError)):
        read_reply(codec, CALC["add"], 1)


@pytest.mark.parametrize("first", [b"GET / HTTP/1.1\r\n", b"\x16\x03\x01\x02\x00\x01", b"\x00\x00\x00\x05hello"])
def test_detect_refuses_what_is_not_thrift(first: bytes) -> None:
    with pytest.raises(FrameError):
        detect(first)


def test_detect_waits_for_enough_bytes() -> None:
    assert detect(b"") is None and detect(b"\x80") is None and detect(b"\x00\x00\x00") is None


def test_a_format_theader_cannot_carry_is_refused() -> None:
    with pytest.raises(ValueError, match="THeader"):
        Format("header", "json")


def test_the_strict_utf8_reread_runs_only_where_a_string_may_be(monkeypatch: pytest.MonkeyPatch) -> None:
    # It ran on every binary reply once (the version byte is never ASCII): a pure-Python
    # decode of every answer, for nothing. It is for strings the C decoder would let by.
    reread: list[str] = []
    monkeypatch.setattr(ClientCodec, "_check_utf8", lambda self, method, message: reread.append(method.name))
    calc, cache = Calculator.Processor(CalculatorHandler()), Cache.Processor(CacheHandler(MemoryStore(10000), 10000))
    assert our_call(Format(), calc, CALC, "add", -(2**40), 1) == -(2**40) + 1  # an i64 with non-ASCII bytes
    assert reread == []
    our_call(Format(), cache, CACHE, "put", "k", b"\xff", None)
    assert our_call(Format(), cache, CACHE, "get", "k") == b"\xff"  # binary: no string to check
    assert reread == []
    with pytest.raises(CalculatorError):
        our_call(Format(), calc, CALC, "divide", 1, 0)  # its message is ASCII: nothing to check
    assert reread == []
    assert our_call(Format("framed", "compact"), cache, CACHE, "stats").items == 1
    with pytest.raises(TApplicationException):
        _probe(Format())
    assert reread == []
    from tests.gen.showcase import Showcase
    from tests.gen.showcase.ttypes import Everything
    from tests.showcase_backend import ShowcaseHandler

    echoed = our_call(Format(), Showcase.Processor(ShowcaseHandler()), ServiceMethods(Showcase), "echo",
                      Everything(text="naïve"))
    assert echoed.text == "naïve" and reread == ["echo"]  # a string, and non-ASCII bytes: checked
