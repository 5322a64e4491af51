"""One Thrift connection from the gateway to a backend, and the calls made over it.

The bytes are the codec's (``thrift_wire.codec.ClientCodec``: any transport, protocol
and multiplexing); this module only moves them. A call is one ``send``; the reply is
read with as few ``recv`` calls as it arrives in and fed to the codec, which checks its
method name and sequence id and that nothing follows it. The first ``recv`` waits for
the socket to be readable before it is made: a backend never answers within the
microseconds between our ``send`` and it, so a ``recv`` made at once always failed with
``EAGAIN`` (a system call and a Python exception per call) before gevent waited anyway. Errors say which transport and
protocol the gateway spoke, so that a user whose server speaks another can see it.

Over HTTP (``thrift_wire.http``) the loop is the same; the server also answers oneway
calls, and a server that ends the connection after its answer (HTTP/1.0, ``Connection:
close``) has it closed here at once, never pooled.
"""

from __future__ import annotations

import socket
import ssl
from typing import Any, Callable

import gevent
from gevent.monkey import get_original
from thrift.protocol.TProtocol import TProtocolException
from thrift.transport.TTransport import TTransportException

from gateway.config import Address
from thrift_wire.codec import HTTP, ClientCodec, Format, FrameError
from thrift_wire.framing import FrameTooLarge
from thrift_wire.http import HttpClientCodec, HttpStatusError
from thrift_wire.methods import MethodSpec
from thrift_wire.sockets import send_all

_SEQID_LIMIT = 2**31
_RECV_BYTES = 65536

# The real poll(), not gevent's: a zero-timeout readiness check must not yield.
_poll = get_original("select", "poll")
_POLLIN = get_original("select", "POLLIN")


class ThriftConnection:
    """An open socket to a backend and the sequence of calls made over it."""

    __slots__ = ("_sock", "_codec", "_seqid", "_format", "_poller", "_hub", "_readable", "_closed", "_pending")

    def __init__(self, sock: socket.socket, codec: ClientCodec | HttpClientCodec) -> None:
        self._sock = sock
        self._codec = codec
        self._seqid = 0
        self._format = codec.format
        # Registered once: the reuse check is then one poll() system call per checkout.
        self._poller = _poll()
        self._poller.register(sock.fileno(), _POLLIN)
        # One readiness watcher for the connection's life (gevent's wait_read() would make
        # and close one per call). The hub is this thread's: connections are per worker.
        self._hub = gevent.get_hub()
        self._readable = self._hub.loop.io(sock.fileno(), 1)
        self._closed = False
        self._pending = getattr(sock, "pending", None)  # TLS: bytes already decrypted

    def exchange(self, method: MethodSpec, args: tuple[Any, ...], headers: dict[str, str] | None = None) -> Any:
        self._seqid = (self._seqid + 1) % _SEQID_LIMIT
        codec, seqid = self._codec, self._seqid
        try:
            send_all(self._sock, codec.encode_call(method, seqid, args, headers))
            if method.oneway and not codec.answers_oneway:
                return None
            # Readable first, then recv: see the module's docstring. A TLS socket may need
            # more than one record for the reply; its recv waits for those itself.
            self._hub.wait(self._readable)
            while True:
                data = self._sock.recv(_RECV_BYTES)
                codec.feed(data)  # b"": closed - over HTTP/1.0 that may end the answer
                reply = codec.next_reply(method)
                if reply is not None:
                    try:
                        return codec.result(method, seqid, reply)
                    finally:
                        if not codec.reusable:  # the server closes it: free the socket now
                            self.close()
                if not data:
                    raise TTransportException(
                        TTransportException.END_OF_FILE,
                        f"the backend closed the connection without an answer (the gateway sent "
                        f"{self._format}: is that what the server speaks?)")
        except HttpStatusError as err:
            # The server refused the call at the HTTP level: its status is the news, not the format.
            raise TProtocolException(TProtocolException.INVALID_DATA, f"the server answered {err}") from err
        except OSError as err:
            raise TTransportException(TTransportException.UNKNOWN,
                                      f"connection lost: {err} (the gateway sent {self._format})") from err
        except FrameTooLarge as err:
            raise TTransportException(TTransportException.SIZE_LIMIT, f"reply {err} ({self._format})") from err
        except (FrameError, TProtocolException, UnicodeDecodeError) as err:
            raise TProtocolException(
                TProtocolException.INVALID_DATA,
                f"{err} (the gateway sent {self._format}: is that what the server speaks?)") from err

    def is_reusable(self) -> bool:
        """False when the idle socket is readable: the peer closed it, or bytes nobody
        asked for sit in it. Either way the next call on it would go wrong.

        A ``poll`` at checkout, not a flag the event loop sets on an idle connection: the
        loop sees a close only at its next poll, and a backend that restarts closes every
        idle connection at once - the calls checked out before that poll failed."""
        if self._closed or not self._codec.reusable or (self._pending is not None and self._pending()):
            return False
        return not self._poller.poll(0)

    def close(self) -> None:
        if not self._closed:  # may come twice: here after an HTTP/1.0 answer, then from the pool
            self._closed = True
            self._readable.close()
            self._sock.close()


def thrift_opener(address: Address, fmt: Format, connect_timeout_s: float, *, tls: ssl.SSLContext | None = None,
                  server_name: str | None = None) -> Callable[[], ThriftConnection]:
    """A function that opens a new connection to ``address`` speaking ``fmt``; with
    ``tls``, over TLS, the certificate checked against ``server_name`` (or the host).
    Over HTTP, ``Host`` names the server as the certificate does."""
    authority = str(Address(server_name or address.host, address.port))

    def open_connection() -> ThriftConnection:
        try:
            sock = socket.create_connection(address, timeout=connect_timeout_s)
        except OSError as err:
            raise TTransportException(TTransportException.NOT_OPEN, f"cannot connect to {address}: {err}") from err
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if tls is not None:
            try:
                sock = tls.wrap_socket(sock, server_hostname=server_name or address.host)
            except (ssl.SSLError, ssl.CertificateError, OSError) as err:
                sock.close()
                raise TTransportException(TTransportException.NOT_OPEN,
                                          f"TLS handshake with {address} failed: {err}") from err
        # No per-read timeout: the pool puts one deadline on the whole call.
        sock.settimeout(None)
        codec = HttpClientCodec(fmt, authority) if fmt.transport == HTTP else ClientCodec(fmt)
        return ThriftConnection(sock, codec)

    return open_connection
