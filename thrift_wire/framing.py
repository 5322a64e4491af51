"""One codec per Thrift transport: how a message is delimited on the stream.

* framed - a 4-byte big-endian length, then the message (``TFramedTransport``);
* buffered - the message alone: it ends where its parse ends (``TBufferedTransport``);
* header - THeader (Apache's ``THeaderTransport``, doc/specs/HeaderFormat.md): a length,
  the 0x0FFF magic, flags, a sequence number, key/value headers and the protocol's id,
  then the message.

``wrap`` gives the bytes to send; ``unwrap`` finds the next frame at the start of the
bytes received, or None until it has all arrived.
"""

from __future__ import annotations

import struct
from typing import NamedTuple

from thrift_wire import varints
from thrift_wire.limits import MAX_FRAME_BYTES

THEADER_MAGIC = b"\x0f\xff"
_INFO_KEYVALUE = 1
_U32 = struct.Struct("!I")
_I32 = struct.Struct("!i")
_FRAME_HEAD = struct.Struct("!HHIH")  # magic, flags, sequence number, header size in words
_PADDING = (b"", b"\x00", b"\x00\x00", b"\x00\x00\x00")


class FrameError(ValueError):
    """Bytes that break the transport's framing."""


class FrameTooLarge(FrameError):
    """A frame (or an unframed message) over MAX_FRAME_BYTES, or a negative size."""


class Frame(NamedTuple):
    message: bytes  # the message; for an unframed stream, every byte received so far
    size: int | None  # bytes the frame took; None: unframed, the protocol's parse decides
    headers: dict[str, str]
    theader_seqid: int  # THeader's own sequence number (0 elsewhere)
    protocol_id: int | None  # the protocol a THeader frame names; None elsewhere


class Framing:
    name: str

    def wrap(self, message: bytes, *, protocol_id: int | None = None, seqid: int = 0,
             headers: dict[str, str] | None = None) -> bytes:
        raise NotImplementedError

    def unwrap(self, data: bytes) -> Frame | None:
        raise NotImplementedError


def _frame_size(data: bytes) -> int | None:
    if len(data) < 4:
        return None
    (size,) = _I32.unpack_from(data, 0)
    if not 0 <= size <= MAX_FRAME_BYTES:
        raise FrameTooLarge(f"frame of {size} bytes")
    return size


class Framed(Framing):
    name = "framed"

    def wrap(self, message: bytes, *, protocol_id: int | None = None, seqid: int = 0,
             headers: dict[str, str] | None = None) -> bytes:
        return _U32.pack(len(message)) + message

    def unwrap(self, data: bytes) -> Frame | None:
        size = _frame_size(data)
        if size is None or len(data) < 4 + size:
            return None
        return Frame(data[4 : 4 + size], 4 + size, {}, 0, None)


class Unframed(Framing):
    name = "buffered"

    def wrap(self, message: bytes, *, protocol_id: int | None = None, seqid: int = 0,
             headers: dict[str, str] | None = None) -> bytes:
        return message

    def unwrap(self, data: bytes) -> Frame | None:
        if not data:
            return None
        if len(data) > MAX_FRAME_BYTES:
            raise FrameTooLarge(f"an unframed message of more than {MAX_FRAME_BYTES} bytes")
        return Frame(data, None, {}, 0, None)


def _read_varint(data: bytes, pos: int, end: int) -> tuple[int, int]:
    try:
        found = varints.decode(data, pos, end)
    except ValueError:
        found = None
    if found is None:
        raise FrameError("bad varint in THeader")
    return found


def _string(s: str) -> bytes:
    raw = s.encode("utf-8")
    return varints.encode(len(raw)) + raw


# A header key as written (its length, then its bytes), made once per key: the keys a
# gateway sends are the same few on every call.
_KEYS: dict[str, bytes] = {}


def _key(k: str) -> bytes:
    written = _KEYS.get(k)
    if written is None:
        written = _string(k)
        if len(_KEYS) < 256:  # keys come from code and configuration, but never let them grow without bound
            _KEYS[k] = written
    return written


class Header(Framing):
    name = "header"

    def wrap(self, message: bytes, *, protocol_id: int | None = None, seqid: int = 0,
             headers: dict[str, str] | None = None) -> bytes:
        pid = protocol_id or 0
        if headers:
            # Protocol id and no transforms (one-byte varints), the key/value block, its count.
            parts = [bytes((pid, 0, _INFO_KEYVALUE)), varints.encode(len(headers))]
            for k, v in headers.items():
                raw = v.encode("utf-8")
                size = len(raw)
                parts += (_KEYS.get(k) or _key(k), varints.ONE_BYTE[size] if size < 0x80 else varints.encode(size), raw)
            block = b"".join(parts)
            block += _PADDING[-len(block) % 4]
        else:
            block = bytes((pid, 0, 0, 0))  # protocol id (a one-byte varint), no transforms, padding
        body = _FRAME_HEAD.pack(0x0FFF, 0, seqid & 0xFFFFFFFF, len(block) // 4) + block + message
        return _U32.pack(len(body)) + body

    def unwrap(self, data: bytes) -> Frame | None:
        size = _frame_size(data)
        if size is None or len(data) < 4 + size:
            return None
        headers, message, seqid, protocol_id = split_theader(data[4 : 4 + size])
        return Frame(message, 4 + size, headers, seqid, protocol_id)


def split_theader(body: bytes) -> tuple[dict[str, str], bytes, int, int]:
    """(headers, message, sequence number, protocol id) of a THeader frame's body."""
    if len(body) < _FRAME_HEAD.size or body[:2] != THEADER_MAGIC:
        raise FrameError("not a THeader frame")
    _, _, seqid, words = _FRAME_HEAD.unpack_from(body, 0)
    start = _FRAME_HEAD.size
    end = start + words * 4
    if end > len(body):
        raise FrameError("THeader header runs past the frame")
    if end - start >= 2 and body[start] in (0, 2) and body[start + 1] == 0:
        # The usual start: protocol 0 or 2 and no transforms, each a one-byte varint.
        protocol_id, pos = body[start], start + 2
    else:
        protocol_id, pos = _read_varint(body, start, end)
        if protocol_id not in (0, 2):
            raise FrameError(f"THeader protocol {protocol_id} is neither binary (0) nor compact (2)")
        transforms, pos = _read_varint(body, pos, end)
        if transforms:
            raise FrameError("THeader transforms (zlib) are not supported")
    headers: dict[str, str] = {}
    while pos < end and body[pos] != 0:
        kind, pos = _read_varint(body, pos, end)
        if kind != _INFO_KEYVALUE:
            break  # as Apache's reader does: an unknown block ends the headers
        count, pos = _read_varint(body, pos, end)
        for _ in range(count):
            key_size, pos = _read_varint(body, pos, end)
            key = body[pos : pos + key_size]
            pos += key_size
            value_size, pos = _read_varint(body, pos, end)
            value = body[pos : pos + value_size]
            pos += value_size
            if pos > end:
                raise FrameError("THeader header runs past its size")
            headers[key.decode("utf-8", "replace")] = value.decode("utf-8", "replace")
    return headers, body[end:], seqid, protocol_id


FRAMINGS: dict[str, type[Framing]] = {"framed": Framed, "buffered": Unframed, "header": Header}
