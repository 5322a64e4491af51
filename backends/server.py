"""A gevent Thrift server: one greenlet per connection, graceful stop on SIGTERM/SIGINT.

Apache Thrift's Python servers either block the whole process on one client
(TSimpleServer) or spend an OS thread per connection. Under gevent a greenlet per
connection costs a few kilobytes, and an idle or slow client blocks nobody.

Each client is read in the format its first bytes show - framed or unframed, binary,
compact or JSON, or THeader - and answered in kind (``thrift_wire.codec``), so the
tutorial's ``TBufferedTransport`` client works as well as the gateway's THeader one.
"""

from __future__ import annotations

import importlib
import logging
import signal
import socket
import time
from typing import Any

import gevent
from gevent.event import Event
from gevent.monkey import get_original
from gevent.pool import Pool
from gevent.server import StreamServer
from thrift.protocol.TProtocol import TProtocolException
from thrift.Thrift import TProcessor

from backends.dispatch import Dispatcher
from thrift_wire.codec import Call, FrameError, ServerCodec, detect
from thrift_wire.headers import REQUEST_ID_HEADER
from thrift_wire.sockets import send_all
from thrift_wire.methods import ServiceMethods

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
        # The generated processor names the service module and holds the handler; the
        # calls themselves go through the shared method table (dispatch.py).
        module = importlib.import_module(type(processor).__module__)
        self._dispatcher = Dispatcher(ServiceMethods(module), processor._handler)
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
        codec: ServerCodec | None = None
        first = b""  # a new client's bytes until they show its transport and protocol
        me, hub = gevent.getcurrent(), gevent.get_hub()
        # One readiness watcher for the connection's life: gevent's wait_read() would make
        # (and close) a new one for every call.
        readable = hub.loop.io(sock.fileno(), 1)
        try:
            while True:
                call = codec.next_call(self._dispatcher.lookup) if codec is not None else None
                if call is None:
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
                    if codec is not None:
                        codec.feed(data)
                    else:
                        first += data
                        fmt = detect(first)
                        if fmt is not None:
                            codec = ServerCodec(fmt)
                            codec.feed(first)
                    continue
                if self._delay_s:
                    gevent.sleep(self._delay_s)
                reply = self._answer(codec, call, address)  # type: ignore[arg-type]
                if reply:
                    send_all(sock, reply)
        except gevent.GreenletExit:
            pass
        except (FrameError, TProtocolException, OSError) as err:
            # A malformed message leaves the stream out of step: the only safe answer is
            # to drop this connection.
            log.info("closing connection from %s: %s", address, err)
        except Exception:
            log.exception("closing connection from %s after an error", address)
        finally:
            readable.close()
            sock.close()

    def _answer(self, codec: ServerCodec, call: Call, address: Any) -> bytes:
        """The bytes of the reply to one call (empty for a oneway call), in the call's
        own format; with --log-calls, a line with the call's THeader request id."""
        started = time.perf_counter() if self._log_calls else 0.0
        reply = self._dispatcher.answer(call)
        if self._log_calls:
            log.info("call %s from %s request_id=%s %s/%s %.3f ms", call.name, address[0],
                     call.headers.get(REQUEST_ID_HEADER, "-"), codec.format.transport, call.protocol.name,
                     (time.perf_counter() - started) * 1000)
        if reply is None:
            return b""
        return codec.encode_reply(call, reply.name, reply.type, reply.value, reply.spec)
