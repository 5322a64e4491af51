"""One backend connection over a real socket pair: reassembly, errors naming the format,
the reuse check. The replies are Apache's processor's."""

from __future__ import annotations

import socket
from struct import pack

import pytest
from thrift.protocol.TProtocol import TProtocolException
from thrift.transport.TTransport import TTransportException

from backends.calculator import CalculatorHandler
from gateway.upstream.connection import ThriftConnection
from tests.unit.test_codec import apache_serves
from thrift_idl.gen.calculator import Calculator
from thrift_wire.codec import ClientCodec, Format
from thrift_wire.methods import ServiceMethods

CALC = ServiceMethods(Calculator)
FRAMED = Format()


def connection_with_peer(fmt: Format = FRAMED) -> tuple[ThriftConnection, socket.socket]:
    ours, peer = socket.socketpair()
    return ThriftConnection(ours, ClientCodec(fmt)), peer


def reply(fmt: Format, seqid: int, *args: int) -> bytes:
    request = ClientCodec(fmt).encode_call(CALC["add"], seqid, args)
    return apache_serves(Calculator.Processor(CalculatorHandler()), fmt, request)


@pytest.mark.parametrize("fmt", [FRAMED, Format("buffered", "compact"), Format("header", "binary")], ids=str)
def test_a_reply_split_over_many_packets_is_reassembled(fmt: Format) -> None:
    conn, peer = connection_with_peer(fmt)
    for byte in (data := reply(fmt, 1, 20, 22)):
        peer.send(bytes([byte]))
    assert len(data) > 10 and conn.exchange(CALC["add"], (20, 22)) == 42
    conn.close()
    peer.close()


def test_bytes_after_the_reply_name_the_format() -> None:
    conn, peer = connection_with_peer()
    peer.sendall(reply(FRAMED, 1, 1, 1) + b"extra")
    with pytest.raises(TProtocolException, match="transport=framed, protocol=binary"):
        conn.exchange(CALC["add"], (1, 1))
    conn2, peer2 = connection_with_peer()
    peer2.sendall(pack("!i", 2**31 - 1))  # announces a 2 GiB frame
    with pytest.raises(TTransportException) as info:
        conn2.exchange(CALC["add"], (1, 1))
    assert info.value.type == TTransportException.SIZE_LIMIT
    for s in (conn, peer, conn2, peer2):
        s.close()


def test_a_peer_that_closes_without_answering_is_end_of_file_naming_the_format() -> None:
    conn, peer = connection_with_peer(Format("header", "compact"))
    peer.close()
    with pytest.raises(TTransportException, match="transport=header, protocol=compact"):
        conn.exchange(CALC["add"], (1, 1))
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


def test_a_reply_that_arrives_while_the_call_waits_is_read() -> None:
    # The call waits for the socket to be readable before its first recv: the reply
    # must still be read when it comes later, from a peer that is slow to answer.
    import gevent
    from gevent import socket as gsocket

    ours, peer = gsocket.socketpair()
    conn = ThriftConnection(ours, ClientCodec(FRAMED))

    def answer_late() -> None:
        peer.recv(65536)
        gevent.sleep(0.05)
        peer.sendall(reply(FRAMED, 1, 20, 22))

    job = gevent.spawn(answer_late)
    assert conn.exchange(CALC["add"], (20, 22)) == 42
    job.get(timeout=5)
    conn.close()
    peer.close()


def test_a_deadline_while_waiting_for_the_reply_leaves_no_watcher_behind() -> None:
    import gevent
    from gevent import socket as gsocket

    ours, peer = gsocket.socketpair()
    conn = ThriftConnection(ours, ClientCodec(FRAMED))
    with pytest.raises(gevent.Timeout):
        with gevent.Timeout(0.05):
            conn.exchange(CALC["add"], (1, 1))  # the peer never answers
    assert not conn._readable.active
    conn.close()
    assert not conn.is_reusable()
    peer.close()



def test_a_peer_that_closes_just_before_the_checkout_is_never_missed() -> None:
    # The race a backend restart makes: the close arrives after the connection's last
    # call and just before the next checkout, with no turn of the event loop between.
    # Looped: every time, the check must see it.
    from gevent import socket as gsocket

    for attempt in range(200):
        ours, peer = gsocket.socketpair()
        conn = ThriftConnection(ours, ClientCodec(FRAMED))
        peer.sendall(reply(FRAMED, 1, 1, 2))
        assert conn.exchange(CALC["add"], (1, 2)) == 3
        peer.recv(65536)
        peer.close()
        assert not conn.is_reusable(), attempt
        conn.close()


def test_consecutive_calls_on_one_connection_read_their_own_replies() -> None:
    from gevent import socket as gsocket

    ours, peer = gsocket.socketpair()
    conn = ThriftConnection(ours, ClientCodec(FRAMED))
    peer.sendall(reply(FRAMED, 1, 1, 2))
    assert conn.exchange(CALC["add"], (1, 2)) == 3
    peer.recv(65536)
    assert conn.is_reusable()
    peer.sendall(reply(FRAMED, 2, 4, 5))
    assert conn.exchange(CALC["add"], (4, 5)) == 9
    conn.close()
    peer.close()
