"""Backends served over HTTP (issue 26): the gateway in front of Apache's own ``THttpServer``.

``tests.interop_server --transport http`` serves the interop service with the thrift
package's ``THttpServer`` - HTTP/1.0, one request at a time, the connection closed after
each answer - in binary, compact and JSON; with ``--keep-alive`` the same class answers
HTTP/1.1 and keeps connections open; with ``--http-status 500`` it refuses every call;
with ``--tls-cert``, HTTPS. Each server logs every connection it accepts and the headers
of every call. One gateway fronts them all through ``/rpc``.
"""

from __future__ import annotations

import json
import re
import socket
from pathlib import Path
from typing import Any, Iterator

import pytest
import requests
import trustme

from tests.harness import Backend, Gateway, Process, wait_for
from tests.integration.test_interop import every_method_through_rpc
from tests.problems import assert_problem

# (name in /rpc, server flags, address options)
SERVERS = [
    ("http_binary", ["--protocol", "binary"], "transport=http"),
    ("http_compact", ["--protocol", "compact"], "transport=http&protocol=compact&path=/thrift/interop"),
    ("http_json", ["--protocol", "json"], "transport=http&protocol=json"),
    ("http_keepalive", ["--keep-alive"], "transport=http"),
]
WORKING = [name for name, _, _ in SERVERS] + ["https"]
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def http_backends(log_dir: Path, tmp_path_factory: pytest.TempPathFactory
                  ) -> Iterator[tuple[Gateway, dict[str, Backend]]]:
    procs: list[Process] = []
    tls_dir = tmp_path_factory.mktemp("tls")
    ca = trustme.CA()
    ca.issue_cert("interop.test").private_key_and_cert_chain_pem.write_to_path(str(tls_dir / "server.pem"))
    ca.cert_pem.write_to_path(str(tls_dir / "ca.pem"))
    try:
        servers: dict[str, Backend] = {}

        def start(name: str, flags: list[str]) -> Backend:
            servers[name] = Backend(f"interop-{name}", log_dir, args=["--transport", "http", *flags],
                                    module="tests.interop_server")
            procs.append(servers[name])
            return servers[name]

        entries = [f"{name}=tests.gen.interop.Interop@{start(name, flags).address}?{options}"
                   for name, flags, options in SERVERS]
        https = start("https", ["--tls-cert", str(tls_dir / "server.pem")])
        entries.append(f"https=tests.gen.interop.Interop@{https.address}?transport=http&tls=1"
                       "&tls_server_name=interop.test")
        entries.append(f"refusing=tests.gen.interop.Interop@{start('refusing', ['--http-status', '500']).address}"
                       "?transport=http")
        entries.append(f"down=tests.gen.interop.Interop@127.0.0.1:{free_port()}?transport=http")
        calculator, cache = Backend("calculator", log_dir), Backend("cache", log_dir)
        procs += [calculator, cache]
        gateway = Gateway(log_dir, [calculator.address], [cache.address], workers=1,
                          env={"GATEWAY_RPC_SERVICES": ";".join(entries), "GATEWAY_CALL_TIMEOUT_MS": "3000",
                               "GATEWAY_TLS_CA_FILE": str(tls_dir / "ca.pem")})
        procs.append(gateway)
        yield gateway, servers
    finally:
        for proc in procs:
            proc.stop()


def rpc(url: str, service: str, method: str, body: Any, headers: dict[str, str] | None = None) -> requests.Response:
    return requests.post(f"{url}/rpc/{service}/{method}", data=json.dumps(body), headers=headers, timeout=10)


def logged_calls(server: Backend) -> list[dict[str, str]]:
    return [json.loads(line) for line in re.findall(r"^http request (.*)$", server.output(), re.MULTILINE)]


def connections(server: Backend) -> int:
    return len(re.findall(r"^http connection$", server.output(), re.MULTILINE))


@pytest.mark.parametrize("service", WORKING)
def test_every_method_through_rpc(http_backends: tuple[Gateway, dict[str, Backend]], service: str) -> None:
    url = http_backends[0].url
    assert every_method_through_rpc(url, service) == []
    assert rpc(url, service, "testVoid", {}).json() == {}


@pytest.mark.parametrize("service", WORKING)
def test_exceptions_and_oneway(http_backends: tuple[Gateway, dict[str, Backend]], service: str) -> None:
    url = http_backends[0].url
    r = rpc(url, service, "testException", {"arg": "Xception"})
    assert_problem(r, 400, "xception")
    assert r.json()["fields"] == {"errorCode": 1001, "message": "Xception"}
    assert_problem(rpc(url, service, "testException", {"arg": "TException"}), 502, "bad_gateway")
    value = abs(hash(service)) % 10_000 + 1
    r = rpc(url, service, "testOneway", {"value": value})
    assert r.status_code == 202 and r.json() == {}
    wait_for(lambda: rpc(url, service, "lastOneway", {}).json() == {"result": value}, 10, "the oneway call to land")
    assert rpc(url, service, "testI32", {"thing": 1}).json() == {"result": 1}  # and the next call works


def test_the_path_is_where_calls_are_posted(http_backends: tuple[Gateway, dict[str, Backend]]) -> None:
    gateway, servers = http_backends
    assert rpc(gateway.url, "http_compact", "testI32", {"thing": 3}).json() == {"result": 3}
    last = logged_calls(servers["http_compact"])[-1]
    assert last["path"] == "/thrift/interop" and last["Content-Type"] == "application/x-thrift"
    assert logged_calls(servers["http_binary"])[-1]["path"] == "/"


def test_request_id_trace_context_and_budget_travel_as_http_headers(
        http_backends: tuple[Gateway, dict[str, Backend]]) -> None:
    gateway, servers = http_backends
    headers = {"X-Request-ID": "http-backend-req-1", "traceparent": f"00-{TRACE_ID}-00f067aa0ba902b7-01",
               "tracestate": "vendor=value"}
    assert rpc(gateway.url, "http_binary", "testString", {"thing": "x"}, headers).json() == {"result": "x"}
    seen = logged_calls(servers["http_binary"])[-1]
    assert seen["X-Request-ID"] == "http-backend-req-1"
    assert seen["traceparent"].startswith(f"00-{TRACE_ID}-") and seen["tracestate"] == "vendor=value"
    assert 1 <= int(seen["Deadline-Budget"]) <= 3000  # the call timeout bounds it
    # A client deadline shorter than the call timeout is what the budget says.
    rpc(gateway.url, "http_binary", "testString", {"thing": "y"}, {"Connect-Timeout-Ms": "1500"})
    assert 1000 < int(logged_calls(servers["http_binary"])[-1]["Deadline-Budget"]) <= 1500


def test_connections_are_kept_alive_where_the_server_allows_and_reopened_where_it_closes(
        http_backends: tuple[Gateway, dict[str, Backend]]) -> None:
    gateway, servers = http_backends
    before = {name: connections(servers[name]) for name in ("http_binary", "http_keepalive")}
    for i in range(20):
        for name in before:
            assert rpc(gateway.url, name, "testI32", {"thing": i}).json() == {"result": i}
    # HTTP/1.0: one connection per call. HTTP/1.1: the pooled one (one worker, calls in turn).
    assert connections(servers["http_binary"]) - before["http_binary"] == 20
    assert connections(servers["http_keepalive"]) - before["http_keepalive"] <= 1


def test_a_server_answering_500_is_a_bad_gateway_naming_the_status(
        http_backends: tuple[Gateway, dict[str, Backend]]) -> None:
    r = rpc(http_backends[0].url, "refusing", "testI32", {"thing": 1})
    body = assert_problem(r, 502, "bad_gateway")
    assert "HTTP 500" in body["detail"] and "refusing at" in body["detail"], body


def test_a_server_that_is_down_is_unavailable(http_backends: tuple[Gateway, dict[str, Backend]]) -> None:
    body = assert_problem(rpc(http_backends[0].url, "down", "testI32", {"thing": 1}), 503, "backend_unavailable")
    assert "cannot connect" in body["detail"], body


def test_readyz_checks_http_services_the_same_way(http_backends: tuple[Gateway, dict[str, Backend]]) -> None:
    r = requests.get(f"{http_backends[0].url}/readyz", timeout=10)
    body = assert_problem(r, 503, "backend_unavailable")
    states = {name: set(addrs.values()) for name, addrs in body["backends"].items()}
    assert all(states[name] == {"ok"} for name in WORKING), states
    assert states["refusing"] == {"bad_gateway"} and states["down"] == {"backend_unavailable"}
    assert "Traceback" not in http_backends[0].output()
