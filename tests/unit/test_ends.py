"""Unframed messages that arrive in many chunks: found whole once, parsed once.

An unframed message ends where its parse ends. The readers used to parse everything
received again at every chunk - for TJSONProtocol, pure Python, seconds of a backend's
event loop for one 1 MB call. These tests count the parses and the bytes the end finders
look at while a large message arrives in small chunks (counts, not clocks), and check the
calls read are the ones read from the whole message at once.
"""

from __future__ import annotations

from typing import Any, Callable

import pytest
from thrift.protocol.TProtocol import TProtocolException

from backends.cache import CacheHandler
from backends.cache_store import MemoryStore
from backends.dispatch import Dispatcher
from tests.gen.showcase import Showcase
from tests.gen.showcase.ttypes import Everything, Point, Shape
from tests.showcase_backend import ShowcaseHandler
from tests.unit.test_codec import CACHE, Duplex, apache_protocol
from thrift_idl.gen.cache import Cache
from thrift_wire import ends
from thrift_wire.codec import ClientCodec, Format, ServerCodec
from thrift_wire.framing import FrameTooLarge
from thrift_wire.limits import MAX_FRAME_BYTES
from thrift_wire.methods import ServiceMethods
from thrift_wire.protocols import PROTOCOLS

PROTOCOL_NAMES = ("binary", "compact", "json")
SHOWCASE = ServiceMethods(Showcase)
VALUE = bytes(range(256)) * 3906 + b"\x00\xff\"\\[]{}"  # 1,000,000 bytes; JSON's specials too
CHUNK = 1000


def _apache_sends(fmt: Format, service: Any, send: Callable[[Any], None]) -> bytes:
    """The bytes Apache's client of ``service`` writes for the calls ``send`` makes."""
    out = Duplex()
    send(service.Client(apache_protocol(fmt, out)))
    return out.written.getvalue()


class _Counted:
    """Counts the parses of one protocol and the bytes its end finders look at."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, name: str) -> None:
        self.parses = 0
        self.finders: list[ends.EndFinder] = []
        protocol = PROTOCOLS[name]
        decode, end_finder = protocol.decode, protocol.end_finder

        def counted_decode(data: bytes, lookup: Any) -> Any:
            self.parses += 1
            return decode(data, lookup)

        def kept_finder() -> ends.EndFinder:
            self.finders.append(end_finder())
            return self.finders[-1]

        monkeypatch.setattr(protocol, "decode", counted_decode)
        monkeypatch.setattr(protocol, "end_finder", kept_finder)

    @property
    def examined(self) -> int:
        return sum(finder.examined for finder in self.finders)


def _calls_in_chunks(fmt: Format, data: bytes, lookup: Any, chunk: int) -> list[Any]:
    server, calls = ServerCodec(fmt), []
    for i in range(0, len(data), chunk):
        server.feed(data[i : i + chunk])
        while (call := server.next_call(lookup)) is not None:
            calls.append(call)
    assert not server.buffered
    return calls


@pytest.mark.parametrize("name", PROTOCOL_NAMES)
def test_a_large_unframed_call_in_small_chunks_is_parsed_once(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    fmt = Format("buffered", name)
    data = _apache_sends(fmt, Cache, lambda client: client.send_put("big", VALUE, None))
    dispatcher = Dispatcher(CACHE, CacheHandler(MemoryStore(4 * len(VALUE)), 4 * len(VALUE)))
    whole = ServerCodec(fmt)
    whole.feed(data)
    expected = whole.next_call(dispatcher.lookup)

    counted = _Counted(monkeypatch, name)
    chunks = -(-len(data) // CHUNK)
    [call] = _calls_in_chunks(fmt, data, dispatcher.lookup, CHUNK)
    assert call.args == expected.args and call.args.value == VALUE
    # JSON: one parse, once its array has closed; binary and compact: the first chunk's
    # try, and the one once the finder has seen the end (it was one per chunk: ~1000).
    assert counted.parses == (1 if name == "json" else 2)
    # Each byte looked at about once, and a few bytes of an item's header again per chunk.
    assert counted.examined <= len(data) + 16 * chunks


@pytest.mark.parametrize("name", PROTOCOL_NAMES)
def test_a_large_unframed_reply_in_small_chunks_is_parsed_once(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    fmt = Format("buffered", name)
    processor = Cache.Processor(CacheHandler(MemoryStore(4 * len(VALUE)), 4 * len(VALUE)))
    codec = ClientCodec(fmt)
    for seqid, (method, args) in enumerate([("put", ("big", VALUE, None)), ("get", ("big",))], 1):
        request = codec.encode_call(CACHE[method], seqid, args)
        raw = Duplex(request)
        processor.process(apache_protocol(fmt, raw), apache_protocol(fmt, raw))
        reply = raw.written.getvalue()
    counted = _Counted(monkeypatch, name)
    for i in range(0, len(reply), CHUNK):
        codec.feed(reply[i : i + CHUNK])
        found = codec.next_reply(CACHE["get"])
        assert (found is None) == (i + CHUNK < len(reply))
    assert found is not None and codec.result(CACHE["get"], 2, found) == VALUE
    assert counted.parses == (1 if name == "json" else 2)


EVERYTHING = Everything(
    flag=True, tiny=-3, small=-300, medium=1 << 20, large=-(1 << 40), real=2.5, text='naïve "q" \\ ] } ☃',
    blob=bytes(range(256)), color=7, point=Point(x=1, y=2, color=1, label="p"),
    shape=Shape(polygon=[Point(x=i) for i in range(3)]), numbers=list(range(-5, 300)),
    tags={"a", 'b"]'}, ids={"x": 1 << 50, "y": -1}, colors_by_number={1: 1, 2: 7},
    grid=[[Point(x=1)], [], [Point(x=2), Point(x=3)]], nested={"k": [{1, 2}, set()], "e": []},
    child=Everything(flag=False, numbers=[], ids={}), by_color={1: ["r"], 7: []}, blobs=[b"", b'\x00]"['])


@pytest.mark.parametrize("name", PROTOCOL_NAMES)
@pytest.mark.parametrize("chunk", [1, 2, 3, 7, 64])
def test_every_type_is_delimited_as_the_parse_delimits_it(name: str, chunk: int) -> None:
    """Two pipelined calls, every Thrift type in the first, cut at every place."""
    fmt = Format("buffered", name)

    def send(client: Any) -> None:
        client.send_echo(EVERYTHING)
        client.send_move(Point(x=5), 1, 2)

    data = _apache_sends(fmt, Showcase, send)
    dispatcher = Dispatcher(SHOWCASE, ShowcaseHandler())
    echo, move = _calls_in_chunks(fmt, data, dispatcher.lookup, chunk)
    assert echo.args.value == EVERYTHING
    assert (move.name, move.args.p, move.args.dx, move.args.dy) == ("move", Point(x=5), 1, 2)


@pytest.mark.parametrize("name", PROTOCOL_NAMES)
def test_finders_end_where_the_message_ends(name: str) -> None:
    fmt = Format("buffered", name)
    first = _apache_sends(fmt, Showcase, lambda client: client.send_echo(EVERYTHING))
    data = first + _apache_sends(fmt, Showcase, lambda client: client.send_notify("next"))
    finder = PROTOCOLS[name].end_finder()
    found = [finder.find(data[:size]) for size in range(1, len(first) + 1)]
    assert found[:-1] == [None] * (len(first) - 1) and found[-1] == len(first)
    assert PROTOCOLS[name].end_finder().find(data) == len(first)  # what follows is not its


@pytest.mark.parametrize(("name", "data"), [
    ("json", b'{"1":2}'),  # not an array
    ("binary", b"\x80\x01\x00\x01\x00\x00\x00\x01m\x00\x00\x00\x01" + b"\x0b\x00\x01\xff\xff\xff\xff"),  # length -1
    ("binary", b"\x80\x01\x00\x01\x00\x00\x00\x01m\x00\x00\x00\x01" + b"\x63\x00\x01"),  # type 99
    ("compact", b"\x82\x21\x01\x01m" + b"\x18" + b"\xff\xff\xff\xff\x7f"),  # a 34 GB string
    ("compact", b"\x82\x21\x01\x01m" + b"\x19\xf5\xff\xff\x0f"),  # a list of 2^32 - 1 items
])
def test_a_broken_message_is_refused_without_waiting_for_more(name: str, data: bytes) -> None:
    with pytest.raises(TProtocolException):
        PROTOCOLS[name].end_finder().find(data)


def test_an_unframed_message_that_never_ends_is_cut_at_the_frame_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    counted = _Counted(monkeypatch, "json")
    server, lookup = ServerCodec(Format("buffered", "json")), Dispatcher(CACHE, CacheHandler(MemoryStore(10), 10)).lookup
    server.feed(b'[1,"put",1,0,{"2":{"str":"')
    with pytest.raises(FrameTooLarge):
        for _ in range(MAX_FRAME_BYTES // 65536 + 1):
            server.feed(b"A" * 65536)
            assert server.next_call(lookup) is None
    assert counted.parses == 0


# --- TJSON strings: one slice where Apache's reader takes a byte at a time --------------

_STRINGS = [b"", b"plain", "naïve ☃ 😀".encode(), b"raw\x01\x1fcontrol", b"a/b", rb"q\"uote\\back\/slash",
            rb"\u00e9\n\t", rb"\ud83d\ude00", b"\xff\xfe not UTF-8", rb"\ud800 lone", b"x" * 100_000]


def _notify(raw: bytes) -> bytes:
    return b'[1,"notify",4,0,{"1":{"str":"' + raw + b'"}}]'


def _apaches_reading(data: bytes) -> Any:
    from io import BytesIO

    from thrift.protocol.TJSONProtocol import TJSONProtocol
    from thrift.transport.TTransport import TTransportBase

    class Reader(TTransportBase):
        def __init__(self) -> None:
            self.buffer = BytesIO(data)

        def read(self, sz: int) -> bytes:
            return self.buffer.read(sz)

    proto = TJSONProtocol(Reader())
    proto.readMessageBegin()
    args = Showcase.notify_args()
    try:
        args.read(proto)
    except Exception as err:  # what Apache's reader refuses, ours must refuse too
        return type(err)
    return args


@pytest.mark.parametrize("raw", _STRINGS, ids=lambda raw: repr(raw[:20]))
def test_tjson_strings_read_as_apache_reads_them(raw: bytes) -> None:
    data = _notify(raw)
    theirs = _apaches_reading(data)
    lookup = Dispatcher(SHOWCASE, ShowcaseHandler()).lookup
    if isinstance(theirs, type):
        with pytest.raises(TProtocolException):
            PROTOCOLS["json"].decode(data, lookup)
    else:
        message = PROTOCOLS["json"].decode(data, lookup)
        assert message.value == theirs and message.end == len(data)


def test_tjson_strings_without_escapes_are_not_read_a_byte_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    from thrift.protocol.TJSONProtocol import TJSONProtocolBase

    bytewise: list[bool] = []
    apaches = TJSONProtocolBase.readJSONString
    monkeypatch.setattr(TJSONProtocolBase, "readJSONString",
                        lambda self, skip: bytewise.append(skip) or apaches(self, skip))
    fmt = Format("buffered", "json")
    data = _apache_sends(fmt, Cache, lambda client: client.send_put("big", VALUE, None))
    dispatcher = Dispatcher(CACHE, CacheHandler(MemoryStore(4 * len(VALUE)), 4 * len(VALUE)))
    server = ServerCodec(fmt)
    server.feed(data)
    assert server.next_call(dispatcher.lookup).args.value == VALUE
    assert bytewise == []  # the name, the key and the value's base64: each one slice
    server.feed(_notify(rb"an \"escape\""))
    assert server.next_call(Dispatcher(SHOWCASE, ShowcaseHandler()).lookup).args.message == 'an "escape"'
    assert bytewise == [True]  # that one is Apache's to read
