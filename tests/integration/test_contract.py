"""Every row of the contract, against real backends and Gunicorn with gevent workers."""

from __future__ import annotations

import concurrent.futures
import json
import re
import socket
import uuid

import pytest
import requests

from tests.harness import Backend, Gateway, wait_for
from tests.problems import assert_problem

I64_MAX = 2**63 - 1
I64_MIN = -(2**63)


def unique_key(prefix: str = "k") -> str:
    return f"{prefix}-{uuid.uuid4().hex}"


# Calculator -----------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("a", "b", "result"),
    [(2, 3, 5), (-2, -3, -5), (I64_MAX, 0, I64_MAX), (I64_MIN, 0, I64_MIN), (-7, 7, 0)],
)
def test_add_route(gw: str, http: requests.Session, a: int, b: int, result: int) -> None:
    r = http.get(f"{gw}/add/{a}/{b}")
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "application/json"
    assert r.json() == {"result": result}


@pytest.mark.parametrize(
    ("op", "a", "b", "result"),
    [
        ("add", 40, 2, 42),
        ("subtract", 2, 40, -38),
        ("multiply", -6, 7, -42),
        ("divide", -7, 2, -3),
        ("divide", 7, -2, -3),
        ("divide", 7, 2, 3),
        ("divide", I64_MIN, 1, I64_MIN),
    ],
)
def test_calc_path_and_body_agree(gw: str, http: requests.Session, op: str, a: int, b: int, result: int) -> None:
    expected = {"op": op, "a": a, "b": b, "result": result}
    assert http.get(f"{gw}/calc/{op}/{a}/{b}").json() == expected
    r = http.post(f"{gw}/calc", json={"op": op, "a": a, "b": b})
    assert r.status_code == 200 and r.json() == expected


def test_calc_body_is_parsed_whatever_the_content_type(gw: str, http: requests.Session) -> None:
    # curl -d sends application/x-www-form-urlencoded.
    r = http.post(f"{gw}/calc", data='{"op": "add", "a": 1, "b": 2}',
                  headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.json()["result"] == 3


def test_division_by_zero(gw: str, http: requests.Session) -> None:
    assert_problem(http.get(f"{gw}/calc/divide/1/0"), 400, "division_by_zero")
    assert_problem(http.post(f"{gw}/calc", json={"op": "divide", "a": 1, "b": 0}), 400, "division_by_zero")


@pytest.mark.parametrize(
    "path",
    [f"/add/{I64_MAX}/1", f"/add/{I64_MIN}/-1", f"/calc/multiply/{I64_MAX}/2",
     f"/calc/subtract/{I64_MIN}/1", f"/calc/divide/{I64_MIN}/-1"],
)
def test_overflow(gw: str, http: requests.Session, path: str) -> None:
    assert_problem(http.get(gw + path), 400, "overflow")


def test_overflow_leaves_the_connection_usable(gw: str, http: requests.Session) -> None:
    for _ in range(5):
        assert_problem(http.get(f"{gw}/add/{I64_MAX}/1"), 400, "overflow")
        assert http.get(f"{gw}/add/1/1").json() == {"result": 2}


@pytest.mark.parametrize(
    "path",
    ["/add/1.5/2", "/add/+5/2", "/add/1_000/2", "/add/%201/2", "/add/x/2", "/add/1e3/2",
     f"/add/{I64_MAX + 1}/0", f"/add/{I64_MIN - 1}/0", "/add/%D9%A1/2", "/calc/power/1/2", "/calc/ADD/1/2"],
)
def test_invalid_path_arguments(gw: str, http: requests.Session, path: str) -> None:
    assert_problem(http.get(gw + path), 400, "invalid_argument")


@pytest.mark.parametrize(
    "body",
    [
        {"op": "add", "a": 2.5, "b": 1}, {"op": "add", "a": 2.0, "b": 1}, {"op": "add", "a": 1e3, "b": 1},
        {"op": "add", "a": True, "b": 1}, {"op": "add", "a": "1", "b": 1}, {"op": "add", "a": None, "b": 1},
        {"op": "add", "a": 1}, {"op": "add", "a": I64_MAX + 1, "b": 0}, {"op": "pow", "a": 1, "b": 1},
        {"a": 1, "b": 1}, {"op": ["add"], "a": 1, "b": 1},
    ],
)
def test_invalid_body_arguments(gw: str, http: requests.Session, body: dict) -> None:
    assert_problem(http.post(gw + "/calc", data=json.dumps(body)), 400, "invalid_argument")


@pytest.mark.parametrize("raw", [b"", b"not json", b"[1, 2]", b'"add"', b"{", b'{"a": NaN}', b"\xff\xfe",
                                 b"[" * 100000 + b"]" * 100000])
def test_invalid_json(gw: str, http: requests.Session, raw: bytes) -> None:
    assert_problem(http.post(f"{gw}/calc", data=raw), 400, "invalid_json")


# Routing ----------------------------------------------------------------------------------

def test_unknown_route(gw: str, http: requests.Session) -> None:
    assert_problem(http.get(f"{gw}/nope"), 404, "not_found")
    assert_problem(http.get(f"{gw}/add/1"), 404, "not_found")


@pytest.mark.parametrize(("method", "path", "allowed"), [
    ("POST", "/add/1/2", {"GET", "HEAD"}),
    ("GET", "/calc", {"POST"}),
    ("POST", "/cache/k", {"GET", "HEAD", "PUT", "DELETE"}),
    ("OPTIONS", "/healthz", {"GET", "HEAD"}),
    ("PATCH", "/set", {"POST"}),
])
def test_method_not_allowed(gw: str, http: requests.Session, method: str, path: str, allowed: set) -> None:
    r = http.request(method, gw + path)
    assert_problem(r, 405, "method_not_allowed")
    assert {m.strip() for m in r.headers["Allow"].split(",")} == allowed


# Body limits ------------------------------------------------------------------------------

def raw_request(gw: str, request: bytes, read_until_close: bool = True) -> bytes:
    host, port = gw.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(request)
        chunks = []
        while True:
            data = sock.recv(65536)
            if not data:
                break
            chunks.append(data)
            if not read_until_close and b"\r\n\r\n" in b"".join(chunks):
                break
    return b"".join(chunks)


def test_oversized_body_is_refused_before_it_is_read(gw: str) -> None:
    # Content-Length says 3 MiB but nothing follows: the answer must come without the body.
    reply = raw_request(gw, b"POST /calc HTTP/1.1\r\nHost: x\r\nContent-Length: 3145728\r\n\r\n", read_until_close=False)
    head = reply.split(b"\r\n\r\n")[0]
    assert head.startswith(b"HTTP/1.1 413"), reply[:200]
    assert b"application/problem+json" in head


def test_oversized_chunked_body(gw: str, http: requests.Session) -> None:
    def chunks():
        for _ in range(3):
            yield b"x" * (1024 * 1024)

    assert_problem(http.post(f"{gw}/calc", data=chunks()), 413, "payload_too_large")


def test_chunked_body_within_the_limit(gw: str, http: requests.Session) -> None:
    def chunks():
        yield b'{"op": "add", '
        yield b'"a": 1, "b": 2}'

    assert http.post(f"{gw}/calc", data=chunks()).json()["result"] == 3


def test_body_of_exactly_the_limit_is_read(gw: str, http: requests.Session) -> None:
    body = b'{"op": "add", "a": 1, "b": 2}'
    body += b" " * (2 * 1024 * 1024 - len(body))
    assert http.post(f"{gw}/calc", data=body).json()["result"] == 3


# Cache ------------------------------------------------------------------------------------

@pytest.mark.parametrize("value", [1, -1.5, "text", None, True, [1, {"a": [None]}], {"nested": {"x": "é☃"}}])
def test_cache_round_trip(gw: str, http: requests.Session, value: object) -> None:
    key = unique_key()
    r = http.put(f"{gw}/cache/{key}", json={"value": value})
    assert r.status_code == 200 and r.json() == {"key": key, "stored": True}
    assert http.get(f"{gw}/cache/{key}").json() == {"key": key, "value": value}
    assert http.delete(f"{gw}/cache/{key}").json() == {"key": key, "deleted": True}
    assert_problem(http.get(f"{gw}/cache/{key}"), 404, "not_found")
    assert_problem(http.delete(f"{gw}/cache/{key}"), 404, "not_found")


def test_cache_overwrite(gw: str, http: requests.Session) -> None:
    key = unique_key()
    http.put(f"{gw}/cache/{key}", json={"value": 1})
    http.put(f"{gw}/cache/{key}", json={"value": 2})
    assert http.get(f"{gw}/cache/{key}").json()["value"] == 2


@pytest.mark.parametrize(("sent", "key"), [
    ("/a", "/a"), ("a//b", "a//b"), ("a%2Fb", "a/b"), ("%2F%2Fx", "//x"), ("caf%C3%A9", "café"), ("%E2%98%83", "☃"),
])
def test_cache_keys_with_slashes_and_utf8(gw: str, http: requests.Session, sent: str, key: str) -> None:
    suffix = uuid.uuid4().hex
    r = http.put(f"{gw}/cache/{sent}{suffix}", json={"value": sent})
    assert r.json() == {"key": key + suffix, "stored": True}
    # "%2F" and "/" name the same key.
    same = (sent + suffix).replace("%2F", "/")
    assert http.get(f"{gw}/cache/{same}").json() == {"key": key + suffix, "value": sent}


def test_key_of_250_bytes_is_accepted_and_251_refused(gw: str, http: requests.Session) -> None:
    ok = "é" * 125  # 250 bytes of UTF-8
    assert http.put(f"{gw}/cache/{ok}", json={"value": 1}).status_code == 200
    assert_problem(http.put(f"{gw}/cache/{ok}a", json={"value": 1}), 400, "invalid_key")


@pytest.mark.parametrize("key", ["a%20b", "a%09b", "a%0Ab", "%7F", "a%C2%85b", "a%E3%80%80b", "%FF", "a%C3"])
def test_invalid_keys(gw: str, http: requests.Session, key: str) -> None:
    assert_problem(http.put(f"{gw}/cache/{key}", json={"value": 1}), 400, "invalid_key")
    assert_problem(http.get(f"{gw}/cache/{key}"), 400, "invalid_key")
    assert_problem(http.delete(f"{gw}/cache/{key}"), 400, "invalid_key")


@pytest.mark.parametrize("ttl", [0, -1, 2592001, 1.5, "10", True, [1]])
def test_invalid_ttl_changes_nothing(gw: str, http: requests.Session, ttl: object) -> None:
    key = unique_key()
    http.put(f"{gw}/cache/{key}", json={"value": "before"})
    assert_problem(http.put(f"{gw}/cache/{key}", json={"value": "after", "ttl": ttl}), 400, "invalid_argument")
    assert http.get(f"{gw}/cache/{key}").json()["value"] == "before"


def test_ttl_expires(gw: str, http: requests.Session) -> None:
    key = unique_key()
    assert http.put(f"{gw}/cache/{key}", json={"value": "soon gone", "ttl": 1}).status_code == 200
    assert http.get(f"{gw}/cache/{key}").json()["value"] == "soon gone"
    wait_for(lambda: http.get(f"{gw}/cache/{key}").status_code == 404, 5, "the key to expire", interval_s=0.1)
    assert http.get(f"{gw}/get/{key}").json() == {"value": None}


def test_max_ttl_and_null_ttl_are_accepted(gw: str, http: requests.Session) -> None:
    for ttl in (2592000, None):
        key = unique_key()
        assert http.put(f"{gw}/cache/{key}", json={"value": 1, "ttl": ttl}).status_code == 200
        assert http.get(f"{gw}/cache/{key}").status_code == 200


def test_cache_put_needs_a_value(gw: str, http: requests.Session) -> None:
    assert_problem(http.put(f"{gw}/cache/{unique_key()}", json={"ttl": 5}), 400, "invalid_argument")
    assert_problem(http.put(f"{gw}/cache/{unique_key()}", data="[1]"), 400, "invalid_json")


def test_value_size_limit(gw: str, http: requests.Session) -> None:
    limit = 1024 * 1024
    key = unique_key()
    fits = "x" * (limit - 2)  # plus two quotes: exactly 1 MiB of compact JSON
    assert http.put(f"{gw}/cache/{key}", json={"value": fits}).status_code == 200
    assert_problem(http.put(f"{gw}/cache/{key}", json={"value": fits + "x"}), 413, "payload_too_large")
    assert http.get(f"{gw}/cache/{key}").json()["value"] == fits


def test_seed_routes(gw: str, http: requests.Session) -> None:
    key = unique_key()
    assert http.get(f"{gw}/get/{key}").json() == {"value": None}
    r = http.post(f"{gw}/set", data=json.dumps({"key": key, "value": {"n": 1}}))
    assert r.status_code == 200 and r.json() == {"success": True}
    assert http.get(f"{gw}/get/{key}").json() == {"value": {"n": 1}}
    assert http.get(f"{gw}/cache/{key}").json() == {"key": key, "value": {"n": 1}}
    assert_problem(http.post(f"{gw}/set", json={"key": "has space", "value": 1}), 400, "invalid_key")
    assert_problem(http.post(f"{gw}/set", json={"key": 5, "value": 1}), 400, "invalid_key")
    assert_problem(http.post(f"{gw}/set", json={"key": key}), 400, "invalid_argument")


# Operations and headers -----------------------------------------------------------------

def test_healthz_and_readyz(gw: str, http: requests.Session, stack) -> None:
    calculator, cache, _ = stack
    assert http.get(f"{gw}/healthz").json() == {"status": "ok"}
    r = http.get(f"{gw}/readyz")
    assert r.status_code == 200
    assert r.json() == {"status": "ready", "backends": {"calculator": {calculator.address: "ok"},
                                                         "cache": {cache.address: "ok"}}}


def test_request_id(gw: str, http: requests.Session) -> None:
    assert http.get(f"{gw}/healthz", headers={"X-Request-ID": "abc-123"}).headers["X-Request-ID"] == "abc-123"
    generated = http.get(f"{gw}/nope").headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", generated)
    insane = http.get(f"{gw}/healthz", headers={"X-Request-ID": "x" * 500}).headers["X-Request-ID"]
    assert insane != "x" * 500 and re.fullmatch(r"[0-9a-f]{32}", insane)


def test_metrics_cover_every_worker(gw: str, http: requests.Session) -> None:
    # Requests on fresh connections spread over both workers; the total must count all.
    assert http.get(f"{gw}/add/1/1").status_code == 200  # at least one Thrift call to count
    before = _settled_count(gw, "/healthz")
    for _ in range(40):
        requests.get(f"{gw}/healthz")
    # Each worker writes its figures at least once a second.
    wait_for(lambda: _count(requests.get(f"{gw}/metrics").text, "/healthz") - before >= 40, 5,
             "both workers' counts in /metrics", interval_s=0.2)
    text = requests.get(f"{gw}/metrics").text
    assert _count(text, "/healthz") - before == 40
    assert re.search(r'gateway_thrift_calls_total\{address="[^"]+",backend="calculator"', text)
    assert "gateway_http_request_duration_seconds_bucket" in text
    assert "gateway_thrift_call_duration_seconds_bucket" in text
    assert re.search(r'gateway_pool_connections\{address="[^"]+",backend="calculator",state="idle"\}', text)


def _settled_count(gw: str, route: str) -> float:
    """The count once every worker has written what it batched (each does every second)."""
    last: list[float] = []

    def stable() -> bool:
        last.append(_count(requests.get(f"{gw}/metrics").text, route))
        return len(last) > 1 and last[-1] == last[-2]

    wait_for(stable, 15, "the workers' batched metrics to settle", interval_s=1.2)
    return last[-1]


def _count(text: str, route: str) -> float:
    pattern = rf'gateway_http_requests_total\{{method="GET",route="{re.escape(route)}",status="200"\}} (\S+)'
    match = re.search(pattern, text)
    return float(match.group(1)) if match else 0.0


def test_every_error_is_a_problem_document_never_html(gw: str, http: requests.Session) -> None:
    for r in (http.get(f"{gw}/nope"), http.post(f"{gw}/add/1/2"), http.post(f"{gw}/calc", data="x")):
        assert r.headers["Content-Type"] == "application/problem+json"
        assert "<html" not in r.text.lower()


def test_structured_access_log_line(gw: str, http: requests.Session, stack) -> None:
    gateway = stack[2]
    rid = f"trace-{uuid.uuid4().hex}"
    assert http.get(f"{gw}/add/20/22", headers={"X-Request-ID": rid}).json() == {"result": 42}

    def line() -> dict | None:
        for text in gateway.output().splitlines():
            if rid in text and text.startswith("{"):
                return json.loads(text)
        return None

    entry = wait_for(line, 5, "the access log line")
    assert entry["request_id"] == rid and entry["route"] == "/add/<a>/<b>" and entry["status"] == 200
    assert entry["backends"] == [f"calculator@{stack[0].address}"] and entry["duration_ms"] > 0


def test_every_answered_request_is_in_the_access_log_after_a_stop(procs, log_dir) -> None:  # type: ignore[no-untyped-def]
    # Lines are written in batches (gateway/http/access_log.py): a stop right after the
    # answers must still write every one of them.
    calculator = Backend("calculator", log_dir)
    procs.append(calculator)
    gateway = Gateway(log_dir, [calculator.address], [calculator.address])
    procs.append(gateway)
    rids = [f"stop-{i}-{uuid.uuid4().hex}" for i in range(120)]
    with concurrent.futures.ThreadPoolExecutor(12) as pool:
        answers = list(pool.map(lambda rid: requests.get(f"{gateway.url}/add/1/2", headers={"X-Request-ID": rid},
                                                         timeout=10).status_code, rids))
    assert answers == [200] * len(rids)
    assert gateway.stop() == 0
    logged = {json.loads(line)["request_id"] for line in gateway.output().splitlines() if line.startswith("{")}
    assert set(rids) <= logged


def test_request_id_reaches_the_backend_log(procs, log_dir) -> None:  # type: ignore[no-untyped-def]
    calculator = Backend("calculator", log_dir, args=("--log-calls",))
    cache = Backend("cache", log_dir, args=("--log-calls",))
    procs += [calculator, cache]
    gateway = Gateway(log_dir, [calculator.address], [cache.address])
    procs.append(gateway)
    rid = f"e2e-{uuid.uuid4().hex}"
    assert requests.get(f"{gateway.url}/add/1/2", headers={"X-Request-ID": rid}).json() == {"result": 3}
    assert requests.put(f"{gateway.url}/cache/x", json={"value": 1}, headers={"X-Request-ID": rid}).status_code == 200
    wait_for(lambda: re.search(rf"call add from 127\.0\.0\.1 request_id={rid} ", calculator.output()), 5,
             "the calculator's log line")
    wait_for(lambda: re.search(rf"call put from 127\.0\.0\.1 request_id={rid} ", cache.output()), 5, "the cache's log line")
