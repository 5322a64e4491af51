"""One Thrift connection from the gateway to a backend, and the calls made over it.

The generated ``Client`` spends most of a call in pure-Python protocol code (message
headers, framing through three transport layers, two ``recv`` calls per reply) and never
checks a reply's sequence id. Here a call is one ``send`` of a frame built from a
precomputed header and ``fastbinary``'s encoding of the generated ``*_args`` struct; the
reply is read with as few ``recv`` calls as it arrives in, its header is checked - method
name *and* sequence id - and its ``*_result`` struct is decoded by ``fastbinary``.
The wire format is the one ``thrift_idl.wire`` describes: framed, strict binary protocol.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from struct import Struct
from typing import Any, Callable

from gevent.monkey import get_original
from thrift.protocol import fastbinary
from thrift.protocol.TBinaryProtocol import TBinaryProtocol, TBinaryProtocolAccelerated
from thrift.protocol.TProtocol import TProtocolException
from thrift.Thrift import TApplicationException, TMessageType
from thrift.transport.TTransport import TMemoryBuffer, TTransportException

from gateway.config import Address
from gateway.observability import current_request_id
from thrift_idl import wire

_I32 = Struct("!i")
_SEQID_LIMIT = 2**31

# The real poll(), not gevent's: a zero-timeout readiness check must not yield.
_poll = get_original("select", "poll")
_POLLIN = get_original("select", "POLLIN")


@dataclass(frozen=True, slots=True)
class Method:
    name: str
    args_class: type
    result_class: type | None  # None for a oneway method: no reply comes
    # The strict binary message header up to (not including) the sequence id.
    call_header: bytes
    exception_fields: tuple[str, ...]
    returns_value: bool
    has_strings: bool  # may the reply hold a UTF-8 string (not binary)?

    @property
    def oneway(self) -> bool:
        return self.result_class is None

    @property
    def args_spec(self) -> list[Any]:
        return [self.args_class, self.args_class.thrift_spec]

    @property
    def result_spec(self) -> list[Any]:
        return [self.result_class, self.result_class.thrift_spec]


class ServiceSpec:
    """Every method of a generated service module, read from its ``thrift_spec``."""

    def __init__(self, module: Any) -> None:
        self.name = module.__name__.rsplit(".", 1)[-1]
        self.methods: dict[str, Method] = {}
        for name in vars(module.Iface):
            if name.startswith("_"):
                continue
            result_class = getattr(module, f"{name}_result", None)  # absent: oneway
            fields = [f for f in result_class.thrift_spec if f is not None] if result_class else []
            encoded = name.encode("utf-8")
            message_type = TMessageType.CALL if result_class else TMessageType.ONEWAY
            self.methods[name] = Method(
                name=name,
                args_class=getattr(module, f"{name}_args"),
                result_class=result_class,
                call_header=wire.message_head(message_type, encoded),
                exception_fields=tuple(f[2] for f in fields if f[0] != 0),
                returns_value=any(f[0] == 0 for f in fields),
                has_strings=_holds_strings(result_class.thrift_spec if result_class else ()),
            )


def _holds_strings(spec: Any, seen: set[int] | None = None) -> bool:
    """Whether a generated ``thrift_spec`` (or a field's type arguments) contains a
    UTF-8 string anywhere, containers and nested structs included."""
    seen = set() if seen is None else seen
    if isinstance(spec, str):
        return spec == "UTF8"
    if isinstance(spec, type) or not isinstance(spec, (tuple, list)):
        return False
    if id(spec) in seen:
        return False
    seen.add(id(spec))
    return any(_holds_strings(part, seen) for part in spec if part is not None)


def encode_call(method: Method, seqid: int, args: tuple[Any, ...], request_id: str | None = None) -> bytes:
    """The whole frame of a call. With a request id it is a THeader frame carrying it,
    so the backend can log it beside the call; otherwise a plain framed message."""
    message = method.call_header + _I32.pack(seqid) + fastbinary.encode_binary(method.args_class(*args), method.args_spec)
    if request_id is not None:
        return wire.theader_frame(message, seqid, {wire.REQUEST_ID_HEADER: request_id})
    return _I32.pack(len(message)) + message


def reply_message(body: bytes) -> bytes:
    """The binary-protocol message in a reply frame's body, THeader or plain."""
    if body[:2] == wire.THEADER_MAGIC:
        try:
            return wire.split_theader(body)[1]
        except wire.FrameError as err:
            raise TProtocolException(TProtocolException.INVALID_DATA, str(err)) from None
    return body


def decode_reply(method: Method, seqid: int, frame: bytes) -> Any:
    """The result of a reply frame's body; raises what the backend raised.

    A reply for another method or sequence id means the stream is out of step: that is a
    protocol error, and the caller's connection must be closed.
    """
    if len(frame) < 12:
        raise TProtocolException(TProtocolException.INVALID_DATA, "reply too short")
    version = _I32.unpack_from(frame, 0)[0]
    if version >= 0 or version & TBinaryProtocol.VERSION_MASK != TBinaryProtocol.VERSION_1:
        raise TProtocolException(TProtocolException.BAD_VERSION, "not a strict binary protocol reply")
    name_size = _I32.unpack_from(frame, 4)[0]
    body_at = 12 + name_size
    if name_size < 0 or body_at > len(frame):
        raise TProtocolException(TProtocolException.INVALID_DATA, "bad method name length in reply")
    name = frame[8 : 8 + name_size]
    rseqid = _I32.unpack_from(frame, 8 + name_size)[0]
    if rseqid != seqid or name != method.call_header[8:]:
        raise TProtocolException(
            TProtocolException.INVALID_DATA,
            f"reply out of sequence: {name!r} #{rseqid} for {method.name!r} #{seqid}",
        )
    body = frame[body_at:]
    message_type = version & 0xFF
    if message_type == TMessageType.EXCEPTION:
        error = TApplicationException()
        error.read(TBinaryProtocolAccelerated(TMemoryBuffer(body), fallback=False))
        raise error
    if message_type != TMessageType.REPLY:
        raise TProtocolException(TProtocolException.INVALID_DATA, f"unexpected message type {message_type}")
    assert method.result_class is not None
    result = method.result_class()
    try:
        fastbinary.decode_binary(result, wire.FastDecoderInput(body), method.result_spec)
        if method.has_strings and not body.isascii():
            _check_utf8(method, body)
    except TProtocolException:
        raise
    except Exception as err:  # whatever the C decoder raises: a length over our limits, EOF, ...
        raise TProtocolException(TProtocolException.INVALID_DATA, f"undecodable reply: {err!r}") from err
    if method.returns_value and result.success is not None:
        return result.success
    for field in method.exception_fields:
        declared = getattr(result, field)
        if declared is not None:
            raise declared
    if method.returns_value:
        raise TApplicationException(TApplicationException.MISSING_RESULT, f"{method.name} failed: unknown result")
    return None


def _check_utf8(method: Method, body: bytes) -> None:
    """Raise UnicodeDecodeError if a string in the reply is not valid UTF-8.

    fastbinary decodes strings leniently (invalid bytes become U+FFFD), which would hand
    a corrupted string on as if the backend had sent it. The pure-Python protocol decodes
    strictly; it runs only for replies that can hold a string and have non-ASCII bytes.
    """
    strict = TBinaryProtocol(TMemoryBuffer(body), string_length_limit=wire.MAX_STRING_BYTES,
                             container_length_limit=wire.MAX_CONTAINER_ITEMS)
    method.result_class().read(strict)  # type: ignore[misc]


class ThriftConnection:
    """An open socket to a backend and the sequence of calls made over it."""

    __slots__ = ("_sock", "_service", "_seqid")

    def __init__(self, sock: socket.socket, service: ServiceSpec) -> None:
        self._sock = sock
        self._service = service
        self._seqid = 0

    def call(self, method_name: str, args: tuple[Any, ...]) -> Any:
        method = self._service.methods[method_name]
        self._seqid = (self._seqid + 1) % _SEQID_LIMIT
        try:
            wire.send_frame(self._sock, encode_call(method, self._seqid, args, current_request_id.get()))
            if method.oneway:
                return None
            body = wire.read_frame_body(self._sock.recv)
        except OSError as err:
            raise TTransportException(TTransportException.UNKNOWN, f"connection lost: {err}") from err
        except EOFError as err:
            raise TTransportException(TTransportException.END_OF_FILE, f"backend closed the connection: {err}") from err
        except wire.FrameTooLarge as err:
            raise TTransportException(TTransportException.SIZE_LIMIT, f"reply {err}") from err
        except wire.FrameError as err:  # e.g. more than one reply to one call: we cannot stay in step
            raise TProtocolException(TProtocolException.INVALID_DATA, str(err)) from err
        return decode_reply(method, self._seqid, reply_message(body))

    def is_reusable(self) -> bool:
        """False when the idle socket is readable: the peer closed it, or bytes nobody
        asked for sit in it. Either way the next call on it would go wrong."""
        if self._sock.fileno() < 0:
            return False
        poller = _poll()
        poller.register(self._sock.fileno(), _POLLIN)
        return not poller.poll(0)

    def close(self) -> None:
        self._sock.close()


def thrift_opener(address: Address, service: ServiceSpec, connect_timeout_s: float) -> Callable[[], ThriftConnection]:
    """A function that opens a new connection to ``address`` for ``service``."""

    def open_connection() -> ThriftConnection:
        try:
            sock = socket.create_connection(address, timeout=connect_timeout_s)
        except OSError as err:
            raise TTransportException(TTransportException.NOT_OPEN, f"cannot connect to {address}: {err}") from err
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        # No per-read timeout: the pool puts one deadline on the whole call.
        sock.settimeout(None)
        return ThriftConnection(sock, service)

    return open_connection
