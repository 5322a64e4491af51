"""`make breakdown`: where the gateway's CPU goes on ``GET /add``, layer by layer and step by step.

Two tables, from 1-worker servers in the default configuration driven by wrk (64
connections) as ``make bench`` drives them, all run alternately in the same rounds:

* layers: the bare WSGI route, then the gateway with its backend call cut short after
  the HTTP side, after the pool and the codec's encoding, and not at all
  (``bench/layers_app.py``, ``BENCH_LAYER``); a layer's cost is its figure minus the one
  before. Where ``perf`` can read the kernel's syscall tracepoints, each layer's system
  calls per request are counted too.
* steps (A/B): the minimal pooled call (``bench/pooled_app.py``), the full gateway, and
  one gateway per step with that step switched off (``BENCH_OFF``, the steps in
  ``bench/steps.py``); a step's cost is the full gateway's figure minus its own. The
  steps' costs are added up against the difference between the full gateway and the
  minimal call; what they leave is reported as not attributed.

Each figure is the gateway's CPU (master and worker, from ``/proc``, as ``make bench``
counts it) per request, the median of rounds.

    python -m bench.breakdown [--duration 5] [--rounds 5] [--steps access_log,metrics,...] [--out bench]
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import psutil

from bench.run import BACKEND_MAX_CONNECTIONS, OUT_DIR, Bench, Case, parse_wrk
from bench.steps import BY_NAME, Step
from tests.harness import Backend, Gateway

LAYERS = (
    # (server, path, what the layer adds)
    ("bare", "/bare-wsgi", "bare WSGI route on the same Gunicorn: parse, answer a fixed body"),
    ("http", "/add/2/3", "HTTP side: request id, trace ids, metrics, access log, routing, validation, JSON answer"),
    ("encode", "/add/2/3", "service and pool: balancer, call metrics, checkout, reuse check, deadline; THeader encode"),
    ("full", "/add/2/3", "the call itself: send to the backend, wait through the hub, recv, decode"),
)
MINIMAL = "minimal"
SYSCALLS = ("sendto", "recvfrom", "getsockopt", "poll", "epoll_ctl", "epoll_wait", "write")
# As bench/run.py's "quiet": the default configuration, the connection limit raised.
QUIET = {"GATEWAY_WORKER_CONNECTIONS": "1000"}


def perf_works() -> bool:
    if shutil.which("perf") is None:
        return False
    probe = subprocess.run(["perf", "stat", "-x,", "-e", "raw_syscalls:sys_enter", "true"],
                           capture_output=True, text=True)
    return probe.returncode == 0 and "raw_syscalls:sys_enter" in probe.stderr and "not supported" not in probe.stderr


def syscalls_per_request(bench: Bench, server: Gateway, path: str) -> dict[str, float]:
    """System calls of the worker per request over one wrk run, by name and in all."""
    worker = psutil.Process(server.pid).children()[0]
    events = ",".join([*(f"syscalls:sys_enter_{name}" for name in SYSCALLS), "raw_syscalls:sys_enter"])
    perf = subprocess.Popen(["perf", "stat", "-x,", "-e", events, "-p", str(worker.pid)],
                            stderr=subprocess.PIPE, text=True)
    try:
        out = bench.drive(server.url + path, 64)
    finally:
        perf.send_signal(signal.SIGINT)
        err = perf.communicate(timeout=30)[1]
    requests = parse_wrk(out)[4]
    counts = {}
    for line in err.splitlines():
        fields = line.split(",")
        if len(fields) > 2 and fields[0].isdigit():
            name = fields[2].rsplit("_", 1)[-1] if "sys_enter_" in fields[2] else "all"
            counts[name] = int(fields[0]) / max(requests, 1)
    return counts


def off(step: str) -> str:
    """The server (and case) name of the gateway with ``step`` switched off."""
    return f"off:{step}"


def chosen_steps(text: str) -> list[Step]:
    names = [n.strip() for n in text.split(",") if n.strip()] if text else list(BY_NAME)
    unknown = [n for n in names if n not in BY_NAME]
    if unknown:
        raise SystemExit(f"--steps: unknown {', '.join(unknown)}; the steps are {', '.join(BY_NAME)}")
    return [BY_NAME[n] for n in dict.fromkeys(names)]


def start_servers(bench: Bench, log: Path, steps: list[Step]) -> None:
    calc, cache = bench.backends["calculator"], bench.backends["cache"]

    def layers_app(env: dict[str, str], calculator: str | None = None) -> Gateway:
        return Gateway(log, [calculator or calc.address], [cache.address], env={**QUIET, **env},
                       app="bench.layers_app:app")

    bench.servers["bare"] = Gateway(log, [calc.address], [cache.address], env=QUIET, app="bench.bare_app:app",
                                    ready_path="/bare")
    for layer, _, _ in LAYERS[1:]:
        bench.servers[layer] = layers_app({"BENCH_LAYER": layer})
    bench.servers[MINIMAL] = Gateway(log, [calc.address], [cache.address], env=QUIET, app="bench.pooled_app:app",
                                     ready_path="/add/1/1")
    for step in steps:
        bench.servers[off(step.name)] = layers_app(
            {"BENCH_OFF": step.name, **dict(step.env)},
            f"{calc.address}?transport=framed" if step.framed else None)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--duration", type=int, default=5, help="whole seconds per run (default %(default)s)")
    p.add_argument("--rounds", type=int, default=5, help="rounds per server; medians are reported (default %(default)s)")
    p.add_argument("--steps", default="", help="the steps to switch off, comma-separated (default: all of "
                   f"{', '.join(BY_NAME)})")
    p.add_argument("--out", type=Path, default=OUT_DIR, help="where breakdown.md goes")
    args = p.parse_args(argv)
    steps = chosen_steps(args.steps)
    with tempfile.TemporaryDirectory(prefix="breakdown-") as tmp:
        log = Path(tmp)
        bench = Bench(args.duration, log)
        many = ("--max-connections", str(BACKEND_MAX_CONNECTIONS))  # a pool per server, up to 64 each
        try:
            bench.backends = {"calculator": Backend("calculator", log, args=many),
                              "cache": Backend("cache", log, args=many)}
            start_servers(bench, log, steps)
            layers = [Case(layer, layer, path) for layer, path, _ in LAYERS]
            ab = [Case(MINIMAL, MINIMAL, "/add/2/3"), *(Case(off(s.name), off(s.name), "/add/2/3") for s in steps)]
            bench.rounds([*layers, *ab], args.rounds)
            counted = perf_works()
            calls = {layer: syscalls_per_request(bench, bench.servers[layer], path) if counted else {}
                     for layer, path, _ in LAYERS}
        finally:
            bench.stop()
    text = report(layers, ab, steps, calls, args)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "breakdown.md").write_text(text)
    print(text)
    print(f"wrote {args.out / 'breakdown.md'}")
    return 0


def report(layers: list[Case], ab: list[Case], steps: list[Step], calls: dict[str, dict[str, float]],
           args: argparse.Namespace) -> str:
    command = f"python -m bench.breakdown --duration {args.duration:g} --rounds {args.rounds}"
    if args.steps:
        command += f" --steps {','.join(s.name for s in steps)}"
    lines = [
        "# Where the worker's CPU goes on GET /add",
        "",
        f"`make breakdown` (`{command}`): every server is 1 Gunicorn worker (gevent) in the default "
        "configuration (access log to stdout, metrics, request ids; only the worker's connection limit raised), "
        f"driven by wrk with 64 connections for {args.duration:g} s per run, all servers run alternately in each of "
        f"{args.rounds} rounds against the same Calculator and Cache; each figure is the gateway's CPU (master and "
        "worker, from /proc) per request, the median of the rounds. Layers: the backend call cut short after each "
        "layer (`bench/layers_app.py`, `BENCH_LAYER`); a layer's cost is its CPU per request minus the layer "
        "before. Steps: A/B, the full gateway against the same gateway with one step switched off "
        "(`BENCH_OFF=<step>`, `bench/steps.py`); a step's cost is the full gateway's CPU per request minus the "
        "one without it, and the steps' costs are added up against the gateway's own cost, the full gateway "
        "minus the minimal pooled call (`bench/pooled_app.py`: Apache's generated client from a deque, nothing "
        f"else). Machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}, shared with wrk and the "
        "backends; on a noisy 2-core machine a step's cost below ~2 µs per request is within noise.",
        "",
        "## Layers",
        "",
        "| layer | adds | req/s | CPU µs/req | layer's cost µs | system calls/req | errors |",
        "|---|---|---:|---:|---:|---|---:|",
    ]
    before = None
    for case, (layer, _, adds) in zip(layers, LAYERS):
        cpu = case.cpu_us_per_request()
        cost = "" if before is None else f"{cpu - before:.0f}"
        counted = calls.get(layer) or {}
        sys_text = (f"{counted.get('all', 0):.2f} (" + ", ".join(
            f"{name} {counted[name]:.2f}" for name in SYSCALLS if counted.get(name, 0) >= 0.005) + ")"
                    if counted else "not counted (perf cannot read syscall tracepoints here)")
        lines.append(f"| {layer} | {adds} | {case.median('rps'):.0f} | {cpu:.0f} | {cost} | {sys_text} "
                     f"| {case.errors} |")
        before = cpu
    full_case, bare = layers[-1], layers[0]
    full = full_case.cpu_us_per_request()
    lines += ["", f"The backend call's whole cost (/add minus the bare WSGI route): {full - bare.cpu_us_per_request():.0f} "
              "µs per request.", ""]

    by_name = {c.name: c for c in ab}
    minimal = by_name[MINIMAL]
    cost = {s.name: full - by_name[off(s.name)].cpu_us_per_request() for s in steps}
    lines += [
        "## Steps switched off one at a time (A/B)",
        "",
        "| server | switched off | req/s | CPU µs/req | step's cost µs/req (full − off) | errors |",
        "|---|---|---:|---:|---:|---:|",
        f"| {MINIMAL} | the minimal pooled call (`bench.pooled_app`): everything but the call | "
        f"{minimal.median('rps'):.0f} | {minimal.cpu_us_per_request():.1f} |  | {minimal.errors} |",
        f"| full | nothing: the gateway as users run it (`bench.layers_app`) | {full_case.median('rps'):.0f} | "
        f"{full:.1f} |  | {full_case.errors} |",
    ]
    for s in steps:
        case = by_name[off(s.name)]
        note = f" ({s.note})" if s.note else ""
        lines.append(f"| {s.name} | {s.off}{note} | {case.median('rps'):.0f} | {case.cpu_us_per_request():.1f} "
                     f"| {cost[s.name]:.1f} | {case.errors} |")
    own = full - minimal.cpu_us_per_request()
    summed = [s for s in steps if s.summed]
    total = sum(cost[s.name] for s in summed)
    lines += [
        "",
        "## Attribution",
        "",
        "| | µs/req |",
        "|---|---:|",
        f"| the gateway's own cost: full − {MINIMAL} | {own:.1f} |",
        f"| sum of the steps ({' + '.join(s.name for s in summed) or 'none run'}) | {total:.1f} |",
        f"| not attributed: own cost − sum of the steps | {own - total:.1f} |",
    ]
    if "upstream" in cost:
        upstream_off = by_name[off("upstream")].cpu_us_per_request()
        lines += [
            f"| Thrift side: full − upstream off (our service, pool and codec vs Apache's client) | "
            f"{full - upstream_off:.1f} |",
            f"| HTTP side: upstream off − {MINIMAL} (all but the call, vs a bare WSGI function) | "
            f"{upstream_off - minimal.cpu_us_per_request():.1f} |",
        ]
    left_out = [s.name for s in steps if not s.summed]
    lines += [
        "",
        "Steps overlap where the table says so. "
        + (f"Not added into the sum: {', '.join(left_out)} (each contains other steps). " if left_out else "")
        + "The per-call metric and access-log note are in both service and metrics / access_log, so the sum "
        "counts them twice; the garbage collector's cost grows with every other step's allocations."
        + (" The steps not run (`--steps`) are part of what is not attributed." if args.steps else ""),
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
