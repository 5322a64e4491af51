"""Probes answer while the API is saturated (issue 22, item 2): GATEWAY_PROBE_BIND is a
listener of its own, with worker_connections slots the API clients cannot take, that
answers only /healthz and /readyz."""

from __future__ import annotations

import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
import requests

from tests.harness import Backend, Gateway, Process, free_port, wait_for
from tests.integration.test_startup import run_gateway
from tests.problems import assert_problem
from tests.system_tools import ensure_debian_package

PROBE_TIMEOUT_S = 1.0  # the kubelet's default probe timeout


def _start(procs: list[Process], log_dir: Path, backends: tuple[Backend, Backend], **env: str) -> tuple[Gateway, str]:
    probe = free_port()
    gateway = Gateway(log_dir, [backends[0].address], [backends[1].address], workers=1,
                      env={"GATEWAY_PROBE_BIND": f"127.0.0.1:{probe}", **env})
    procs.append(gateway)
    return gateway, f"http://127.0.0.1:{probe}"


def _get_on_a_new_connection(port: int, path: str, timeout_s: float) -> tuple[int, bytes] | None:
    """(status, body) of one GET on a new connection, or None when no answer came in time."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout_s) as sock:
            sock.settimeout(max(0.01, timeout_s))
            deadline = time.monotonic() + timeout_s
            sock.sendall(f"GET {path} HTTP/1.1\r\nHost: probe\r\nConnection: close\r\n\r\n".encode())
            data = b""
            while time.monotonic() < deadline:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
            else:
                return None
    except (TimeoutError, socket.timeout):
        return None
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


def test_probes_answer_within_a_second_while_busy_clients_hold_every_api_slot(
    procs: list[Process], log_dir: Path, backends: tuple[Backend, Backend]
) -> None:
    wrk = ensure_debian_package("wrk", "wrk")
    if wrk is None:
        pytest.skip("wrk is not installed and cannot be installed (not root, or no apt-get)")
    # 50 slots instead of 1000 keep the test cheap; the mechanism is the same.
    gateway, probe_url = _start(procs, log_dir, backends, GATEWAY_WORKER_CONNECTIONS="50", GATEWAY_ACCESS_LOG="")
    api_port, probe_port = int(gateway.url.rsplit(":", 1)[1]), int(probe_url.rsplit(":", 1)[1])
    # Busy keep-alive clients: wrk's 50 connections each send the next request as soon as
    # the last is answered, so each holds its slot for the whole run.
    load = subprocess.Popen([wrk, "-t1", "-c50", "-d10s", f"{gateway.url}/add/1/2"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        # The premise: a new connection to the API listener is not answered in time.
        wait_for(lambda: _get_on_a_new_connection(api_port, "/healthz", PROBE_TIMEOUT_S) is None, 5,
                 "wrk to hold every API slot")
        for _ in range(3):
            for path, status in (("/healthz", 200), ("/readyz", 200), ("/add/1/2", 404)):
                started = time.monotonic()
                answer = _get_on_a_new_connection(probe_port, path, PROBE_TIMEOUT_S)
                took = time.monotonic() - started
                assert answer is not None, f"{path} on the probe listener: no answer within {PROBE_TIMEOUT_S} s"
                assert answer[0] == status, (path, answer)
                assert took < PROBE_TIMEOUT_S
        assert load.poll() is None, "wrk stopped before the probes were checked: the premise no longer held"
    finally:
        load.kill()
        load.wait()


def test_the_probe_listener_answers_only_the_probes(procs: list[Process], log_dir: Path,
                                                    backends: tuple[Backend, Backend]) -> None:
    gateway, probe_url = _start(procs, log_dir, backends)
    assert requests.get(probe_url + "/healthz", timeout=5).json() == {"status": "ok"}
    assert requests.get(probe_url + "/readyz", timeout=5).json()["status"] == "ready"
    for method, path in (("GET", "/add/1/2"), ("GET", "/metrics"), ("GET", "/openapi.json"), ("POST", "/set"),
                         ("GET", "//healthz"), ("GET", "/healthz/"), ("PUT", "/cache/k")):
        response = requests.request(method, probe_url + path, timeout=5, json={"key": "k", "value": 1})
        assert_problem(response, 404, "not_found")
        assert response.headers["X-Request-ID"]
    # The listener is the socket's own address: a Host header naming the API's changes
    # nothing, and one naming the probe's on the API listener changes nothing either.
    api_host = gateway.url.removeprefix("http://")
    assert_problem(requests.get(probe_url + "/add/1/2", headers={"Host": api_host}, timeout=5), 404, "not_found")
    probe_host = probe_url.removeprefix("http://")
    assert requests.get(gateway.url + "/add/1/2", headers={"Host": probe_host}, timeout=5).json() == {"result": 3}
    # The API listener still serves the probes too.
    assert requests.get(gateway.url + "/healthz", timeout=5).status_code == 200


def test_a_reload_keeps_the_probe_listener(procs: list[Process], log_dir: Path,
                                           backends: tuple[Backend, Backend]) -> None:
    # SIGHUP re-reads gunicorn.conf.py and the command line (whose -b has no probe
    # address): the probe listener stays, and the new workers still restrict it.
    gateway, probe_url = _start(procs, log_dir, backends)
    gateway.send(signal.SIGHUP)
    wait_for(lambda: gateway.output().count("Booting worker") >= 2, 30, "a new worker after SIGHUP")
    wait_for(lambda: gateway.output().count("Worker exiting") >= 1, 30, "the old worker to leave")
    assert requests.get(probe_url + "/healthz", timeout=5).status_code == 200
    assert_problem(requests.get(probe_url + "/add/1/2", timeout=5), 404, "not_found")
    assert requests.get(gateway.url + "/add/1/2", timeout=5).json() == {"result": 3}
    assert "Listening at" not in gateway.output().split("Handling signal: hup")[1]  # no socket re-opened


@pytest.mark.parametrize("value", ["8001", "127.0.0.1", "127.0.0.1:0", "127.0.0.1:70000", "http://x:1", "unix:/tmp/p"])
def test_a_bad_probe_address_stops_start_up_with_one_line(tmp_path: Path, value: str) -> None:
    done = run_gateway({"GATEWAY_PROBE_BIND": value, "GATEWAY_BIND": f"127.0.0.1:{free_port()}"}, tmp_path)
    output = done.stdout + done.stderr
    assert done.returncode != 0 and "Traceback" not in output
    errors = [line for line in output.splitlines() if "configuration error" in line]
    assert len(errors) == 1 and "GATEWAY_PROBE_BIND" in errors[0]


def test_a_probe_port_in_use_is_one_line_naming_the_setting(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = run_gateway({"GATEWAY_PROBE_BIND": f"127.0.0.1:{port}", "GATEWAY_BIND": f"127.0.0.1:{free_port()}"},
                           tmp_path)
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert "GATEWAY_PROBE_BIND" in done.stderr and "Retrying" not in done.stderr
