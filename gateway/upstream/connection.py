"""One Thrift connection from the gateway to a backend, and the calls made over it.

The bytes are the codec's (``thrift_wire.codec.ClientCodec``: any transport, protocol
and multiplexing); this module only moves them. A call is one ``send``; the reply is
read with as few ``recv`` calls as it arrives in and fed to the codec, which checks its
method name and sequence id and that nothing follows it. The first ``recv`` waits for
the socket to be readable before it is made: a backend never answers within the
microseconds between our ``send`` and it, so a ``recv`` made at once always failed with
``EAGAIN`` (a system call and a Python exception per call) before gevent waited anyway. Errors say which transport and
protocol the gateway spoke, so that a user whose server speaks another can see it.
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
from thrift_wire.codec import ClientCodec, Format, FrameError
from thrift_wire.framing import FrameTooLarge
from thrift_wire.methods import MethodSpec
from thrift_wire.sockets import send_all

_SEQID_LIMIT = 2**31
_RECV_BYTES = 65536

# The real poll(), not gevent's: a zero-timeout readiness check must not yield.
_poll = get_original("select", "poll")
_POLLIN = get_original("select", "POLLIN")


class ThriftConnection:
    """An open socket to a backend and the sequence of calls made over it."""

    __slots__ = ("_sock", "_codec", "_seqid", "_format", "_poller", "_hub", "_readable")

    def __init__(self, sock: socket.socket, codec: ClientCodec) -> None:
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

    def exchange(self, method: MethodSpec, args: tuple[Any, ...], headers: dict[str, str] | None = None) -> Any:
        self._seqid = (self._seqid + 1) % _SEQID_LIMIT
        codec, seqid = self._codec, self._seqid
        try:
            send_all(self._sock, codec.encode_call(method, seqid, args, headers))
            if method.oneway:
                return None
            # Readable first, then recv: see the module's docstring. A TLS socket may need
            # more than one record for the reply; its recv waits for those itself.
            self._hub.wait(self._readable)
            while True:
                data = self._sock.recv(_RECV_BYTES)
                if not data:
                    raise TTransportException(
                        TTransportException.END_OF_FILE,
                        f"the backend closed the connection without an answer (the gateway sent "
                        f"{self._format}: is that what the server speaks?)")
                codec.feed(data)
                reply = codec.next_reply(method)
                if reply is not None:
                    return codec.result(method, seqid, reply)
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
        asked for sit in it. Either way the next call on it would go wrong."""
        if self._sock.fileno() < 0:
            return False
        pending = getattr(self._sock, "pending", None)  # TLS: bytes already decrypted
        if pending is not None and pending():
            return False
        return not self._poller.poll(0)

    def close(self) -> None:
        self._readable.close()
        self._sock.close()


def thrift_opener(address: Address, fmt: Format, connect_timeout_s: float, *, tls: ssl.SSLContext | None = None,
                  server_name: str | None = None) -> Callable[[], ThriftConnection]:
    """A function that opens a new connection to ``address`` speaking ``fmt``; with
    ``tls``, over TLS, the certificate checked against ``server_name`` (or the host)."""

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
        return ThriftConnection(sock, ClientCodec(fmt))

    return open_connection
