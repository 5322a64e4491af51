"""GATEWAY_RATE_LIMIT_STORAGE when Redis is not there: a port that refuses, a server that
accepts connections and never answers, and a real redis-server that comes back.

What must hold: every request is answered within bounded time (the store's timeouts,
not redis-py's 5 s default and its retries), limits keep holding per host meanwhile, and
each worker logs one line when the store fails and one when it answers again."""

from __future__ import annotations

import logging
import socket
import threading
import time
from pathlib import Path
from typing import Iterator

import pytest
import requests

from gateway.security import ratelimit
from gateway.security.ratelimit import STORE_TIMEOUT_S, HostStorage, RateLimiter, SharedStore
from tests.harness import Backend, Gateway, Process, free_port
from tests.problems import assert_problem
from tests.system_tools import RedisNode, ensure_redis_server


class Silent:
    """A TCP server that accepts every connection and never answers (a hung Redis)."""

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self.connections: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:  # closed
                return
            self.connections.append(conn)

    def close(self) -> None:
        self._listener.close()
        for conn in self.connections:
            conn.close()


@pytest.fixture
def silent() -> Iterator[Silent]:
    server = Silent()
    yield server
    server.close()


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def host_table(tmp_path: Path) -> HostStorage:
    path = tmp_path / ratelimit.HOST_COUNTERS_FILE
    HostStorage.create(path, 256)
    return HostStorage(path, 256)


def store_lines(caplog: pytest.LogCaptureFixture, what: str) -> int:
    return sum(what in r.getMessage() for r in caplog.records if r.name == "gateway.security.ratelimit")


@pytest.mark.parametrize("down", ["refused", "silent"])
def test_a_store_that_is_down_costs_one_timeout_and_limits_hold_per_host(
        tmp_path: Path, caplog: pytest.LogCaptureFixture, silent: Silent, down: str) -> None:
    caplog.set_level(logging.WARNING, logger="gateway.security.ratelimit")
    port = free_port() if down == "refused" else silent.port
    clock = Clock()
    limiter = RateLimiter("3/minute", host_table(tmp_path), SharedStore(f"redis://127.0.0.1:{port}/0", clock=clock))
    started = time.monotonic()
    first = limiter.hit("alice")
    assert time.monotonic() - started < STORE_TIMEOUT_S * 2 + 0.5  # one timeout at most, no retries
    # Counted on this host meanwhile, without asking the store again.
    started = time.monotonic()
    rest = [limiter.hit("alice") for _ in range(49)]
    assert time.monotonic() - started < 0.5
    assert [d.allowed for d in [first, *rest[:3]]] == [True, True, True, False]
    assert first.limit == 3 and first.remaining == 2 and 59 <= first.reset_s <= 60
    if down == "silent":
        assert len(silent.connections) == 1
    clock.now += ratelimit.STORE_RETRY_S  # asked again: still down, still one line
    assert not limiter.hit("alice").allowed
    if down == "silent":
        assert len(silent.connections) == 2
    assert store_lines(caplog, "failed") == 1 and store_lines(caplog, "answers again") == 0
    assert "127.0.0.1" in caplog.text and ("Timeout" in caplog.text if down == "silent" else "refused" in caplog.text)


def test_a_store_that_comes_back_is_used_again(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    binary = ensure_redis_server()
    if binary is None:
        pytest.skip("redis-server is missing and cannot be installed here (needs root and apt)")
    caplog.set_level(logging.WARNING, logger="gateway.security.ratelimit")
    port = free_port()
    clock = Clock()
    url = f"redis://127.0.0.1:{port}/0"
    one = RateLimiter("2/minute", host_table(tmp_path), SharedStore(url, clock=clock))
    assert one.hit("bob").allowed  # down: counted on this host
    redis = RedisNode(binary, tmp_path, port=port)
    try:
        assert one.hit("bob").allowed  # still within the retry interval: this host, 2 of 2
        assert not one.hit("bob").allowed
        clock.now += ratelimit.STORE_RETRY_S
        # Back: one budget shared with another host through Redis (its first count there).
        (tmp_path / "other").mkdir()
        other = RateLimiter("2/minute", host_table(tmp_path / "other"), SharedStore(url))
        assert one.hit("bob").allowed and other.hit("bob").allowed
        assert not other.hit("bob").allowed and not one.hit("bob").allowed
        assert store_lines(caplog, "failed") == 1 and store_lines(caplog, "answers again") == 1
    finally:
        redis.stop()


# Through a real gateway: problem documents, bounded answers, one log line per outage.

@pytest.mark.parametrize("down", ["refused", "silent"])
def test_the_gateway_serves_with_a_store_that_is_down(procs: list[Process], log_dir: Path, silent: Silent,
                                                      backends: tuple[Backend, Backend], down: str) -> None:
    port = free_port() if down == "refused" else silent.port
    gw = Gateway(log_dir, [backends[0].address], [backends[1].address], workers=1,
                 env={"GATEWAY_RATE_LIMIT": "3/minute", "GATEWAY_RATE_LIMIT_STORAGE": f"redis://127.0.0.1:{port}/0"})
    procs.append(gw)
    answers = []
    for _ in range(5):
        started = time.monotonic()
        answers.append(requests.get(f"{gw.url}/add/1/2", timeout=10))
        assert time.monotonic() - started < 2.0
    assert [r.status_code for r in answers] == [200, 200, 200, 429, 429]
    assert answers[0].headers["RateLimit-Limit"] == "3" and answers[2].headers["RateLimit-Remaining"] == "0"
    assert_problem(answers[-1], 429, "rate_limited")
    output = gw.output()
    assert output.count("rate limits: the store") == 1, output
    assert "Traceback" not in output
