"""The memory store's snapshot: what was acknowledged survives a graceful restart."""

from __future__ import annotations

import sys
from pathlib import Path

import requests

from tests.harness import Backend, Gateway, Process
from tests.problems import assert_problem


def test_acknowledged_keys_survive_sigterm_and_restart_with_their_ttl(
    procs: list[Process], log_dir: Path, tmp_path: Path
) -> None:
    path = tmp_path / "cache.snapshot"
    args = ("--snapshot", str(path))
    cache = Backend("cache", log_dir, args=args)
    calculator = Backend("calculator", log_dir)
    procs += [cache, calculator]
    gateway = Gateway(log_dir, [calculator.address], [cache.address])
    procs.append(gateway)
    http, url = requests.Session(), gateway.url
    for i in range(200):
        assert http.put(f"{url}/cache/k{i}", json={"value": {"i": i}}).status_code == 200
    assert http.put(f"{url}/cache/brief", json={"value": "ttl", "ttl": 3600}).status_code == 200
    assert http.delete(f"{url}/cache/k7").status_code == 200

    assert cache.stop() == 0
    assert path.stat().st_size > 0
    procs.append(Backend("cache", log_dir, port=cache.port, args=args))
    for i in range(200):
        r = http.get(f"{url}/cache/k{i}")
        if i == 7:
            assert_problem(r, 404, "not_found")
        else:
            assert r.json() == {"key": f"k{i}", "value": {"i": i}}
    assert http.get(f"{url}/cache/brief").json()["value"] == "ttl"


def test_a_corrupt_snapshot_stops_the_start_and_is_left_in_place(log_dir: Path, tmp_path: Path) -> None:
    path = tmp_path / "cache.snapshot"
    path.write_bytes(b"TGWSNAP1 this is not what a snapshot looks like")
    proc = Process([sys.executable, "-m", "backends.cache", "--port", "0", "--snapshot", str(path)],
                   log_dir / "corrupt-snapshot.log")
    assert proc.popen.wait(30) != 0
    assert "refusing to start" in proc.output() and "left as it is" in proc.output()
    assert path.read_bytes() == b"TGWSNAP1 this is not what a snapshot looks like"
