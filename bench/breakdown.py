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
* staircase: gateways each switching off one step more than the one before
  (``BENCH_OFF=a+b+...``, in ``bench/steps.py``'s ``STAIRCASE`` order, or ``--stairs``);
  a stair's cost is the stair above's figure minus its own. The stairs add up to the full
  gateway minus the last stair, and the last stair minus the minimal call is what no step
  switches off.

Each figure is the gateway's CPU (master and worker, from ``/proc``, as ``make bench``
counts it) per request, the median of rounds.

Then, with the servers gone (``--serial``, on by default), the same steps once more,
serially in one process each (``bench/serial.py``): no Gunicorn, wrk or other request in
flight, so much less of a shared machine's noise; that table follows the others.

    python -m bench.breakdown [--duration 5] [--rounds 5] [--steps access_log,metrics,...]
        [--staircase | --no-staircase] [--stairs access_log,metrics,...]
        [--serial | --no-serial] [--serial-rounds 7] [--serial-requests 8000] [--out bench]
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable, Sequence

import psutil

from bench import serial
from bench.run import BACKEND_MAX_CONNECTIONS, OUT_DIR, Bench, Case, parse_wrk
from bench.steps import BY_NAME, STAIRCASE, Step, order
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
# For the expected run time: a server's start (imports, Gunicorn, the worker's boot), so
# many at once; what a run takes beyond its duration (wrk's start, /proc read); the
# warm-up run's length (Bench.rounds).
START_S, STARTED_AT_ONCE, RUN_OVERHEAD_S, WARM_UP_S = 2.5, 4, 0.3, 1


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


def off(steps: str | Sequence[str]) -> str:
    """The server (and case) name of the gateway with ``steps`` switched off."""
    return "off:" + (steps if isinstance(steps, str) else "+".join(steps))


def chosen_steps(text: str, option: str = "--steps", default: Sequence[str] = tuple(BY_NAME)) -> list[Step]:
    names = [n.strip() for n in text.split(",") if n.strip()] if text else list(default)
    unknown = [n for n in names if n not in BY_NAME]
    if unknown:
        raise SystemExit(f"{option}: unknown {', '.join(unknown)}; the steps are {', '.join(BY_NAME)}")
    return [BY_NAME[n] for n in dict.fromkeys(names)]


def stair_names(stairs: list[Step]) -> list[list[str]]:
    """The steps each stair switches off: the first one, the first two, ..."""
    return [[s.name for s in stairs[:n + 1]] for n in range(len(stairs))]


def gateway_env(steps: Sequence[Step]) -> tuple[dict[str, str], bool]:
    """BENCH_OFF and the environment ``steps`` need together; whether the calculator is framed."""
    env = {"BENCH_OFF": "+".join(order([s.name for s in steps]))}
    for step in steps:
        env.update(step.env)
    return env, any(s.framed for s in steps)


def start_servers(bench: Bench, log: Path, steps: list[Step], stairs: list[Step]) -> None:
    """Every server of the run, a few started at once; each in ``bench.servers`` once it
    is up (``bench.stop`` stops what started should another fail)."""
    calc, cache = bench.backends["calculator"], bench.backends["cache"]

    def layers_app(env: dict[str, str], framed: bool = False) -> Callable[[], Gateway]:
        calculator = f"{calc.address}?transport=framed" if framed else calc.address
        return lambda: Gateway(log, [calculator], [cache.address], env={**QUIET, **env}, app="bench.layers_app:app")

    specs: dict[str, Callable[[], Gateway]] = {
        "bare": lambda: Gateway(log, [calc.address], [cache.address], env=QUIET, app="bench.bare_app:app",
                                ready_path="/bare"),
        **{layer: layers_app({"BENCH_LAYER": layer}) for layer, _, _ in LAYERS[1:]},
        MINIMAL: lambda: Gateway(log, [calc.address], [cache.address], env=QUIET, app="bench.pooled_app:app",
                                 ready_path="/add/1/1"),
    }
    for step in steps:
        specs[off(step.name)] = layers_app(*gateway_env([step]))
    for names in stair_names(stairs):
        specs.setdefault(off(names), layers_app(*gateway_env([BY_NAME[n] for n in names])))

    def start(name: str) -> None:
        bench.servers[name] = specs[name]()

    with ThreadPoolExecutor(STARTED_AT_ONCE) as starting:
        for started in [starting.submit(start, name) for name in specs]:
            started.result()  # the first failure raised, once every start has ended


def server_count(steps: list[Step], stairs: list[Step]) -> int:
    return len(LAYERS) + 1 + len({off(s.name) for s in steps} | {off(n) for n in stair_names(stairs)})


def expected_s(servers: int, rounds: int, duration: int, syscalls: bool) -> float:
    """About how long a run takes: the starts, the warm-up, the rounds, the syscall counts."""
    runs = rounds * servers + (len(LAYERS) if syscalls else 0)
    return (servers * START_S / STARTED_AT_ONCE + servers * (WARM_UP_S + RUN_OVERHEAD_S)
            + runs * (duration + RUN_OVERHEAD_S))


def per_round(case: Case) -> list[float]:
    """The gateway's CPU µs per request in each round."""
    return [r.cpu_s["gateway"] / max(r.requests, 1) * 1e6 for r in case.runs]


def spread(before: Case, after: Case) -> str:
    """The range over rounds of ``before`` minus ``after``, each round's own pair."""
    diffs = [b - a for b, a in zip(per_round(before), per_round(after))]
    return f"{min(diffs):.1f} … {max(diffs):.1f}" if len(diffs) > 1 else ""


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--duration", type=int, default=5, help="whole seconds per run (default %(default)s)")
    p.add_argument("--rounds", type=int, default=5, help="rounds per server; medians are reported (default %(default)s)")
    p.add_argument("--steps", default="", help="the steps to switch off one at a time, comma-separated "
                   f"(default: all of {', '.join(BY_NAME)})")
    p.add_argument("--staircase", action=argparse.BooleanOptionalAction, default=True,
                   help="run the staircase too: one step more switched off on each stair (default on)")
    p.add_argument("--stairs", default="", help="the staircase's steps in order, comma-separated (default: "
                   f"{', '.join(STAIRCASE)})")
    p.add_argument("--serial", action=argparse.BooleanOptionalAction, default=True,
                   help="then the same steps serially, in one process each (bench/serial.py; default on)")
    p.add_argument("--serial-rounds", type=int, default=7, help="the serial runs' rounds (default %(default)s)")
    p.add_argument("--serial-requests", type=int, default=8000,
                   help="serial requests per process (default %(default)s)")
    p.add_argument("--out", type=Path, default=OUT_DIR, help="where breakdown.md goes")
    args = p.parse_args(argv)
    steps = chosen_steps(args.steps)
    stairs = chosen_steps(args.stairs, "--stairs", STAIRCASE) if args.staircase else []
    counted = perf_works()
    servers = server_count(steps, stairs)
    serial_s = (serial.expected_s(len(steps), args.serial_rounds, args.serial_requests) if args.serial else 0.0)
    print(f"make breakdown: {servers} servers, {args.rounds} round{'s' * (args.rounds != 1)} of {args.duration} s "
          f"each; expected run time about "
          f"{(expected_s(servers, args.rounds, args.duration, counted) + serial_s) / 60:.0f} min", flush=True)
    began = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="breakdown-") as tmp:
        log = Path(tmp)
        bench = Bench(args.duration, log)
        many = ("--max-connections", str(BACKEND_MAX_CONNECTIONS))  # a pool per server, up to 64 each
        try:
            bench.backends = {"calculator": Backend("calculator", log, args=many),
                              "cache": Backend("cache", log, args=many)}
            start_servers(bench, log, steps, stairs)
            layers = [Case(layer, layer, path) for layer, path, _ in LAYERS]
            ab = [Case(MINIMAL, MINIMAL, "/add/2/3"), *(Case(off(s.name), off(s.name), "/add/2/3") for s in steps)]
            # A stair that is also a step alone (the first) is the same server and case.
            by_name = {c.name: c for c in ab}
            staircase = [by_name.get(off(n)) or Case(off(n), off(n), "/add/2/3") for n in stair_names(stairs)]
            bench.rounds([*layers, *ab, *(c for c in staircase if c.name not in by_name)], args.rounds)
            calls = {layer: syscalls_per_request(bench, bench.servers[layer], path) if counted else {}
                     for layer, path, _ in LAYERS}
        finally:
            bench.stop()
        # After the servers are gone: the serial runs have the machine to themselves.
        serial_lines = (serial.report(serial.run(steps, args.serial_rounds, args.serial_requests, log), steps,
                                      args.serial_rounds, args.serial_requests) if args.serial else [])
    text = report(layers, ab, steps, calls, args, staircase, stairs, time.monotonic() - began)
    text += "\n".join(serial_lines)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "breakdown.md").write_text(text)
    print(text)
    print(f"wrote {args.out / 'breakdown.md'}")
    return 0


def report(layers: list[Case], ab: list[Case], steps: list[Step], calls: dict[str, dict[str, float]],
           args: argparse.Namespace, staircase: list[Case] | None = None, stairs: list[Step] | None = None,
           took_s: float | None = None) -> str:
    staircase, stairs = staircase or [], stairs or []
    command = f"python -m bench.breakdown --duration {args.duration:g} --rounds {args.rounds}"
    if args.steps:
        command += f" --steps {','.join(s.name for s in steps)}"
    if not stairs:
        command += " --no-staircase"
    elif getattr(args, "stairs", ""):
        command += f" --stairs {','.join(s.name for s in stairs)}"
    ranges = args.rounds > 1
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
        "else). Staircase: each stair switches off one step more than the one above "
        "(`BENCH_OFF=<step>+<step>+...`); a stair's cost is the stair above's CPU per request minus its own, so "
        "the stairs add up exactly to the full gateway minus the last stair, and the last stair minus the "
        "minimal pooled call is what no step switches off. "
        + ("The range beside a cost is that difference's lowest and highest over the rounds, each round's "
           "own pair of runs: a cost whose range crosses 0 is within noise. " if ranges else "")
        + f"Machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}, shared with wrk and the "
        "backends; on a noisy 2-core machine a step's cost below ~2 µs per request is within noise."
        + (f" This run took {took_s / 60:.0f} min." if took_s else ""),
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
    minimal_cpu = minimal.cpu_us_per_request()
    cost = {s.name: full - by_name[off(s.name)].cpu_us_per_request() for s in steps}
    range_head, range_rule = (" rounds' range |", "---|") if ranges else ("", "")
    lines += [
        "## Steps switched off one at a time (A/B)",
        "",
        f"| server | switched off | req/s | CPU µs/req | step's cost µs/req (full − off) |{range_head} errors |",
        f"|---|---|---:|---:|---:|{range_rule}---:|",
        f"| {MINIMAL} | the minimal pooled call (`bench.pooled_app`): everything but the call | "
        f"{minimal.median('rps'):.0f} | {minimal_cpu:.1f} |  |{'  |' if ranges else ''} {minimal.errors} |",
        f"| full | nothing: the gateway as users run it (`bench.layers_app`) | {full_case.median('rps'):.0f} | "
        f"{full:.1f} |  |{'  |' if ranges else ''} {full_case.errors} |",
    ]
    for s in steps:
        case = by_name[off(s.name)]
        note = f" ({s.note})" if s.note else ""
        spread_cell = f" {spread(full_case, case)} |" if ranges else ""
        lines.append(f"| {s.name} | {s.off}{note} | {case.median('rps'):.0f} | {case.cpu_us_per_request():.1f} "
                     f"| {cost[s.name]:.1f} |{spread_cell} {case.errors} |")
    own = full - minimal_cpu
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
            f"{upstream_off - minimal_cpu:.1f} |",
        ]
    left_out = [s.name for s in steps if not s.summed]
    lines += [
        "",
        "Steps overlap where the table says so. "
        + (f"Not added into the sum: {', '.join(left_out)} (each contains other steps). " if left_out else "")
        + "The per-call metric and access-log note are in both service and metrics / access_log, so the sum "
        "counts them twice; the garbage collector's cost grows with every other step's allocations. One step "
        "alone is a difference of a few µs between two figures of ~200 µs: the staircase below measures them "
        "added up."
        + (" The steps not run (`--steps`) are part of what is not attributed." if args.steps else ""),
        "",
    ]
    if stairs:
        lines += staircase_report(full_case, minimal, staircase, stairs, cost, ranges)
    return "\n".join(lines)


def staircase_report(full_case: Case, minimal: Case, staircase: list[Case], stairs: list[Step],
                     alone: dict[str, float], ranges: bool) -> list[str]:
    full, minimal_cpu = full_case.cpu_us_per_request(), minimal.cpu_us_per_request()
    range_head, range_rule, blank = (" rounds' range |", "---|", "  |") if ranges else ("", "", "")
    lines = [
        "## Staircase: one step more switched off on each stair",
        "",
        f"| stair | switched off besides the stairs above | req/s | CPU µs/req | stair's cost µs/req "
        f"(stair above − this) |{range_head} alone (A/B) µs/req | errors |",
        f"|---|---|---:|---:|---:|{range_rule}---:|---:|",
        f"| full | nothing | {full_case.median('rps'):.0f} | {full:.1f} |  |{blank}  | {full_case.errors} |",
    ]
    above = full_case
    for n, (step, case) in enumerate(zip(stairs, staircase), 1):
        cpu = case.cpu_us_per_request()
        spread_cell = f" {spread(above, case)} |" if ranges else ""
        alone_cell = f"{alone[step.name]:.1f}" if step.name in alone else ""
        lines.append(f"| {n}. +{step.name} | {step.off} | {case.median('rps'):.0f} | {cpu:.1f} "
                     f"| {above.cpu_us_per_request() - cpu:.1f} |{spread_cell} {alone_cell} | {case.errors} |")
        above = case
    last = staircase[-1].cpu_us_per_request()
    everything = set(STAIRCASE) <= {s.name for s in stairs}
    lines += [
        "",
        "| | µs/req |",
        "|---|---:|",
        f"| the gateway's own cost: full − {MINIMAL} | {full - minimal_cpu:.1f} |",
        f"| switched off on the stairs: full − last stair (the stairs' costs added up) | {full - last:.1f} |",
        f"| what is left: last stair − the minimal pooled call | {last - minimal_cpu:.1f} |",
        "",
        "What is left is what no step switches off: Flask's `__call__` (its `wsgi_app` is our middleware, "
        "but the call goes through Flask), the observer's pass-through, the route matcher (the path check, the "
        "memoised match, the environ key) and the direct route's checks and dispatch, the handler (two `int()`, "
        "`_invoke`: `call_headers`, `deadlines.of` reading the headers and the clock, the result dict), "
        "`Service.invoke`'s hand-off to the pooled client, the constant answer's dict compare - against a WSGI "
        "function that splits the path and formats its answer with `%` - and a bigger worker (the gateway's "
        "modules, Flask, the routes: more of the caches' room taken). Gunicorn's own work is alike for both: the "
        "same configuration and, with response_headers off, the same two headers. The last stair runs with the "
        "garbage collector off, the minimal app with it on."
        + ("" if everything else " The stairs did not switch off every step of the staircase (`--stairs`): "
           "what is left includes the rest."),
        "",
    ]
    return lines


if __name__ == "__main__":
    sys.exit(main())
