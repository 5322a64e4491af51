"""Several instances of each backend behind one gateway, with real processes."""

from __future__ import annotations

import re
from pathlib import Path

import requests
from thrift.protocol.TBinaryProtocol import TBinaryProtocol
from thrift.transport.TSocket import TSocket
from thrift.transport.TTransport import TFramedTransport
from uhashring import HashRing

from tests.harness import Backend, Gateway, Process, SteadyLoad, wait_for
from tests.problems import assert_problem
from thrift_idl.gen.cache import Cache
from thrift_idl.gen.cache.ttypes import NotFound


def start_many(procs: list[Process], log_dir: Path, name: str, n: int) -> list[Backend]:
    started = [Backend(name, log_dir) for _ in range(n)]
    procs.extend(started)
    return started


def calls_by_address(gateway: Gateway) -> dict[str, float]:
    text = requests.get(f"{gateway.url}/metrics").text
    totals: dict[str, float] = {}
    for address, outcome, value in re.findall(
        r'gateway_thrift_calls_total\{address="([^"]+)",backend="calculator",method="add",outcome="([^"]+)"\} (\S+)', text
    ):
        if outcome == "ok":
            totals[address] = totals.get(address, 0.0) + float(value)
    return totals


def test_calculator_instance_killed_under_load_fails_no_request_and_comes_back(
    procs: list[Process], log_dir: Path
) -> None:
    calculators = start_many(procs, log_dir, "calculator", 3)
    cache = Backend("cache", log_dir)
    procs.append(cache)
    gateway = Gateway(log_dir, [c.address for c in calculators], [cache.address], workers=2)
    procs.append(gateway)

    with SteadyLoad(gateway.url, clients=8) as load:
        load.wait_for_more(300, 30)
        victim = calculators[1]
        victim.popen.kill()
        victim.popen.wait()
        load.wait_for_more(500, 30)  # the load goes on without the killed instance
        # Back on the same port: it takes traffic again, with no gateway restart.
        procs.append(Backend("calculator", log_dir, port=victim.port))
        before = calls_by_address(gateway).get(victim.address, 0.0)
        wait_for(lambda: calls_by_address(gateway).get(victim.address, 0.0) > before + 50, 60,
                 "the restarted instance to take traffic again", interval_s=0.5)
    assert load.failures == []
    served = calls_by_address(gateway)
    assert all(served.get(c.address, 0) > 50 for c in calculators), served
    assert "gateway_backend_ejections_total" in requests.get(f"{gateway.url}/metrics").text


def direct_get(port: int, key: str) -> bytes | None:
    transport = TSocket("127.0.0.1", port)
    transport.open()
    try:
        return Cache.Client(TBinaryProtocol(TFramedTransport(transport))).get(key)
    except NotFound:
        return None
    finally:
        transport.close()


def test_cache_keys_live_on_one_node_and_a_dead_node_fails_only_its_own(procs: list[Process], log_dir: Path) -> None:
    nodes = start_many(procs, log_dir, "cache", 3)
    calculator = Backend("calculator", log_dir)
    procs.append(calculator)
    addrs = [n.address for n in nodes]
    gateway = Gateway(log_dir, [calculator.address], addrs, workers=2)
    procs.append(gateway)
    keys = [f"user:{i}" for i in range(90)]
    http = requests.Session()
    for key in keys:
        assert http.put(f"{gateway.url}/cache/{key}", json={"value": key}).status_code == 200

    # Each key sits on exactly one node: the one ketama names for it.
    ring = HashRing(nodes=addrs, hash_fn="ketama")
    owner = {key: ring.get_node(key) for key in keys}
    for key in keys:
        holders = [n.address for n in nodes if direct_get(n.port, key) is not None]
        assert holders == [owner[key]], (key, holders)
    assert len(set(owner.values())) == 3

    # Stable across workers and restarts: a new gateway process finds every key.
    gateway.stop()
    gateway2 = Gateway(log_dir, [calculator.address], list(reversed(addrs)), workers=2)
    procs.append(gateway2)
    for key in keys:
        assert http.get(f"{gateway2.url}/cache/{key}").json() == {"key": key, "value": key}

    victim = nodes[2]
    victim.stop()
    for key in keys:
        r = http.get(f"{gateway2.url}/cache/{key}")
        if owner[key] == victim.address:
            assert_problem(r, 503, "backend_unavailable")
            # A write to a dead node's key fails too: it is never put somewhere else.
            assert_problem(http.put(f"{gateway2.url}/cache/{key}", json={"value": "new"}), 503, "backend_unavailable")
        else:
            assert r.json() == {"key": key, "value": key}
    for node in nodes[:2]:
        for key in keys:
            if owner[key] == victim.address:
                assert direct_get(node.port, key) is None
