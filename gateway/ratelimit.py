"""Rate limits per client with the ``limits`` library: one budget per host, or per fleet.

The windows and their arithmetic are the library's (``FixedWindowRateLimiter``); so is
the Redis storage that shares one budget across hosts (``GATEWAY_RATE_LIMIT_STORAGE=
redis://...``). What the library lacks is storage shared by the worker processes of one
host without a server: its memory storage counts per process, so each Gunicorn worker
would grant the whole budget again. ``HostStorage`` is that missing piece, written to the
library's ``Storage`` interface: fixed-window counters in a small memory-mapped file that
every worker of the host maps, updated under an ``flock``.
"""

from __future__ import annotations

import fcntl
import hashlib
import math
import mmap
import os
import struct
import time
from pathlib import Path
from typing import NamedTuple

from limits import parse
from limits.storage import Storage, storage_from_string
from limits.strategies import FixedWindowRateLimiter

from gateway.config import ConfigError

HOST_COUNTERS_FILE = "rate-limits.bin"  # in GATEWAY_RUNTIME_DIR
_SLOT = struct.Struct("=Qdq")  # key hash (0: free), window end (Unix time), count
_SLOTS = 1 << 16
_PROBES = 32
FILE_BYTES = _SLOT.size * _SLOTS


class HostStorage(Storage):
    """Fixed-window counters shared by the processes of one host (see the module)."""

    STORAGE_SCHEME = ["gateway-host"]

    def __init__(self, path: Path) -> None:
        super().__init__()
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        if os.fstat(fd).st_size < FILE_BYTES:
            os.ftruncate(fd, FILE_BYTES)
        self._fd = fd
        self._map = mmap.mmap(fd, FILE_BYTES)

    @staticmethod
    def create(path: Path) -> None:
        """Make (or empty) the file; the master does it once before workers start."""
        with open(path, "wb") as f:
            f.truncate(FILE_BYTES)

    @property
    def base_exceptions(self) -> type[Exception]:
        return OSError

    def _slot(self, key: str, now: float, claim: bool) -> int | None:
        """The offset of ``key``'s slot; with ``claim``, a free or expired one if needed."""
        digest = int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "little") or 1
        first = digest % _SLOTS
        reusable = None
        for probe in range(_PROBES):
            offset = ((first + probe) % _SLOTS) * _SLOT.size
            stored, window_end, _ = _SLOT.unpack_from(self._map, offset)
            if stored == digest:
                return offset
            if reusable is None and (stored == 0 or window_end <= now):
                reusable = offset
        if claim and reusable is not None:
            _SLOT.pack_into(self._map, reusable, digest, 0.0, 0)
            return reusable
        if claim:  # every probe busy with a live window: take the first one over
            offset = first * _SLOT.size
            _SLOT.pack_into(self._map, offset, digest, 0.0, 0)
            return offset
        return None

    def hit(self, key: str, expiry: int, amount: int = 1) -> tuple[int, float]:
        """``incr`` and ``get_expiry`` in one locked step: (the count, the window's end).
        What a request costs on this path: two ``flock`` calls, not the six of
        ``FixedWindowRateLimiter.hit`` followed by ``get_window_stats``."""
        now = time.time()
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        try:
            offset = self._slot(key, now, claim=True)
            assert offset is not None
            digest, window_end, count = _SLOT.unpack_from(self._map, offset)
            if window_end <= now:
                window_end, count = now + expiry, 0
            count += amount
            _SLOT.pack_into(self._map, offset, digest, window_end, count)
            return count, window_end
        finally:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        return self.hit(key, expiry, amount)[0]

    def _read(self, key: str) -> tuple[float, int]:
        now = time.time()
        fcntl.flock(self._fd, fcntl.LOCK_SH)
        try:
            offset = self._slot(key, now, claim=False)
            if offset is None:
                return now, 0
            _, window_end, count = _SLOT.unpack_from(self._map, offset)
            return (window_end, count) if window_end > now else (now, 0)
        finally:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def get(self, key: str) -> int:
        return self._read(key)[1]

    def get_expiry(self, key: str) -> float:
        return self._read(key)[0]

    def check(self) -> bool:
        return True

    def reset(self) -> int | None:
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        try:
            self._map[:] = bytes(FILE_BYTES)
        finally:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        return None

    def clear(self, key: str) -> None:
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        try:
            offset = self._slot(key, time.time(), claim=False)
            if offset is not None:
                _SLOT.pack_into(self._map, offset, 0, 0.0, 0)
        finally:
            fcntl.flock(self._fd, fcntl.LOCK_UN)


class Decision(NamedTuple):
    allowed: bool
    limit: int
    remaining: int
    reset_s: int  # whole seconds until the window resets

    def headers(self) -> dict[str, str]:
        return {"RateLimit-Limit": str(self.limit), "RateLimit-Remaining": str(self.remaining),
                "RateLimit-Reset": str(self.reset_s)}


class RateLimiter:
    """``GATEWAY_RATE_LIMIT`` (``N/second``, ``/minute``, ``/hour``) per client key."""

    def __init__(self, rate: str, storage: Storage) -> None:
        self._item = parse(rate)
        self._expiry = self._item.get_expiry()
        self._host = storage if isinstance(storage, HostStorage) else None
        self._suffix = f"/{rate}"  # our storage's own key for a client: "client/rate"
        self._limiter = FixedWindowRateLimiter(storage)

    def hit(self, client_key: str) -> Decision:
        limit = self._item.amount
        if self._host is not None:  # the same fixed window, in one step
            count, reset_at = self._host.hit(client_key + self._suffix, self._expiry)
            allowed, remaining = count <= limit, max(0, limit - count)
        else:
            allowed = self._limiter.hit(self._item, client_key)
            reset_at, remaining = self._limiter.get_window_stats(self._item, client_key)
        return Decision(allowed, limit, remaining, max(0, math.ceil(reset_at - time.time())))


def check_rate(rate: str) -> None:
    try:
        item = parse(rate)
    except ValueError as err:
        raise ConfigError(f"GATEWAY_RATE_LIMIT: {rate!r} is not N/second, N/minute or N/hour: {err}") from None
    if item.GRANULARITY.name not in ("second", "minute", "hour") or item.multiples != 1:
        raise ConfigError(f"GATEWAY_RATE_LIMIT: {rate!r}: use N/second, N/minute or N/hour")


def rate_limiter(rate: str, storage_uri: str, host_file: Path) -> RateLimiter:
    """The limiter for this worker: Redis when configured, else the host's counters."""
    check_rate(rate)
    if storage_uri:
        if not storage_uri.startswith(("redis://", "rediss://", "redis+sentinel://", "redis+cluster://")):
            raise ConfigError(f"GATEWAY_RATE_LIMIT_STORAGE: {storage_uri!r} is not a redis:// URL")
        storage: Storage = storage_from_string(storage_uri)
    else:
        storage = HostStorage(host_file)
    return RateLimiter(rate, storage)
