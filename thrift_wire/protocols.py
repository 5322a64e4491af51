"""One codec per Thrift protocol: a whole message (header and struct) to bytes and back.

``encode`` gives the bytes of a message; ``decode`` reads one from the start of a buffer
and says where it ended - which is how an unframed (buffered) stream finds the end of a
message: it ends where its parse ends. A buffer that stops inside the message gives None
(the package's one way of saying "not all here yet"); bytes that break the protocol
raise ``TProtocolException``. ``end_finder``
gives what tells, chunk by chunk and without parsing again, when such a message has all
arrived (``ends.py``).

Binary and compact encode and decode structs with the thrift package's C extension
(``fastbinary``), message headers by hand (the pure-Python header code cost more than the
struct itself). JSON is Apache's ``TJSONProtocol``: pure Python, and its wire JSON is
Thrift's own, unrelated to the gateway's HTTP JSON.
"""

from __future__ import annotations

import math
import struct
from io import BytesIO
from typing import Any, Callable, NamedTuple

from thrift.protocol import fastbinary
from thrift.protocol.TBase import TBase
from thrift.protocol.TBinaryProtocol import TBinaryProtocol
from thrift.protocol.TCompactProtocol import TCompactProtocol
from thrift.protocol.TJSONProtocol import TJSONProtocol
from thrift.protocol.TProtocol import TProtocolException
from thrift.Thrift import TApplicationException, TMessageType, TType
from thrift.transport.TTransport import CReadableTransport, TMemoryBuffer, TTransportBase

from thrift_wire import varints
from thrift_wire.ends import BinaryEnd, CompactEnd, EndFinder, JsonEnd
from thrift_wire.limits import MAX_CONTAINER_ITEMS, MAX_NAME_BYTES, MAX_STRING_BYTES

_I32 = struct.Struct("!i")
_HEAD = struct.Struct("!ii")


class _NeedMore(EOFError):
    """The bytes so far end inside a message: raised deep inside a parse (Apache's
    readers call back into our buffer), turned into None by ``Protocol.decode``."""


class Message(NamedTuple):
    name: str
    type: int  # TMessageType
    seqid: int
    value: Any  # the struct read into, or None when the lookup gave none (skipped)
    end: int  # how many bytes the message took
    body_at: int = 0  # where its struct began


# What to read a message's struct into, given its name and type: (object, [class, spec]),
# or None to skip it.
Lookup = Callable[[str, int], "tuple[Any, list[Any]] | None"]


class Empty(TBase):
    """A struct without fields: a skipped body, or the arguments of a health probe."""

    __slots__ = ()
    thrift_spec: tuple[Any, ...] = ()


EMPTY_SPEC: list[Any] = [Empty, ()]

# TApplicationException as the C extension reads and writes it (it has no thrift_spec).
APPLICATION_EXCEPTION_SPEC: list[Any] = [TApplicationException, (
    None, (1, TType.STRING, "message", "UTF8", None), (2, TType.I32, "type", None, None))]


class _Input(TTransportBase, CReadableTransport):
    """A buffer the C decoder and the pure-Python protocols read from; running out of
    bytes raises _NeedMore instead of blocking for more."""

    __slots__ = ("buffer", "data")

    def __init__(self, data: bytes | bytearray, at: int = 0) -> None:
        self.data = data  # for the JSON reader's look at a whole string (_JsonReader)
        self.buffer = BytesIO(data)
        self.buffer.seek(at)

    def read(self, sz: int) -> bytes:
        data = self.buffer.read(sz)
        if len(data) < sz:
            raise _NeedMore(sz - len(data))
        return data

    def readAll(self, sz: int) -> bytes:  # noqa: N802 - Apache's name
        return self.read(sz)

    @property
    def cstringio_buf(self) -> BytesIO:
        return self.buffer

    def cstringio_refill(self, partialread: bytes, reqlen: int) -> BytesIO:
        raise _NeedMore(reqlen)


class _DecoderInput:
    """What the C decoder takes in place of a protocol: a transport and our limits."""

    __slots__ = ("trans", "string_length_limit", "container_length_limit")

    def __init__(self, data: bytes, at: int) -> None:
        self.trans = _Input(data, at)
        self.string_length_limit = MAX_STRING_BYTES
        self.container_length_limit = MAX_CONTAINER_ITEMS


def _name(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise TProtocolException(TProtocolException.INVALID_DATA, "method name is not UTF-8") from None


def _fast_decode(decode: Callable[..., Any], data: bytes, at: int, target: tuple[Any, list[Any]] | None) -> tuple[Any, int]:
    obj, spec = target if target is not None else (Empty(), EMPTY_SPEC)
    reader = _DecoderInput(data, at)
    try:
        decode(obj, reader, spec)
    except _NeedMore:
        raise
    except TProtocolException:
        raise
    except Exception as err:  # whatever the C decoder raises: a length over our limits, a bad type, ...
        raise TProtocolException(TProtocolException.INVALID_DATA, f"undecodable message: {err!r}") from err
    return (obj if target is not None else None), reader.trans.buffer.tell()


class Protocol:
    """The interface each protocol implements."""

    name: str
    theader_id: int | None  # its id in a THeader frame; None: THeader cannot carry it
    lenient_strings = True  # does its decoder let invalid UTF-8 through (the C extension's)?
    # Unframed, is a first parse of what has arrived cheaper than a scan for the end? The
    # C decoders are; after one finds the message unfinished the scan decides (ends.py).
    parse_first = True

    def end_finder(self) -> EndFinder:
        """A new finder of where an unframed message in this protocol ends."""
        raise NotImplementedError

    def encode(self, name: bytes, mtype: int, seqid: int, value: Any, spec: list[Any]) -> bytes:
        raise NotImplementedError

    def decode(self, data: bytes, lookup: Lookup) -> Message | None:
        """The message at the start of ``data``, or None when ``data`` ends inside it."""
        try:
            return self._decode(data, lookup)
        except _NeedMore:
            return None

    def _decode(self, data: bytes, lookup: Lookup) -> Message:
        raise NotImplementedError

    def strict(self, data: bytes) -> TBinaryProtocol | TCompactProtocol | TJSONProtocol:
        """A pure-Python protocol over ``data``, which decodes strings strictly (the C
        extension turns invalid UTF-8 into U+FFFD without a word)."""
        raise NotImplementedError


class BinaryProtocol(Protocol):
    """Strict binary protocol: version and type, name, sequence id, struct."""

    name = "binary"
    theader_id = 0

    def __init__(self) -> None:
        self._heads: dict[tuple[bytes, int], bytes] = {}

    def encode(self, name: bytes, mtype: int, seqid: int, value: Any, spec: list[Any]) -> bytes:
        head = self._heads.get((name, mtype))
        if head is None:
            head = self._heads[(name, mtype)] = _HEAD.pack(-0x7FFF0000 | mtype, len(name)) + name
        return head + _I32.pack(seqid) + fastbinary.encode_binary(value, spec)

    def _decode(self, data: bytes, lookup: Lookup) -> Message:
        # The version first, as soon as it is there: a stream in another format is
        # refused without waiting for bytes that may never come.
        if len(data) >= 2 and data[:2] != b"\x80\x01" or len(data) >= 4 and data[3] > TMessageType.ONEWAY:
            raise TProtocolException(TProtocolException.BAD_VERSION, "not a strict binary protocol message")
        if len(data) < 8:
            raise _NeedMore(8 - len(data))
        version, size = _HEAD.unpack_from(data, 0)
        if not 0 <= size <= MAX_NAME_BYTES:
            raise TProtocolException(TProtocolException.INVALID_DATA, f"bad method name length {size}")
        body_at = 12 + size
        if len(data) < body_at:
            raise _NeedMore(body_at - len(data))
        name, mtype = _name(data[8 : 8 + size]), version & 0xFF
        (seqid,) = _I32.unpack_from(data, 8 + size)
        value, end = _fast_decode(fastbinary.decode_binary, data, body_at, lookup(name, mtype))
        return Message(name, mtype, seqid, value, end, body_at)

    def end_finder(self) -> EndFinder:
        return BinaryEnd()

    def strict(self, data: bytes) -> TBinaryProtocol:
        return TBinaryProtocol(TMemoryBuffer(data), string_length_limit=MAX_STRING_BYTES,
                               container_length_limit=MAX_CONTAINER_ITEMS)


def _read_varint(data: bytes, pos: int) -> tuple[int, int]:
    try:
        found = varints.decode(data, pos, len(data))
    except ValueError as err:
        raise TProtocolException(TProtocolException.INVALID_DATA, str(err)) from None
    if found is None:
        raise _NeedMore(1)
    return found


class CompactProtocol(Protocol):
    """Compact protocol: id 0x82, version and type, varint sequence id, name, struct."""

    name = "compact"
    theader_id = 2

    def encode(self, name: bytes, mtype: int, seqid: int, value: Any, spec: list[Any]) -> bytes:
        head = bytes((TCompactProtocol.PROTOCOL_ID, TCompactProtocol.VERSION | (mtype << 5)))
        return (head + varints.encode(seqid & 0xFFFFFFFF) + varints.encode(len(name)) + name
                + fastbinary.encode_compact(value, spec))

    def _decode(self, data: bytes, lookup: Lookup) -> Message:
        if len(data) < 2:
            raise _NeedMore(2 - len(data))
        if data[0] != TCompactProtocol.PROTOCOL_ID or data[1] & TCompactProtocol.VERSION_MASK != TCompactProtocol.VERSION:
            raise TProtocolException(TProtocolException.BAD_VERSION, "not a compact protocol message")
        mtype = (data[1] >> 5) & 0x07
        seqid, pos = _read_varint(data, 2)
        if seqid > 0x7FFFFFFF:
            seqid -= 1 << 32
        size, pos = _read_varint(data, pos)
        if size > MAX_NAME_BYTES:
            raise TProtocolException(TProtocolException.INVALID_DATA, f"bad method name length {size}")
        if len(data) < pos + size:
            raise _NeedMore(pos + size - len(data))
        name = _name(data[pos : pos + size])
        value, end = _fast_decode(fastbinary.decode_compact, data, pos + size, lookup(name, mtype))
        return Message(name, mtype, seqid, value, end, pos + size)

    def end_finder(self) -> EndFinder:
        return CompactEnd()

    def strict(self, data: bytes) -> TCompactProtocol:
        return TCompactProtocol(TMemoryBuffer(data), string_length_limit=MAX_STRING_BYTES,
                                container_length_limit=MAX_CONTAINER_ITEMS)


class _JsonReader(TJSONProtocol):
    """Apache's TJSONProtocol reading from an ``_Input``, with one shortcut: a string
    without escapes is taken in one slice. Apache's reader takes a string a byte at a
    time in Python - half a second of a backend's event loop for a 1 MB value, every
    other client waiting. Anything else (an escape, bytes that are not UTF-8, a string
    not all there) is left to Apache's own code, from the same place."""

    trans: _Input

    def isJSONNumeric(self, character: bytes) -> bool:  # noqa: N802 - Apache's names
        # Apache's Python writer puts bare nan, inf and -inf where a double goes, which no
        # other reader takes - but a Python server answers with them: read them as the
        # quoted "NaN", "Infinity", "-Infinity" are read. (An integer made of such letters
        # still fails to parse, as before.)
        return super().isJSONNumeric(character) or (len(character) == 1 and character in b"aAfFiInNtTyY")

    def readJSONString(self, skipContext: bool) -> str:  # noqa: N802 - Apache's names
        if not skipContext:
            self.context.read()
        # Reading the quote leaves no byte looked ahead: the string begins at tell().
        self.readJSONSyntaxChar(b'"')
        data, start = self.trans.data, self.trans.buffer.tell()
        end = data.find(b'"', start)
        if end >= 0 and data.find(b"\\", start, end) < 0:
            try:
                text = data[start:end].decode("utf-8")
            except UnicodeDecodeError:
                pass  # Apache's code raises its own error for it
            else:
                if end > start:
                    self._check_string_length(end - start)  # as Apache's loop counts
                self.trans.buffer.seek(end + 1)
                return text
        self.trans.buffer.seek(start - 1)  # the quote again: Apache's loop reads it itself
        return super().readJSONString(True)


class _JsonWriter(TJSONProtocol):
    """Apache's TJSONProtocol writer, but for the doubles JSON has no number for: Thrift's
    JSON protocol writes NaN and the infinities as the strings "NaN", "Infinity" and
    "-Infinity" (Apache's C++ and Java libraries do, and every reader, Python's included,
    takes them); Python's writer puts bare ``nan``/``inf`` on the wire, which no reader
    takes - the server drops the connection."""

    def writeDouble(self, dbl: float) -> None:  # noqa: N802 - Apache's names
        if math.isfinite(dbl):
            super().writeDouble(dbl)
        else:
            self.writeJSONString("NaN" if math.isnan(dbl) else "Infinity" if dbl > 0 else "-Infinity")


class JsonProtocol(Protocol):
    """Apache's TJSONProtocol: ``[1,"name",type,seqid,{struct}]``."""

    name = "json"
    theader_id = None  # Apache's THeader carries binary and compact only
    lenient_strings = False  # pure Python: invalid UTF-8 raises
    parse_first = False  # pure Python, byte by byte: parse once, when the array has closed

    def encode(self, name: bytes, mtype: int, seqid: int, value: Any, spec: list[Any]) -> bytes:
        out = TMemoryBuffer()
        proto = _JsonWriter(out)
        proto.writeMessageBegin(name.decode("utf-8"), mtype, seqid)
        if spec is APPLICATION_EXCEPTION_SPEC or isinstance(value, TApplicationException):
            value.write(proto)
        else:
            proto.writeStruct(value, spec[1])
        proto.writeMessageEnd()
        return out.getvalue()

    def _decode(self, data: bytes, lookup: Lookup) -> Message:
        source = _Input(data)
        proto = _JsonReader(source, string_length_limit=MAX_STRING_BYTES)
        try:
            name, mtype, seqid = proto.readMessageBegin()
            target = lookup(name, mtype)
            if target is None:
                proto.skip(TType.STRUCT)
                value = None
            else:
                value, spec = target
                if isinstance(value, TApplicationException):
                    value.read(proto)
                else:
                    proto.readStruct(value, spec[1])
            proto.readMessageEnd()
        except (_NeedMore, TProtocolException):
            raise
        except Exception as err:  # bad JSON, bad base64, a value of the wrong type...
            raise TProtocolException(TProtocolException.INVALID_DATA, f"undecodable message: {err!r}") from err
        # The reader may have looked one byte ahead; that byte belongs to what follows.
        end = source.buffer.tell() - (1 if proto.reader.hasData else 0)
        return Message(name, mtype, seqid, value, end)

    def end_finder(self) -> EndFinder:
        return JsonEnd()

    def strict(self, data: bytes) -> TJSONProtocol:
        return TJSONProtocol(TMemoryBuffer(data), string_length_limit=MAX_STRING_BYTES)


# One of each, shared by every connection: a protocol holds no state of a connection (the
# binary one caches each method's message header, which every connection can reuse).
PROTOCOLS: dict[str, Protocol] = {"binary": BinaryProtocol(), "compact": CompactProtocol(), "json": JsonProtocol()}
