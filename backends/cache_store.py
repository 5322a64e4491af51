"""An in-memory LRU store with per-entry expiry and a bound on stored bytes.

Every operation is O(1): an ``OrderedDict`` keeps entries in recency order, so the least
recently used entry is always at the front. Expiry is checked when an entry is touched
(an expired entry is never returned) and expired entries at the front of the LRU order
are the first to go when room is needed.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Callable


@dataclass(slots=True)
class _Entry:
    value: bytes
    size: int
    expires_at: float | None


@dataclass(slots=True)
class StoreStats:
    items: int = 0
    bytes: int = 0
    max_bytes: int = 0
    hits: int = 0
    misses: int = 0
    evictions: int = 0
    expirations: int = 0


def entry_size(key: str, value: bytes) -> int:
    """What an entry counts against the memory bound: its key's UTF-8 and value bytes."""
    return len(key.encode("utf-8")) + len(value)


class MemoryStore:
    def __init__(self, max_bytes: int, clock: Callable[[], float] = time.monotonic) -> None:
        if max_bytes <= 0:
            raise ValueError("max_bytes must be positive")
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._clock = clock
        self._stats = StoreStats(max_bytes=max_bytes)

    def get(self, key: str) -> bytes | None:
        entry = self._live(key)
        if entry is None:
            self._stats.misses += 1
            return None
        self._entries.move_to_end(key)
        self._stats.hits += 1
        return entry.value

    def put(self, key: str, value: bytes, ttl_seconds: int | None = None) -> None:
        """Store ``value``; the caller checks that one entry fits within ``max_bytes``."""
        size = entry_size(key, value)
        if size > self._stats.max_bytes:
            raise ValueError(f"entry of {size} bytes exceeds the store's {self._stats.max_bytes}")
        self._discard(key)
        expires_at = None if ttl_seconds is None else self._clock() + ttl_seconds
        self._entries[key] = _Entry(value, size, expires_at)
        self._stats.bytes += size
        while self._stats.bytes > self._stats.max_bytes:
            self._evict_oldest()

    def delete(self, key: str) -> bool:
        """Remove ``key``; False when it was absent or already expired."""
        if self._live(key) is None:
            return False
        self._discard(key)
        return True

    def stats(self) -> StoreStats:
        snapshot = StoreStats(**{f: getattr(self._stats, f) for f in StoreStats.__slots__})
        snapshot.items = len(self._entries)
        return snapshot

    def _live(self, key: str) -> _Entry | None:
        """The entry for ``key`` unless absent or expired (an expired one is dropped)."""
        entry = self._entries.get(key)
        if entry is not None and self._expired(entry):
            self._discard(key)
            self._stats.expirations += 1
            return None
        return entry

    def _expired(self, entry: _Entry) -> bool:
        return entry.expires_at is not None and entry.expires_at <= self._clock()

    def _discard(self, key: str) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            self._stats.bytes -= entry.size

    def _evict_oldest(self) -> None:
        _, entry = self._entries.popitem(last=False)
        self._stats.bytes -= entry.size
        if self._expired(entry):
            self._stats.expirations += 1
        else:
            self._stats.evictions += 1
