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
from dataclasses import dataclass
from typing import Any

import gevent
from gevent.event import Event
from gevent.monkey import get_original
from gevent.pool import Pool
from gevent.server import StreamServer
from thrift.protocol.TProtocol import TProtocolException
from thrift.Thrift import TProcessor

from backends.dispatch import Dispatcher
from telemetry import tracing
from telemetry.tracing import IdsOnly, Tracer
from thrift_wire.codec import FrameError, IncomingCall, ServerCodec, detect
from thrift_wire.headers import (
    DEADLINE_BUDGET_KEY,
    DEADLINE_EXCEEDED_MESSAGE,
    REQUEST_ID_KEY,
    TRACEPARENT_KEY,
    TRACESTATE_KEY,
)
from thrift_wire.methods import ServiceMethods
from thrift_wire.sockets import send_all

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


@dataclass(frozen=True)
class Limits:
    """What one client may hold of a backend (the command line's ``--max-connections``,
    ``--idle-timeout-ms``, ``--read-timeout-ms``, ``--max-pending-bytes``)."""

    # Beyond it a new connection is closed at once; those already open go on being served.
    max_connections: int = 1000
    # A connection with no call in flight and no bytes of one is closed after this long.
    # Keep it above the gateway's idle_timeout_ms (60 s), so the pool closes first.
    idle_timeout_s: float = 300.0
    # A request that has begun to arrive must have arrived whole within this.
    read_timeout_s: float = 10.0
    # Bytes of requests that have not all arrived, over every connection together.
    max_pending_bytes: int = 64 * 1024 * 1024


class _Closing(Exception):
    """A connection to close, and why (logged at info: it is the client's doing)."""


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
        limits: Limits = Limits(),
        tls: Any = None,
        tracer: Tracer | None = None,
    ) -> None:
        # The generated processor names the service module and holds the handler; the
        # calls themselves go through the shared method table (dispatch.py).
        module = importlib.import_module(type(processor).__module__)
        methods = ServiceMethods(module)
        self._dispatcher = Dispatcher(methods, processor._handler)
        self._service = methods.name
        self._tracer = tracer or IdsOnly()
        self._log_calls = log_calls
        self._delay_s = delay_ms / 1000.0
        self._drain_timeout_s = drain_timeout_s
        self._limits = limits
        self._tls = tls  # a gevent.ssl.SSLContext (server side), or None for plain TCP
        self._connections = 0
        self._pending_bytes = 0  # of requests not yet whole, over every connection
        self._refused_logged_at = 0.0
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
        if self._connections >= self._limits.max_connections:
            self._refuse(sock, address)
            return
        self._connections += 1
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self._tls is not None:
            try:
                sock = self._handshake(sock)
            except (OSError, gevent.Timeout) as err:
                log.info("closing connection from %s: TLS handshake failed: %s", address, err)
                self._connections -= 1
                sock.close()
                return
        connection = _Connection()
        me, hub = gevent.getcurrent(), gevent.get_hub()
        # One readiness watcher for the connection's life: gevent's wait_read() would make
        # (and close) a new one for every call.
        readable = hub.loop.io(sock.fileno(), 1)
        try:
            while True:
                codec = connection.codec
                call = codec.next_call(self._dispatcher.lookup) if codec is not None else None
                self._hold(connection)
                if call is None:
                    if self._stopping:
                        return
                    if not (self._tls is not None and sock.pending()):  # TLS may hold decrypted bytes
                        self._wait(sock, readable, connection, me, hub)
                    data = sock.recv(65536)
                    if not data:
                        return
                    connection.feed(data)
                    self._hold(connection)
                    continue
                arrived = connection.request_started or time.monotonic()
                # The next request's clock starts now if part of it came with this one.
                connection.request_started = time.monotonic() if codec.buffered else None  # type: ignore[union-attr]
                if self._delay_s:
                    gevent.sleep(self._delay_s)
                reply = self._answer(codec, call, address, arrived)  # type: ignore[arg-type]
                if reply:
                    send_all(sock, reply)
        except gevent.GreenletExit:
            pass
        except (_Closing, FrameError, TProtocolException, OSError) as err:
            # A malformed message leaves the stream out of step, a stalled one holds
            # memory: the only safe answer is to drop this connection.
            log.info("closing connection from %s: %s", address, err)
        except Exception:
            log.exception("closing connection from %s after an error", address)
        finally:
            self._pending_bytes -= connection.held
            self._connections -= 1
            readable.close()
            sock.close()

    def _handshake(self, sock: socket.socket) -> Any:
        """TLS on an accepted connection, within the read timeout; a client the client CA
        did not sign (when there is one) is refused here."""
        with gevent.Timeout(self._limits.read_timeout_s):
            return self._tls.wrap_socket(sock, server_side=True)

    def _wait(self, sock: socket.socket, readable: Any, connection: _Connection, me: Any, hub: Any) -> None:
        """Until the socket is readable: at most the idle timeout with nothing of a
        request received, else what is left of the read timeout since it began."""
        if connection.request_started is None:
            seconds, why = self._limits.idle_timeout_s, "idle"
        else:
            seconds = connection.request_started + self._limits.read_timeout_s - time.monotonic()
            why = "a request that did not arrive whole in time"
        self._waiting[me] = sock
        try:
            with gevent.Timeout(max(seconds, 0.0), _Closing(f"{why} (limit {seconds:.1f} s)")):
                hub.wait(readable)
        finally:
            del self._waiting[me]

    def _hold(self, connection: _Connection) -> None:
        """Account for the bytes a connection holds of requests not yet whole; past the
        budget of every connection together, this one is dropped."""
        held = connection.buffered_bytes()
        self._pending_bytes += held - connection.held
        connection.held = held
        if held and self._pending_bytes > self._limits.max_pending_bytes:
            raise _Closing(f"{self._pending_bytes} bytes of unfinished requests held: over --max-pending-bytes")

    def _refuse(self, sock: socket.socket, address: Any) -> None:
        sock.close()
        now = time.monotonic()
        if now - self._refused_logged_at > 10:  # one line per 10 s, not one per connection
            self._refused_logged_at = now
            log.warning("refusing connections beyond --max-connections (%d), e.g. from %s",
                        self._limits.max_connections, address[0])

    def _answer(self, codec: ServerCodec, call: IncomingCall, address: Any, arrived: float) -> bytes:
        """The bytes of the reply to one call (empty for a oneway call), in the call's
        own format; with --log-calls, a line with the call's THeader request id.

        A call whose ``Deadline-Budget`` (THeader) was spent by the time it would run -
        0 or less on arrival, or gone while it waited (since ``arrived``) - is not run:
        its caller has given up, and nothing it asked for is done."""
        started = time.perf_counter() if self._log_calls else 0.0
        parent = call.headers.get(TRACEPARENT_KEY)
        span = None
        if self._tracer.exporting:  # the caller's trace continued, in a SERVER span of our own
            span = self._tracer.server(
                f"{self._service}/{call.name}", parent, call.headers.get(TRACESTATE_KEY),
                **{"rpc.system": "thrift", "rpc.service": self._service, "rpc.method": call.name,
                   "server.address": address[0], "server.port": self.address[1]})
        if _budget_spent(call.headers.get(DEADLINE_BUDGET_KEY), arrived):
            reply = self._dispatcher.refuse(call, DEADLINE_EXCEEDED_MESSAGE)
        else:
            reply = self._dispatcher.answer(call)
        if span is not None:
            span.end(reply.failed if reply is not None else None)
        if self._log_calls:
            trace = span.trace_id if span is not None else (tracing.parse(parent) or ("-",))[0]
            log.info("call %s from %s request_id=%s trace_id=%s %s/%s %.3f ms", call.name, address[0],
                     call.headers.get(REQUEST_ID_KEY, "-"), trace, codec.format.transport,
                     call.protocol.name, (time.perf_counter() - started) * 1000)
        if reply is None:
            return b""
        return codec.encode_reply(call, reply.name, reply.type, reply.value, reply.spec)


def _budget_spent(budget: str | None, arrived: float) -> bool:
    if budget is None:
        return False
    try:
        milliseconds = int(budget)
    except ValueError:
        return False  # not ours to judge: served as if none was sent
    return milliseconds <= 0 or arrived + milliseconds / 1000 <= time.monotonic()


class _Connection:
    """One client's state: its codec once its format is known, and what it holds."""

    __slots__ = ("codec", "first", "held", "request_started")

    def __init__(self) -> None:
        self.codec: ServerCodec | None = None
        self.first = b""  # a new client's bytes until they show its transport and protocol
        self.held = 0  # bytes of unfinished requests counted against --max-pending-bytes
        self.request_started: float | None = None  # when the request now arriving began

    def feed(self, data: bytes) -> None:
        if self.request_started is None:
            self.request_started = time.monotonic()
        if self.codec is not None:
            self.codec.feed(data)
            return
        self.first += data
        fmt = detect(self.first)
        if fmt is not None:
            self.codec = ServerCodec(fmt)
            self.codec.feed(self.first)
            self.first = b""

    def buffered_bytes(self) -> int:
        return self.codec.buffered_bytes if self.codec is not None else len(self.first)
