"""`make run` starts all three processes; Ctrl-C (SIGINT to the group) stops all three."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import requests

from backends import snapshot
from tests.harness import ROOT, free_port, process_group_members, wait_for


def test_make_run_starts_everything_and_ctrl_c_stops_everything(tmp_path: Path) -> None:
    calc, cache, gw = free_port(), free_port(), free_port()
    env = {**os.environ, "CALCULATOR_PORT": str(calc), "CACHE_PORT": str(cache),
           "GATEWAY_BIND": f"127.0.0.1:{gw}", "GATEWAY_WORKERS": "1",
           "PROMETHEUS_MULTIPROC_DIR": str(tmp_path), "CACHE_SNAPSHOT": str(tmp_path / "cache.snapshot")}
    with open(tmp_path / "run.log", "wb") as log:
        # A new session stands for the terminal: Ctrl-C signals its whole process group.
        proc = subprocess.Popen(["make", "--no-print-directory", "run"], cwd=ROOT, env=env,
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        def ready() -> bool:
            try:
                return requests.get(f"http://127.0.0.1:{gw}/readyz", timeout=1).status_code == 200
            except requests.RequestException:
                return False

        wait_for(ready, 60, "make run to serve /readyz")
        assert requests.get(f"http://127.0.0.1:{gw}/add/2/3").json() == {"result": 5}
        assert requests.put(f"http://127.0.0.1:{gw}/cache/kept", json={"value": 1}).status_code == 200

        def snapshotted() -> bool:  # by the periodic write: nothing has stopped yet
            try:
                return any(key == "kept" for key, _, _ in snapshot.read(tmp_path / "cache.snapshot"))
            except (OSError, snapshot.SnapshotError):
                return False

        # A crash now would lose nothing acknowledged more than an interval ago.
        wait_for(snapshotted, 15, "make run's cache to write its snapshot without a stop")
        os.killpg(proc.pid, signal.SIGINT)
        proc.wait(40)
        wait_for(lambda: not process_group_members(proc.pid), 40, "every process of make run to exit")
    finally:
        if process_group_members(proc.pid):
            os.killpg(proc.pid, signal.SIGKILL)
        print((tmp_path / "run.log").read_text(errors="replace")[-3000:])
