"""Unsigned LEB128 varints, as the compact protocol and THeader's header blocks write them."""

from __future__ import annotations

ONE_BYTE = [bytes([n]) for n in range(0x80)]  # the varint of each value below 128


def encode(n: int) -> bytes:
    if n < 0x80:  # most counts, lengths and sequence ids
        return ONE_BYTE[n]
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def decode(data: bytes, pos: int, end: int) -> tuple[int, int] | None:
    """(value, position after it) of the varint at ``pos``; None when ``end`` comes
    first. More than 5 bytes (a 32-bit value) raises ValueError."""
    value = shift = 0
    while True:
        if pos >= end:
            return None
        if shift > 28:
            raise ValueError("varint too long")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, pos
