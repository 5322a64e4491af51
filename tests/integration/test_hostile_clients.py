"""Hostile and careless clients of the gateway and of the backends: every resource they
could hold is bounded, and no input of theirs ends in a 500 or a traceback."""

from __future__ import annotations

import base64
import json
import socket
import time
from pathlib import Path

import pytest
import requests
from thrift.protocol.TBinaryProtocol import TBinaryProtocol
from thrift.transport.TSocket import TSocket
from thrift.transport.TTransport import TFramedTransport

from tests.harness import Backend, Gateway, Process, wait_for
from tests.problems import assert_problem
from thrift_idl.gen.cache import Cache
from thrift_idl.gen.calculator import Calculator


def raw_http(url: str, request: bytes) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=15)
    sock.sendall(request)
    return sock


def read_answer(sock: socket.socket) -> bytes:
    chunks = []
    while True:
        try:
            data = sock.recv(65536)
        except (ConnectionResetError, TimeoutError):
            break
        if not data:
            break
        chunks.append(data)
    return b"".join(chunks)


@pytest.fixture
def stack(procs: list[Process], log_dir: Path) -> tuple[Backend, Backend]:
    calculator, cache = Backend("calculator", log_dir), Backend("cache", log_dir)
    procs += [calculator, cache]
    return calculator, cache


def gateway(procs: list[Process], log_dir: Path, stack: tuple[Backend, Backend], **env: str) -> Gateway:
    gw = Gateway(log_dir, [stack[0].address], [stack[1].address], env=env)
    procs.append(gw)
    return gw


# Slow and stalled clients --------------------------------------------------------------

def test_a_body_that_never_arrives_is_408_and_frees_its_connection(
    procs: list[Process], log_dir: Path, stack: tuple[Backend, Backend]
) -> None:
    gw = gateway(procs, log_dir, stack, GATEWAY_BODY_TIMEOUT_MS="1000", GATEWAY_WORKER_CONNECTIONS="20")
    # Every connection slot of the one worker held by a client that sent headers only.
    stalled = [raw_http(gw.url, b"PUT /cache/k HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n")
               for _ in range(20)]
    stalled += [raw_http(gw.url, b"GET /add/1/2 HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n")]
    started = time.monotonic()
    # A normal client waits for a slot, and gets one once the stalled bodies time out.
    assert requests.get(f"{gw.url}/add/2/3", timeout=15).json() == {"result": 5}
    assert time.monotonic() - started < 8
    for sock in stalled[:20]:
        answer = read_answer(sock)  # the answer, then the gateway closes the connection
        assert answer.startswith(b"HTTP/1.1 408 "), answer[:200]
        assert b'"code":"request_timeout"' in answer
        sock.close()
    # A route that does not read the body answers, then closes rather than wait for it.
    answer = read_answer(stalled[20])
    assert answer.startswith(b"HTTP/1.1 200 ") and b'"result":3' in answer
    assert requests.get(f"{gw.url}/cache/k", timeout=5).status_code == 404  # nothing was stored
    assert "Traceback" not in gw.output()


def test_bodies_beyond_the_workers_budget_are_refused_before_being_read(
    procs: list[Process], log_dir: Path, stack: tuple[Backend, Backend]
) -> None:
    gw = gateway(procs, log_dir, stack, GATEWAY_BODY_BUFFER_BYTES=str(3 * 1024 * 1024))
    size = 1_900_000
    first = raw_http(gw.url, b"PUT /cache/big HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % size)
    first.sendall(b"x" * 1000)  # started, stalled: holds its 1.9 MB reservation
    time.sleep(0.3)  # let the worker start reading it (no state to poll from outside)
    second = raw_http(gw.url, b"PUT /cache/big2 HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % size)
    answer = read_answer(second)
    assert answer.startswith(b"HTTP/1.1 503 ") and b'"code":"overloaded"' in answer and b"Retry-After: 1" in answer
    first.close()
    second.close()
    # The budget comes back: an ordinary body is read again.
    wait_for(lambda: requests.put(f"{gw.url}/cache/small", json={"value": 1}, timeout=5).status_code == 200, 15,
             "the budget to be released")


# Bad input never gets a 500 ------------------------------------------------------------

@pytest.mark.parametrize("body", [b'{"value":"\\ud800"}', b'{"value":{"a":["\\udfff"]}}'])
def test_a_lone_surrogate_is_400(procs: list[Process], log_dir: Path, stack: tuple[Backend, Backend],
                                 body: bytes) -> None:
    gw = gateway(procs, log_dir, stack)
    assert_problem(requests.put(f"{gw.url}/cache/k", data=body), 400, "invalid_argument")
    assert_problem(requests.post(f"{gw.url}/set", data=b'{"key":"k",' + body[1:]), 400, "invalid_argument")
    assert_problem(requests.get(f"{gw.url}/cache/k"), 404, "not_found")


@pytest.mark.parametrize("chunks", [
    b"ZZ\r\nabc\r\n0\r\n\r\n",  # a chunk size that is not hex
    b"3\r\nabcXX0\r\n\r\n",  # no terminator after the chunk
    b"2\r\n{}\r\n0\r\n" + b"X-Trailer: " + b"a" * 100_000 + b"\r\n\r\n",  # a 100 KB trailer
])
def test_malformed_chunked_bodies_are_400(procs: list[Process], log_dir: Path, stack: tuple[Backend, Backend],
                                          chunks: bytes) -> None:
    gw = gateway(procs, log_dir, stack)
    sock = raw_http(gw.url, b"PUT /cache/k HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + chunks)
    answer = read_answer(sock)
    sock.close()
    assert answer.startswith(b"HTTP/1.1 400 "), answer[:300]
    assert b"application/problem+json" in answer
    assert "Traceback" not in gw.output()


def test_a_client_that_hangs_up_mid_body_leaves_one_line_and_no_traceback(
    procs: list[Process], log_dir: Path, stack: tuple[Backend, Backend]
) -> None:
    gw = gateway(procs, log_dir, stack)
    sock = raw_http(gw.url, b"PUT /cache/k HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"value\"")
    time.sleep(0.2)
    sock.close()
    wait_for(lambda: "client_disconnected" in gw.output() or '"status": 400' in gw.output(), 10, "the access line")
    assert "Traceback" not in gw.output() and "ERROR" not in gw.output().split("Booting worker")[-1]
    assert requests.get(f"{gw.url}/add/1/1").json() == {"result": 2}


def test_a_stored_value_the_gateway_cannot_answer_with_is_502(
    procs: list[Process], log_dir: Path, stack: tuple[Backend, Backend]
) -> None:
    gw = gateway(procs, log_dir, stack)
    for key, stored in (("deep", b"[" * 2000 + b"]" * 2000), ("nan", b"[NaN]"), ("bad", b"\xff\xfe")):
        r = requests.post(f"{gw.url}/rpc/cache/put", timeout=5,
                          json={"key": key, "value": base64.b64encode(stored).decode(), "ttl_seconds": 60})
        assert r.status_code == 200, r.text
        assert_problem(requests.get(f"{gw.url}/cache/{key}"), 502, "bad_gateway")
    assert "Traceback" not in gw.output()


def test_every_json_answer_is_strict_json(procs: list[Process], log_dir: Path, stack: tuple[Backend, Backend]) -> None:
    gw = gateway(procs, log_dir, stack)
    assert_problem(requests.put(f"{gw.url}/cache/k", data=b'{"value": 1e400}'), 400, "invalid_json")
    assert_problem(requests.put(f"{gw.url}/cache/k", data=b'{"value": -Infinity}'), 400, "invalid_json")
    assert_problem(requests.post(f"{gw.url}/calc", data=b'{"op": "add", "a": NaN, "b": 1}'), 400, "invalid_json")
    r = requests.put(f"{gw.url}/cache/k", data=b'{"value": 1e308}')
    assert r.status_code == 200
    text = requests.get(f"{gw.url}/cache/k").text
    json.loads(text, parse_constant=lambda c: pytest.fail(f"{c} in an answer"))


def test_http_methods_from_clients_do_not_grow_metrics(
    procs: list[Process], log_dir: Path, stack: tuple[Backend, Backend]
) -> None:
    gw = gateway(procs, log_dir, stack)
    http = requests.Session()
    for i in range(300):
        http.request(f"X{i}QZ", f"{gw.url}/add/1/2")
        http.request("GET", f"{gw.url}/no/such/{i}")
    metrics = http.get(f"{gw.url}/metrics").text
    assert "X1QZ" not in metrics and "/no/such/1" not in metrics
    assert 'method="other"' in metrics


# The backends ---------------------------------------------------------------------------

def thrift_client(port: int) -> tuple[TFramedTransport, Calculator.Client]:
    transport = TFramedTransport(TSocket("127.0.0.1", port))
    transport.open()
    return transport, Calculator.Client(TBinaryProtocol(transport))


def test_connections_beyond_the_limit_are_closed_and_the_others_served(procs: list[Process], log_dir: Path) -> None:
    calculator = Backend("calculator", log_dir, args=("--max-connections", "10"))
    procs.append(calculator)
    transport, client = thrift_client(calculator.port)
    assert client.add(1, 2) == 3
    held = [socket.create_connection(("127.0.0.1", calculator.port)) for _ in range(9)]
    time.sleep(0.2)  # the server has accepted them (no state to poll from outside)
    extra = socket.create_connection(("127.0.0.1", calculator.port), timeout=5)
    assert extra.recv(1) == b""  # closed at once
    assert client.add(2, 2) == 4  # the existing ones are still served
    for sock in held:
        sock.close()
    wait_for(lambda: _fresh_call_works(calculator.port), 10, "a new connection once others closed")
    transport.close()
    assert calculator.search("refusing connections beyond --max-connections")


def _fresh_call_works(port: int) -> bool:
    try:
        transport, client = thrift_client(port)
        try:
            return client.add(1, 1) == 2
        finally:
            transport.close()
    except Exception:
        return False


def test_idle_and_stalled_connections_are_closed(procs: list[Process], log_dir: Path) -> None:
    calculator = Backend("calculator", log_dir, args=("--idle-timeout-ms", "300", "--read-timeout-ms", "300"))
    procs.append(calculator)
    idle = socket.create_connection(("127.0.0.1", calculator.port), timeout=10)
    stalled = socket.create_connection(("127.0.0.1", calculator.port), timeout=10)
    stalled.sendall(b"\x00\x00\x01\x00\x80\x01")  # part of a frame
    started = time.monotonic()
    assert idle.recv(1) == b"" and stalled.recv(1) == b""
    assert time.monotonic() - started < 5
    transport, client = thrift_client(calculator.port)
    assert client.add(1, 1) == 2  # a working client is not touched while it works
    transport.close()


def test_memory_for_partial_frames_is_bounded(procs: list[Process], log_dir: Path) -> None:
    cache = Backend("cache", log_dir, args=("--max-pending-bytes", str(1024 * 1024)))
    procs.append(cache)
    socks, closed = [], 0
    for _ in range(4):
        sock = socket.create_connection(("127.0.0.1", cache.port), timeout=10)
        socks.append(sock)
        try:
            sock.sendall(b"\x00\x3f\xff\xff\x80\x01\x00\x01" + b"\x00" * (400 * 1024))  # 400 KB of a 4 MB frame
        except (BrokenPipeError, ConnectionResetError):
            closed += 1  # closed by the server while we were still sending
            socks.pop()
            sock.close()
    for sock in socks:
        try:
            sock.settimeout(2)
            closed += sock.recv(1) == b""
        except TimeoutError:
            pass
        except ConnectionResetError:
            closed += 1
    assert closed >= 2  # 4 x 400 KB cannot all be held under 1 MiB
    assert cache.search("over --max-pending-bytes")
    transport = TFramedTransport(TSocket("127.0.0.1", cache.port))
    transport.open()
    Cache.Client(TBinaryProtocol(transport)).ping()
    transport.close()
    for sock in socks:
        sock.close()


def _rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def test_the_cache_bound_holds_for_tiny_values(procs: list[Process], log_dir: Path) -> None:
    bound = 4 * 1024 * 1024
    cache = Backend("cache", log_dir, args=("--max-memory", str(bound)))
    procs.append(cache)
    transport = TFramedTransport(TSocket("127.0.0.1", cache.port))
    transport.open()
    client = Cache.Client(TBinaryProtocol(transport))
    client.put("warm-up", b"x", None)
    empty = _rss_bytes(cache.pid)
    for i in range(25_000):
        client.put(f"k{i}", b"x", None)
    stats = client.stats()
    transport.close()
    assert stats.evictions > 0 and stats.bytes <= bound
    assert _rss_bytes(cache.pid) - empty <= 1.5 * bound
