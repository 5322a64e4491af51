"""Thrift over HTTP, the client's side: one call per ``POST``, its reply the response body.

The transport of Apache's ``THttpClient`` / ``THttpServer``, Java's ``TServlet`` and
friends: the body of ``POST <path>`` with ``Content-Type: application/x-thrift`` is one
Thrift message, unframed, and the body of a ``200`` answer is the reply. HTTP/1.1 itself
is h11's (a well-kept parser that, like the rest of this package, does no I/O): bytes go
in, events come out. The Thrift message inside is the ``buffered`` codec's, so the
reply's checks (method name, sequence id, nothing after it) are the same as on every
other transport.

A server that answers HTTP/1.0 (Apache's Python ``THttpServer``) or says
``Connection: close`` ends the connection after each answer: the codec then reports
itself not ``reusable``, and the connection is closed rather than pooled.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, cast

import h11

from thrift_wire.codec import HTTP, ClientCodec, Format, Reply
from thrift_wire.framing import Frame, FrameError, FrameTooLarge
from thrift_wire.headers import DEADLINE_BUDGET_KEY, REQUEST_ID_KEY, TRACEPARENT_KEY, TRACESTATE_KEY
from thrift_wire.limits import MAX_FRAME_BYTES
from thrift_wire.methods import MethodSpec

CONTENT_TYPE = "application/x-thrift"
# The one place our THeader keys become HTTP header names. A key not listed here is not
# sent: every header a call carries is one of these.
HTTP_HEADER_NAMES = {
    REQUEST_ID_KEY: "X-Request-ID",
    TRACEPARENT_KEY: "traceparent",
    TRACESTATE_KEY: "tracestate",
    DEADLINE_BUDGET_KEY: "Deadline-Budget",
}
_USER_AGENT = b"thrift-gateway"
# What ``next_reply`` gives for a oneway call once the server has answered it: there is no
# message to read, only the HTTP answer.
_ONEWAY_ANSWERED = cast(Reply, (Frame(b"", 0, {}, 0, None), None))


class HttpStatusError(FrameError):
    """The server answered with a status other than 200: it did not take the call."""

    def __init__(self, status: int, reason: str, path: str) -> None:
        super().__init__(f"HTTP {status} {reason} to POST {path}".replace("  ", " "))
        self.status = status


class HttpClientCodec:
    """Calls out as HTTP requests and replies in from HTTP responses, over one connection.

    The same interface as ``ClientCodec`` (``encode_call``, ``feed``, ``next_reply``,
    ``result``), plus ``reusable``: whether another call may follow on this connection."""

    answers_oneway = True  # the server answers a oneway call's POST too (an empty 200)

    def __init__(self, fmt: Format, authority: str) -> None:
        if fmt.transport != HTTP:
            raise ValueError(f"HttpClientCodec speaks transport=http, not {fmt.transport}")
        self.format = fmt
        # The message inside the body, unframed: HTTP says where it ends.
        self._message = ClientCodec(replace(fmt, transport="buffered", path="/"))
        self._authority = authority.encode("ascii")
        self._target = fmt.path.encode("ascii")
        self._http = h11.Connection(h11.CLIENT, max_incomplete_event_size=64 * 1024)
        self._answered = False  # the current call's 200 head has arrived
        self._body_bytes = 0
        self._closed = False  # the server has closed the connection

    @property
    def carries_headers(self) -> bool:
        return True

    @property
    def reusable(self) -> bool:
        """True between calls on a connection the server keeps open (HTTP/1.1 keep-alive)."""
        return self._http.our_state is h11.IDLE and self._http.their_state is h11.IDLE

    @property
    def buffered(self) -> bool:
        return self._message.buffered

    def encode_call(self, method: MethodSpec, seqid: int, args: tuple[Any, ...],
                    headers: dict[str, str] | None = None) -> bytes:
        """The bytes of a POST carrying the call; ``headers`` (THeader keys) go as the
        HTTP headers ``HTTP_HEADER_NAMES`` maps them to."""
        if not self.reusable:
            raise FrameError("this HTTP connection cannot take another request (the server closes it)")
        body = self._message.encode_call(method, seqid, args)
        fields = [(b"Host", self._authority), (b"Content-Type", CONTENT_TYPE.encode()),
                  (b"Accept", CONTENT_TYPE.encode()), (b"User-Agent", _USER_AGENT),
                  (b"Content-Length", str(len(body)).encode())]
        if headers:
            fields += [(name, headers[key].encode("latin-1")) for key, name in HTTP_HEADER_NAMES.items()
                       if key in headers]
        self._answered = False
        self._body_bytes = 0
        try:
            return (self._send(h11.Request(method=b"POST", target=self._target, headers=fields))
                    + self._send(h11.Data(data=body)) + self._send(h11.EndOfMessage()))
        except h11.LocalProtocolError as err:  # a header value HTTP cannot carry
            raise FrameError(f"cannot send the HTTP request: {err}") from err

    def _send(self, event: h11.Event) -> bytes:
        return self._http.send(event) or b""

    def feed(self, data: bytes) -> None:
        """Bytes received; ``b""`` when the server has closed the connection."""
        self._closed = self._closed or not data
        self._http.receive_data(data)

    def next_reply(self, method: MethodSpec) -> Reply | None:
        """The reply (once its whole HTTP answer has arrived), or None until then - and
        None when the server closed the connection before answering at all. A oneway
        call's reply is the 200's head alone. Raises ``HttpStatusError`` for another
        status, ``FrameError`` for an answer that breaks HTTP or ends inside its message."""
        while True:
            try:
                event = self._http.next_event()
            except h11.RemoteProtocolError as err:
                if self._closed and not self._answered:
                    return None  # closed before answering: the caller's "connection lost"
                raise FrameError(f"the HTTP answer is broken: {err}") from err
            if event is h11.NEED_DATA or event is h11.PAUSED:
                return None
            if isinstance(event, h11.Response):
                self._start(event)
                if method.oneway:
                    self._drain()
                    return _ONEWAY_ANSWERED
            elif isinstance(event, h11.Data):
                self._body_bytes += len(event.data)
                if self._body_bytes > MAX_FRAME_BYTES:
                    raise FrameTooLarge(f"an HTTP body of more than {MAX_FRAME_BYTES} bytes")
                self._message.feed(bytes(event.data))
            elif isinstance(event, h11.EndOfMessage):
                return self._finish(method)
            elif isinstance(event, h11.ConnectionClosed):
                return None
            # InformationalResponse (100 Continue): nothing to do, the real answer follows.

    def result(self, method: MethodSpec, seqid: int, reply: Reply) -> Any:
        if reply is _ONEWAY_ANSWERED:
            return None
        return self._message.result(method, seqid, reply)

    def _start(self, response: h11.Response) -> None:
        if response.status_code != 200:
            raise HttpStatusError(response.status_code, response.reason.decode("latin-1"), self.format.path)
        for name, value in response.headers:
            if name == b"content-length" and value.isdigit() and int(value) > MAX_FRAME_BYTES:
                raise FrameTooLarge(f"an HTTP body of {int(value)} bytes")
        self._answered = True

    def _drain(self) -> None:
        """After a oneway call's head: consume an (empty) body that has already arrived, so
        that a keep-alive connection is ready for the next call. A body the server ends by
        closing (HTTP/1.0) leaves the codec not ``reusable``: nobody waits for it."""
        while self._http.their_state is h11.SEND_BODY:
            event = self._http.next_event()
            if event is h11.NEED_DATA or isinstance(event, h11.EndOfMessage):
                break
        self._next_cycle()

    def _finish(self, method: MethodSpec) -> Reply:
        reply = self._message.next_reply(method)
        if reply is None:
            received = self._body_bytes
            raise FrameError("an empty HTTP body where a reply was due" if not received
                             else f"the HTTP body ({received} bytes) ends inside the Thrift message")
        self._next_cycle()
        return reply

    def _next_cycle(self) -> None:
        if self._http.our_state is h11.DONE and self._http.their_state is h11.DONE:
            self._http.start_next_cycle()
