"""The Cache's store in Redis as teams run it for availability: Sentinel and Cluster."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
import requests

from tests.harness import Backend, Gateway, Process, free_port, wait_for
from tests.system_tools import RedisNode, ensure_redis_server, free_cluster_port, redis_cli


@pytest.fixture
def redis_binary() -> str:
    binary = ensure_redis_server()
    if binary is None:
        pytest.skip("redis-server is missing and cannot be installed here (needs root and apt)")
    return binary


class Sentinel(Process):
    def __init__(self, binary: str, work_dir: Path, master_port: int) -> None:
        self.port = free_port()
        conf = work_dir / f"sentinel-{self.port}.conf"
        conf.write_text(f"port {self.port}\nbind 127.0.0.1\ndir {work_dir}\n"
                        f"sentinel monitor cachemaster 127.0.0.1 {master_port} 2\n"
                        "sentinel down-after-milliseconds cachemaster 1000\n"
                        "sentinel failover-timeout cachemaster 4000\n")
        super().__init__([binary, str(conf), "--sentinel"], work_dir / f"sentinel-{self.port}.log")
        wait_for(lambda: redis_cli(self.port, "PING").strip() == "PONG", 20, "a sentinel")


def test_sentinel_follows_a_failover(procs: list[Process], log_dir: Path, tmp_path: Path, redis_binary: str) -> None:
    master = RedisNode(redis_binary, tmp_path)
    replica = RedisNode(redis_binary, tmp_path, "--replicaof", "127.0.0.1", str(master.port))
    procs += [master, replica]
    wait_for(lambda: "master_link_status:up" in redis_cli(replica.port, "INFO", "replication"), 20, "replication")
    sentinels = [Sentinel(redis_binary, tmp_path, master.port) for _ in range(3)]
    procs += sentinels
    wait_for(lambda: all(_field(redis_cli(s.port, "SENTINEL", "master", "cachemaster"), "num-other-sentinels") == "2"
                         for s in sentinels), 30, "the sentinels to find each other")
    store = "redis+sentinel://" + ",".join(f"127.0.0.1:{s.port}" for s in sentinels) + "/cachemaster/0"
    cache, calculator = Backend("cache", log_dir, args=("--store", store)), Backend("calculator", log_dir)
    procs += [cache, calculator]
    gw = Gateway(log_dir, [calculator.address], [cache.address])
    procs.append(gw)
    for i in range(20):
        assert requests.put(f"{gw.url}/cache/ha-{i}", json={"value": i}).status_code == 200
    assert redis_cli(master.port, "WAIT", "1", "5000").strip() == "1"  # acknowledged by the replica too
    master.stop(signal.SIGKILL)
    # Sentinel promotes the replica; the cache finds the new master and every key is there.
    wait_for(lambda: requests.get(f"{gw.url}/cache/ha-0").status_code == 200, 60, "the failover", interval_s=0.5)
    assert [requests.get(f"{gw.url}/cache/ha-{i}").json()["value"] for i in range(20)] == list(range(20))
    assert requests.put(f"{gw.url}/cache/after", json={"value": "new master"}).status_code == 200
    assert "role:master" in redis_cli(replica.port, "INFO", "replication")


def _field(reply: str, name: str) -> str | None:
    """A field of redis-cli's flat name/value answer (SENTINEL MASTER)."""
    lines = reply.split("\n")
    return lines[lines.index(name) + 1] if name in lines else None


def test_cluster_spreads_keys_over_its_nodes(procs: list[Process], log_dir: Path, tmp_path: Path,
                                            redis_binary: str) -> None:
    nodes = [RedisNode(redis_binary, tmp_path, "--cluster-enabled", "yes", "--cluster-config-file",
                       f"nodes-{i}.conf", "--appendonly", "no", port=free_cluster_port()) for i in range(3)]
    procs += nodes
    created = redis_cli(nodes[0].port, "--cluster", "create", *(f"127.0.0.1:{n.port}" for n in nodes),
                        "--cluster-replicas", "0", "--cluster-yes")
    assert "All 16384 slots covered" in created, created
    wait_for(lambda: all("cluster_state:ok" in redis_cli(n.port, "CLUSTER", "INFO") for n in nodes), 30,
             "the cluster to be ok")
    store = f"redis+cluster://127.0.0.1:{nodes[0].port},127.0.0.1:{nodes[1].port}"
    cache, calculator = Backend("cache", log_dir, args=("--store", store)), Backend("calculator", log_dir)
    procs += [cache, calculator]
    gw = Gateway(log_dir, [calculator.address], [cache.address])
    procs.append(gw)
    for i in range(60):
        assert requests.put(f"{gw.url}/cache/spread-{i}", json={"value": {"i": i}}).status_code == 200
    assert all(requests.get(f"{gw.url}/cache/spread-{i}").json()["value"] == {"i": i} for i in range(60))
    sizes = [int(redis_cli(n.port, "DBSIZE").strip()) for n in nodes]
    assert sum(sizes) == 60 and all(size > 0 for size in sizes), sizes
    assert requests.get(f"{gw.url}/readyz").status_code == 200


def test_rediss_verifies_the_server_against_ssl_cert_file(procs: list[Process], log_dir: Path, tmp_path: Path,
                                                          redis_binary: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import trustme

    ca = trustme.CA()
    server = ca.issue_cert("127.0.0.1")
    server.cert_chain_pems[0].write_to_path(str(tmp_path / "redis.crt"))
    server.private_key_pem.write_to_path(str(tmp_path / "redis.key"))
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    port = free_port()
    redis = Process([redis_binary, "--port", "0", "--tls-port", str(port), "--bind", "127.0.0.1",
                     "--tls-cert-file", str(tmp_path / "redis.crt"), "--tls-key-file", str(tmp_path / "redis.key"),
                     "--tls-ca-cert-file", str(tmp_path / "ca.pem"), "--tls-auth-clients", "no", "--save", "",
                     "--dir", str(tmp_path)], tmp_path / "redis-tls.log")
    procs.append(redis)
    wait_for(lambda: "Ready to accept connections" in redis.output(), 20, "redis with TLS")
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "ca.pem"))  # trust our CA, as the README says
    cache = Backend("cache", log_dir, args=("--store", f"rediss://127.0.0.1:{port}/0"))
    calculator = Backend("calculator", log_dir)
    procs += [cache, calculator]
    gw = Gateway(log_dir, [calculator.address], [cache.address])
    procs.append(gw)
    assert requests.put(f"{gw.url}/cache/over-tls", json={"value": [1, 2]}).status_code == 200
    assert requests.get(f"{gw.url}/cache/over-tls").json()["value"] == [1, 2]
    # Without our CA the server's certificate is not trusted: 503, not a silent plaintext.
    monkeypatch.delenv("SSL_CERT_FILE")
    untrusting = Backend("cache", log_dir, args=("--store", f"rediss://127.0.0.1:{port}/0"))
    procs.append(untrusting)
    gw2 = Gateway(log_dir, [calculator.address], [untrusting.address])
    procs.append(gw2)
    assert requests.get(f"{gw2.url}/cache/over-tls").status_code == 503
