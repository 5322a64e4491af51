"""A real redis-server for the tests, installed from Debian's package when missing
(and the helper that installs any Debian package a test needs)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from pathlib import Path

from tests.harness import Process, free_port, wait_for


def ensure_debian_package(command: str, package: str) -> str | None:
    """The path of ``command``, installing ``package`` (as root, with apt) when it is missing."""
    found = shutil.which(command)
    if found or os.geteuid() != 0 or not shutil.which("apt-get"):
        return found
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-qq", "--no-install-recommends", package]
    if subprocess.run(install, env=env, capture_output=True).returncode != 0:
        subprocess.run(["apt-get", "update", "-qq"], env=env, capture_output=True)
        subprocess.run(install, env=env, capture_output=True)
    return shutil.which(command)


def ensure_redis_server() -> str | None:
    return ensure_debian_package("redis-server", "redis-server")


class RedisServer(Process):
    def __init__(self, binary: str, work_dir: Path) -> None:
        self.port = free_port()
        super().__init__(
            [binary, "--bind", "127.0.0.1", "--port", str(self.port), "--save", "", "--appendonly", "no",
             "--dir", str(work_dir), "--daemonize", "no"],
            work_dir / f"redis-{self.port}.log",
        )
        wait_for(self._answers, 20, "redis-server to answer PING")

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"


def redis_cli(port: int, *args: str) -> str:
    return subprocess.run(["redis-cli", "-p", str(port), *args], capture_output=True, text=True, timeout=30).stdout


class RedisNode(Process):
    """A redis-server with any extra arguments (a replica, a cluster node, a sentinel)."""

    def __init__(self, binary: str, work_dir: Path, *args: str, port: int | None = None) -> None:
        self.port = port or free_port()
        node_dir = work_dir / f"node-{self.port}"
        node_dir.mkdir(exist_ok=True)
        super().__init__([binary, *args, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(node_dir),
                          "--save", "", "--daemonize", "no"], work_dir / f"redis-{self.port}.log")
        wait_for(self._answers, 20, f"redis on port {self.port}")

    def _answers(self) -> bool:
        if not self.alive():
            raise RuntimeError(f"redis on port {self.port} exited:\n{self.output()[-2000:]}")
        return redis_cli(self.port, "PING").strip() == "PONG"


def free_cluster_port() -> int:
    """A free port a Redis Cluster node can use: at most 55535, its bus port (+10000) free too."""
    while True:
        port = free_port()
        if port <= 55535:
            with socket.socket() as bus:
                try:
                    bus.bind(("127.0.0.1", port + 10000))
                except OSError:
                    continue
            return port
