"""A gevent Thrift server: one greenlet per connection, graceful stop on SIGTERM/SIGINT.

Apache Thrift's Python servers either block the whole process on one client
(TSimpleServer) or spend an OS thread per connection. Under gevent a greenlet per
connection costs a few kilobytes, and an idle or slow client blocks nobody.
"""

from __future__ import annotations

import importlib
import logging
import signal
import socket
import struct
import time
from io import BytesIO
from typing import Any

import gevent
from gevent.event import Event
from gevent.monkey import get_original
from gevent.pool import Pool
from gevent.server import StreamServer
from thrift.protocol.TBinaryProtocol import TBinaryProtocolAccelerated
from thrift.Thrift import TProcessor
from thrift.transport.TTransport import CReadableTransport, TTransportBase

from backends.dispatch import Dispatcher
from thrift_idl import wire

log = logging.getLogger(__name__)


# The real poll(), not gevent's: stop() must look at every waiting connection without
# yielding, or connections that end meanwhile change the table it is looking at.
_poll = get_original("select", "poll")
_POLLIN = get_original("select", "POLLIN")


def _readable(sock: socket.socket) -> bool:
    try:
        poller = _poll()
        poller.register(sock.fileno(), _POLLIN)
        return bool(poller.poll(0))
    except (OSError, ValueError):  # closed meanwhile
        return False


class ThriftServer:
    """Serves one Thrift processor on a TCP address until told to stop.

    Stopping closes the listening socket and every connection with no call in flight -
    idle, or part of a request sent and the rest not (yet) - at once, and lets calls in
    flight finish, for at most ``drain_timeout_s``.
    """

    def __init__(
        self,
        processor: TProcessor,
        host: str,
        port: int,
        *,
        delay_ms: int = 0,
        drain_timeout_s: float = 10.0,
        log_calls: bool = False,
    ) -> None:
        self._processor = processor
        # Ordinary calls skip the generated processor's pure-Python framing (dispatch.py).
        self._dispatcher = Dispatcher(importlib.import_module(type(processor).__module__), processor._handler)
        self._log_calls = log_calls
        self._delay_s = delay_ms / 1000.0
        self._drain_timeout_s = drain_timeout_s
        # Connections with no call in flight (waiting for bytes), with their sockets.
        self._waiting: dict[gevent.Greenlet, socket.socket] = {}
        self._stopping = False
        self._stopped = Event()
        self._server = StreamServer((host, port), self._serve_connection, spawn=Pool())

    @property
    def address(self) -> tuple[str, int]:
        """The bound address; the real port when 0 was asked for."""
        host, port = self._server.address[:2]
        return host, port

    def start(self) -> None:
        self._server.start()

    def stop(self) -> None:
        """Begin a graceful stop; safe to call more than once and from a signal handler."""
        if self._stopping:
            return
        self._stopping = True
        # Connections with no call in flight are closed now: that is what lets the drain
        # end. One whose socket is readable may have a whole request in it: it reads it,
        # answers it if it is whole, and ends (its loop checks ``_stopping``).
        waiting = [g for g, sock in list(self._waiting.items()) if not _readable(sock)]
        gevent.killall(waiting, block=False)
        self._stopped.set()

    def serve_until_stopped(self) -> None:
        """Block until ``stop`` is called, then drain the calls in flight."""
        for signum in (signal.SIGTERM, signal.SIGINT):
            gevent.signal_handler(signum, self.stop)
        self._stopped.wait()
        self._server.stop(timeout=self._drain_timeout_s)

    def _serve_connection(self, sock: socket.socket, address: Any) -> None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        frames = wire.FrameReader()
        # One pair of buffers and protocols per connection, refilled per call: making
        # them anew for every call cost more than the call itself.
        inbound, outbound = _Inbound(), _Outbound()
        iprot, oprot = _protocol(inbound), _protocol(outbound)
        me, hub = gevent.getcurrent(), gevent.get_hub()
        # One readiness watcher for the connection's life: gevent's wait_read() would make
        # (and close) a new one for every call.
        readable = hub.loop.io(sock.fileno(), 1)
        try:
            while True:
                body = frames.next_body()
                if body is None:
                    if self._stopping:
                        return
                    self._waiting[me] = sock
                    try:
                        hub.wait(readable)
                    finally:
                        del self._waiting[me]
                    data = sock.recv(65536)
                    if not data:
                        return
                    frames.feed(data)
                    continue
                if self._delay_s:
                    gevent.sleep(self._delay_s)
                reply = self._answer(body, address, inbound, outbound, iprot, oprot)
                if reply:
                    wire.send_frame(sock, reply)
        except EOFError:
            pass
        except gevent.GreenletExit:
            pass
        except (wire.FrameError, OSError) as err:
            log.info("closing connection from %s: %s", address, err)
        except Exception:
            # A malformed message (bad UTF-8, a length over the limits, ...) leaves the
            # stream out of sync: the only safe answer is to drop this connection.
            log.exception("closing connection from %s after a protocol error", address)
        finally:
            readable.close()
            sock.close()

    def _answer(self, body: bytes, address: Any, inbound: _Inbound, outbound: _Outbound,
                iprot: TBinaryProtocolAccelerated, oprot: TBinaryProtocolAccelerated) -> bytes:
        """The whole reply frame to one request frame (empty for a oneway call).

        A plain framed message is answered plainly; one in a THeader frame is answered
        in one, and its headers (the gateway's request id) go to the call's log line.
        """
        headers: dict[str, str] | None = None
        seqid = 0
        message = body
        if body[:2] == wire.THEADER_MAGIC:
            headers, message, seqid = wire.split_theader(body)
        started = time.perf_counter() if self._log_calls else 0.0
        reply = self._dispatcher.answer(message)
        if reply is None:
            inbound.refill(message)
            outbound.clear()
            self._processor.process(iprot, oprot)
            reply = outbound.getvalue()
        if self._log_calls:
            log.info("call %s from %s request_id=%s %.3f ms", _method_name(message), address[0],
                     (headers or {}).get(wire.REQUEST_ID_HEADER, "-"), (time.perf_counter() - started) * 1000)
        if not reply:
            return b""
        if headers is not None:
            return wire.theader_frame(reply, seqid, {})
        return struct.pack("!i", len(reply)) + reply


def _protocol(transport: TTransportBase) -> TBinaryProtocolAccelerated:
    return TBinaryProtocolAccelerated(transport, fallback=False, string_length_limit=wire.MAX_STRING_BYTES,
                                      container_length_limit=wire.MAX_CONTAINER_ITEMS)


class _Inbound(TTransportBase, CReadableTransport):
    """The message being processed, for the processor's protocol to read (Python-level
    reads for the message header, the C decoder's buffer for the arguments)."""

    def __init__(self) -> None:
        self._buffer = BytesIO()

    def refill(self, message: bytes) -> None:
        self._buffer = BytesIO(message)

    def read(self, sz: int) -> bytes:
        return self._buffer.read(sz)

    @property
    def cstringio_buf(self) -> BytesIO:
        return self._buffer

    def cstringio_refill(self, partialread: bytes, reqlen: int) -> BytesIO:
        raise EOFError("message ended inside a value")


class _Outbound(TTransportBase):
    """Where the processor writes its reply."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []

    def clear(self) -> None:
        self._parts = []

    def write(self, buf: bytes) -> None:
        self._parts.append(buf)

    def flush(self) -> None:
        pass

    def getvalue(self) -> bytes:
        return b"".join(self._parts)


def _method_name(message: bytes) -> str:
    try:
        (size,) = struct.unpack_from("!I", message, 4)
        return message[8 : 8 + size].decode("utf-8", "replace")
    except struct.error:
        return "?"
