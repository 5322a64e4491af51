from __future__ import annotations

import pytest

from backends.cache_store import ENTRY_OVERHEAD_BYTES, MemoryStore, entry_size


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_get_put_delete() -> None:
    store = MemoryStore(1000)
    assert store.get("a") is None
    store.put("a", b"1")
    assert store.get("a") == b"1"
    assert store.delete("a") is True
    assert store.delete("a") is False
    s = store.stats()
    assert (s.items, s.bytes, s.hits, s.misses) == (0, 0, 1, 1)


def test_lru_evicts_the_least_recently_used() -> None:
    store = MemoryStore(max_bytes=3 * entry_size("k1", b"xxxx"))
    for key in ("k1", "k2", "k3"):
        store.put(key, b"xxxx")
    store.get("k1")  # k2 is now the least recently used
    store.put("k4", b"xxxx")
    assert store.get("k2") is None
    assert all(store.get(k) == b"xxxx" for k in ("k1", "k3", "k4"))
    s = store.stats()
    assert s.evictions == 1 and s.items == 3 and s.bytes <= s.max_bytes


def test_overwrite_updates_size_and_recency() -> None:
    store = MemoryStore(1000)
    store.put("a", b"x" * 10)
    store.put("a", b"x" * 20)
    assert store.stats().bytes == entry_size("a", b"x" * 20)
    assert store.stats().items == 1


def test_a_large_entry_evicts_as_many_as_needed() -> None:
    small = entry_size("k0", b"x" * 8)
    store = MemoryStore(10 * small)
    for i in range(10):
        store.put(f"k{i}", b"x" * 8)  # full
    store.put("big", b"x" * (6 * small - entry_size("big", b"")))  # as large as six: six must go
    s = store.stats()
    assert s.evictions == 6 and s.bytes <= 10 * small and store.get("big") is not None
    with pytest.raises(ValueError):
        store.put("huge", b"x" * 10 * small)


def test_the_bound_counts_what_an_entry_really_costs() -> None:
    # A million one-byte values must not fit in 1 MiB: each costs the process ~200
    # bytes of objects and table besides its key and value.
    store = MemoryStore(1 << 20)
    for i in range(20_000):
        store.put(f"k{i}", b"x")
    s = store.stats()
    assert s.items < (1 << 20) // ENTRY_OVERHEAD_BYTES + 1 and s.evictions > 0
    assert ENTRY_OVERHEAD_BYTES >= 200


def test_ttl_expired_entries_are_never_returned() -> None:
    clock = Clock()
    store = MemoryStore(1000, clock=clock)
    store.put("a", b"1", ttl_seconds=10)
    store.put("b", b"2")
    clock.now += 9.999
    assert store.get("a") == b"1"
    clock.now += 0.001
    assert store.get("a") is None
    assert store.delete("a") is False
    clock.now += 10**6
    assert store.get("b") == b"2"
    s = store.stats()
    assert s.expirations == 1 and s.items == 1


def test_overwrite_without_ttl_clears_the_expiry() -> None:
    clock = Clock()
    store = MemoryStore(1000, clock=clock)
    store.put("a", b"1", ttl_seconds=1)
    store.put("a", b"2")
    clock.now += 5
    assert store.get("a") == b"2"


def test_expired_entries_evicted_for_room_count_as_expirations() -> None:
    clock = Clock()
    store = MemoryStore(max_bytes=2 * entry_size("a", b"x"), clock=clock)
    store.put("a", b"x", ttl_seconds=1)
    store.put("b", b"x")
    clock.now += 2
    store.put("c", b"x")
    s = store.stats()
    assert (s.expirations, s.evictions) == (1, 0)
