"""A connection's format, and the two codecs built on it: the client's and the server's.

A ``Format`` is a transport (framed, buffered, header, or http - one message per HTTP
POST, ``thrift_wire.http``), a protocol (binary, compact, json) and, for a client, the
name a ``TMultiplexedProcessor`` registered the service under. Neither codec does I/O: the caller sends the bytes they give and feeds them the
bytes it receives.

``ClientCodec`` encodes a call and decodes its reply, checking what Apache's generated
client never does: the reply's method name and sequence id (a stale reply left by a
timed-out call would otherwise be read as the next call's answer), and that no byte
follows it (one call, one reply).

``ServerCodec`` decodes the calls of one client, in whatever format ``detect`` found in
its first bytes - as Apache's ``THeaderTransport`` does on a server - and encodes each
reply in kind.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, NamedTuple

from thrift.protocol.TProtocol import TProtocolException
from thrift.Thrift import TApplicationException, TMessageType

from thrift_wire.ends import EndFinder
from thrift_wire.framing import FRAMINGS, THEADER_MAGIC, Frame, FrameError, Framing
from thrift_wire.limits import MAX_FRAME_BYTES
from thrift_wire.methods import MethodSpec
from thrift_wire.protocols import APPLICATION_EXCEPTION_SPEC, PROTOCOLS, Message, Protocol

# HTTP is a transport of its own rather than a framing: the message is the body of a
# POST, delimited by HTTP (thrift_wire.http), and only clients speak it here.
HTTP = "http"
TRANSPORTS = (*FRAMINGS, HTTP)
PROTOCOL_NAMES = tuple(PROTOCOLS)
# A whole reply as read: its frame (THeader headers, the message's bytes) and message.
Reply = tuple[Frame, Message]
_THEADER_PROTOCOLS = {0: "binary", 2: "compact"}


@dataclass(frozen=True)
class Format:
    transport: str = "framed"
    protocol: str = "binary"
    multiplexed: str | None = None  # the service's name in a TMultiplexedProcessor
    path: str = "/"  # the path calls are POSTed to (transport http only)

    def __post_init__(self) -> None:
        if self.transport not in TRANSPORTS:
            raise ValueError(f"transport {self.transport!r} is not one of {', '.join(TRANSPORTS)}")
        if self.path != "/" and self.transport != HTTP:
            raise ValueError(f"path={self.path} needs transport=http")
        if self.protocol not in PROTOCOLS:
            raise ValueError(f"protocol {self.protocol!r} is not one of {', '.join(PROTOCOL_NAMES)}")
        if self.transport == "header" and PROTOCOLS[self.protocol].theader_id is None:
            raise ValueError(f"THeader carries binary or compact, not {self.protocol}")

    @property
    def carries_headers(self) -> bool:
        """Whether a call can carry headers (request id, trace context, Deadline-Budget):
        THeader's key/value headers, or HTTP's own."""
        return self.transport in ("header", HTTP)

    def __str__(self) -> str:
        path = f", path={self.path}" if self.transport == HTTP else ""
        text = f"transport={self.transport}{path}, protocol={self.protocol}"
        return f"{text}, multiplexed={self.multiplexed}" if self.multiplexed else text


class _Received:
    """The bytes received and not yet consumed (one receive buffer for every format), and
    the search for the end of the unframed message they begin with, once one is under way."""

    __slots__ = ("data", "finder")

    def __init__(self) -> None:
        # bytes while one chunk holds it all (the usual case: no copy); a bytearray once
        # chunks pile up, which grows in place - appending to bytes copied everything
        # received again at every chunk.
        self.data: bytes | bytearray = b""
        self.finder: EndFinder | None = None

    def feed(self, data: bytes) -> None:
        if not self.data:
            self.data = data
        elif isinstance(self.data, bytearray):
            self.data += data
        else:
            self.data = bytearray(self.data) + data

    def consume(self, size: int) -> None:
        self.finder = None
        if size >= len(self.data):
            self.data = b""
        elif isinstance(self.data, bytearray):
            del self.data[:size]  # CPython moves the buffer's start: no copy of the rest
        else:
            self.data = self.data[size:]

    def holds_message(self, protocol: Protocol) -> bool:
        """False while the unframed message at the start cannot have arrived whole.

        Parsing everything received at every chunk was quadratic. Once one parse has
        found the message unfinished (at once, for a protocol that is slow to parse), a
        finder that keeps its place between chunks says when to parse again."""
        if self.finder is None:
            if protocol.parse_first:
                return True
            self.finder = protocol.end_finder()
        return self.finder.find(self.data) is not None

    def unfinished(self, protocol: Protocol) -> None:
        """A parse found the message unfinished: from now on the finder decides."""
        if self.finder is None:
            self.finder = protocol.end_finder()
            if self.finder.find(self.data) is None:
                return
        # The finder saw a whole message where the parse wants more: it is malformed.
        raise TProtocolException(TProtocolException.INVALID_DATA, "the message ends before its parse does")


def _read(framing: Framing, protocol_for: Callable[[Frame], Protocol], received: _Received,
          lookup: Any) -> tuple[Frame, Message] | None:
    """The next whole message in ``received`` (consumed), or None until it has arrived."""
    frame = framing.unwrap(received.data)
    if frame is None:
        return None
    protocol = protocol_for(frame)
    if frame.size is None and not received.holds_message(protocol):
        return None  # unframed, and the rest is still on its way
    message = protocol.decode(frame.message, lookup)
    if message is None:
        if frame.size is None:
            received.unfinished(protocol)
            return None
        raise TProtocolException(TProtocolException.INVALID_DATA, "message ends inside its frame")
    if frame.size is not None and message.end != len(frame.message):
        raise TProtocolException(TProtocolException.INVALID_DATA, "bytes after the message in its frame")
    received.consume(frame.size if frame.size is not None else message.end)
    return frame, message


class ClientCodec:
    """Calls out and replies in, in one format."""

    def __init__(self, fmt: Format) -> None:
        if fmt.transport == HTTP:
            raise ValueError("transport=http: use thrift_wire.http.HttpClientCodec")
        self.format = fmt
        self._framing = FRAMINGS[fmt.transport]()
        self._protocol = PROTOCOLS[fmt.protocol]
        self._prefix = f"{fmt.multiplexed}:" if fmt.multiplexed else ""
        self._theader_id = self._protocol.theader_id
        self._received = _Received()
        # Per method, made once: its name as sent, and what its reply decodes into.
        self._names: dict[str, bytes] = {}
        self._lookups: dict[str, Callable[[str, int], tuple[Any, list[Any]] | None]] = {}

    @property
    def carries_headers(self) -> bool:
        return self.format.carries_headers

    # A Thrift stream stays usable after a whole reply (bytes nobody asked for are the
    # connection's poll() check); HTTP's may be closed by the server (HttpClientCodec).
    reusable = True
    # No answer follows a oneway call on a Thrift stream; over HTTP one does.
    answers_oneway = False

    def encode_call(self, method: MethodSpec, seqid: int, args: tuple[Any, ...],
                    headers: dict[str, str] | None = None) -> bytes:
        """The bytes of a call. ``headers`` travel only where the transport can carry
        them (THeader); elsewhere they are dropped."""
        name = self._names.get(method.name)
        if name is None:
            name = self._names[method.name] = (self._prefix + method.name).encode("utf-8")
        mtype = TMessageType.ONEWAY if method.oneway else TMessageType.CALL
        message = self._protocol.encode(name, mtype, seqid, method.args_class(*args), method.args_spec)
        return self._framing.wrap(message, protocol_id=self._theader_id, seqid=seqid, headers=headers)

    def feed(self, data: bytes) -> None:
        self._received.feed(data)

    @property
    def buffered(self) -> bool:
        return bool(self._received.data)

    def next_reply(self, method: MethodSpec) -> Reply | None:
        """The reply to a call of ``method`` (consumed from what was fed), or None until
        it has all arrived; ``result`` reads it."""
        lookup = self._lookups.get(method.name) or self._reply_lookup(method)
        return _read(self._framing, self._protocol_of, self._received, lookup)

    def result(self, method: MethodSpec, seqid: int, reply: Reply) -> Any:
        """What the reply to call ``seqid`` of ``method`` carries; raises what the backend
        raised (a declared exception, a ``TApplicationException``), or
        ``TProtocolException``/``FrameError`` for bytes that are not the reply to this call."""
        frame, message = reply
        if self._received.data:
            raise FrameError("bytes after the reply (more than one answer to one call)")
        # A TMultiplexedProcessor answers under the bare name; accept the prefixed one too.
        if message.seqid != seqid or message.name not in (method.name, self._prefix + method.name):
            raise TProtocolException(
                TProtocolException.INVALID_DATA,
                f"reply out of sequence: {message.name!r} #{message.seqid} for {method.name!r} #{seqid}")
        if message.type == TMessageType.EXCEPTION:
            raise message.value
        if message.type != TMessageType.REPLY:
            raise TProtocolException(TProtocolException.INVALID_DATA, f"unexpected message type {message.type}")
        result = message.value
        succeeded = method.returns_value and result.success is not None
        # Only where a string may be and a byte is not ASCII does the strict re-read run.
        if (self._protocol.lenient_strings and (method.has_strings if succeeded else method.exceptions_have_strings)
                and not frame.message[message.body_at:].isascii()):
            self._check_utf8(method, frame.message)
        if succeeded:
            return result.success
        for _, field in method.declared:
            declared = getattr(result, field)
            if declared is not None:
                raise declared
        if method.returns_value:
            raise TApplicationException(TApplicationException.MISSING_RESULT, f"{method.name} failed: unknown result")
        return None

    def _reply_lookup(self, method: MethodSpec) -> Callable[[str, int], tuple[Any, list[Any]] | None]:
        result_class, result_spec = method.result_class, method.result_spec
        assert result_class is not None and result_spec is not None

        def lookup(name: str, mtype: int) -> tuple[Any, list[Any]] | None:
            if mtype == TMessageType.REPLY:
                return result_class(), result_spec
            if mtype == TMessageType.EXCEPTION:
                return TApplicationException(), APPLICATION_EXCEPTION_SPEC
            return None

        self._lookups[method.name] = lookup
        return lookup

    def _protocol_of(self, frame: Frame) -> Protocol:
        if frame.protocol_id is not None and frame.protocol_id != self._theader_id:
            raise TProtocolException(TProtocolException.INVALID_DATA,
                                     f"THeader reply in protocol {frame.protocol_id}, not {self.format.protocol}")
        return self._protocol

    def _check_utf8(self, method: MethodSpec, message: bytes) -> None:
        """Raise UnicodeDecodeError if a string in the reply is not valid UTF-8: the C
        decoder would have handed a corrupted string on as if the backend had sent it."""
        strict = self._protocol.strict(message)
        strict.readMessageBegin()
        method.result_class().read(strict)  # type: ignore[misc]


def detect(data: bytes) -> Format | None:
    """The format of a client, from its first bytes; None until enough have arrived.

    Unframed messages start with their protocol's mark (0x80 0x01 binary, 0x82 compact,
    ``[`` JSON); anything else is a frame length, and the frame's first bytes say
    THeader (0x0FFF) or the protocol. A header client's protocol is in each frame.
    """
    if not data:
        return None
    if data[0] == 0x80:
        return None if len(data) < 2 else _known(data[1] == 0x01, Format("buffered", "binary"))
    if data[0] == 0x82:
        return None if len(data) < 2 else _known(data[1] & 0x1F == 1, Format("buffered", "compact"))
    if data[0:1] == b"[":
        return Format("buffered", "json")
    if len(data) < 6:
        return None
    if data[4:6] == THEADER_MAGIC:
        return Format("header", "binary")
    if data[4:6] == b"\x80\x01":
        return Format("framed", "binary")
    if data[4] == 0x82 and data[5] & 0x1F == 1:
        return Format("framed", "compact")
    if data[4:5] == b"[":
        return Format("framed", "json")
    raise FrameError("not a Thrift transport and protocol this server reads")


def _known(ok: bool, fmt: Format) -> Format:
    if not ok:
        raise FrameError("not a Thrift transport and protocol this server reads")
    return fmt


class IncomingCall(NamedTuple):
    name: str  # as sent (a multiplexed client's is ``Service:method``)
    type: int
    seqid: int
    args: Any  # the decoded arguments; None when the lookup had no method for the name
    headers: dict[str, str]  # THeader's key/value headers (the gateway's request id)
    protocol: Protocol  # the protocol the call came in: its reply goes out in the same
    theader_seqid: int


class ServerCodec:
    """The calls of one client, in the format ``detect`` found; replies in kind."""

    def __init__(self, fmt: Format) -> None:
        self.format = fmt
        self._framing = FRAMINGS[fmt.transport]()
        self._received = _Received()

    def feed(self, data: bytes) -> None:
        self._received.feed(data)

    @property
    def buffered(self) -> bool:
        return bool(self._received.data)

    @property
    def buffered_bytes(self) -> int:
        return len(self._received.data)

    def next_call(self, lookup: Any) -> IncomingCall | None:
        """The next whole call (``lookup(name, type)`` gives what to read its arguments
        into, or None to skip them), or None until it has all arrived."""
        found = _read(self._framing, self._protocol_of, self._received, lookup)
        if found is None:
            return None
        frame, message = found
        return IncomingCall(message.name, message.type, message.seqid, message.value, frame.headers,
                    self._protocol_of(frame), frame.theader_seqid)

    def _protocol_of(self, frame: Frame) -> Protocol:
        """A THeader frame names its protocol; otherwise it is the one detected."""
        if frame.protocol_id is None:
            return PROTOCOLS[self.format.protocol]
        return PROTOCOLS[_THEADER_PROTOCOLS[frame.protocol_id]]

    def encode_reply(self, call: IncomingCall, name: str, mtype: int, value: Any, spec: list[Any]) -> bytes:
        message = call.protocol.encode(name.encode("utf-8"), mtype, call.seqid, value, spec)
        return self._framing.wrap(message, protocol_id=call.protocol.theader_id, seqid=call.theader_seqid)


__all__ = ["HTTP", "IncomingCall", "ClientCodec", "Format", "FrameError", "MAX_FRAME_BYTES", "Reply", "ServerCodec",
           "detect"]
