"""The Cache backend with its entries in a real Redis."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests

from tests.harness import Backend, Gateway, Process, wait_for
from tests.problems import assert_problem
from tests.system_tools import RedisServer, ensure_redis_server


@pytest.fixture
def redis_server(procs: list[Process], tmp_path: Path) -> RedisServer:
    binary = ensure_redis_server()
    if binary is None:
        pytest.skip("redis-server is missing and cannot be installed here (needs root and apt)")
    server = RedisServer(binary, tmp_path)
    procs.append(server)
    return server


def test_values_ttl_and_restart_survival(procs: list[Process], log_dir: Path, redis_server: RedisServer) -> None:
    store = ("--store", redis_server.url)
    cache = Backend("cache", log_dir, args=store)
    procs.append(cache)
    calculator = Backend("calculator", log_dir)
    procs.append(calculator)
    gateway = Gateway(log_dir, [calculator.address], [cache.address])
    procs.append(gateway)
    url, http = gateway.url, requests.Session()

    assert http.put(f"{url}/cache/kept", json={"value": {"n": [1, "é"]}}).status_code == 200
    assert http.get(f"{url}/cache/kept").json() == {"key": "kept", "value": {"n": [1, "é"]}}
    assert http.put(f"{url}/cache/brief", json={"value": 1, "ttl": 1}).status_code == 200
    assert http.get(f"{url}/cache/brief").status_code == 200
    wait_for(lambda: http.get(f"{url}/cache/brief").status_code == 404, 5, "the key to expire", interval_s=0.1)
    assert http.put(f"{url}/cache/gone", json={"value": 1}).status_code == 200
    assert http.delete(f"{url}/cache/gone").json() == {"key": "gone", "deleted": True}
    assert_problem(http.get(f"{url}/cache/gone"), 404, "not_found")
    # The size rules are the backend's, whatever the store.
    assert_problem(http.put(f"{url}/cache/big", json={"value": "x" * (1024 * 1024)}), 413, "payload_too_large")
    assert_problem(http.put(f"{url}/cache/a%20b", json={"value": 1}), 400, "invalid_key")

    # The cache backend restarts on the same port; the data was never in its memory.
    assert cache.stop() == 0
    procs.append(Backend("cache", log_dir, port=cache.port, args=store))
    assert http.get(f"{url}/cache/kept").json() == {"key": "kept", "value": {"n": [1, "é"]}}

    # Two cache backends sharing the Redis see the same entries.
    other = Backend("cache", log_dir, args=store)
    procs.append(other)
    gateway2 = Gateway(log_dir, [calculator.address], [other.address])
    procs.append(gateway2)
    assert http.get(f"{gateway2.url}/cache/kept").json()["value"] == {"n": [1, "é"]}

    # Redis down: the cache answers 503, not a bad gateway or a silent miss.
    redis_server.stop()
    assert_problem(http.get(f"{url}/cache/kept"), 503, "backend_unavailable")
    assert_problem(http.put(f"{url}/cache/kept", json={"value": 2}), 503, "backend_unavailable")
    # ... and /readyz says so, naming the cache, so a load balancer stops sending traffic.
    ready = http.get(f"{url}/readyz")
    assert_problem(ready, 503, "backend_unavailable")
    assert "cache at" in ready.json()["detail"] and ready.json()["backends"]["calculator"] == {
        calculator.address: "ok"}


def test_readyz_is_ready_while_redis_answers(procs: list[Process], log_dir: Path, redis_server: RedisServer) -> None:
    cache = Backend("cache", log_dir, args=("--store", redis_server.url))
    calculator = Backend("calculator", log_dir)
    procs += [cache, calculator]
    gateway = Gateway(log_dir, [calculator.address], [cache.address])
    procs.append(gateway)
    assert requests.get(f"{gateway.url}/readyz").status_code == 200
