"""Restarting workers under load: SIGHUP, max_requests recycling, SIGTERM."""

from __future__ import annotations

import re
import signal
import threading
from pathlib import Path

import requests

from tests.harness import Backend, Gateway, Process, SteadyLoad, wait_for


def test_sighup_and_worker_recycling_under_load_drop_no_request(procs: list[Process], log_dir: Path) -> None:
    calculator = Backend("calculator", log_dir)
    cache = Backend("cache", log_dir)
    procs += [calculator, cache]
    gateway = Gateway(log_dir, [calculator.address], [cache.address], workers=2,
                      env={"GATEWAY_MAX_REQUESTS": "150", "GATEWAY_MAX_REQUESTS_JITTER": "50"})
    procs.append(gateway)
    def boots() -> int:
        return len(re.findall(r"Booting worker with pid", gateway.output()))

    with SteadyLoad(gateway.url, clients=6) as load:
        for _ in range(2):
            load.wait_for_more(400)
            gateway.send(signal.SIGHUP)
        # Keep the load on until the log shows the reloads and some recycling: two
        # workers at start, two per SIGHUP, more as max_requests retires them.
        wait_for(lambda: boots() >= 2 + 4 + 2, 90, "reloads and worker recycling", interval_s=0.2)
        load.wait_for_more(300)
    assert load.failures == [], load.failures[:5]


def test_sigterm_lets_requests_in_flight_finish(procs: list[Process], log_dir: Path) -> None:
    calculator = Backend("calculator", log_dir, args=("--delay-ms", "1500"))
    cache = Backend("cache", log_dir)
    procs += [calculator, cache]
    gateway = Gateway(log_dir, [calculator.address], [cache.address])
    procs.append(gateway)
    result: dict[str, object] = {}

    def slow_call() -> None:
        r = requests.get(f"{gateway.url}/add/20/22", timeout=20)
        result.update(status=r.status_code, body=r.json())

    caller = threading.Thread(target=slow_call)
    caller.start()
    wait_for(lambda: _in_flight(gateway), 10, "the call to be in flight")
    gateway.send(signal.SIGTERM)
    caller.join(20)
    assert result == {"status": 200, "body": {"result": 42}}
    assert gateway.popen.wait(40) == 0


def _in_flight(gateway: Gateway) -> bool:
    text = requests.get(f"{gateway.url}/metrics").text
    return bool(re.search(r'gateway_pool_connections\{address="[^"]+",backend="calculator",state="in_use"\} [1-9]', text))
