"""How the gateway and the backends behave when things go wrong - real processes only."""

from __future__ import annotations

import signal
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests
from thrift.protocol.TBinaryProtocol import TBinaryProtocol
from thrift.transport.TSocket import TSocket
from thrift.transport.TTransport import TBufferedTransport

from tests.harness import Backend, Gateway, Process, assert_closed_by_peer, free_port
from tests.problems import assert_problem
from thrift_idl.gen.calculator import Calculator


def start_stack(procs: list[Process], log_dir: Path, env: dict[str, str] | None = None,
                calculator_args: tuple[str, ...] = ()) -> tuple[Backend, Backend, Gateway]:
    calculator = Backend("calculator", log_dir, args=calculator_args)
    procs.append(calculator)
    cache = Backend("cache", log_dir)
    procs.append(cache)
    gateway = Gateway(log_dir, [calculator.address], [cache.address], env=env)
    procs.append(gateway)
    return calculator, cache, gateway


def test_killed_backend_answers_503_at_once_and_a_restart_heals(procs: list[Process], log_dir: Path) -> None:
    calculator, _, gateway = start_stack(procs, log_dir)
    http = requests.Session()
    assert http.get(f"{gateway.url}/add/1/2").json() == {"result": 3}  # leaves a pooled connection

    calculator.popen.kill()
    calculator.popen.wait()
    started = time.monotonic()
    r = http.get(f"{gateway.url}/add/1/2")
    elapsed = time.monotonic() - started
    body = assert_problem(r, 503, "backend_unavailable")
    assert r.headers["Retry-After"] == "1"
    assert calculator.address in body["detail"]
    # "At once": far below the 5 s call timeout, i.e. no waiting on a dead peer.
    assert elapsed < 2.5, elapsed
    assert http.get(f"{gateway.url}/healthz").status_code == 200

    procs.append(Backend("calculator", log_dir, port=calculator.port))
    assert http.get(f"{gateway.url}/add/2/2").json() == {"result": 4}


def test_gateway_started_before_its_backends(procs: list[Process], log_dir: Path) -> None:
    calc_port, cache_port = free_port(), free_port()
    gateway = Gateway(log_dir, [f"127.0.0.1:{calc_port}"], [f"127.0.0.1:{cache_port}"])
    procs.append(gateway)
    http = requests.Session()
    assert http.get(f"{gateway.url}/healthz").json() == {"status": "ok"}
    body = assert_problem(http.get(f"{gateway.url}/readyz"), 503, "backend_unavailable")
    assert body["backends"]["calculator"] == {f"127.0.0.1:{calc_port}": "backend_unavailable"}
    assert f"127.0.0.1:{cache_port}" in body["detail"]
    assert_problem(http.get(f"{gateway.url}/add/1/1"), 503, "backend_unavailable")
    assert_problem(http.get(f"{gateway.url}/cache/k"), 503, "backend_unavailable")

    procs.append(Backend("calculator", log_dir, port=calc_port))
    assert http.get(f"{gateway.url}/add/1/1").json() == {"result": 2}
    assert_problem(http.get(f"{gateway.url}/readyz"), 503, "backend_unavailable")  # cache still down
    procs.append(Backend("cache", log_dir, port=cache_port))
    assert http.get(f"{gateway.url}/readyz").status_code == 200
    assert http.put(f"{gateway.url}/cache/k", json={"value": 1}).status_code == 200


def test_stalled_backend_times_out_and_never_gives_a_stale_answer(procs: list[Process], log_dir: Path) -> None:
    call_timeout_s = 0.5
    calculator, _, gateway = start_stack(procs, log_dir, env={"GATEWAY_CALL_TIMEOUT_MS": str(int(call_timeout_s * 1000))})
    url = gateway.url
    # Warm several pooled connections, so timed-out ones would be reused if kept.
    with ThreadPoolExecutor(8) as ex:
        assert all(r == {"result": 2} for r in ex.map(lambda _: requests.get(f"{url}/add/1/1").json(), range(8)))

    calculator.send(signal.SIGSTOP)
    try:
        def stalled(i: int) -> tuple[requests.Response, float]:
            started = time.monotonic()
            r = requests.get(f"{url}/add/{i}/1000")
            return r, time.monotonic() - started

        with ThreadPoolExecutor(8) as ex:
            stalled_calls = [ex.submit(stalled, i) for i in range(8)]
            # Other routes keep answering while the calculator is stuck.
            key_url = f"{url}/cache/during-stall"
            assert requests.put(key_url, json={"value": "fine"}).status_code == 200
            assert requests.get(key_url).json()["value"] == "fine"
            for future in stalled_calls:
                r, elapsed = future.result()
                assert_problem(r, 504, "backend_timeout")
                assert elapsed < call_timeout_s + 2.0, elapsed
    finally:
        calculator.send(signal.SIGCONT)

    # The backend now answers the stalled calls on connections the gateway closed; no
    # later call may receive one of those replies.
    def check(i: int) -> bool:
        return requests.get(f"{url}/add/{i}/{i}").json() == {"result": 2 * i}

    with ThreadPoolExecutor(8) as ex:
        assert all(ex.map(check, range(200)))


def test_64_concurrent_clients_each_get_their_own_answers(stack, gw: str) -> None:
    def client(n: int) -> list[str]:
        wrong = []
        with requests.Session() as http:
            for i in range(15):
                a, b = n * 1000 + i, -n
                got = http.get(f"{gw}/calc/multiply/{a}/{b}").json()["result"]
                if got != a * b:
                    wrong.append(f"client {n}: {a}*{b} gave {got}")
                key = f"client-{n}"
                http.put(f"{gw}/cache/{key}", json={"value": [n, i]})
                value = http.get(f"{gw}/cache/{key}").json()["value"]
                if value != [n, i]:
                    wrong.append(f"client {n}: read {value} for {[n, i]}")
        return wrong

    barrier_free = ThreadPoolExecutor(64)
    with barrier_free as ex:
        wrong = [w for result in ex.map(client, range(64)) for w in result]
    assert wrong == []


def test_pool_exhaustion_answers_overloaded_and_the_pool_recovers(procs: list[Process], log_dir: Path) -> None:
    _, _, gateway = start_stack(
        procs, log_dir, env={"GATEWAY_POOL_SIZE": "1", "GATEWAY_POOL_TIMEOUT_MS": "100"},
        calculator_args=("--delay-ms", "400"),
    )
    with ThreadPoolExecutor(4) as ex:
        responses = list(ex.map(lambda i: requests.get(f"{gateway.url}/add/{i}/0"), range(4)))
    statuses = sorted(r.status_code for r in responses)
    assert statuses.count(200) >= 1 and statuses.count(503) >= 1, statuses
    for r in responses:
        if r.status_code == 503:
            assert_problem(r, 503, "overloaded")
            assert r.headers["Retry-After"] == "1"
    assert requests.get(f"{gateway.url}/add/5/5").json() == {"result": 10}


def _calculator_client(port: int) -> tuple[TSocket, Calculator.Client]:
    transport = TSocket("127.0.0.1", port)
    transport.setTimeout(10_000)
    transport.open()
    # The tutorial's client, as it is: buffered (unframed) transport, binary protocol.
    buffered = TBufferedTransport(transport)
    return transport, Calculator.Client(TBinaryProtocol(buffered))


def test_backend_sigterm_finishes_calls_in_flight_and_exits_0(procs: list[Process], log_dir: Path) -> None:
    calculator = Backend("calculator", log_dir, args=("--delay-ms", "500"))
    procs.append(calculator)
    busy_transport, busy = _calculator_client(calculator.port)
    idle_transport, idle = _calculator_client(calculator.port)
    idle.ping()  # an idle keep-alive connection must not hold up the exit

    busy.send_add(20, 22)
    calculator.send(signal.SIGTERM)
    assert busy.recv_add() == 42
    assert calculator.popen.wait(10) == 0
    busy_transport.close()
    idle_transport.close()


def test_backend_sigint_exits_0(procs: list[Process], log_dir: Path) -> None:
    cache = Backend("cache", log_dir)
    procs.append(cache)
    cache.send(signal.SIGINT)
    assert cache.popen.wait(10) == 0


def test_garbage_and_hostile_messages_do_not_kill_a_backend(procs: list[Process], log_dir: Path) -> None:
    for name in ("calculator", "cache"):
        backend = Backend(name, log_dir)
        procs.append(backend)
        for payload in (b"GET / HTTP/1.1\r\n\r\n", b"\x00\x00\x00\x08garbage!",
                        b"\x7f\xff\xff\xff" + b"x" * 100, b"\x00\x00\x00\x10\x80\x01\x00\x01\x7f\xff\xff\xff"):
            with socket.create_connection(("127.0.0.1", backend.port), timeout=5) as sock:
                sock.sendall(payload)
                assert_closed_by_peer(sock)
        assert backend.alive()
    calculator = procs[0]
    transport, client = _calculator_client(calculator.port)  # type: ignore[attr-defined]
    client.ping()
    assert client.add(1, 2) == 3
    transport.close()


def test_idle_client_does_not_block_others(procs: list[Process], log_dir: Path) -> None:
    calculator = Backend("calculator", log_dir)
    procs.append(calculator)
    silent = socket.create_connection(("127.0.0.1", calculator.port))
    half = socket.create_connection(("127.0.0.1", calculator.port))
    half.sendall(b"\x00\x00\x01\x00")  # a frame header promising 256 bytes that never come
    try:
        transport, client = _calculator_client(calculator.port)
        assert client.add(2, 2) == 4
        transport.close()
    finally:
        silent.close()
        half.close()


def test_a_silent_server_of_another_format_times_out_naming_the_format(procs: list[Process], log_dir: Path) -> None:
    # Apache's TThreadedServer with TBufferedTransportFactory and binary: it reads our
    # framed JSON's length as a binary message's name length, then waits for bytes that
    # never come. Silence: the timeout is the only sign, so its detail names our format.
    server = Backend("interop-buffered", log_dir, module="tests.interop_server",
                     args=["--server", "threaded", "--transport", "buffered", "--protocol", "binary"])
    procs.append(server)
    gateway = Gateway(log_dir, [f"127.0.0.1:{free_port()}"], [f"127.0.0.1:{free_port()}"], env={
        "GATEWAY_RPC_SERVICES": f"it=tests.gen.interop.Interop@{server.address}"
                                "?transport=framed&protocol=json&call_timeout_ms=300"})
    procs.append(gateway)
    r = requests.post(f"{gateway.url}/rpc/it/testI32", json={"thing": 1}, timeout=10)
    assert_problem(r, 504, "backend_timeout")
    assert "no answer within 0.3 s" in r.json()["detail"]
    assert "transport=framed, protocol=json" in r.json()["detail"], r.json()
