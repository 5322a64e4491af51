"""Snapshots of the Cache's memory store: nothing acknowledged is lost on a graceful stop.

A snapshot is written atomically - to a temporary file in the same directory, fsync'd,
renamed over the old one, and the directory fsync'd - so a crash leaves either the old
snapshot or the new one, never half of one. It records each entry in LRU order with its
absolute (wall-clock) expiry, so a restart keeps each key's remaining TTL, and ends with
a count and a CRC-32 over everything before it: a truncated or corrupt file is refused.

Layout: MAGIC, then per entry ``!I`` key length, key (UTF-8), ``!I`` value length, value,
``!d`` expiry (Unix time; -1 for none); then END, ``!Q`` entry count, ``!I`` CRC-32.
"""

from __future__ import annotations

import os
import struct
import time
import zlib
from pathlib import Path
from typing import Iterable, Iterator

MAGIC = b"TGWSNAP1"
END = b"TGWEND01"
_LEN = struct.Struct("!I")
_EXPIRY = struct.Struct("!d")
_TRAILER = struct.Struct("!QI")

Entry = tuple[str, bytes, float | None]  # key, value, seconds left to live (None: no expiry)


class SnapshotError(Exception):
    """The snapshot file cannot be trusted; it is left as it is."""


def write(path: Path, entries: Iterable[Entry], now: float | None = None) -> int:
    """Write ``entries`` (oldest first) to ``path`` atomically; returns how many."""
    now = time.time() if now is None else now
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    crc, count = 0, 0
    try:
        with open(tmp, "wb") as f:
            def put(data: bytes) -> None:
                nonlocal crc
                f.write(data)
                crc = zlib.crc32(data, crc)

            put(MAGIC)
            for key, value, ttl_left in entries:
                raw_key = key.encode("utf-8")
                put(_LEN.pack(len(raw_key)) + raw_key + _LEN.pack(len(value)))
                put(value)
                put(_EXPIRY.pack(-1.0 if ttl_left is None else now + ttl_left))
                count += 1
            put(END)
            f.write(_TRAILER.pack(count, crc))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
    return count


def read(path: Path, now: float | None = None) -> list[Entry]:
    """The live entries of the snapshot at ``path``, oldest first; expired ones dropped."""
    now = time.time() if now is None else now
    data = path.read_bytes()
    if not data.startswith(MAGIC):
        raise SnapshotError(f"{path} is not a cache snapshot (no header)")
    if len(data) < len(MAGIC) + len(END) + _TRAILER.size or data[-_TRAILER.size - len(END) : -_TRAILER.size] != END:
        raise SnapshotError(f"{path} is truncated (no end marker)")
    body_end = len(data) - _TRAILER.size
    count, crc = _TRAILER.unpack_from(data, body_end)
    if zlib.crc32(data[:body_end]) != crc:
        raise SnapshotError(f"{path} is corrupt (checksum mismatch)")
    entries = list(_entries(data, len(MAGIC), body_end - len(END), path))
    if len(entries) != count:
        raise SnapshotError(f"{path} is corrupt ({len(entries)} entries, the trailer says {count})")
    return [(k, v, None if exp < 0 else exp - now) for k, v, exp in entries if exp < 0 or exp > now]


def _entries(data: bytes, pos: int, end: int, path: Path) -> Iterator[tuple[str, bytes, float]]:
    try:
        while pos < end:
            (size,) = _LEN.unpack_from(data, pos)
            key = data[pos + 4 : pos + 4 + size].decode("utf-8")
            pos += 4 + size
            (size,) = _LEN.unpack_from(data, pos)
            value = data[pos + 4 : pos + 4 + size]
            pos += 4 + size
            (expiry,) = _EXPIRY.unpack_from(data, pos)
            pos += _EXPIRY.size
            yield key, value, expiry
    except (struct.error, UnicodeDecodeError) as err:
        raise SnapshotError(f"{path} is corrupt ({err})") from None
    if pos != end:
        raise SnapshotError(f"{path} is corrupt (entries overrun the end marker)")
