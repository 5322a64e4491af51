"""Serial, in one process: the gateway's own CPU per request, step by step, without Gunicorn or wrk.

Under wrk a step's cost is a few µs between two figures of ~200 µs, and on a shared
2-core machine the rounds' ranges of ``make breakdown`` reach tens of µs. Here each
configuration is a fresh process (gevent-patched, as a worker is) that imports the WSGI
app and calls it directly, one request after another, against real backends on
loopback; its figure is the process's CPU time (user and system) per request. No
Gunicorn, no wrk, no other request in flight: what is left is the app's own work, the
call's send, recv and hub wakeup, and the machine's noise - less of it on a quiet
machine (ranges of a few µs), as much as under wrk on a busy one. The
configurations run alternately in each round; a step's cost is the median over rounds
of the paired difference (full minus the step off, in the same round), with its range.

    python -m bench.serial [--rounds 7] [--requests 8000] [--steps access_log,metrics,...]

``make breakdown`` runs it too (``--serial``, on by default) and adds its table to
``bench/breakdown.md``. One measurement is ``python -m bench.serial_one APP PATH N``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import NamedTuple, Sequence

from bench.steps import BY_NAME, Step
from tests.harness import ROOT, Backend

PATH = "/add/2/3"
MINIMAL, FULL = "minimal", "full"


class Config(NamedTuple):
    name: str
    app: str  # module:attribute
    env: dict[str, str]
    framed: bool = False  # the calculator over plain framed transport


def configs(steps: Sequence[Step]) -> list[Config]:
    """The minimal pooled call, the full gateway (``bench.layers_app`` with nothing off)
    and one per step switched off."""
    out = [Config(MINIMAL, "bench.pooled_app:app", {}), Config(FULL, "bench.layers_app:app", {})]
    for step in steps:
        out.append(Config(step.name, "bench.layers_app:app", {"BENCH_OFF": step.name, **dict(step.env)}, step.framed))
    return out


def measure(config: Config, calculator: str, cache: str, requests: int) -> float:
    """One process, ``requests`` serial requests: its CPU µs per request."""
    env = {**os.environ, "GATEWAY_CALCULATOR_ADDRS": calculator + ("?transport=framed" if config.framed else ""),
           "GATEWAY_CACHE_ADDRS": cache, "PROMETHEUS_MULTIPROC_DIR": tempfile.mkdtemp(prefix="serial-metrics-"),
           **config.env}
    # One core for the app, the other for the backends: no migration between them.
    pin = ["taskset", "-c", "0"] if shutil.which("taskset") and (os.cpu_count() or 1) > 1 else []
    done = subprocess.run([*pin, sys.executable, "-m", "bench.serial_one", config.app, PATH, str(requests)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    shutil.rmtree(env["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)
    if done.returncode != 0:
        raise RuntimeError(f"{config.name}: {done.stderr[-2000:]}")
    return float(done.stderr.strip().splitlines()[-1])


# For the expected run time: a process's start (gevent, the gateway's imports, the app).
START_S = 1.5
REQUEST_S = 110e-6  # about one serial /add, wall time


def expected_s(steps: int, rounds: int, requests: int) -> float:
    return (steps + 2) * rounds * (START_S + requests * 1.1 * REQUEST_S)


def run(steps: Sequence[Step], rounds: int, requests: int, log_dir: Path) -> dict[str, list[float]]:
    """Every configuration once per round, alternately: name -> its figure per round."""
    many = ("--max-connections", "4000")
    backends = [Backend("calculator", log_dir, args=many), Backend("cache", log_dir, args=many)]
    try:
        if shutil.which("taskset") and (os.cpu_count() or 1) > 1:
            for backend in backends:
                subprocess.run(["taskset", "-pc", str((os.cpu_count() or 2) - 1), str(backend.pid)],
                               capture_output=True, check=False)
        chosen = configs(steps)
        figures: dict[str, list[float]] = {c.name: [] for c in chosen}
        for n in range(rounds):
            for config in chosen:
                figures[config.name].append(measure(config, backends[0].address, backends[1].address, requests))
            print(f"  serial round {n + 1}: " + "  ".join(f"{name} {values[-1]:.1f}" for name, values in figures.items()),
                  flush=True)
        return figures
    finally:
        for backend in backends:
            backend.stop()


def report(figures: dict[str, list[float]], steps: Sequence[Step], rounds: int, requests: int) -> list[str]:
    full = figures[FULL]
    minimal = statistics.median(figures[MINIMAL])

    def paired(name: str) -> tuple[float, float, float]:
        diffs = [f - s for f, s in zip(full, figures[name])]
        return statistics.median(diffs), min(diffs), max(diffs)

    own, low, high = paired(MINIMAL)
    lines = [
        "## Serial, in one process: steps switched off one at a time",
        "",
        f"`python -m bench.serial --rounds {rounds} --requests {requests}` (`bench/serial.py`): each configuration "
        f"a fresh gevent-patched process calling the WSGI app directly, {requests} requests one after another "
        "against the same backends (the process on one core, the backends on the other), its CPU time per "
        f"request; all configurations alternately in each of {rounds} rounds. No Gunicorn, wrk or other request "
        "in flight: the app's own work and the call's send, recv and wakeup. "
        "A step's cost is the median of the paired differences (full minus the step off, in the same round); "
        "the range is theirs.",
        "",
        "| server | switched off | CPU µs/req | step's cost µs/req (full − off) | rounds' range |",
        "|---|---|---:|---:|---|",
        f"| {MINIMAL} | the minimal pooled call (`bench.pooled_app`) | {minimal:.1f} | {own:.1f} (the gateway's own "
        f"cost) | {low:.1f} … {high:.1f} |",
        f"| {FULL} | nothing (`bench.layers_app`) | {statistics.median(full):.1f} |  |  |",
    ]
    summed = 0.0
    for step in steps:
        cost, low, high = paired(step.name)
        summed += cost if step.summed else 0.0
        note = f" ({step.note})" if step.note else ""
        lines.append(f"| {step.name} | {step.off}{note} | {statistics.median(figures[step.name]):.1f} | {cost:.1f} "
                     f"| {low:.1f} … {high:.1f} |")
    lines += ["", f"The steps that do not contain others add up to {summed:.1f} of the {own:.1f} µs "
                  "(steps overlap where the table says so). Gunicorn's share of a step is not here: the "
                  "response_headers step saves what Gunicorn does with the two headers, so here it only adds "
                  "its wrapper. The noise is the machine's: on a quiet one the ranges were a few µs, on a busy "
                  "one they widen as the wrk tables' do.", ""]
    return lines


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=7, help="rounds; medians are reported (default %(default)s)")
    p.add_argument("--requests", type=int, default=8000, help="serial requests per run (default %(default)s)")
    p.add_argument("--steps", default="", help="the steps to switch off, comma-separated (default: all)")
    args = p.parse_args(argv)
    names = [s for s in args.steps.split(",") if s] or list(BY_NAME)
    unknown = [s for s in names if s not in BY_NAME]
    if unknown:
        p.error(f"--steps: unknown {', '.join(unknown)}; one or more of {', '.join(BY_NAME)}")
    steps = [BY_NAME[s] for s in names]
    with tempfile.TemporaryDirectory(prefix="serial-") as log_dir:
        figures = run(steps, args.rounds, args.requests, Path(log_dir))
    print("\n".join(report(figures, steps, args.rounds, args.requests)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
