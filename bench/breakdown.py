"""`make breakdown`: where the gateway's CPU goes on ``GET /add``, layer by layer.

Four 1-worker gateways in the default configuration, driven in turn by wrk (64
connections) as ``make bench`` drives them: the bare WSGI route, then the gateway with
its backend call cut short after the HTTP side, after the pool and the codec's encoding,
and not at all (``bench/layers_app.py``). Each figure is the gateway's CPU (master and
worker, from ``/proc``, as ``make bench`` counts it) per request, the median of rounds;
a layer's cost is its figure minus the one before.
Where ``perf`` can read the kernel's syscall tracepoints, each layer's system calls per
request are counted too.

    python -m bench.breakdown [--duration 5] [--rounds 5] [--out bench]
"""

from __future__ import annotations

import argparse
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import psutil

from bench.run import OUT_DIR, Bench, Case, parse_wrk
from tests.harness import Backend, Gateway

LAYERS = (
    # (server, path, what the layer adds)
    ("bare", "/bare-wsgi", "bare WSGI route on the same Gunicorn: parse, answer a fixed body"),
    ("http", "/add/2/3", "HTTP side: request id, trace ids, metrics, access log, routing, validation, JSON answer"),
    ("encode", "/add/2/3", "service and pool: balancer, call metrics, checkout, reuse check, deadline; THeader encode"),
    ("full", "/add/2/3", "the call itself: send to the backend, wait through the hub, recv, decode"),
)
SYSCALLS = ("sendto", "recvfrom", "getsockopt", "poll", "epoll_ctl", "epoll_wait", "write")


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


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--duration", type=int, default=5, help="whole seconds per run (default %(default)s)")
    p.add_argument("--rounds", type=int, default=5, help="rounds per layer; medians are reported (default %(default)s)")
    p.add_argument("--out", type=Path, default=OUT_DIR, help="where breakdown.md goes")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="breakdown-") as tmp:
        log = Path(tmp)
        bench = Bench(args.duration, log)
        calc, cache = Backend("calculator", log), Backend("cache", log)
        bench.backends = {"calculator": calc, "cache": cache}
        try:
            for layer, _, _ in LAYERS:
                if layer == "bare":
                    bench.servers[layer] = Gateway(log, [calc.address], [cache.address], app="bench.bare_app:app",
                                                   ready_path="/bare")
                else:
                    bench.servers[layer] = Gateway(log, [calc.address], [cache.address], env={"BENCH_LAYER": layer},
                                                   app="bench.layers_app:app")
            cases = [Case(layer, layer, path) for layer, path, _ in LAYERS]
            bench.rounds(cases, args.rounds)
            counted = perf_works()
            calls = {layer: syscalls_per_request(bench, bench.servers[layer], path) if counted else {}
                     for layer, path, _ in LAYERS}
        finally:
            bench.stop()
    text = report(cases, calls, args)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "breakdown.md").write_text(text)
    print(text)
    print(f"wrote {args.out / 'breakdown.md'}")
    return 0


def report(cases: list[Case], calls: dict[str, dict[str, float]], args: argparse.Namespace) -> str:
    lines = [
        "# Where the worker's CPU goes on GET /add",
        "",
        f"`make breakdown` (`python -m bench.breakdown --duration {args.duration:g} --rounds {args.rounds}`): "
        "1 worker, default configuration, wrk with 64 connections, layers run alternately; the gateway's CPU "
        "(master and worker) per request from /proc, median of rounds. A layer's cost is its CPU per request minus the layer before.",
        "",
        "| layer | adds | req/s | CPU µs/req | layer's cost µs | system calls/req |",
        "|---|---|---:|---:|---:|---|",
    ]
    before = None
    for case, (layer, _, adds) in zip(cases, LAYERS):
        cpu = case.cpu_us_per_request()
        cost = "" if before is None else f"{cpu - before:.0f}"
        counted = calls.get(layer) or {}
        sys_text = (f"{counted.get('all', 0):.2f} (" + ", ".join(
            f"{name} {counted[name]:.2f}" for name in SYSCALLS if counted.get(name, 0) >= 0.005) + ")"
                    if counted else "not counted (perf cannot read syscall tracepoints here)")
        lines.append(f"| {layer} | {adds} | {case.median('rps'):.0f} | {cpu:.0f} | {cost} | {sys_text} |")
        before = cpu
    full, bare = cases[-1].cpu_us_per_request(), cases[0].cpu_us_per_request()
    lines += ["", f"The backend call's whole cost (/add minus the bare WSGI route): {full - bare:.0f} µs per request.", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
