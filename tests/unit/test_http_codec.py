"""thrift_wire.http: Thrift over HTTP, the client's codec, without sockets.

The requests it writes are read by h11 in the server's role and their bodies served by
Apache's generated processor; the answers fed back are written as Apache's
``THttpServer`` (HTTP/1.0, closing) and a keep-alive HTTP/1.1 server write them.
"""

from __future__ import annotations

import random
import socket
from typing import Any

import h11
import pytest
from thrift.protocol.TProtocol import TProtocolException

from gateway.config import ConfigError, Settings
from gateway.upstream.connection import ThriftConnection
from tests.gen.interop import Interop
from tests.interop_server import InteropHandler
from tests.unit.test_codec import apache_serves
from thrift_wire.codec import Format, FrameError
from thrift_wire.framing import FrameTooLarge
from thrift_wire.http import HttpClientCodec, HttpStatusError
from thrift_wire.methods import ServiceMethods

INTEROP = ServiceMethods(Interop)
HTTP_BINARY = Format("http", "binary", path="/thrift/interop")
PROTOCOLS = ["binary", "compact", "json"]


def read_request(data: bytes) -> tuple[h11.Request, bytes]:
    """The request in ``data`` as a server reads it: its head and its body."""
    server = h11.Connection(h11.SERVER)
    server.receive_data(data)
    request, body = None, b""
    while True:
        event = server.next_event()
        if isinstance(event, h11.Request):
            request = event
        elif isinstance(event, h11.Data):
            body += bytes(event.data)
        elif isinstance(event, h11.EndOfMessage):
            break
        else:
            raise AssertionError(f"the request ended early: {event!r}")
    assert request is not None
    return request, body


def answer(body: bytes, *, version: str = "1.1", status: str = "200 OK", close: bool = False,
           length: int | None = None) -> bytes:
    head = f"HTTP/{version} {status}\r\nContent-Type: application/x-thrift\r\n"
    if close:
        head += "Connection: close\r\n"
    head += f"Content-Length: {len(body) if length is None else length}\r\n\r\n"
    return head.encode() + body


def served(codec: HttpClientCodec, name: str, seqid: int, *args: Any,
           headers: dict[str, str] | None = None) -> tuple[h11.Request, bytes]:
    """Our call's request, and Apache's processor's reply to its body."""
    request, body = read_request(codec.encode_call(INTEROP[name], seqid, args, headers))
    inner = Format("buffered", codec.format.protocol)
    return request, apache_serves(Interop.Processor(InteropHandler()), inner, body)


def call(codec: HttpClientCodec, name: str, seqid: int, data: bytes) -> Any:
    codec.feed(data)
    reply = codec.next_reply(INTEROP[name])
    assert reply is not None
    return codec.result(INTEROP[name], seqid, reply)


def test_a_call_is_a_post_of_one_message_with_the_headers_under_their_http_names() -> None:
    codec = HttpClientCodec(HTTP_BINARY, "backend.example:8080")
    headers = {"request-id": "req-1", "traceparent": "00-" + "a" * 32 + "-" + "b" * 16 + "-01",
               "tracestate": "k=v", "Deadline-Budget": "1234", "other": "not sent"}
    request, reply = served(codec, "testString", 5, "hé", headers=headers)
    assert request.method == b"POST" and request.target == b"/thrift/interop" and request.http_version == b"1.1"
    fields = {name.decode(): value.decode() for name, value in request.headers}
    assert fields["host"] == "backend.example:8080"
    assert fields["content-type"] == "application/x-thrift"
    assert fields["x-request-id"] == "req-1" and fields["tracestate"] == "k=v"
    assert fields["traceparent"] == headers["traceparent"] and fields["deadline-budget"] == "1234"
    assert "other" not in fields
    assert call(codec, "testString", 5, answer(reply)) == "hé"  # Apache's processor read the body as a call


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_a_reply_in_arbitrary_chunks_is_read_once_whole(protocol: str) -> None:
    codec = HttpClientCodec(Format("http", protocol), "h:1")
    _, reply = served(codec, "testStringMap", 9, {"a": "b" * 3000})
    data = answer(reply)
    chunks, at, rng = [], 0, random.Random(protocol)
    while at < len(data):
        size = rng.randint(1, 200)
        chunks.append(data[at : at + size])
        at += size
    for chunk in chunks[:-1]:
        codec.feed(chunk)
        assert codec.next_reply(INTEROP["testStringMap"]) is None
    assert call(codec, "testStringMap", 9, chunks[-1]) == {"a": "b" * 3000}
    assert codec.reusable  # HTTP/1.1 with a length: the connection stays open


def test_keep_alive_carries_one_call_after_another() -> None:
    codec = HttpClientCodec(HTTP_BINARY, "h:1")
    for seqid in (1, 2, 3):
        _, reply = served(codec, "testI32", seqid, seqid * 10)
        assert call(codec, "testI32", seqid, answer(reply)) == seqid * 10
        assert codec.reusable


@pytest.mark.parametrize("close", [{"close": True}, {"version": "1.0"}], ids=["connection-close", "http-1.0"])
def test_a_server_that_closes_leaves_the_codec_not_reusable(close: dict[str, Any]) -> None:
    codec = HttpClientCodec(HTTP_BINARY, "h:1")
    _, reply = served(codec, "testI32", 1, 7)
    assert call(codec, "testI32", 1, answer(reply, **close)) == 7
    assert not codec.reusable
    with pytest.raises(FrameError, match="cannot take another request"):
        codec.encode_call(INTEROP["testI32"], 2, (1,))


def test_a_reply_out_of_sequence_is_refused() -> None:
    codec = HttpClientCodec(HTTP_BINARY, "h:1")
    _, reply = served(codec, "testI32", 1, 7)
    codec.feed(answer(reply))
    found = codec.next_reply(INTEROP["testI32"])
    assert found is not None
    with pytest.raises(TProtocolException, match="out of sequence"):
        codec.result(INTEROP["testI32"], 2, found)


def test_a_status_other_than_200_is_named() -> None:
    codec = HttpClientCodec(HTTP_BINARY, "h:1")
    codec.encode_call(INTEROP["testI32"], 1, (1,))
    codec.feed(answer(b"<html>oops</html>", status="500 Internal Server Error"))
    with pytest.raises(HttpStatusError, match="HTTP 500 Internal Server Error to POST /thrift/interop") as info:
        codec.next_reply(INTEROP["testI32"])
    assert info.value.status == 500


def test_a_body_cut_short_is_an_error_not_a_reply() -> None:
    codec = HttpClientCodec(HTTP_BINARY, "h:1")
    _, reply = served(codec, "testString", 1, "a longer string")
    codec.feed(answer(reply[:-4], version="1.0", length=len(reply)))  # announces more than comes
    assert codec.next_reply(INTEROP["testString"]) is None
    codec.feed(b"")
    with pytest.raises(FrameError, match="broken"):
        codec.next_reply(INTEROP["testString"])
    # The length agrees with the body, but the body ends inside the message.
    codec = HttpClientCodec(HTTP_BINARY, "h:1")
    _, reply = served(codec, "testString", 1, "a longer string")
    codec.feed(answer(reply[:-4]))
    with pytest.raises(FrameError, match="ends inside the Thrift message"):
        codec.next_reply(INTEROP["testString"])
    codec = HttpClientCodec(HTTP_BINARY, "h:1")
    codec.encode_call(INTEROP["testI32"], 1, (1,))
    codec.feed(answer(b""))
    with pytest.raises(FrameError, match="empty HTTP body"):
        codec.next_reply(INTEROP["testI32"])


def test_a_server_that_closes_before_answering_gives_no_reply() -> None:
    codec = HttpClientCodec(HTTP_BINARY, "h:1")
    codec.encode_call(INTEROP["testI32"], 1, (1,))
    codec.feed(b"")
    assert codec.next_reply(INTEROP["testI32"]) is None  # the connection's "closed without an answer"


def test_a_body_over_the_frame_limit_is_refused_before_it_is_read() -> None:
    codec = HttpClientCodec(HTTP_BINARY, "h:1")
    codec.encode_call(INTEROP["testI32"], 1, (1,))
    codec.feed(answer(b"", length=2**31))
    with pytest.raises(FrameTooLarge):
        codec.next_reply(INTEROP["testI32"])


def test_oneway_is_answered_by_the_head_alone() -> None:
    # THttpServer's answer to a oneway call: a 200 head, HTTP/1.0, no length - the body
    # ends when the server closes, after running the call. Nobody waits for that.
    codec = HttpClientCodec(HTTP_BINARY, "h:1")
    codec.encode_call(INTEROP["testOneway"], 1, (5,))
    codec.feed(b"HTTP/1.0 200 OK\r\nContent-Type: application/x-thrift\r\n\r\n")
    reply = codec.next_reply(INTEROP["testOneway"])
    assert reply is not None and codec.result(INTEROP["testOneway"], 1, reply) is None
    assert not codec.reusable
    # A keep-alive server's: an empty body with its length; the next call may follow.
    codec = HttpClientCodec(HTTP_BINARY, "h:1")
    codec.encode_call(INTEROP["testOneway"], 1, (5,))
    codec.feed(answer(b""))
    assert codec.next_reply(INTEROP["testOneway"]) is not None
    assert codec.reusable


def test_a_connection_to_a_closing_server_is_closed_after_its_answer() -> None:
    ours, peer = socket.socketpair()
    codec = HttpClientCodec(HTTP_BINARY, "h:1")
    conn = ThriftConnection(ours, codec)
    _, reply = served(HttpClientCodec(HTTP_BINARY, "h:1"), "testI32", 1, 42)
    peer.sendall(answer(reply, version="1.0"))
    assert conn.exchange(INTEROP["testI32"], (42,)) == 42
    assert not conn.is_reusable() and ours.fileno() < 0  # closed at once, not pooled
    conn.close()  # the pool closes it again: harmless
    peer.close()


def test_format_and_address_options() -> None:
    assert str(HTTP_BINARY) == "transport=http, path=/thrift/interop, protocol=binary"
    assert HTTP_BINARY.carries_headers and Format("header").carries_headers and not Format().carries_headers
    with pytest.raises(ValueError, match="needs transport=http"):
        Format("framed", path="/x")
    entry = "it=tests.gen.interop.Interop@127.0.0.1:1?transport=http&path=/thrift/it&protocol=compact"
    target = Settings.from_env({"GATEWAY_RPC_SERVICES": entry}).rpc_services[0].target
    assert (target.transport, target.path, target.protocol) == ("http", "/thrift/it", "compact")
    for options, message in [("path=/x", "needs transport=http"), ("transport=http&path=x", "absolute URL path"),
                             ("transport=http&path=/a b", "absolute URL path")]:
        with pytest.raises(ConfigError, match=message):
            Settings.from_env({"GATEWAY_RPC_SERVICES": f"it=tests.gen.interop.Interop@127.0.0.1:1?{options}"})
