"""The wire format both sides speak: framed binary protocol, optionally in THeader frames.

The gateway and the backends take their limits, framing and protocol from here so the
two can never disagree, and so that every Thrift connection in the product has length
limits. ``protocol()`` gives a plain Apache client (tests, the seed design) the same.
"""

from __future__ import annotations

import struct
from typing import Any, Callable

from thrift.protocol.TBinaryProtocol import TBinaryProtocolAccelerated
from thrift.transport.TTransport import TFramedTransport, TMemoryBuffer, TTransportBase

try:
    # Without the C extension the protocol silently falls back to pure Python, several
    # times slower; refuse to start instead of running slow without anyone noticing.
    from thrift.protocol import fastbinary  # noqa: F401
except ImportError as err:  # pragma: no cover - depends on the installed wheel
    raise ImportError(
        "thrift.protocol.fastbinary (the C extension of the thrift package) is missing; "
        "reinstall thrift from the pinned wheel: make install"
    ) from err

# The largest message is a cache value (1 MiB) plus its key and framing; 4 MiB leaves room
# without letting a peer that announces a huge frame make us allocate it.
MAX_FRAME_BYTES = 4 * 1024 * 1024
# A string or binary field never exceeds a cache value; containers are tiny in our IDL.
MAX_STRING_BYTES = 2 * 1024 * 1024
MAX_CONTAINER_ITEMS = 65536


def protocol(transport: TTransportBase) -> TBinaryProtocolAccelerated:
    """Wrap a raw (socket) transport in our framing and protocol, limits included."""
    framed = TFramedTransport(transport, max_frame_size=MAX_FRAME_BYTES)
    return TBinaryProtocolAccelerated(
        framed,
        fallback=False,
        string_length_limit=MAX_STRING_BYTES,
        container_length_limit=MAX_CONTAINER_ITEMS,
    )


# THeader framing (Apache Thrift's "header" transport, doc/specs/HeaderFormat.md), used to
# carry key/value headers - the request id - beside a binary-protocol message:
#   length, 0x0FFF magic, flags, sequence number, header size in 4-byte words,
#   protocol id (varint), number of transforms (varint), info blocks, zero padding,
#   then the message itself.
THEADER_MAGIC = b"\x0f\xff"
REQUEST_ID_HEADER = "request-id"
_PROTOCOL_BINARY = 0
_INFO_KEYVALUE = 1
_U16 = struct.Struct("!H")
_U32 = struct.Struct("!I")
_FRAME_HEAD = struct.Struct("!HHIH")


def message_head(message_type: int, name: bytes) -> bytes:
    """A strict binary-protocol message header up to (not including) the sequence id."""
    return struct.pack("!ii", -0x7FFF0000 | message_type, len(name)) + name


class FastDecoderInput:
    """What ``fastbinary.decode_binary`` reads from, in place of a protocol: a buffer
    holding ``data`` and our length limits."""

    __slots__ = ("trans", "string_length_limit", "container_length_limit")

    def __init__(self, data: bytes) -> None:
        self.trans = TMemoryBuffer(data)
        self.string_length_limit = MAX_STRING_BYTES
        self.container_length_limit = MAX_CONTAINER_ITEMS


class FrameError(ValueError):
    """A frame that breaks the wire format."""


class FrameTooLarge(FrameError):
    """A frame announcing more than MAX_FRAME_BYTES (or a negative size)."""


_ONE_BYTE_VARINTS = [bytes([n]) for n in range(0x80)]


def _varint(n: int) -> bytes:
    if n < 0x80:  # every count and length a request id header needs
        return _ONE_BYTE_VARINTS[n]
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _read_varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(data) or shift > 28:
            raise FrameError("bad varint in THeader")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, pos


def _string(s: str) -> bytes:
    raw = s.encode("utf-8")
    return _varint(len(raw)) + raw


# Binary protocol, no transforms, no info blocks: what a reply needs.
_BARE_HEADER = b"\x00\x00\x00\x00"


def theader_frame(message: bytes, seqid: int, headers: dict[str, str]) -> bytes:
    """A whole frame (length included) carrying ``message`` with ``headers``."""
    if headers:
        info = _varint(_INFO_KEYVALUE) + _varint(len(headers)) + b"".join(
            _string(k) + _string(v) for k, v in headers.items())
        header = _varint(_PROTOCOL_BINARY) + _varint(0) + info
        header += b"\x00" * (-len(header) % 4)
    else:
        header = _BARE_HEADER
    body = _FRAME_HEAD.pack(0x0FFF, 0, seqid & 0xFFFFFFFF, len(header) // 4) + header + message
    return _U32.pack(len(body)) + body


def split_theader(body: bytes) -> tuple[dict[str, str], bytes, int]:
    """(headers, message, sequence number) of a THeader frame's body."""
    if len(body) < _FRAME_HEAD.size:
        raise FrameError("THeader frame too short")
    _, _, seqid, words = _FRAME_HEAD.unpack_from(body, 0)
    start = _FRAME_HEAD.size
    end = start + words * 4
    if end > len(body):
        raise FrameError("THeader header runs past the frame")
    protocol, pos = _read_varint(body, start)
    if protocol != _PROTOCOL_BINARY:
        raise FrameError(f"THeader protocol {protocol} is not binary")
    transforms, pos = _read_varint(body, pos)
    if transforms:
        raise FrameError("THeader transforms are not supported")
    headers: dict[str, str] = {}
    while pos < end and body[pos] != 0:
        kind, pos = _read_varint(body, pos)
        if kind != _INFO_KEYVALUE:
            raise FrameError(f"unknown THeader info block {kind}")
        count, pos = _read_varint(body, pos)
        for _ in range(count):
            key_size, pos = _read_varint(body, pos)
            key = body[pos : pos + key_size]
            pos += key_size
            value_size, pos = _read_varint(body, pos)
            value = body[pos : pos + value_size]
            pos += value_size
            if pos > end:
                raise FrameError("THeader header runs past its size")
            headers[key.decode("utf-8", "replace")] = value.decode("utf-8", "replace")
    return headers, body[end:], seqid


def send_frame(sock: Any, frame: bytes) -> None:
    """Send a whole frame. One ``send`` nearly always takes all of it; gevent's
    ``sendall`` would first ask the kernel for the send buffer size (a ``getsockopt``
    system call per frame) and slice the data in Python."""
    sent = sock.send(frame)
    if sent < len(frame):
        sock.sendall(memoryview(frame)[sent:])


def read_frame_body(recv: Callable[[int], bytes], chunk: int = 16384) -> bytes:
    """One frame's body from a socket's ``recv``; no bytes beyond it may follow in the
    same read (one call, one reply). EOF raises EOFError; a size over MAX_FRAME_BYTES,
    FrameError - before any of it is read."""
    data = recv(chunk)
    if not data:
        raise EOFError("connection closed")
    while len(data) < 4:
        more = recv(chunk)
        if not more:
            raise EOFError("connection closed inside a frame")
        data += more
    (size,) = struct.unpack_from("!i", data, 0)
    if not 0 <= size <= MAX_FRAME_BYTES:
        raise FrameTooLarge(f"frame of {size} bytes")
    end = 4 + size
    if len(data) < end:
        chunks, have = [data], len(data)
        while have < end:
            more = recv(min(chunk, end - have))
            if not more:
                raise EOFError("connection closed inside a frame")
            chunks.append(more)
            have += len(more)
        data = b"".join(chunks)
    if len(data) != end:
        raise FrameError("bytes after the frame")
    return data[4:]


class FrameReader:
    """Frames out of the bytes a connection receives, without doing I/O: ``feed`` what
    arrived, take whole frames with ``next_body``. A client may send several before
    reading an answer (a oneway call followed at once by the next call): bytes past one
    frame wait for the next."""

    def __init__(self) -> None:
        self._buffer = b""

    @property
    def buffered(self) -> bool:
        return bool(self._buffer)

    def feed(self, data: bytes) -> None:
        self._buffer = self._buffer + data if self._buffer else data

    def next_body(self) -> bytes | None:
        """The next whole frame's body, or None until more bytes arrive."""
        if len(self._buffer) < 4:
            return None
        (size,) = struct.unpack_from("!i", self._buffer, 0)
        if not 0 <= size <= MAX_FRAME_BYTES:
            raise FrameTooLarge(f"frame of {size} bytes")
        if len(self._buffer) < 4 + size:
            return None
        body, self._buffer = self._buffer[4 : 4 + size], self._buffer[4 + size :]
        return body
