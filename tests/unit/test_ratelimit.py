"""gateway/security/ratelimit.py's host table in-process: the real memory-mapped file, no server.

The promise under test: a client over its limit stays limited until its window ends,
whatever other clients do - the table never counts a new client in the place of a live
one; what it cannot count it refuses (503 overloaded, Retry-After)."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.security import ratelimit
from gateway.security.ratelimit import HOST_SLOTS, HostStorage, RateLimiter, TableFull

HOUR = 3600


def table(tmp_path: Path, slots: int = HOST_SLOTS) -> HostStorage:
    path = tmp_path / ratelimit.HOST_COUNTERS_FILE
    HostStorage.create(path, slots)
    return HostStorage(path, slots)


def test_a_client_over_its_limit_stays_limited_whatever_other_clients_do(tmp_path: Path) -> None:
    # Issue 22's probe, in-process: 1/hour, clients at their limit, then 70,000 other
    # addresses (more than the 65,536 counters the table used to have, which then took
    # live counters over and let 55-204 of the first clients in again).
    limiter = RateLimiter("1/hour", table(tmp_path))
    first = [f"addr:10.0.{n // 250}.{n % 250}" for n in range(1000)]
    assert all(limiter.hit(key).allowed for key in first)
    assert not any(limiter.hit(key).allowed for key in first)
    for n in range(70_000):
        assert limiter.hit(f"addr:10.1.{n // 250}.{n % 250}").allowed
    readmitted = [key for key in first if limiter.hit(key).allowed]
    assert readmitted == []


def test_a_full_table_refuses_new_clients_and_keeps_counting_the_others(tmp_path: Path) -> None:
    host = table(tmp_path, slots=256)
    limiter = RateLimiter("2/hour", host)
    counted = []
    with pytest.raises(TableFull) as refused:
        for n in range(257):
            limiter.hit(f"c{n}")
            counted.append(f"c{n}")
    # The bound the module documents: at least 80% of the slots before the first refusal.
    assert len(counted) >= 0.8 * 256
    assert refused.value.status == 503 and refused.value.code == "overloaded"
    assert 3590 <= int(refused.value.headers()["Retry-After"]) <= HOUR  # when the first of its windows ends
    # Everyone counted is still counted: their second request is the last allowed.
    assert all(limiter.hit(key).remaining == 0 for key in counted)
    assert not any(limiter.hit(key).allowed for key in counted)


def test_a_counter_is_reused_only_once_its_window_has_ended(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1_000_000.0]
    monkeypatch.setattr(ratelimit.time, "time", lambda: now[0])
    host = table(tmp_path, slots=16)  # one bucket: every key's two choices
    for n in range(16):
        host.hit(f"minute-{n}", 60)
    with pytest.raises(TableFull) as refused:
        host.hit("hour-0", HOUR)
    assert refused.value.headers() == {"Retry-After": "60"}
    now[0] += 59
    with pytest.raises(TableFull):
        host.hit("hour-0", HOUR)
    now[0] += 1  # the one-minute windows have ended: their counters may be reused
    for n in range(16):
        assert host.hit(f"hour-{n}", HOUR)[0] == 1
    with pytest.raises(TableFull):
        host.hit("hour-16", HOUR)
    assert all(host.get(f"minute-{n}") == 0 for n in range(16))  # ended windows count nothing


def test_any_name_has_its_own_counter(tmp_path: Path) -> None:
    # A name with a lone surrogate (authentication refuses them; a key must not crash the
    # limiter if one gets past it) is counted, and apart from names that look alike.
    host = table(tmp_path, slots=64)
    assert host.hit("\ud800/1/hour", HOUR) == (1, pytest.approx(host.get_expiry("\ud800/1/hour")))
    assert host.hit("\ud800/1/hour", HOUR)[0] == 2
    assert host.hit("\\ud800/1/hour", HOUR)[0] == 1
    assert host.hit("?/1/hour", HOUR)[0] == 1


def test_the_table_size_is_a_multiple_of_the_bucket(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        HostStorage(tmp_path / "t.bin", slots=100)
    assert not (tmp_path / "t.bin").exists()


def test_a_refusal_is_a_problem_document() -> None:
    from gateway.http.problems import for_exception

    status, body, headers = for_exception(TableFull("no counter free", retry_after_s=7))
    assert (status, body["code"], body["title"], headers) == (503, "overloaded", "Overloaded", {"Retry-After": "7"})
