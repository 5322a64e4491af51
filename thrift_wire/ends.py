"""Where an unframed message ends, found across the chunks it arrives in.

An unframed (buffered) message has no length in front: it ends where its parse ends. A
reader that parsed everything received again at every chunk did work quadratic in the
message's size - for Apache's pure-Python ``TJSONProtocol``, seconds for one 1 MB call,
while the event loop served nobody else. A finder here keeps its place between chunks and
looks at each byte a bounded number of times; the real parse runs once the finder says
the whole message has arrived.

``find(data)`` takes every byte received so far of the message (the same buffer, grown)
and gives the message's length, or None until it has all arrived; bytes that break the
protocol's structure raise ``TProtocolException``. ``examined`` counts the bytes looked
at, for tests that the work is linear.

The finders only delimit: they check no more than they need to (the decoder still judges
the message), but never wait for bytes a message that is already broken cannot need.
"""

from __future__ import annotations

import re
import struct
from typing import Union

from thrift.protocol.TProtocol import TProtocolException
from thrift.Thrift import TType

from thrift_wire.limits import MAX_CONTAINER_ITEMS, MAX_NAME_BYTES, MAX_STRING_BYTES

Buffer = Union[bytes, bytearray]

_I16 = struct.Struct("!h")
_I32 = struct.Struct("!i")
_MESSAGE_HEAD = struct.Struct("!ii")  # binary: version and type, name length


def _invalid(why: str) -> TProtocolException:
    return TProtocolException(TProtocolException.INVALID_DATA, why)


class EndFinder:
    """The interface: one finder per message."""

    examined: int

    def find(self, data: Buffer) -> int | None:
        raise NotImplementedError


# --- JSON -------------------------------------------------------------------------------

# Outside a string only brackets, braces and quotes matter; inside one, its closing quote
# and backslashes (the byte after a backslash never closes it). re's search runs in C.
_JSON_OUTSIDE = re.compile(rb'[\[\]{}"]')
_JSON_INSIDE = re.compile(rb'["\\]')
_QUOTE, _BACKSLASH, _OPEN_BRACKET, _OPEN_BRACE = b'"'[0], b"\\"[0], b"["[0], b"{"[0]


class JsonEnd(EndFinder):
    """``TJSONProtocol``: the message is one JSON array; it ends where that array closes."""

    __slots__ = ("examined", "_pos", "_depth", "_in_string")

    def __init__(self) -> None:
        self.examined = 0
        self._pos = 0
        self._depth = 0
        self._in_string = False

    def find(self, data: Buffer) -> int | None:
        pos, depth, in_string, size = self._pos, self._depth, self._in_string, len(data)
        if pos == 0 and size and data[0] != _OPEN_BRACKET:
            raise _invalid("not a TJSONProtocol message (it does not begin with '[')")
        start, end = pos, None
        while pos < size:
            found = (_JSON_INSIDE if in_string else _JSON_OUTSIDE).search(data, pos)
            if found is None:
                pos = size
                break
            at = found.start()
            char = data[at]
            if in_string:
                if char == _BACKSLASH:
                    if at + 1 >= size:  # the escaped byte has not arrived: look again then
                        pos = at
                        break
                    pos = at + 2
                    continue
                in_string = False
            elif char == _QUOTE:
                in_string = True
            elif char == _OPEN_BRACKET or char == _OPEN_BRACE:
                depth += 1
            else:
                depth -= 1
                if depth == 0:
                    end = at + 1
                    pos = end
                    break
            pos = at + 1
        self.examined += max(pos - start, 0) + (1 if pos < size and end is None else 0)
        self._pos, self._depth, self._in_string = pos, depth, in_string
        return end


# --- binary and compact -----------------------------------------------------------------
#
# Both walk the message's struct without decoding it: a stack of the containers open at
# the walk's position. Each step consumes one small whole item (a field header, a scalar,
# a string with its length, a container's header) or nothing; when the bytes run out
# inside an item the walk stops before it and reads that item's header again when more
# has arrived (a few bytes, never the item's body). Runs of fixed-size elements are
# skipped in one step.

_STRUCT, _LIST, _MAP = 0, 1, 2


class _Walk(EndFinder):
    __slots__ = ("examined", "_pos", "_stack", "_started")

    # Per protocol: the size of each fixed-size type in a container, and the types read
    # as a varint (compact).
    _FIXED: dict[int, int] = {}

    def __init__(self) -> None:
        self.examined = 0
        self._pos = 0
        # [_STRUCT, pending value type or None] | [_LIST, element type, left]
        # | [_MAP, key type, value type, keys and values left]
        self._stack: list[list[int | None]] = []
        self._started = False

    def find(self, data: Buffer) -> int | None:
        start = self._pos
        try:
            if not self._started:
                after = self._message_head(data)
                if after is None:
                    return None
                self._pos, self._started = after, True
                self._stack.append([_STRUCT, None])
            stack = self._stack
            while stack:
                if not self._step(data, stack):
                    return None
            return self._pos
        finally:
            # What was consumed, plus the header of an item the bytes ended in.
            self.examined += self._pos - start + min(len(data) - self._pos, 16)

    def _step(self, data: Buffer, stack: list[list[int | None]]) -> bool:
        """One item at the top of the walk; False when the bytes run out inside it."""
        top = stack[-1]
        kind = top[0]
        if kind == _STRUCT:
            if top[1] is None:
                head = self._field_head(data, self._pos)
                if head is None:
                    return False
                ttype, self._pos = head
                if ttype is None:  # the struct's stop byte
                    stack.pop()
                    return True
                if ttype < 0:  # a compact bool field: its value is in its header
                    return True
                top[1] = ttype
            after = self._value(data, self._pos, top[1], stack)  # type: ignore[arg-type]
            if after is None:
                return False
            top[1] = None
            self._pos = after
            return True
        left = top[-1]
        if not left:
            stack.pop()
            return True
        etype = top[1] if kind == _LIST or left % 2 == 0 else top[2]  # type: ignore[operator]
        size = self._FIXED.get(etype)  # type: ignore[arg-type]
        if size is not None and kind == _LIST:
            count = min(left, (len(data) - self._pos) // size)  # type: ignore[type-var]
            self._pos += count * size
            top[-1] = left - count  # type: ignore[operator]
            return count == left
        after = self._value(data, self._pos, etype, stack)  # type: ignore[arg-type]
        if after is None:
            return False
        top[-1] = left - 1  # type: ignore[operator]
        self._pos = after
        return True

    def _message_head(self, data: Buffer) -> int | None:
        raise NotImplementedError

    def _field_head(self, data: Buffer, pos: int) -> tuple[int | None, int] | None:
        """(the field's type, or None at the struct's end, position after), or None."""
        raise NotImplementedError

    def _value(self, data: Buffer, pos: int, ttype: int, stack: list[list[int | None]]) -> int | None:
        """Position after a value of ``ttype`` at ``pos`` (a container's header: its
        contents are pushed for later steps), or None until it has all arrived."""
        raise NotImplementedError


def _count(value: int, what: str) -> int:
    if not 0 <= value <= MAX_CONTAINER_ITEMS:
        raise _invalid(f"{what} of {value} items")
    return value


def _length(value: int) -> int:
    if not 0 <= value <= MAX_STRING_BYTES:
        raise _invalid(f"string of {value} bytes")
    return value


_BINARY_FIXED = {TType.BOOL: 1, TType.BYTE: 1, TType.I16: 2, TType.I32: 4, TType.I64: 8, TType.DOUBLE: 8,
                 TType.UUID: 16}


class BinaryEnd(_Walk):
    """Strict ``TBinaryProtocol``: version and type, name, sequence id, struct."""

    __slots__ = ()
    _FIXED = _BINARY_FIXED

    def _message_head(self, data: Buffer) -> int | None:
        if len(data) < 8:
            return None
        _, size = _MESSAGE_HEAD.unpack_from(data, 0)
        if not 0 <= size <= MAX_NAME_BYTES:
            raise _invalid(f"bad method name length {size}")
        after = 12 + size
        return after if len(data) >= after else None

    def _field_head(self, data: Buffer, pos: int) -> tuple[int | None, int] | None:
        if pos >= len(data):
            return None
        if data[pos] == TType.STOP:
            return None, pos + 1
        return (data[pos], pos + 3) if pos + 3 <= len(data) else None

    def _value(self, data: Buffer, pos: int, ttype: int, stack: list[list[int | None]]) -> int | None:
        available = len(data) - pos
        size = _BINARY_FIXED.get(ttype)
        if size is not None:
            return pos + size if available >= size else None
        if ttype == TType.STRING:
            if available < 4:
                return None
            after = pos + 4 + _length(_I32.unpack_from(data, pos)[0])
            return after if after <= len(data) else None
        if ttype == TType.STRUCT:
            stack.append([_STRUCT, None])
            return pos
        if ttype in (TType.LIST, TType.SET):
            if available < 5:
                return None
            stack.append([_LIST, data[pos], _count(_I32.unpack_from(data, pos + 1)[0], "a list")])
            return pos + 5
        if ttype == TType.MAP:
            if available < 6:
                return None
            stack.append([_MAP, data[pos], data[pos + 1], 2 * _count(_I32.unpack_from(data, pos + 2)[0], "a map")])
            return pos + 6
        raise _invalid(f"unknown binary protocol type {ttype}")


# Compact's own type ids (TCompactProtocol.CompactType).
_C_TRUE, _C_FALSE, _C_BYTE, _C_I16, _C_I32, _C_I64, _C_DOUBLE = 1, 2, 3, 4, 5, 6, 7
_C_BINARY, _C_LIST, _C_SET, _C_MAP, _C_STRUCT, _C_UUID = 8, 9, 10, 11, 12, 13
# In a container a bool is one byte; in a struct it lives in the field header.
_COMPACT_FIXED = {_C_TRUE: 1, _C_FALSE: 1, _C_BYTE: 1, _C_DOUBLE: 8, _C_UUID: 16}
_COMPACT_VARINTS = (_C_I16, _C_I32, _C_I64)


def _varint(data: Buffer, pos: int) -> tuple[int, int] | None:
    """(value, position after) of the varint at ``pos`` (up to 10 bytes: an i64), or None."""
    value = shift = 0
    end = len(data)
    while pos < end:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7
        if shift >= 70:
            raise _invalid("varint too long")
    return None


class CompactEnd(_Walk):
    """``TCompactProtocol``: id, version and type, varint sequence id, name, struct."""

    __slots__ = ()
    _FIXED = _COMPACT_FIXED

    def _message_head(self, data: Buffer) -> int | None:
        found = _varint(data, 2) if len(data) >= 2 else None  # the sequence id
        found = _varint(data, found[1]) if found is not None else None  # the name's length
        if found is None:
            return None
        size, pos = found
        if size > MAX_NAME_BYTES:
            raise _invalid(f"bad method name length {size}")
        return pos + size if len(data) >= pos + size else None

    def _field_head(self, data: Buffer, pos: int) -> tuple[int | None, int] | None:
        if pos >= len(data):
            return None
        byte = data[pos]
        if byte == 0:
            return None, pos + 1
        pos += 1
        if not byte & 0xF0:  # no delta: the field id follows as a varint
            found = _varint(data, pos)
            if found is None:
                return None
            pos = found[1]
        ttype = byte & 0x0F
        return (-1 if ttype in (_C_TRUE, _C_FALSE) else ttype), pos

    def _value(self, data: Buffer, pos: int, ttype: int, stack: list[list[int | None]]) -> int | None:
        size = _COMPACT_FIXED.get(ttype)
        if size is not None:
            return pos + size if len(data) - pos >= size else None
        if ttype in _COMPACT_VARINTS:
            found = _varint(data, pos)
            return None if found is None else found[1]
        if ttype == _C_BINARY:
            found = _varint(data, pos)
            if found is None:
                return None
            after = found[1] + _length(found[0])
            return after if after <= len(data) else None
        if ttype == _C_STRUCT:
            stack.append([_STRUCT, None])
            return pos
        if ttype in (_C_LIST, _C_SET):
            if pos >= len(data):
                return None
            head, count, pos = data[pos], data[pos] >> 4, pos + 1
            if count == 15:
                found = _varint(data, pos)
                if found is None:
                    return None
                count, pos = found
            stack.append([_LIST, head & 0x0F, _count(count, "a list")])
            return pos
        if ttype == _C_MAP:
            found = _varint(data, pos)
            if found is None:
                return None
            count, pos = _count(found[0], "a map"), found[1]
            if not count:
                return pos
            if pos >= len(data):
                return None
            stack.append([_MAP, data[pos] >> 4, data[pos] & 0x0F, 2 * count])
            return pos + 1
        raise _invalid(f"unknown compact protocol type {ttype}")
