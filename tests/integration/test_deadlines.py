"""Deadlines end to end: the client's deadline bounds every call, backends see their
budget (THeader ``Deadline-Budget``) and do not run a call whose budget is gone.

The slow server is the thrift package's own TThreadedServer over THeader
(tests/rest_server.py --transport header), which logs the headers of each call."""

from __future__ import annotations

import json
import re
import socket
import time
from pathlib import Path
from typing import Any, Iterator

import pytest
import requests
from thrift.protocol.THeaderProtocol import THeaderProtocol
from thrift.Thrift import TApplicationException
from thrift.transport.THeaderTransport import THeaderClientType
from thrift.transport.TSocket import TSocket

from tests.harness import Backend, Gateway, Process, accept_forever, wait_for
from tests.problems import assert_problem
from thrift_idl.gen.cache import Cache
from thrift_idl.gen.cache.ttypes import NotFound
from thrift_wire.headers import DEADLINE_EXCEEDED_MESSAGE

CALL_TIMEOUT_MS = 5000


@pytest.fixture(scope="module")
def slow(log_dir: Path) -> Iterator[tuple[Gateway, Backend]]:
    server = Backend("rest-header", log_dir, module="tests.rest_server", args=("--transport", "header"))
    gateway = None
    try:
        gateway = Gateway(log_dir, ["off"], ["off"], env={
            "GATEWAY_RPC_SERVICES": f"users=tests.gen.rest.Users@{server.address}?transport=header;"
                                    f"brief=tests.gen.rest.Users@{server.address}?transport=header&call_timeout_ms=300&methods=slow",
            "GATEWAY_CALL_TIMEOUT_MS": str(CALL_TIMEOUT_MS)})
        yield gateway, server
    finally:
        for proc in (gateway, server):
            if proc is not None:
                proc.stop()


def _budgets(server: Backend) -> list[int]:
    return [int(json.loads(line.split(" ", 1)[1]).get("Deadline-Budget", "-1"))
            for line in server.output().splitlines() if line.startswith("headers ")]


def _slow_call(gateway: Gateway, ms: int, service: str = "users", **headers: str) -> tuple[requests.Response, float]:
    started = time.monotonic()
    response = requests.post(f"{gateway.url}/rpc/{service}/slow", json={"ms": ms}, headers=headers, timeout=20)
    return response, time.monotonic() - started


@pytest.mark.parametrize("header", [{"Grpc-Timeout": "300m"}, {"Connect-Timeout-Ms": "300"},
                                    {"Grpc-Timeout": "300000u"}])
def test_the_answer_comes_at_the_clients_deadline_not_the_call_timeout(slow: tuple[Gateway, Backend],
                                                                        header: dict[str, str]) -> None:
    gateway, server = slow
    seen = len(_budgets(server))
    response, took = _slow_call(gateway, 2000, **header)
    body = assert_problem(response, 504, "deadline_exceeded")
    assert "deadline" in body["detail"]
    assert 0.25 <= took < 1.8  # at the client's 300 ms, long before the 2 s call ends or the 5 s timeout
    wait_for(lambda: len(_budgets(server)) > seen, 5, "the server to log the call's headers")
    assert 1 <= _budgets(server)[seen] <= 300  # the budget it was sent is within the client's


def test_a_longer_deadline_lets_the_call_finish_and_the_budget_says_what_is_left(slow: tuple[Gateway, Backend]) -> None:
    gateway, server = slow
    seen = len(_budgets(server))
    response, _ = _slow_call(gateway, 50, **{"Grpc-Timeout": "2S"})
    assert response.json() == {"result": "slept 50 ms"}
    response, _ = _slow_call(gateway, 50)  # no client deadline: the call timeout's budget
    assert response.json() == {"result": "slept 50 ms"}
    wait_for(lambda: len(_budgets(server)) >= seen + 2, 5, "the server to log both calls' headers")
    with_deadline, without = _budgets(server)[seen:seen + 2]
    assert 1000 < with_deadline <= 2000
    assert CALL_TIMEOUT_MS - 1000 < without <= CALL_TIMEOUT_MS


def test_a_call_timeout_without_a_client_deadline_stays_backend_timeout(slow: tuple[Gateway, Backend]) -> None:
    response, took = _slow_call(slow[0], 1500, service="brief")
    assert_problem(response, 504, "backend_timeout")
    assert took < 1.4
    # and with a client deadline later than the call timeout, the call timeout still decides
    response, _ = _slow_call(slow[0], 1500, service="brief", **{"Grpc-Timeout": "10S"})
    assert_problem(response, 504, "backend_timeout")


def test_the_rest_routes_carry_the_deadline_too(slow: tuple[Gateway, Backend]) -> None:
    gateway, server = slow
    seen = len(_budgets(server))
    response = requests.get(f"{gateway.url}/v1/users/me", headers={"Connect-Timeout-Ms": "700"}, timeout=10)
    assert response.status_code == 200
    wait_for(lambda: len(_budgets(server)) > seen, 5, "the server to log the call's headers")
    assert 1 <= _budgets(server)[seen] <= 700


@pytest.mark.parametrize(("name", "value"), [("Grpc-Timeout", "300"), ("Grpc-Timeout", "3s"),
                                             ("Grpc-Timeout", "123456789S"), ("Grpc-Timeout", "1.5S"),
                                             ("Connect-Timeout-Ms", "-5"), ("Connect-Timeout-Ms", "5ms")])
def test_a_malformed_deadline_is_400_naming_the_header_and_reaches_nothing(slow: tuple[Gateway, Backend],
                                                                           name: str, value: str) -> None:
    gateway, server = slow
    calls = server.output().count("call slow")
    response, _ = _slow_call(gateway, 10, **{name: value})
    body = assert_problem(response, 400, "invalid_argument")
    assert body["detail"].startswith(f"{name}: ")
    assert server.output().count("call slow") == calls


def _apache_cache_client(port: int, budget: str | None) -> tuple[Any, Cache.Client]:
    """Apache's own THeader client; ``budget`` goes in its calls' Deadline-Budget header."""
    sock = TSocket("127.0.0.1", port)
    protocol = THeaderProtocol(sock, [THeaderClientType.HEADERS])
    if budget is not None:
        protocol.trans.set_header(b"Deadline-Budget", budget.encode())
    sock.open()
    return sock, Cache.Client(protocol)


@pytest.mark.parametrize("budget", ["0", "-20"])
def test_our_cache_does_not_run_a_put_whose_budget_is_spent(procs: list[Process], log_dir: Path, budget: str) -> None:
    cache = Backend("cache", log_dir, args=("--log-calls",))
    procs.append(cache)
    transport, client = _apache_cache_client(cache.port, budget)
    try:
        with pytest.raises(TApplicationException) as info:
            client.put("spent", b"value", None)
        assert info.value.message == DEADLINE_EXCEEDED_MESSAGE
    finally:
        transport.close()
    transport, client = _apache_cache_client(cache.port, None)
    try:
        with pytest.raises(NotFound):
            client.get("spent")  # nothing was stored
        client.put("kept", b"v", None)  # without a budget, or with time left, calls run
        assert client.get("kept") == b"v"
    finally:
        transport.close()


def test_a_budget_spent_while_the_call_waits_is_not_run(procs: list[Process], log_dir: Path) -> None:
    # --delay-ms holds each call 300 ms before it runs: a 100 ms budget is gone by then.
    cache = Backend("cache", log_dir, args=("--delay-ms", "300"))
    procs.append(cache)
    transport, client = _apache_cache_client(cache.port, "100")
    try:
        with pytest.raises(TApplicationException, match="deadline exceeded"):
            client.put("late", b"value", None)
    finally:
        transport.close()
    transport, client = _apache_cache_client(cache.port, "5000")
    try:
        with pytest.raises(NotFound):
            client.get("late")
    finally:
        transport.close()


class _Stalling:
    """A calculator address that accepts a connection and answers nothing until it is
    closed, then drops it: a call there fails (connection lost, retried elsewhere) only
    after ``hold_s``."""

    def __init__(self, hold_s: float) -> None:
        self.hold_s = hold_s
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        accept_forever(self.sock, self._hold)

    def _hold(self, conn: socket.socket) -> None:
        conn.recv(65536)
        time.sleep(self.hold_s)
        conn.close()


def test_no_retry_is_started_after_the_deadline(procs: list[Process], log_dir: Path) -> None:
    stalling = _Stalling(hold_s=0.6)
    good = Backend("calculator", log_dir, args=("--log-calls",))
    procs.append(good)
    gateway = Gateway(log_dir, [f"127.0.0.1:{stalling.port}", good.address], ["off"])
    procs.append(gateway)
    answered, late = 0, 0
    for i in range(12):
        response = requests.get(f"{gateway.url}/add/{i}/1", headers={"Grpc-Timeout": "250m"}, timeout=10)
        if response.status_code == 200:
            answered += 1
        else:
            assert_problem(response, 504, "deadline_exceeded")
            late += 1
    assert late >= 1  # some went to the stalling instance first
    # Every call the good instance served is an answer: none was a retry started after a
    # request's deadline had passed (such a retry's answer would be thrown away).
    assert len(re.findall(r"call add from", good.output())) == answered
    stalling.sock.close()
