"""Rate limits per client with the ``limits`` library: one budget per host, or per fleet.

The windows and their arithmetic are the library's (``FixedWindowRateLimiter``); so is
the Redis storage that shares one budget across hosts (``GATEWAY_RATE_LIMIT_STORAGE=
redis://...``). What the library lacks is storage shared by the worker processes of one
host without a server: its memory storage counts per process, so each Gunicorn worker
would grant the whole budget again. ``HostStorage`` is that missing piece, written to the
library's ``Storage`` interface: fixed-window counters in a small memory-mapped file that
every worker of the host maps, updated under an ``flock``.

Two promises hold whatever clients do:

* A client over its limit stays limited until its window ends. The host table
  (``HOST_SLOTS`` counters) only ever reuses a counter whose window has ended; a new
  client that finds no such counter near its place in the table is refused with 503
  ``overloaded`` (``Retry-After``: until one of those windows ends) rather than counted
  in someone else's place.
* The Redis store is asked with short timeouts (``STORE_TIMEOUT_S``, no retries). When it
  refuses, hangs or errs, the worker logs one line, counts on this host's table instead
  (the limit then holds per host) and asks Redis again ``STORE_RETRY_S`` later; it logs
  one line when Redis answers again.

``redis`` is imported only by a worker that uses it: Gunicorn's master imports this module
before it forks, and ``redis`` imports ``redis.asyncio.connection``, which holds
``ssl.SSLContext`` directly - gevent, patching ``ssl`` after the fork, would warn
(``MonkeyPatchWarning``) in every worker.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import math
import mmap
import os
import struct
import time
from pathlib import Path
from typing import Any, Callable, NamedTuple

from limits import RateLimitItem, parse
from limits.errors import ConfigurationError as LimitsConfigurationError
from limits.storage import Storage, storage_from_string
from limits.strategies import FixedWindowRateLimiter

from gateway.config import ConfigError
from gateway.errors import GatewayError

log = logging.getLogger(__name__)

HOST_COUNTERS_FILE = "rate-limits.bin"  # in GATEWAY_RUNTIME_DIR
_SLOT = struct.Struct("=Qdq")  # key hash (0: free), window end (Unix time), count
# Counters in the host table: 262,144 of 24 bytes, a 6 MiB file (sparse until used). A
# client keeps its counter for its window; new clients past about 85% of this in one
# window length may be refused (see HostStorage).
HOST_SLOTS = 1 << 18
_BUCKET = 16  # slots in a bucket; a key's counter is in one of two buckets
FILE_BYTES = _SLOT.size * HOST_SLOTS

STORE_TIMEOUT_S = 0.25  # Redis: to connect, and for each reply (a LAN round trip is ~0.1 ms)
STORE_RETRY_S = 1.0  # after a failure, count on this host for this long before asking Redis again


class TableFull(GatewayError):
    """The host table has no counter free for a new client (see HostStorage): refused
    rather than counted in the place of a client whose window is still running."""

    status, code, title = 503, "overloaded", "Overloaded"

    def __init__(self, detail: str, *, retry_after_s: int) -> None:
        super().__init__(detail)
        self.retry_after_s = retry_after_s

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after_s)}


class HostStorage(Storage):
    """Fixed-window counters shared by the processes of one host (see the module).

    A table of ``slots`` counters in buckets of ``_BUCKET``; a key's counter is in one of
    two buckets chosen by its hash. A slot is taken for a new key only when it is free or
    its window has ended, so a live count is never lost; a new key whose two buckets hold
    only live windows raises ``TableFull``. The bound: no more than ``slots`` clients per
    window length, and refusals may begin once about 85% of the slots hold live windows
    (measured: the first bucket overflows at 84-91% of the table; the unit tests check
    at least 80%)."""

    STORAGE_SCHEME = ["gateway-host"]

    def __init__(self, path: Path, slots: int = HOST_SLOTS) -> None:
        super().__init__()
        if slots < _BUCKET or slots % _BUCKET:
            raise ValueError(f"slots: a multiple of {_BUCKET}")
        self._slots = slots
        self._bytes = _SLOT.size * slots
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        if os.fstat(fd).st_size < self._bytes:
            os.ftruncate(fd, self._bytes)
        self._fd = fd
        self._map = mmap.mmap(fd, self._bytes)

    @staticmethod
    def create(path: Path, slots: int = HOST_SLOTS) -> None:
        """Make (or empty) the file; the master does it once before workers start."""
        with open(path, "wb") as f:
            f.truncate(_SLOT.size * slots)

    @property
    def base_exceptions(self) -> type[Exception]:
        return OSError

    def _slot(self, key: str, now: float, claim: bool) -> int | None:
        """The offset of ``key``'s slot; with ``claim``, a free or expired one if needed
        (raises ``TableFull`` when there is none).

        A key may sit in either of two buckets its hash names, and is put in the one
        with fewer live windows when it comes (the "power of two choices": the table
        fills to ~87% before a bucket overflows, where one run of 32 slots overflows at
        ~53%). Within a bucket the search starts at the key's own slot, alternating
        between the buckets, so a known key is found in one or two reads."""
        # surrogatepass: any str has bytes (a name with a lone surrogate included), and
        # different strs different bytes.
        digest = int.from_bytes(hashlib.blake2b(key.encode("utf-8", "surrogatepass"), digest_size=8).digest(),
                                "little") or 1
        buckets = self._slots // _BUCKET
        bases = ((digest % buckets) * _BUCKET, ((digest >> 32) % buckets) * _BUCKET)
        home = (digest >> 24) % _BUCKET
        live = [0, 0]
        reusable: list[int | None] = [None, None]
        soonest = math.inf
        for step in range(_BUCKET):
            index = (home + step) % _BUCKET
            for choice in (0, 1):
                offset = (bases[choice] + index) * _SLOT.size
                stored, window_end, _ = _SLOT.unpack_from(self._map, offset)
                if stored == digest:
                    return offset
                if stored == 0 or window_end <= now:
                    if reusable[choice] is None:
                        reusable[choice] = offset
                else:
                    live[choice] += 1
                    soonest = min(soonest, window_end)
        if not claim:
            return None
        choice = 0 if live[0] <= live[1] else 1
        offset = reusable[choice]
        if offset is None:  # never another key's live count: refuse instead
            raise TableFull("the gateway counts as many clients as it can hold in this window; "
                            "retry when a window ends", retry_after_s=max(1, math.ceil(soonest - now)))
        _SLOT.pack_into(self._map, offset, digest, 0.0, 0)
        return offset

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
            self._map[:] = bytes(self._bytes)
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


class SharedStore:
    """``GATEWAY_RATE_LIMIT_STORAGE``: one budget per client across hosts, in Redis,
    through the ``limits`` library's storage - asked within bounded time, and set aside
    for ``retry_s`` after each failure (see the module)."""

    def __init__(self, uri: str, *, timeout_s: float = STORE_TIMEOUT_S, retry_s: float = STORE_RETRY_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        import redis  # in the worker only (see the module)
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        # What "the store failed" looks like: redis-py's errors (connection refused, a
        # timeout, an error reply), its cluster errors (not RedisErrors), socket errors.
        self._errors = (redis.RedisError, redis.exceptions.RedisClusterException, OSError)
        self._uri = uri
        # A user's URL may set its own (?socket_timeout=...): redis-py's URL options win.
        self._options: dict[str, Any] = {"socket_timeout": timeout_s, "socket_connect_timeout": timeout_s,
                                         "retry": Retry(NoBackoff(), 0)}
        if uri.startswith("redis+sentinel://"):
            self._options["sentinel_kwargs"] = dict(self._options)  # the sentinels' own connections
        self._retry_s = retry_s
        self._clock = clock
        self._limiter: FixedWindowRateLimiter | None = None
        self._retry_at = 0.0  # while the clock is before this, the store is not asked
        self._down = False
        try:
            self._connect()
        except self._errors as err:  # a Redis Cluster client connects as it is made
            self._failed(err)  # a store that is down does not stop a worker from starting

    def _connect(self) -> FixedWindowRateLimiter:
        try:
            storage = storage_from_string(self._uri, **self._options)
        except (LimitsConfigurationError, ValueError) as err:
            raise ConfigError(f"GATEWAY_RATE_LIMIT_STORAGE: {_redacted(self._uri)}: {err}") from None
        self._limiter = FixedWindowRateLimiter(storage)
        return self._limiter

    def hit(self, item: RateLimitItem, client_key: str) -> tuple[bool, float, int] | None:
        """(allowed, the window's end as Unix time, remaining), or None when the store
        did not answer (the caller counts on its host)."""
        if self._down and self._clock() < self._retry_at:
            return None
        key = _text(client_key)
        try:
            limiter = self._limiter or self._connect()
            allowed = limiter.hit(item, key)
            reset_at, remaining = limiter.get_window_stats(item, key)
        except self._errors as err:
            self._failed(err)
            return None
        if self._down:
            self._down = False
            log.warning("rate limits: the store %s answers again; counting there", _redacted(self._uri))
        return allowed, reset_at, remaining

    def _failed(self, err: Exception) -> None:
        """One log line per outage (per worker), however many requests it fails."""
        if not self._down:
            self._down = True
            log.warning("rate limits: the store %s failed (%s: %s); counting on this host until it answers "
                        "(asked again every %g s)", _redacted(self._uri), type(err).__name__, err, self._retry_s)
        self._retry_at = self._clock() + self._retry_s


def _text(key: str) -> str:
    """``key`` as text a store can encode (redis-py encodes strictly). Authentication
    refuses names that are not Unicode text; this keeps a lone surrogate that got past
    it from failing the request (written as its escape)."""
    try:
        key.encode("utf-8")
    except UnicodeEncodeError:
        return key.encode("utf-8", "backslashreplace").decode("utf-8")
    return key


def _redacted(uri: str) -> str:
    """The URL without its password, for logs."""
    scheme, sep, rest = uri.partition("://")
    _, at, hosts = rest.rpartition("@")
    return f"{scheme}{sep}{'***@' if at else ''}{hosts}"


class Decision(NamedTuple):
    allowed: bool
    limit: int
    remaining: int
    reset_s: int  # whole seconds until the window resets

    def headers(self) -> dict[str, str]:
        return {"RateLimit-Limit": str(self.limit), "RateLimit-Remaining": str(self.remaining),
                "RateLimit-Reset": str(self.reset_s)}


class RateLimiter:
    """``GATEWAY_RATE_LIMIT`` (``N/second``, ``/minute``, ``/hour``) per client key:
    counted in ``shared`` when there is one and it answers, else on this host."""

    def __init__(self, rate: str, host: HostStorage, shared: SharedStore | None = None) -> None:
        self._item = parse(rate)
        self._expiry = self._item.get_expiry()
        self._host = host
        self._shared = shared
        self._suffix = f"/{rate}"  # our storage's own key for a client: "client/rate"

    def hit(self, client_key: str) -> Decision:
        """Count one request; raises ``TableFull`` when the host table cannot count it."""
        limit = self._item.amount
        found = self._shared.hit(self._item, client_key) if self._shared is not None else None
        if found is not None:
            allowed, reset_at, remaining = found
        else:  # the host's counters: the same fixed window, in one step
            count, reset_at = self._host.hit(client_key + self._suffix, self._expiry)
            allowed, remaining = count <= limit, max(0, limit - count)
        return Decision(allowed, limit, remaining, max(0, math.ceil(reset_at - time.time())))


def check_rate(rate: str) -> None:
    try:
        item = parse(rate)
    except ValueError as err:
        raise ConfigError(f"GATEWAY_RATE_LIMIT: {rate!r} is not N/second, N/minute or N/hour: {err}") from None
    if item.GRANULARITY.name not in ("second", "minute", "hour") or item.multiples != 1:
        raise ConfigError(f"GATEWAY_RATE_LIMIT: {rate!r}: use N/second, N/minute or N/hour")


def check_storage(uri: str) -> None:
    """What can be checked of ``GATEWAY_RATE_LIMIT_STORAGE`` without ``redis`` (in
    Gunicorn's master, see the module) and without connecting."""
    if uri and not uri.startswith(("redis://", "rediss://", "redis+sentinel://", "redis+cluster://")):
        raise ConfigError(f"GATEWAY_RATE_LIMIT_STORAGE: {_redacted(uri)!r} is not a redis://, rediss://, "
                          "redis+sentinel:// or redis+cluster:// URL")


def rate_limiter(rate: str, storage_uri: str, host_file: Path) -> RateLimiter:
    """The limiter for this worker: Redis when configured (this host's counters while it
    does not answer), else the host's counters."""
    check_rate(rate)
    check_storage(storage_uri)
    return RateLimiter(rate, HostStorage(host_file), SharedStore(storage_uri) if storage_uri else None)
