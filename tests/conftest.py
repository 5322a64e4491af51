"""Fixtures shared by the integration tests: real backends and a real Gunicorn."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest
import requests

from tests.harness import Backend, Gateway, Process


def _stop_all(procs: list[Process], request: pytest.FixtureRequest | None = None) -> None:
    for proc in procs:
        proc.stop()
    failed = request is not None and getattr(request.node, "rep_call", None) is not None and request.node.rep_call.failed
    if failed:
        for proc in procs:
            print(f"----- {proc.argv}\n{proc.output()[-4000:]}")


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> object:
    # Lets fixtures see whether the test failed, to print the processes' logs.
    rep = yield
    setattr(item, f"rep_{rep.when}", rep)
    return rep


@pytest.fixture(scope="session")
def log_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("logs")


@pytest.fixture(scope="session")
def stack(log_dir: Path) -> Iterator[tuple[Backend, Backend, Gateway]]:
    """One calculator, one cache and a two-worker gateway, shared by read-mostly tests."""
    procs: list[Process] = []
    try:
        calculator = Backend("calculator", log_dir)
        procs.append(calculator)
        cache = Backend("cache", log_dir)
        procs.append(cache)
        gateway = Gateway(log_dir, [calculator.address], [cache.address], workers=2)
        procs.append(gateway)
        yield calculator, cache, gateway
    finally:
        _stop_all(procs)


@pytest.fixture(scope="module")
def backends(log_dir: Path) -> Iterator[tuple[Backend, Backend]]:
    """A calculator and a cache for one test module's own gateways."""
    procs = [Backend("calculator", log_dir), Backend("cache", log_dir)]
    yield procs[0], procs[1]
    for proc in procs:
        proc.stop()


@pytest.fixture(scope="session")
def gw(stack: tuple[Backend, Backend, Gateway]) -> str:
    """The shared gateway's base URL."""
    return stack[2].url


@pytest.fixture
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


@pytest.fixture
def procs(request: pytest.FixtureRequest) -> Iterator[list[Process]]:
    """Processes a test starts itself; all stopped afterwards, logs printed on failure."""
    started: list[Process] = []
    yield started
    _stop_all(started, request)
