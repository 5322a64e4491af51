from __future__ import annotations

from pathlib import Path

import pytest

from backends import snapshot
from backends.cache_store import MemoryStore


class Clock:
    def __init__(self) -> None:
        self.now = 50.0

    def __call__(self) -> float:
        return self.now


def test_round_trip_keeps_values_order_and_remaining_ttl(tmp_path: Path) -> None:
    clock = Clock()
    store = MemoryStore(10_000, clock=clock)
    store.put("old", b"\x00binary\xff")
    store.put("ttl", b"v", ttl_seconds=100)
    store.put("gone", b"v", ttl_seconds=1)
    store.put("é/k", b"")
    clock.now += 2  # "gone" has expired
    path = tmp_path / "cache.snapshot"
    assert snapshot.write(path, store.entries(), now=1000.0) == 3
    entries = snapshot.read(path, now=1010.0)  # ten seconds later
    assert [(k, v) for k, v, _ in entries] == [("old", b"\x00binary\xff"), ("ttl", b"v"), ("é/k", b"")]
    assert entries[0][2] is None and entries[1][2] == pytest.approx(88.0)
    restored = MemoryStore(10_000)
    assert restored.restore(entries) == 3 and restored.get("ttl") == b"v"
    assert [k for k, _, _ in snapshot.read(path, now=1000.0 + 99)] == ["old", "é/k"]  # "ttl" ran out meanwhile


@pytest.mark.parametrize("damage", [
    lambda b: b[: len(b) // 2],  # truncated
    lambda b: b[:20] + bytes([b[20] ^ 0xFF]) + b[21:],  # a flipped byte
    lambda b: b"not a snapshot",
    lambda b: b"",
])
def test_damaged_snapshots_are_refused_and_left_alone(tmp_path: Path, damage) -> None:
    path = tmp_path / "cache.snapshot"
    store = MemoryStore(10_000)
    for i in range(5):
        store.put(f"k{i}", b"value" * i)
    snapshot.write(path, store.entries())
    damaged = damage(path.read_bytes())
    path.write_bytes(damaged)
    with pytest.raises(snapshot.SnapshotError):
        snapshot.read(path)
    assert path.read_bytes() == damaged


def test_a_failed_write_leaves_the_old_snapshot(tmp_path: Path) -> None:
    path = tmp_path / "cache.snapshot"
    snapshot.write(path, [("a", b"1", None)])

    def broken():
        yield ("b", b"2", None)
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        snapshot.write(path, broken())
    assert [k for k, _, _ in snapshot.read(path)] == ["a"]
    assert [p.name for p in tmp_path.iterdir()] == ["cache.snapshot"]
