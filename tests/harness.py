"""Real processes on free loopback ports for tests and benchmarks.

Backends are started on port 0 and report the port they got; Gunicorn binds port 0 and
logs the address. Everything is polled until it answers - never a bare sleep - and every
process's output goes to a log file that a failing test can print.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Callable, Sequence

import requests

ROOT = Path(__file__).resolve().parent.parent
STARTUP_TIMEOUT_S = 30.0


def free_port() -> int:
    """A loopback port nobody listens on right now (for a process that must be told its
    port in advance: one restarted on the same port, or started after its client)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(predicate: Callable[[], object], timeout_s: float, what: str, interval_s: float = 0.02) -> object:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout_s:g} s waiting for {what}")
        time.sleep(interval_s)


class Process:
    """A child process whose stdout and stderr go to one log file."""

    def __init__(self, argv: Sequence[str], log_path: Path, env: dict[str, str] | None = None) -> None:
        self.argv = list(argv)
        self.log_path = log_path
        self._log = open(log_path, "ab")
        self.popen = subprocess.Popen(
            self.argv, cwd=ROOT, env={**os.environ, **(env or {})},
            stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )

    @property
    def pid(self) -> int:
        return self.popen.pid

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def search(self, pattern: str) -> re.Match[str] | None:
        return re.search(pattern, self.output())

    def alive(self) -> bool:
        return self.popen.poll() is None

    def send(self, signum: int) -> None:
        if self.alive():
            self.popen.send_signal(signum)

    def stop(self, signum: int = signal.SIGTERM, timeout_s: float = 30.0) -> int:
        """Signal the process and wait for it; kill it if it outstays ``timeout_s``."""
        if self.alive():
            self.popen.send_signal(signal.SIGCONT)  # a stopped process cannot handle SIGTERM
            self.popen.send_signal(signum)
        try:
            code = self.popen.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            code = self.popen.wait()
        self._log.close()
        return code

    def wait_for_line(self, pattern: str, timeout_s: float = STARTUP_TIMEOUT_S) -> re.Match[str]:
        def found() -> re.Match[str] | None:
            if not self.alive():
                raise RuntimeError(f"{self.argv} exited with {self.popen.returncode}:\n{self.output()}")
            return self.search(pattern)

        return wait_for(found, timeout_s, f"{pattern!r} from {self.argv}")  # type: ignore[return-value]


class Backend(Process):
    """``python -m backends.<name>`` (or ``module``) on ``port`` (0: a free one)."""

    def __init__(self, name: str, log_dir: Path, port: int = 0, args: Sequence[str] = (),
                 module: str | None = None, host: str = "127.0.0.1") -> None:
        super().__init__(
            [sys.executable, "-m", module or f"backends.{name}", "--host", host, "--port", str(port), *args],
            log_dir / f"{name}-{port}-{time.monotonic_ns()}.log",
        )
        self.name = name
        self.host = host
        self.port = int(self.wait_for_line(rf"listening on {re.escape(host)}:(\d+)").group(1))

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


class Gateway(Process):
    """Gunicorn with gevent workers serving ``gateway.wsgi:app`` on a free port."""

    def __init__(
        self,
        log_dir: Path,
        calculator: Sequence[str],
        cache: Sequence[str],
        workers: int = 1,
        env: dict[str, str] | None = None,
        app: str = "gateway.wsgi:app",
        gunicorn_args: Sequence[str] = (),
        ready_path: str = "/healthz",
    ) -> None:
        stamp = time.monotonic_ns()
        metrics_dir = log_dir / f"metrics-{stamp}"
        metrics_dir.mkdir()
        super().__init__(
            [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "-b", "127.0.0.1:0", "-w", str(workers),
             *gunicorn_args, app],
            log_dir / f"gateway-{stamp}.log",
            env={
                "GATEWAY_CALCULATOR_ADDRS": ",".join(calculator),
                "GATEWAY_CACHE_ADDRS": ",".join(cache),
                "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
                **(env or {}),
            },
        )
        port = self.wait_for_line(r"Listening at: http://127\.0\.0\.1:(\d+)").group(1)
        self.url = f"http://127.0.0.1:{port}"
        self.workers = workers
        self._ready_path = ready_path
        # The master listens before its workers have booted; wait until all of them have.
        wait_for(lambda: len(re.findall(r"Booting worker with pid", self.output())) >= workers,
                 STARTUP_TIMEOUT_S, "gunicorn workers to boot")
        wait_for(self._healthy, STARTUP_TIMEOUT_S, "the gateway's /healthz")

    def _healthy(self) -> bool:
        try:
            return requests.get(self.url + self._ready_path, timeout=1).status_code == 200
        except requests.RequestException:
            return False


class SteadyLoad:
    """Client threads calling ``GET /add`` on a gateway in a loop, each answer checked.

    ``with SteadyLoad(url) as load:`` starts them; ``load.done`` counts requests,
    ``load.failures`` holds every wrong status, wrong answer or connection error.
    Each thread keeps one keep-alive session and never retries.
    """

    def __init__(self, url: str, clients: int = 6) -> None:
        self.url = url
        self.clients = clients
        self.done = 0
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(n,)) for n in range(clients)]

    def _run(self, n: int) -> None:
        with requests.Session() as http:
            i = 0
            while not self._stop.is_set():
                i += 1
                try:
                    r = http.get(f"{self.url}/add/{n}/{i}", timeout=10)
                    if r.status_code != 200 or r.json() != {"result": n + i}:
                        self.failures.append(f"{r.status_code} {r.text[:200]}")
                except requests.RequestException as err:
                    self.failures.append(repr(err))
                self.done += 1

    def wait_for_more(self, requests_: int, timeout_s: float = 60.0) -> None:
        """Block until ``requests_`` more requests have been answered."""
        mark = self.done
        wait_for(lambda: self.done > mark + requests_, timeout_s, f"{requests_} more requests under load")

    def __enter__(self) -> SteadyLoad:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for t in self._threads:
            t.join()


def assert_closed_by_peer(sock: socket.socket) -> None:
    """After our half-close, the peer closes too (a reset when it left bytes unread)."""
    sock.shutdown(socket.SHUT_WR)
    try:
        assert sock.recv(65536) == b""
    except ConnectionResetError:
        pass


def process_group_members(pgid: int) -> list[str]:
    """The pids of a process group's processes that have not exited (zombies count as
    exited: PID 1 here reaps late)."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        state, group = fields[0], int(fields[2])
        if group == pgid and state != "Z":
            members.append(stat.parent.name)
    return members


def accept_forever(sock: socket.socket, handle: Callable[[socket.socket], None]) -> None:
    """Accept on ``sock`` in a daemon thread, each connection handled in a thread of its
    own, until ``sock`` is closed: the fake peers of the tests."""

    def loop() -> None:
        while True:
            try:
                conn, _ = sock.accept()
            except OSError:
                return
            threading.Thread(target=handle, args=(conn,), daemon=True).start()

    threading.Thread(target=loop, daemon=True).start()
