"""Where the Cache backend keeps its entries: in its own memory, or in Redis.

``MemoryStore``, the default, is an LRU with per-entry expiry and a bound on stored
bytes. Every operation is O(1): an ``OrderedDict`` keeps entries in recency order, so the
least recently used entry is always at the front. Expiry is checked when an entry is
touched (an expired entry is never returned) and expired entries at the front of the LRU
order are the first to go when room is needed.

``RedisStore`` keeps them in a Redis database instead: TTL becomes Redis expiry, the
data outlives the backend process, and several cache backends can share one Redis.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator, Protocol


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


class StoreUnavailable(Exception):
    """The store cannot be reached (Redis down); nothing was read or changed."""


class Store(Protocol):
    def ping(self) -> None: ...

    def get(self, key: str) -> bytes | None: ...

    def put(self, key: str, value: bytes, ttl_seconds: int | None = None) -> None: ...

    def delete(self, key: str) -> bool: ...

    def stats(self) -> StoreStats: ...


# What one entry costs the process beyond its key's and value's bytes: the key's str and
# the value's bytes objects, the entry record, its expiry, and its share of the ordered
# dict's table and links. Measured with tracemalloc (about 206 bytes with no expiry, 230
# with one, for 1-byte values); rounded up so that the dict's growth stays inside it.
ENTRY_OVERHEAD_BYTES = 240


def entry_size(key: str, value: bytes) -> int:
    """What an entry counts against the memory bound: what it really costs the process,
    its key's UTF-8 and its value's bytes plus the per-entry overhead."""
    return len(key.encode("utf-8")) + len(value) + ENTRY_OVERHEAD_BYTES


class MemoryStore:
    def __init__(self, max_bytes: int, clock: Callable[[], float] = time.monotonic) -> None:
        if max_bytes <= 0:
            raise ValueError("max_bytes must be positive")
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._clock = clock
        self._stats = StoreStats(max_bytes=max_bytes)

    def ping(self) -> None:
        return None  # in this process's memory: there whenever the process is

    def get(self, key: str) -> bytes | None:
        entry = self._live(key)
        if entry is None:
            self._stats.misses += 1
            return None
        self._entries.move_to_end(key)
        self._stats.hits += 1
        return entry.value

    def put(self, key: str, value: bytes, ttl_seconds: float | None = None) -> None:
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

    def entries(self) -> Iterator[tuple[str, bytes, float | None]]:
        """Every live entry, least recently used first, with its seconds left to live."""
        now = self._clock()
        for key, entry in list(self._entries.items()):
            if entry.expires_at is None:
                yield key, entry.value, None
            elif entry.expires_at > now:
                yield key, entry.value, entry.expires_at - now

    def restore(self, entries: Iterable[tuple[str, bytes, float | None]]) -> int:
        """Put ``entries`` back (oldest first, so recency order survives); returns how many."""
        count = 0
        for key, value, ttl_left in entries:
            self.put(key, value, ttl_left)  # type: ignore[arg-type]
            count += 1
        return count

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


class RedisStore:
    """Entries in Redis, which should be dedicated to the cache: ``items`` counts the
    whole database. Redis bounds its own memory (its ``maxmemory`` and eviction policy);
    ``bytes`` is its ``used_memory``. ``url`` is one of (``redis_client`` reads it):

    * ``redis://HOST:PORT/DB``, ``rediss://...`` (TLS, trusting the system's CAs or
      those of ``SSL_CERT_FILE``), ``unix://PATH``;
    * ``redis+sentinel://HOST:PORT[,HOST:PORT]/MASTER_NAME[/DB]``: the master that Redis
      Sentinel names, followed across a failover (redis-py's ``Sentinel``);
    * ``redis+cluster://HOST:PORT[,HOST:PORT]``: a Redis Cluster, each key on the node
      that owns its slot (redis-py's ``RedisCluster``).
    """

    def __init__(self, url: str) -> None:
        import redis
        from redis.exceptions import RedisClusterException

        # A sentinel's "no master now" and a cluster's "slot not served" are outages too.
        self._errors = (redis.ConnectionError, redis.TimeoutError, RedisClusterException, redis.exceptions.ClusterError)
        self._redis, self._cluster = redis_client(url)

    def _run(self, command: Callable[[], object]) -> object:
        try:
            return command()
        except self._errors as err:
            raise StoreUnavailable(f"redis: {err}") from err

    def ping(self) -> None:
        self._run(self._redis.ping)

    def get(self, key: str) -> bytes | None:
        return self._run(lambda: self._redis.get(key))  # type: ignore[return-value]

    def put(self, key: str, value: bytes, ttl_seconds: int | None = None) -> None:
        # SET without EX also clears an expiry the key had: the same as MemoryStore.
        self._run(lambda: self._redis.set(key, value, ex=ttl_seconds))

    def delete(self, key: str) -> bool:
        return self._run(lambda: self._redis.delete(key)) == 1

    def stats(self) -> StoreStats:
        if self._cluster:
            return self._cluster_stats()
        info: dict = self._run(self._redis.info)  # type: ignore[assignment]
        items: int = self._run(self._redis.dbsize)  # type: ignore[assignment]
        return StoreStats(
            items=items, bytes=info.get("used_memory", 0), max_bytes=info.get("maxmemory", 0),
            hits=info.get("keyspace_hits", 0), misses=info.get("keyspace_misses", 0),
            evictions=info.get("evicted_keys", 0), expirations=info.get("expired_keys", 0),
        )

    def _cluster_stats(self) -> StoreStats:
        """Summed over the cluster's primaries."""
        from redis.cluster import RedisCluster

        per_node: dict = self._run(lambda: self._redis.info(target_nodes=RedisCluster.PRIMARIES))  # type: ignore
        infos = list(per_node.values()) if per_node and isinstance(next(iter(per_node.values())), dict) else [per_node]
        items: int = self._run(lambda: self._redis.dbsize(target_nodes=RedisCluster.PRIMARIES))  # type: ignore

        def total(name: str) -> int:
            return sum(int(info.get(name, 0)) for info in infos)

        return StoreStats(items=items, bytes=total("used_memory"), max_bytes=total("maxmemory"),
                          hits=total("keyspace_hits"), misses=total("keyspace_misses"),
                          evictions=total("evicted_keys"), expirations=total("expired_keys"))


_TIMEOUTS = {"socket_timeout": 5, "socket_connect_timeout": 2}


def redis_client(url: str) -> tuple[Any, bool]:
    """(the redis-py client for ``url``, whether it is a cluster); raises ValueError."""
    import redis
    from redis.cluster import ClusterNode, RedisCluster
    from redis.sentinel import Sentinel

    scheme, _, rest = url.partition("://")
    if scheme in ("redis", "rediss", "unix"):
        return redis.Redis.from_url(url, **_TIMEOUTS), False
    if scheme == "redis+sentinel":
        hosts, _, path = rest.partition("/")
        master, _, db = path.partition("/")
        if not master:
            raise ValueError("redis+sentinel://HOST:PORT[,HOST:PORT]/MASTER_NAME[/DB]: the master's name is missing")
        sentinel = Sentinel(_host_ports(hosts), sentinel_kwargs=_TIMEOUTS, **_TIMEOUTS)
        return sentinel.master_for(master, db=int(db or 0), **_TIMEOUTS), False
    if scheme == "redis+cluster":
        nodes = [ClusterNode(host, port) for host, port in _host_ports(rest.rstrip("/"))]
        return RedisCluster(startup_nodes=nodes, **_TIMEOUTS), True
    raise ValueError(f"{scheme}:// is not a Redis URL this cache knows")


def _host_ports(text: str) -> list[tuple[str, int]]:
    pairs = []
    for part in filter(None, text.split(",")):
        host, sep, port = part.rpartition(":")
        if not sep or not port.isdigit():
            raise ValueError(f"{part!r} is not HOST:PORT")
        pairs.append((host.strip("[]"), int(port)))
    if not pairs:
        raise ValueError("no HOST:PORT given")
    return pairs
