"""`make bench`: the gateway against the bare stack and the seed design, side by side.

Starts its own backends and gateways on free loopback ports, drives them with wrk, and
stops them. Cases that are compared run alternately (A B A B ...) so that drift in a
shared, noisy machine falls on all of them alike; each figure is the median over rounds.
Absolute numbers depend on the machine; the ratios are what to read.

    python -m bench.run [--duration 5] [--rounds 5] [--connections 16,64,256,1000]
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

import psutil

from gateway.security.auth import key_line
from tests.harness import ROOT, Backend, Gateway, Process

OUT_DIR = ROOT / "bench"
PUT_SCRIPT = """wrk.method = "PUT"
wrk.body = '{"value": {"n": 1, "text": "benchmark"}, "ttl": 3600}'
wrk.headers["Content-Type"] = "application/json"
"""
RPC_ADD_SCRIPT = """wrk.method = "POST"
wrk.body = '{"a": 2, "b": 3}'
wrk.headers["Content-Type"] = "application/json"
"""
CALC_SCRIPT = """wrk.method = "POST"
wrk.body = '{"op": "add", "a": 2, "b": 3}'
wrk.headers["Content-Type"] = "application/json"
"""
BENCH_KEY = "bench-key"
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
        names = self.runs[0].cpu_s.keys()
        return {n: statistics.median(r.cpu_s[n] for r in self.runs) for n in names}


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
        # Pin the load generator to the last core so it does not hop between cores.
        last_core = (os.cpu_count() or 1) - 1
        self.pin = ["taskset", "-c", str(last_core)] if shutil.which("taskset") and last_core > 0 else []

    def start(self, connections: list[int]) -> None:
        log = self.log_dir
        for name, args in (("calculator", ()), ("cache", ()), ("slow", ("--delay-ms", "20"))):
            self.backends[name] = Backend("cache" if name == "cache" else "calculator", log, args=args)
        calc, cache, slow = (self.backends[n].address for n in ("calculator", "cache", "slow"))
        # The default configuration (access log to stdout, metrics, request ids): what users
        # run. Only the connection limit is raised, for the 1000-connection runs.
        quiet = {"GATEWAY_WORKER_CONNECTIONS": str(max(1000, max(connections) + 50))}
        self.servers["bare"] = Gateway(log, [calc], [cache], env=quiet, app="bench.bare_app:app",
                                       ready_path="/bare")
        self.servers["ours"] = Gateway(log, [calc], [cache], env=quiet)
        self.servers["ours-nolog"] = Gateway(log, [calc], [cache], env={**quiet, "GATEWAY_ACCESS_LOG": ""})
        self.servers["ours-2w"] = Gateway(log, [calc], [cache], workers=2, env=quiet)
        # Auth and rate limits on: an API key, a JWT (HS256), each with a limit never reached.
        keys_file = log / "api-keys.txt"
        keys_file.write_text(key_line("bench", BENCH_API_KEY, ["*"]) + "\n")
        limited = {**quiet, "GATEWAY_RATE_LIMIT": "1000000/second"}
        self.servers["ours-apikey"] = Gateway(log, [calc], [cache], env={
            **limited, "GATEWAY_AUTH": "api_key", "GATEWAY_API_KEYS_FILE": str(keys_file)})
        self.servers["ours-jwt"] = Gateway(log, [calc], [cache], env={
            **limited, "GATEWAY_AUTH": "jwt", "GATEWAY_JWT_SECRET": BENCH_JWT_SECRET})
        # Tracing on: spans exported over OTLP/HTTP to a sink that accepts and drops them.
        self._sink = _span_sink()
        self.servers["ours-otel"] = Gateway(log, [calc], [cache], env={
            **quiet, "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{self._sink.server_address[1]}"})
        # The same calculator, reached in other wire formats (it reads them all).
        for name, options in FORMATS.items():
            self.servers[f"ours-{name}"] = Gateway(log, [f"{calc}?{options}"], [cache], env=quiet)
        self.servers["seed"] = Gateway(log, [calc], [cache], workers=4, env=quiet, app="bench.seed_app:app",
                                       gunicorn_args=["-k", "sync"], ready_path="/add/1/1")
        self.servers["ours-2w-slow"] = Gateway(log, [slow], [cache], workers=2, env=quiet)
        self.servers["seed-slow"] = Gateway(log, [slow], [cache], workers=4, env=quiet, app="bench.seed_app:app",
                                            gunicorn_args=["-k", "sync"], ready_path="/add/1/1")
        import requests

        requests.put(f"{self.servers['ours'].url}/cache/{BENCH_KEY}", json={"value": {"n": 1, "text": "benchmark"}})

    def stop(self) -> None:
        for proc in [*self.servers.values(), *self.backends.values()]:
            proc.stop()
        if getattr(self, "_sink", None) is not None:
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


def groups(connections: list[int]) -> dict[str, list[Case]]:
    return {
        "overhead (1 worker, 64 connections)": [
            Case("bare stack: GET /bare", "bare", "/bare"),
            Case("bare WSGI route, no Flask: GET /bare-wsgi", "bare", "/bare-wsgi"),
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


def checks(g: dict[str, list[Case]], connections: list[int]) -> list[Check]:
    """Issue 15's targets, plus every ratio reported against both bare routes."""
    by_name = {c.name: c for cases in g.values() for c in cases}

    def rps(name: str) -> float:
        return by_name[name].median("rps")

    def cpu(name: str) -> float:
        return by_name[name].cpu_us_per_request()

    def at_least(what: str, value: float, target: float) -> Check:
        return Check(what, value, f">= {target:g}", value >= target)

    def reported(what: str, value: float) -> Check:
        return Check(what, value, "(reported)", True)

    flask, wsgi = rps("bare stack: GET /bare"), rps("bare WSGI route, no Flask: GET /bare-wsgi")
    add, cache_get = rps("gateway: GET /add"), rps("gateway: GET /cache/<key>")
    rpc_add = rps("gateway: POST /rpc/calculator/add")
    call_cpu = cpu("gateway: GET /add") - cpu("bare WSGI route, no Flask: GET /bare-wsgi")
    out = [
        at_least("/add vs bare WSGI route", add / wsgi, 0.70),
        at_least("cache GET vs bare WSGI route", cache_get / wsgi, 0.65),
        at_least("POST /rpc/calculator/add vs bare WSGI route", rpc_add / wsgi, 0.60),
        Check("backend call's CPU, µs/request (/add minus bare WSGI)", call_cpu, "< 60", call_cpu < 60),
        reported("/add vs bare stack (Flask)", add / flask),
        reported("cache GET vs bare stack (Flask)", cache_get / flask),
        reported("POST /rpc/calculator/add vs bare stack (Flask)", rpc_add / flask),
        reported("POST /calc vs bare WSGI route", rps("gateway: POST /calc (JSON body)") / wsgi),
        reported("cache PUT vs bare WSGI route", rps("gateway: PUT /cache/<key>") / wsgi),
        reported("cache PUT vs bare stack (Flask)", rps("gateway: PUT /cache/<key>") / flask),
        reported("access log off vs on (the default), GET /add", rps("gateway, access log off: GET /add") / add),
        reported("transcoded /rpc/calculator/add vs /add", rpc_add / add),
        *(reported(f"{name.replace('-', '/')} vs header/binary, GET /add",
                   rps(f"{name.replace('-', '/')}: GET /add") / rps("header/binary (the default): GET /add"))
          for name in FORMATS),
        reported("API key + rate limit vs auth off, GET /add",
                 rps("API key + rate limit: GET /add") / rps("auth off (the default): GET /add")),
        reported("JWT HS256 + rate limit vs auth off, GET /add",
                 rps("JWT HS256 + rate limit: GET /add") / rps("auth off (the default): GET /add")),
        reported("tracing on vs off, GET /add",
                 rps("tracing on, spans exported: GET /add") / rps("tracing off (the default): GET /add")),
        at_least("2 workers vs 1 worker", rps("gateway 2 workers: GET /add") / rps("gateway 1 worker: GET /add"), 1.8),
        at_least("gateway vs seed design, 20 ms backend",
                 rps("gateway 2 workers, 20 ms backend") / rps("seed design, 20 ms backend"), 15),
        reported("pooled vs seed design, fast backend", add / rps("seed design (4 sync, new conn): /add")),
    ]
    top = max(connections)
    case = by_name[f"gateway 1 worker, {top} conns"]
    little_ms = top / case.median("rps") * 1000
    ratio = case.median("p99_ms") / little_ms
    out.append(Check(f"p99 / Little's-law mean at {top} conns", ratio, "<= 1.5", ratio <= 1.5))
    out.append(Check(f"errors at {top} conns (1 worker)", case.errors, "== 0", case.errors == 0))
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
    p.add_argument("--only", default="", help="run only the groups whose title starts with this (e.g. overhead); "
                   "prints the table, writes nothing")
    args = p.parse_args(argv)
    connections = [int(c) for c in args.connections.split(",")]
    g = groups(connections)
    if args.only:
        g = {title: cases for title, cases in g.items() if title.startswith(args.only)}
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        bench = Bench(args.duration, Path(tmp))
        try:
            bench.start(connections)
            for title, cases in g.items():
                print(f"{title}:", flush=True)
                bench.rounds(cases, args.rounds)
        finally:
            bench.stop()
    if args.only:
        print(report(g, [], args))
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
