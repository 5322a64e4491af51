"""`make bench`: the gateway against the bare stack and the seed design, side by side.

Starts its own backends and gateways on free loopback ports, drives them with wrk, and
stops them. Cases that are compared run alternately (A B A B ...) so that drift in a
shared, noisy machine falls on all of them alike; each figure is the median over rounds.
Absolute numbers depend on the machine; the ratios are what to read.

    python -m bench.run [--duration 5] [--rounds 5] [--connections 16,64,256,1000] [--only GROUP,...]
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import psutil

from gateway.security.auth import key_line
from tests.harness import ROOT, Backend, Gateway, Process

OUT_DIR = ROOT / "bench"


def _json_script(body: str, method: str = "POST") -> str:
    """A wrk script sending the JSON ``body`` (no single quotes in it: it is a Lua '...' string)."""
    return f"wrk.method = \"{method}\"\nwrk.body = '{body}'\nwrk.headers[\"Content-Type\"] = \"application/json\"\n"


PUT_SCRIPT = _json_script('{"value": {"n": 1, "text": "benchmark"}, "ttl": 3600}', "PUT")
GETME_SCRIPT = _json_script("{}")
RPC_ADD_SCRIPT = _json_script('{"a": 2, "b": 3}')
DEADLINE_SCRIPT = """wrk.headers["Grpc-Timeout"] = "5S"
"""
# One Calculator.add(2, 3) call message, strict binary, as Apache's THttpClient posts it.
THRIFT_ADD_SCRIPT = """wrk.method = "POST"
wrk.body = "\\128\\001\\000\\001\\000\\000\\000\\003add\\000\\000\\000\\000\\010\\000\\001\\000\\000\\000\\000\\000\\000\\000\\002\\010\\000\\002\\000\\000\\000\\000\\000\\000\\000\\003\\000"
wrk.headers["Content-Type"] = "application/x-thrift"
"""
INTEROP_I32_SCRIPT = _json_script('{"thing": 42}')
CALC_SCRIPT = _json_script('{"op": "add", "a": 2, "b": 3}')
BENCH_KEY = "bench-key"
BACKEND_MAX_CONNECTIONS = 4000
BENCH_API_KEY = "bench-api-key-0123456789abcdef0123456789"
BENCH_JWT_SECRET = "bench-jwt-secret-0123456789abcdef0123456789"


def _span_sink():  # type: ignore[no-untyped-def]
    """An OTLP/HTTP endpoint that takes every export and keeps nothing."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Sink(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Sink)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def _auth_script(token: str) -> str:
    return f'wrk.headers["Authorization"] = "Bearer {token}"\n'


def _jwt() -> str:
    import time

    import jwt

    return jwt.encode({"sub": "bench", "scope": "*", "exp": int(time.time()) + 86400}, BENCH_JWT_SECRET,
                      algorithm="HS256")
# Wire formats beside the default (THeader, binary) for GET /add: gateway name -> options.
FORMATS = {
    "framed-binary": "transport=framed",
    "buffered-binary": "transport=buffered",
    "framed-compact": "transport=framed&protocol=compact",
    "header-compact": "transport=header&protocol=compact",
    "framed-json": "transport=framed&protocol=json",
}


@dataclass
class Run:
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    requests: int
    cpu_s: dict[str, float]


@dataclass
class Case:
    name: str
    server: str  # key into the started servers
    path: str
    connections: int = 64
    script: str | None = None
    runs: list[Run] = field(default_factory=list)

    def median(self, attr: str) -> float:
        return statistics.median(getattr(r, attr) for r in self.runs)

    @property
    def errors(self) -> int:
        return sum(r.errors for r in self.runs)

    def cpu_us_per_request(self) -> float:
        """The gateway's CPU (master and workers, from /proc) per request, in µs: the
        median over rounds. Steadier than req/s on a shared machine, where other
        processes take turns on the cores but not from this figure."""
        return statistics.median(r.cpu_s["gateway"] / max(r.requests, 1) * 1e6 for r in self.runs)

    def cpu(self) -> dict[str, float]:
        # A process under 0.05 s in a run is left out of that run's figures: count it as 0 there.
        names = dict.fromkeys(n for r in self.runs for n in r.cpu_s)
        return {n: statistics.median(r.cpu_s.get(n, 0.0) for r in self.runs) for n in names}


_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def _ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()  # type: ignore[union-attr]
    return float(value) * _UNITS_MS[unit]


def parse_wrk(output: str) -> tuple[float, float, float, int, int]:
    """(req/s, p50 ms, p99 ms, errors, requests) from ``wrk --latency`` output."""
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"\s50%\s+(\S+)", output).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"\s99%\s+(\S+)", output).group(1))  # type: ignore[union-attr]
    requests = int(re.search(r"(\d+) requests in", output).group(1))  # type: ignore[union-attr]
    errors = 0
    if m := re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output):
        errors += sum(int(x) for x in m.groups())
    if m := re.search(r"Non-2xx or 3xx responses: (\d+)", output):
        errors += int(m.group(1))
    return rps, p50, p99, errors, requests


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=False, capture_output=True)
        if not shutil.which("wrk"):
            subprocess.run(["apt-get", "update", "-qq"], check=False, capture_output=True)
            subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True, capture_output=True)
        return shutil.which("wrk")  # type: ignore[return-value]
    sys.exit("wrk is not installed: sudo apt-get install wrk")


def _cpu_times(proc: Process) -> float:
    try:
        root = psutil.Process(proc.pid)
        total = 0.0
        for p in [root, *root.children(recursive=True)]:
            t = p.cpu_times()
            total += t.user + t.system
        return total
    except psutil.Error:
        return 0.0


class Bench:
    def __init__(self, duration_s: int, log_dir: Path) -> None:
        self.wrk = ensure_wrk()
        self.duration_s = duration_s
        self.log_dir = log_dir
        self.servers: dict[str, Gateway] = {}
        self.backends: dict[str, Backend] = {}
        self._sink: Any = None  # the OTLP sink, once the tracing gateway has started
        # Pin the load generator to the last core so it does not hop between cores.
        last_core = (os.cpu_count() or 1) - 1
        self.pin = ["taskset", "-c", str(last_core)] if shutil.which("taskset") and last_core > 0 else []

    def backend(self, name: str) -> Backend:
        """The backend ``name`` (calculator, cache, slow, rest), started the first time it
        is asked for: a run of a few groups starts only what they use."""
        if name not in self.backends:
            # Every gateway of the bench keeps up to 64 pooled connections per worker and
            # service to the same backend, about 1,000 together: past the backends' default
            # limit (1,000), the last cases would measure refusals.
            many = ("--max-connections", str(BACKEND_MAX_CONNECTIONS))
            if name == "rest":
                # Its handler prints a line per call: to a log file, so the pipe never fills.
                self.backends[name] = Backend("rest", self.log_dir, module="tests.rest_server")
            elif name == "interop-http":
                self.backends[name] = Backend(name, self.log_dir, module="tests.interop_server",
                                              args=("--transport", "http", "--keep-alive"))
            elif name == "interop-framed":
                self.backends[name] = Backend(name, self.log_dir, module="tests.interop_server",
                                              args=("--transport", "framed"))
            elif name == "slow":
                self.backends[name] = Backend("calculator", self.log_dir, args=("--delay-ms", "20", *many))
            else:
                self.backends[name] = Backend(name, self.log_dir, args=many)
        return self.backends[name]

    def server_specs(self, connections: list[int]) -> dict[str, Callable[[], Gateway]]:
        """Every server a case may name, as a function that starts it."""
        log = self.log_dir

        def addr(name: str) -> str:
            return self.backend(name).address

        def gateway(calc: Sequence[str] | None = None, **kwargs: Any) -> Callable[[], Gateway]:
            return lambda: Gateway(log, calc if calc is not None else [addr("calculator")], [addr("cache")], **kwargs)

        # The default configuration (access log to stdout, metrics, request ids): what users
        # run. Only the connection limit is raised, for the 1000-connection runs.
        quiet = {"GATEWAY_WORKER_CONNECTIONS": str(max(1000, max(connections) + 50))}
        keys_file = log / "api-keys.txt"
        keys_file.write_text(key_line("bench", BENCH_API_KEY, ["*"]) + "\n")
        limited = {**quiet, "GATEWAY_RATE_LIMIT": "1000000/second"}

        def otel() -> Gateway:
            # Tracing on: spans exported over OTLP/HTTP to a sink that accepts and drops them.
            self._sink = _span_sink()
            endpoint = f"http://127.0.0.1:{self._sink.server_address[1]}"
            return gateway(env={**quiet, "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint})()

        def idl_vs_generated() -> Gateway:
            # One gateway, the same Calculator twice: read from its .thrift file at start-up,
            # and through the module Apache's compiler generated from that file.
            target = f"{addr('calculator')}?transport=header"
            services = (f"calc_idl={ROOT / 'thrift_idl' / 'calculator.thrift'}:Calculator@{target};"
                        f"calc_gen=thrift_idl.gen.calculator.Calculator@{target}")
            return gateway(env={**quiet, "GATEWAY_RPC_SERVICES": services})()

        def http_backends() -> Gateway:
            # The interop service twice: Apache's THttpServer kept alive (HTTP/1.1), and the
            # thrift package's framed TThreadedServer - both threaded Python servers.
            services = (f"it_http=tests.gen.interop.Interop@{addr('interop-http')}?transport=http;"
                        f"it_framed=tests.gen.interop.Interop@{addr('interop-framed')}")
            return gateway(env={**quiet, "GATEWAY_RPC_SERVICES": services})()

        def rest() -> Gateway:
            services = f"users=tests.gen.rest.Users@{addr('rest')}"
            return gateway(env={**quiet, "GATEWAY_RPC_SERVICES": services})()

        specs: dict[str, Callable[[], Gateway]] = {
            "bare": gateway(env=quiet, app="bench.bare_app:app", ready_path="/bare"),
            "pooled": gateway(env=quiet, app="bench.pooled_app:app", ready_path="/add/1/1"),
            "ours": gateway(env=quiet),
            "ours-nolog": gateway(env={**quiet, "GATEWAY_ACCESS_LOG": ""}),
            "ours-2w": gateway(workers=2, env=quiet),
            # Auth and rate limits on: an API key, a JWT (HS256), each with a limit never reached.
            "ours-apikey": gateway(env={**limited, "GATEWAY_AUTH": "api_key",
                                        "GATEWAY_API_KEYS_FILE": str(keys_file)}),
            "ours-jwt": gateway(env={**limited, "GATEWAY_AUTH": "jwt", "GATEWAY_JWT_SECRET": BENCH_JWT_SECRET}),
            "ours-otel": otel,
            "ours-idl": idl_vs_generated,
            "ours-rest": rest,
            "ours-http": http_backends,
            "seed": gateway(workers=4, env=quiet, app="bench.seed_app:app", gunicorn_args=["-k", "sync"],
                            ready_path="/add/1/1"),
            "ours-2w-slow": lambda: gateway([addr("slow")], workers=2, env=quiet)(),
            "seed-slow": lambda: gateway([addr("slow")], workers=4, env=quiet, app="bench.seed_app:app",
                                         gunicorn_args=["-k", "sync"], ready_path="/add/1/1")(),
        }
        # The same calculator, reached in other wire formats (it reads them all).
        for name, options in FORMATS.items():
            specs[f"ours-{name}"] = (lambda options=options:
                                     gateway([f"{addr('calculator')}?{options}"], env=quiet)())
        return specs

    def start(self, connections: list[int], needed: Iterable[str]) -> None:
        """Start the servers ``needed`` (keys of ``server_specs``) and their backends."""
        specs = self.server_specs(connections)
        for name in dict.fromkeys(needed):
            self.servers[name] = specs[name]()
        if "ours" in self.servers:
            import requests

            requests.put(f"{self.servers['ours'].url}/cache/{BENCH_KEY}",
                         json={"value": {"n": 1, "text": "benchmark"}})

    def stop(self) -> None:
        for name, backend in self.backends.items():
            # A backend that turned connections away makes error rows: say why, since its log goes.
            if backend.search(r"refusing connections"):
                print(f"warning: backend {name} refused connections beyond its --max-connections", flush=True)
        for proc in [*self.servers.values(), *self.backends.values()]:
            proc.stop()
        if self._sink is not None:
            self._sink.shutdown()

    def drive(self, url: str, connections: int, script: str | None = None) -> str:
        """One wrk run of ``duration_s`` against ``url``; its ``--latency`` output."""
        cmd = [*self.pin, self.wrk, "-t1", f"-c{connections}", f"-d{self.duration_s:g}s",
               "--timeout", "10s", "--latency", url]
        script_file = None
        if script:
            script_file = tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False)
            script_file.write(script)
            script_file.close()
            cmd[-1:-1] = ["-s", script_file.name]
        try:
            out = subprocess.run(cmd, capture_output=True, text=True, timeout=self.duration_s + 60)
        finally:
            if script_file:
                os.unlink(script_file.name)
        if out.returncode != 0:
            raise RuntimeError(f"wrk failed: {out.stderr}")
        return out.stdout

    def measure(self, case: Case) -> Run:
        server = self.servers[case.server]
        watched = {"gateway": server, **{f"backend:{n}": b for n, b in self.backends.items()}}
        before = {n: _cpu_times(p) for n, p in watched.items()}
        wrk_before = resource.getrusage(resource.RUSAGE_CHILDREN)
        out = self.drive(server.url + case.path, case.connections, case.script)
        wrk_after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = {n: _cpu_times(p) - before[n] for n, p in watched.items()}
        cpu = {n: v for n, v in cpu.items() if v > 0.05 or n == "gateway"}
        cpu["wrk"] = (wrk_after.ru_utime + wrk_after.ru_stime) - (wrk_before.ru_utime + wrk_before.ru_stime)
        rps, p50, p99, errors, requests = parse_wrk(out)
        return Run(rps, p50, p99, errors, requests, cpu)

    def rounds(self, cases: list[Case], rounds: int) -> None:
        for case in cases:  # warm up: connections opened, code paths hot
            saved, self.duration_s = self.duration_s, 1
            self.measure(case)
            self.duration_s = saved
        for r in range(rounds):
            for case in cases:
                run = self.measure(case)
                case.runs.append(run)
                print(f"  round {r + 1}: {case.name:<34} {run.rps:>9.0f} req/s  p50 {run.p50_ms:7.2f} ms  "
                      f"p99 {run.p99_ms:8.2f} ms  errors {run.errors}", flush=True)


# Issue 28's limit rows: bench/pooled_app.py, Apache's clients from a deque, nothing else.
POOLED = "minimal pooled call (Apache client, deque): GET /add"
POOLED_CACHE = "minimal pooled call (Apache client, deque): GET /cache/<key>"


def groups(connections: list[int]) -> dict[str, list[Case]]:
    return {
        "overhead (1 worker, 64 connections)": [
            Case("bare stack: GET /bare", "bare", "/bare"),
            Case("bare WSGI route, no Flask: GET /bare-wsgi", "bare", "/bare-wsgi"),
            Case(POOLED, "pooled", "/add/2/3"),
            Case(POOLED_CACHE, "pooled", f"/cache/{BENCH_KEY}"),
            Case("gateway: GET /add", "ours", "/add/2/3"),
            Case("gateway, access log off: GET /add", "ours-nolog", "/add/2/3"),
            Case("gateway: POST /calc (JSON body)", "ours", "/calc", script=CALC_SCRIPT),
            Case("gateway: POST /rpc/calculator/add", "ours", "/rpc/calculator/add", script=RPC_ADD_SCRIPT),
            Case("gateway: GET /cache/<key>", "ours", f"/cache/{BENCH_KEY}"),
            Case("gateway: PUT /cache/<key>", "ours", "/cache/bench-put", script=PUT_SCRIPT),
            Case("seed design (4 sync, new conn): /add", "seed", "/add/2/3"),
        ],
        "security (1 worker, 64 connections, GET /add)": [
            Case("auth off (the default): GET /add", "ours", "/add/2/3"),
            Case("API key + rate limit: GET /add", "ours-apikey", "/add/2/3", script=_auth_script(BENCH_API_KEY)),
            Case("JWT HS256 + rate limit: GET /add", "ours-jwt", "/add/2/3", script=_auth_script(_jwt())),
        ],
        "tracing (1 worker, 64 connections, GET /add)": [
            Case("tracing off (the default): GET /add", "ours", "/add/2/3"),
            Case("tracing on, spans exported: GET /add", "ours-otel", "/add/2/3"),
        ],
        "wire formats (1 worker, 64 connections, GET /add)": [
            Case("header/binary (the default): GET /add", "ours", "/add/2/3"),
            *(Case(f"{name.replace('-', '/')}: GET /add", f"ours-{name}", "/add/2/3") for name in FORMATS),
        ],
        "IDL file vs generated module (1 worker, 64 connections, POST /rpc add)": [
            Case("generated module: POST /rpc/calc_gen/add", "ours-idl", "/rpc/calc_gen/add", script=RPC_ADD_SCRIPT),
            Case("IDL file: POST /rpc/calc_idl/add", "ours-idl", "/rpc/calc_idl/add", script=RPC_ADD_SCRIPT),
        ],
        "REST route vs /rpc (1 worker, 64 connections, Users.getMe)": [
            Case("POST /rpc/users/getMe", "ours-rest", "/rpc/users/getMe", script=GETME_SCRIPT),
            Case("annotated REST route: GET /v1/users/me", "ours-rest", "/v1/users/me"),
        ],
        "deadlines (1 worker, 64 connections, GET /add)": [
            Case("no deadline header: GET /add", "ours", "/add/2/3"),
            Case("Grpc-Timeout: 5S: GET /add", "ours", "/add/2/3", script=DEADLINE_SCRIPT),
        ],
        "Thrift over HTTP (1 worker, 64 connections)": [
            Case("POST /rpc/calculator/add", "ours", "/rpc/calculator/add", script=RPC_ADD_SCRIPT),
            Case("POST /thrift/calculator (binary, THttpClient-style)", "ours", "/thrift/calculator",
                 script=THRIFT_ADD_SCRIPT),
            Case("/rpc to a framed backend: POST /rpc/it_framed/testI32", "ours-http", "/rpc/it_framed/testI32",
                 script=INTEROP_I32_SCRIPT),
            Case("/rpc to an HTTP backend (keep-alive): POST /rpc/it_http/testI32", "ours-http",
                 "/rpc/it_http/testI32", script=INTEROP_I32_SCRIPT),
        ],
        "workers (64 connections)": [
            Case("gateway 1 worker: GET /add", "ours", "/add/2/3"),
            Case("gateway 2 workers: GET /add", "ours-2w", "/add/2/3"),
        ],
        "20 ms backend (64 connections)": [
            Case("gateway 2 workers, 20 ms backend", "ours-2w-slow", "/add/2/3"),
            Case("seed design, 20 ms backend", "seed-slow", "/add/2/3"),
        ],
        "connections (1 worker vs seed design)": [
            case
            for c in connections
            for case in (Case(f"gateway 1 worker, {c} conns", "ours", "/add/2/3", connections=c),
                         Case(f"seed design, {c} conns", "seed", "/add/2/3", connections=c))
        ],
    }


@dataclass
class Check:
    what: str
    value: float
    target: str
    ok: bool


class _NotRun(KeyError):
    """A check needs a case that this run left out (``--only``)."""


def checks(g: dict[str, list[Case]], connections: list[int]) -> list[Check]:
    """The open issues' targets (15, 24, 25, 28), plus every ratio reported against both
    bare routes and the minimal pooled call. A check whose cases did not run (``--only``)
    is left out."""
    by_name = {c.name: c for cases in g.values() for c in cases}

    def case(name: str) -> Case:
        if name not in by_name:
            raise _NotRun(name)
        return by_name[name]

    def rps(name: str) -> float:
        return case(name).median("rps")

    def cpu(name: str) -> float:
        return case(name).cpu_us_per_request()

    # Each check is made when the list is walked, so that one whose cases did not run can be skipped.
    def at_least(what: str, value: Callable[[], float], target: float) -> Callable[[], Check]:
        def check() -> Check:
            v = value()
            return Check(what, v, f">= {target:g}", v >= target)
        return check

    def below(what: str, value: Callable[[], float], target: float) -> Callable[[], Check]:
        def check() -> Check:
            v = value()
            return Check(what, v, f"< {target:g}", v < target)
        return check

    def reported(what: str, value: Callable[[], float]) -> Callable[[], Check]:
        return lambda: Check(what, value(), "(reported)", True)

    flask, wsgi = "bare stack: GET /bare", "bare WSGI route, no Flask: GET /bare-wsgi"
    add, cache_get = "gateway: GET /add", "gateway: GET /cache/<key>"
    rpc_add, put = "gateway: POST /rpc/calculator/add", "gateway: PUT /cache/<key>"
    header = "header/binary (the default): GET /add"
    auth_off, tracing_off = "auth off (the default): GET /add", "tracing off (the default): GET /add"
    wanted: list[Callable[[], Check]] = [
        # Issue 28: the gateway against the least a pooled call can cost on this design.
        at_least("/add vs minimal pooled call", lambda: rps(add) / rps(POOLED), 0.85),
        reported("gateway's own CPU, µs/request (/add minus minimal pooled call)", lambda: cpu(add) - cpu(POOLED)),
        reported("minimal pooled call vs bare WSGI route", lambda: rps(POOLED) / rps(wsgi)),
        reported("a pooled call's CPU, µs/request (minimal pooled call minus bare WSGI)",
                 lambda: cpu(POOLED) - cpu(wsgi)),
        reported("POST /rpc/calculator/add vs minimal pooled call", lambda: rps(rpc_add) / rps(POOLED)),
        at_least("POST /rpc/calculator/add vs GET /add", lambda: rps(rpc_add) / rps(add), 0.90),
        at_least("cache GET vs minimal pooled Cache.get", lambda: rps(cache_get) / rps(POOLED_CACHE), 0.85),
        reported("gateway's own CPU on cache GET, µs/request (minus minimal pooled Cache.get)",
                 lambda: cpu(cache_get) - cpu(POOLED_CACHE)),
        # Issue 24: a service read from its .thrift file costs what its generated module does.
        at_least("/rpc through the IDL file vs the generated module",
                 lambda: rps("IDL file: POST /rpc/calc_idl/add") / rps("generated module: POST /rpc/calc_gen/add"),
                 0.95),
        reported("gateway CPU per request, IDL file / generated module",
                 lambda: cpu("IDL file: POST /rpc/calc_idl/add") / cpu("generated module: POST /rpc/calc_gen/add")),
        # Issue 25: an annotated route's binding plan is made at start-up, not per request.
        at_least("GET /add with a deadline header vs without",
                 lambda: rps("Grpc-Timeout: 5S: GET /add") / rps("no deadline header: GET /add"), 0.97),
        reported("POST /thrift/calculator vs POST /rpc/calculator/add",
                 lambda: rps("POST /thrift/calculator (binary, THttpClient-style)") / rps("POST /rpc/calculator/add")),
        reported("/rpc to an HTTP backend (keep-alive) vs to a framed one",
                 lambda: rps("/rpc to an HTTP backend (keep-alive): POST /rpc/it_http/testI32")
                 / rps("/rpc to a framed backend: POST /rpc/it_framed/testI32")),
        at_least("annotated GET /v1/users/me vs POST /rpc/users/getMe",
                 lambda: rps("annotated REST route: GET /v1/users/me") / rps("POST /rpc/users/getMe"), 0.95),
        reported("gateway CPU per request, REST route / /rpc",
                 lambda: cpu("annotated REST route: GET /v1/users/me") / cpu("POST /rpc/users/getMe")),
        # Issue 15.
        at_least("/add vs bare WSGI route", lambda: rps(add) / rps(wsgi), 0.70),
        at_least("cache GET vs bare WSGI route", lambda: rps(cache_get) / rps(wsgi), 0.65),
        at_least("POST /rpc/calculator/add vs bare WSGI route", lambda: rps(rpc_add) / rps(wsgi), 0.60),
        below("backend call's CPU, µs/request (/add minus bare WSGI)", lambda: cpu(add) - cpu(wsgi), 60),
        reported("/add vs bare stack (Flask)", lambda: rps(add) / rps(flask)),
        reported("cache GET vs bare stack (Flask)", lambda: rps(cache_get) / rps(flask)),
        reported("POST /rpc/calculator/add vs bare stack (Flask)", lambda: rps(rpc_add) / rps(flask)),
        reported("POST /calc vs bare WSGI route", lambda: rps("gateway: POST /calc (JSON body)") / rps(wsgi)),
        reported("cache PUT vs bare WSGI route", lambda: rps(put) / rps(wsgi)),
        reported("cache PUT vs bare stack (Flask)", lambda: rps(put) / rps(flask)),
        reported("access log off vs on (the default), GET /add",
                 lambda: rps("gateway, access log off: GET /add") / rps(add)),
        *(reported(f"{name.replace('-', '/')} vs header/binary, GET /add",
                   lambda name=name: rps(f"{name.replace('-', '/')}: GET /add") / rps(header))
          for name in FORMATS),
        reported("API key + rate limit vs auth off, GET /add",
                 lambda: rps("API key + rate limit: GET /add") / rps(auth_off)),
        reported("JWT HS256 + rate limit vs auth off, GET /add",
                 lambda: rps("JWT HS256 + rate limit: GET /add") / rps(auth_off)),
        reported("tracing on vs off, GET /add", lambda: rps("tracing on, spans exported: GET /add") / rps(tracing_off)),
        # No target (issue 28): on 2 cores shared with wrk and the backend it measures the machine.
        reported("2 workers vs 1 worker",
                 lambda: rps("gateway 2 workers: GET /add") / rps("gateway 1 worker: GET /add")),
        at_least("gateway vs seed design, 20 ms backend",
                 lambda: rps("gateway 2 workers, 20 ms backend") / rps("seed design, 20 ms backend"), 15),
        reported("pooled vs seed design, fast backend", lambda: rps(add) / rps("seed design (4 sync, new conn): /add")),
    ]
    top = max(connections)

    def little() -> Check:
        c = case(f"gateway 1 worker, {top} conns")
        ratio = c.median("p99_ms") / (top / c.median("rps") * 1000)
        return Check(f"p99 / Little's-law mean at {top} conns", ratio, "<= 1.5", ratio <= 1.5)

    def errors() -> Check:
        n = case(f"gateway 1 worker, {top} conns").errors
        return Check(f"errors at {top} conns (1 worker)", n, "== 0", n == 0)

    out = []
    for make in [*wanted, little, errors]:
        try:
            out.append(make())
        except _NotRun:
            pass
    return out


def report(g: dict[str, list[Case]], results: list[Check], args: argparse.Namespace) -> str:
    lines = [
        "# Benchmark results",
        "",
        f"`make bench` (`python -m bench.run --duration {args.duration:g} --rounds {args.rounds}`): wrk, "
        f"{args.duration:g} s per run, median of {args.rounds} rounds, cases of a group run alternately. "
        f"Machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}; absolute numbers depend on "
        "the machine and on what else runs on it: read the ratios.",
        "",
    ]
    for title, cases in g.items():
        lines += [f"## {title}", "",
                  "| case | req/s | p50 ms | p99 ms | errors | gateway CPU µs/req | CPU s (median run) |",
                  "|---|---:|---:|---:|---:|---:|---|"]
        for c in cases:
            cpu = ", ".join(f"{n} {v:.1f}" for n, v in c.cpu().items())
            lines.append(f"| {c.name} | {c.median('rps'):.0f} | {c.median('p50_ms'):.2f} | {c.median('p99_ms'):.2f} "
                         f"| {c.errors} | {c.cpu_us_per_request():.0f} | {cpu} |")
        lines.append("")
    lines += ["## Targets", "", "| check | measured | target | met |", "|---|---:|---|---|"]
    for ch in results:
        lines.append(f"| {ch.what} | {ch.value:.2f} | {ch.target} | {'yes' if ch.ok else 'NO'} |")
    lines.append("")
    return "\n".join(lines)


def chart(cases: list[Case], connections: list[int], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for label, prefix in (("gateway (1 gevent worker, pooled)", "gateway 1 worker"),
                          ("seed design (4 sync workers, new connection)", "seed design")):
        series = [next(c for c in cases if c.name == f"{prefix}, {n} conns") for n in connections]
        left.plot(connections, [c.median("rps") for c in series], marker="o", label=label)
        right.plot(connections, [c.median("p99_ms") for c in series], marker="o", label=label)
    for ax, ylabel in ((left, "requests/s (median)"), (right, "p99 latency, ms (median)")):
        ax.set_xscale("log")
        ax.set_xticks(connections, [str(n) for n in connections])
        ax.set_xlabel("concurrent connections")
        ax.set_ylabel(ylabel)
        ax.grid(True, alpha=0.3)
    left.set_ylim(bottom=0)
    right.set_yscale("log")
    left.legend(fontsize=8)
    fig.suptitle("GET /add: gateway vs seed design")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--duration", type=int, default=5, help="whole seconds per run, as wrk takes them (default %(default)s)")
    p.add_argument("--rounds", type=int, default=5, help="rounds per case; medians are reported (default %(default)s)")
    p.add_argument("--connections", default="16,64,256,1000", help="connection counts for the chart")
    p.add_argument("--out", type=Path, default=OUT_DIR, help="where results.md and chart.png go")
    p.add_argument("--only", default="", help="run only the groups whose title starts with one of these, "
                   "comma-separated (e.g. overhead,IDL file,REST); prints the tables and the checks their cases "
                   "allow, writes nothing")
    args = p.parse_args(argv)
    connections = [int(c) for c in args.connections.split(",")]
    g = groups(connections)
    if args.only:
        prefixes = [o.strip() for o in args.only.split(",") if o.strip()]
        g = {title: cases for title, cases in g.items() if any(title.startswith(o) for o in prefixes)}
        if not g:
            p.error(f"--only {args.only!r} matches no group")
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        bench = Bench(args.duration, Path(tmp))
        try:
            bench.start(connections, (c.server for cases in g.values() for c in cases))
            for title, cases in g.items():
                print(f"{title}:", flush=True)
                bench.rounds(cases, args.rounds)
        finally:
            bench.stop()
    if args.only:
        # A partial run must not overwrite the full results: print only.
        print(report(g, checks(g, connections), args))
        return 0
    results = checks(g, connections)
    text = report(g, results, args)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.md").write_text(text)
    chart(g["connections (1 worker vs seed design)"], connections, args.out / "chart.png")
    print()
    print(text)
    print(f"wrote {args.out / 'results.md'} and {args.out / 'chart.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
