"""The pool's rules over HTTP: a real pool, a real connection and codec, a socket pair as
the server - whose answers are written as HTTP servers write them."""

from __future__ import annotations

import socket
import time
from typing import Any, Iterator

import gevent
import h11
import pytest

from gateway.config import Address
from gateway.errors import BackendTimeout, BadGateway, DeadlineExceeded
from gateway.upstream.connection import ThriftConnection
from gateway.upstream.pool import ConnectionPool
from tests.gen.interop import Interop
from tests.interop_server import InteropHandler
from tests.unit.test_codec import apache_serves
from thrift_wire.codec import Format
from thrift_wire.http import HttpClientCodec
from thrift_wire.methods import ServiceMethods

INTEROP = ServiceMethods(Interop)
FMT = Format("http", "binary")


class Peer:
    """The server's end of each connection the pool opens."""

    def __init__(self) -> None:
        self.sockets: list[socket.socket] = []

    def open(self) -> ThriftConnection:
        ours, theirs = socket.socketpair()
        self.sockets.append(theirs)
        return ThriftConnection(ours, HttpClientCodec(FMT, "h:1"))

    def request(self) -> tuple[h11.Request, bytes]:
        """The request received on the latest connection."""
        server = h11.Connection(h11.SERVER)
        request, body = None, b""
        while True:
            event = server.next_event()
            if event is h11.NEED_DATA:
                server.receive_data(self.sockets[-1].recv(65536))
            elif isinstance(event, h11.Request):
                request = event
            elif isinstance(event, h11.Data):
                body += bytes(event.data)
            elif isinstance(event, h11.EndOfMessage):
                assert request is not None
                return request, body

    def answer(self, body: bytes, version: str = "1.1") -> None:
        head = f"HTTP/{version} 200 OK\r\nContent-Length: {len(body)}\r\n\r\n".encode()
        self.sockets[-1].sendall(head + body)

    def closed_by_us(self) -> bool:
        """The gateway closed its end: the peer reads EOF after whatever was sent."""
        sock = self.sockets[-1]
        sock.settimeout(1)
        while sock.recv(65536):  # a socket left open times out here instead
            pass
        return True


@pytest.fixture
def peer() -> Iterator[Peer]:
    p = Peer()
    yield p
    for s in p.sockets:
        s.close()


def pool_for(peer: Peer, call_timeout_s: float = 5.0) -> ConnectionPool:
    return ConnectionPool("it", Address("127.0.0.1", 1), peer.open, size=2, checkout_timeout_s=1,
                          call_timeout_s=call_timeout_s, wire=str(FMT))


def serve_one(peer: Peer, *, seqid_shift: int = 0, version: str = "1.1") -> dict[str, str]:
    """Answer the next call with Apache's processor; the call's HTTP headers."""
    request, body = peer.request()
    reply = apache_serves(Interop.Processor(InteropHandler()), Format("buffered"), body)
    if seqid_shift:  # a stale reply: the sequence id (bytes 4..8 after the name) of another call
        name_end = 8 + int.from_bytes(reply[4:8], "big")
        seqid = int.from_bytes(reply[name_end : name_end + 4], "big") + seqid_shift
        reply = reply[:name_end] + seqid.to_bytes(4, "big") + reply[name_end + 4 :]
    peer.answer(reply, version)
    return {name.decode(): value.decode() for name, value in request.headers}


def call_served(pool: ConnectionPool, peer: Peer, method: str, *args: Any, **serve: Any) -> tuple[Any, dict[str, str]]:
    job = gevent.spawn(pool.round_trip, INTEROP[method], *args, headers={"request-id": "r-1"})
    gevent.sleep(0)  # the call is sent
    seen = serve_one(peer, **serve)
    return job.get(timeout=5), seen


def test_a_kept_alive_connection_is_pooled_and_the_budget_travels(peer: Peer) -> None:
    pool = pool_for(peer)
    for i in range(3):
        result, seen = call_served(pool, peer, "testI32", i)
        assert result == i and seen["x-request-id"] == "r-1" and 1 <= int(seen["deadline-budget"]) <= 5000
    assert len(peer.sockets) == 1 and pool.idle == 1 and pool.in_use == 0


def test_a_server_that_closes_gets_a_new_connection_per_call(peer: Peer) -> None:
    pool = pool_for(peer)
    for i in range(2):
        assert call_served(pool, peer, "testI32", i, version="1.0")[0] == i
        assert peer.closed_by_us()
    assert len(peer.sockets) == 2 and pool.in_use == 0


def test_a_reply_out_of_sequence_is_a_bad_gateway_and_the_connection_is_dropped(peer: Peer) -> None:
    pool = pool_for(peer)
    with pytest.raises(BadGateway, match="out of sequence"):
        call_served(pool, peer, "testI32", 1, seqid_shift=1)
    assert peer.closed_by_us() and pool.idle == 0 and pool.in_use == 0


def test_the_call_timeout_and_the_deadline_end_a_silent_server_s_call(peer: Peer) -> None:
    pool = pool_for(peer, call_timeout_s=0.2)
    started = time.monotonic()
    with pytest.raises(BackendTimeout):
        pool.round_trip(INTEROP["testI32"], 1, headers={})
    assert time.monotonic() - started < 1 and peer.closed_by_us() and pool.idle == 0 and pool.in_use == 0
    pool = pool_for(peer)
    with pytest.raises(DeadlineExceeded):
        pool.round_trip(INTEROP["testI32"], 1, headers={}, deadline=time.monotonic() + 0.2)
    assert peer.closed_by_us() and pool.idle == 0 and pool.in_use == 0
