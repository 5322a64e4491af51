"""The Cache backend: ``python -m backends.cache --host H --port P [--max-memory BYTES]
[--store redis://HOST:PORT/DB]``."""

from __future__ import annotations

if __name__ == "__main__":
    # Before anything opens a socket: Redis calls must yield to other connections'
    # greenlets instead of blocking the whole process.
    from gevent import monkey

    monkey.patch_all()

import argparse
import logging
import sys
from pathlib import Path

from backends import cli, snapshot
from backends.cache_store import MemoryStore, RedisStore, Store, StoreUnavailable, entry_size
from thrift_idl.cache_rules import MAX_VALUE_BYTES, key_problem, ttl_problem
from thrift_idl.gen.cache import Cache, ttypes
from thrift_idl.gen.cache.ttypes import CacheStats, InvalidKey, InvalidTtl, NotFound, TooLarge

DEFAULT_MAX_MEMORY = 64 * 1024 * 1024
log = logging.getLogger("cache")


def _valid_key(key: str) -> str:
    problem = key_problem(key)
    if problem is not None:
        raise InvalidKey(key=key, reason=problem)
    return key


def _declared_unavailable(method):  # type: ignore[no-untyped-def]
    """Turn the store's outage into the IDL's StoreUnavailable (the gateway's 503)."""

    def wrapper(*args, **kwargs):  # type: ignore[no-untyped-def]
        try:
            return method(*args, **kwargs)
        except StoreUnavailable as err:
            raise ttypes.StoreUnavailable(reason=str(err)) from err

    return wrapper


class CacheHandler:
    """Thrift face of the store: checks the IDL's rules, then delegates."""

    def __init__(self, store: Store, max_memory: int) -> None:
        self._store = store
        self._max_memory = max_memory

    @_declared_unavailable
    def ping(self) -> None:
        self._store.ping()  # /readyz: not ready while the store is unreachable

    @_declared_unavailable
    def get(self, key: str) -> bytes:
        value = self._store.get(_valid_key(key))
        if value is None:
            raise NotFound(key=key)
        return value

    @_declared_unavailable
    def put(self, key: str, value: bytes, ttl_seconds: int | None) -> None:
        _valid_key(key)
        if len(value) > MAX_VALUE_BYTES:
            raise TooLarge(size=len(value), limit=MAX_VALUE_BYTES)
        size = entry_size(key, value)
        if size > self._max_memory:
            raise TooLarge(size=size, limit=self._max_memory)
        if ttl_seconds is not None:
            problem = ttl_problem(ttl_seconds)
            if problem is not None:
                raise InvalidTtl(ttl_seconds=ttl_seconds, reason=problem)
        self._store.put(key, value, ttl_seconds)

    @_declared_unavailable
    def remove(self, key: str) -> None:
        if not self._store.delete(_valid_key(key)):
            raise NotFound(key=key)

    @_declared_unavailable
    def stats(self) -> CacheStats:
        s = self._store.stats()
        return CacheStats(
            items=s.items, bytes=s.bytes, max_bytes=s.max_bytes, hits=s.hits,
            misses=s.misses, evictions=s.evictions, expirations=s.expirations,
        )


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("must be a positive number of bytes")
    return value


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--max-memory",
        type=_positive_int,
        default=DEFAULT_MAX_MEMORY,
        help="bound on stored key and value bytes; least recently used entries are "
        "evicted to stay under it (default: %(default)s). With Redis, the bound on one entry",
    )
    p.add_argument(
        "--store",
        default="memory",
        help="where entries live: 'memory' (default), redis://HOST:PORT/DB, rediss://..., "
        "redis+sentinel://HOST:PORT[,HOST:PORT]/MASTER_NAME[/DB] or redis+cluster://HOST:PORT[,HOST:PORT]",
    )
    p.add_argument(
        "--snapshot",
        type=Path,
        help="memory store only: load entries from this file at start, write them to it on a graceful stop",
    )
    p.add_argument(
        "--snapshot-interval",
        type=float,
        default=0,
        help="also write the snapshot every this many seconds (default: only on stop)",
    )


def make_store(spec: str, max_memory: int) -> Store:
    if spec == "memory":
        return MemoryStore(max_memory)
    if spec.startswith(("redis://", "rediss://", "unix://", "redis+sentinel://", "redis+cluster://")):
        try:
            return RedisStore(spec)
        except ValueError as err:
            raise SystemExit(f"--store: {err}") from None
        except Exception as err:  # a cluster is asked for its slots at once
            raise SystemExit(f"--store: cannot reach {spec}: {err}") from None
    raise SystemExit(f"--store: expected 'memory' or a redis://, rediss://, redis+sentinel:// or redis+cluster:// "
                     f"URL, got {spec!r}")


def main() -> int:
    p = cli.parser("cache", 9091)
    configure(p)
    args = p.parse_args()
    store = make_store(args.store, args.max_memory)
    processor = Cache.Processor(CacheHandler(store, args.max_memory))
    if args.snapshot is None:
        return cli.serve("cache", args, processor)
    if not isinstance(store, MemoryStore):
        p.error("--snapshot is for the memory store; Redis keeps its own data")
    cli.configure_logging("cache", args)

    def save() -> None:
        count = snapshot.write(args.snapshot, store.entries())
        log.info("wrote %d entries to %s", count, args.snapshot)

    if args.snapshot.exists():
        try:
            log.info("loaded %d entries from %s", store.restore(snapshot.read(args.snapshot)), args.snapshot)
        except snapshot.SnapshotError as err:
            # Refuse to start rather than overwrite the only copy with an empty snapshot.
            print(f"cache: refusing to start: {err}; the file is left as it is", file=sys.stderr)
            return 1
    every = (args.snapshot_interval, save) if args.snapshot_interval > 0 else None
    return cli.serve("cache", args, processor, every=every, on_stop=save)


if __name__ == "__main__":
    sys.exit(main())
