"""`make soak`: a long, bounded run of mixed load, watching for leaks.

Starts both backends and a two-worker gateway on free loopback ports, drives them with
the locustfile (which checks every answer) for ``--duration`` seconds, and samples every
``--interval`` seconds: open file descriptors and RSS of every process, and the gateway's
pooled connections. At the end it reports whether those stayed flat and whether any
request failed, and writes the samples to ``var/soak.md``.

    python -m bench.soak [--duration 600] [--interval 10] [--users 50]
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import requests

from tests.harness import ROOT, Backend, Gateway, Process

# "Flat": the last third of the run may not exceed the middle third (the first is
# warm-up: pools fill, caches grow) by more than this.
RSS_SLACK = 1.25
FD_SLACK = 16


def _tree(proc: Process) -> list[psutil.Process]:
    root = psutil.Process(proc.pid)
    return [root, *root.children(recursive=True)]


def _sample(procs: dict[str, Process], gateway: Gateway) -> dict[str, float]:
    sample: dict[str, float] = {}
    for name, proc in procs.items():
        members = _tree(proc)
        sample[f"{name} fds"] = sum(p.num_fds() for p in members)
        sample[f"{name} rss MiB"] = sum(p.memory_info().rss for p in members) / 2**20
    text = requests.get(f"{gateway.url}/metrics", timeout=10).text
    pooled = re.findall(r'gateway_pool_connections\{[^}]*state="(in_use|idle)"\} (\S+)', text)
    sample["pooled connections"] = sum(float(v) for _, v in pooled)
    return sample


def _flat(samples: list[dict[str, float]], key: str) -> bool:
    third = max(1, len(samples) // 3)
    early = max(s[key] for s in samples[third : 2 * third] or samples)
    late = max(s[key] for s in samples[-third:])
    return late <= early * RSS_SLACK if "rss" in key else late <= early + FD_SLACK


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--duration", type=int, default=600, help="seconds of load (default %(default)s)")
    p.add_argument("--interval", type=float, default=10, help="seconds between samples (default %(default)s)")
    p.add_argument("--users", type=int, default=50, help="locust users (default %(default)s)")
    p.add_argument("--out", type=Path, default=ROOT / "var" / "soak.md")
    args = p.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="soak-") as tmp:
        log_dir = Path(tmp)
        calculator, cache = Backend("calculator", log_dir), Backend("cache", log_dir)
        gateway = Gateway(log_dir, [calculator.address], [cache.address], workers=2,
                          env={"GATEWAY_ACCESS_LOG": ""})
        procs: dict[str, Process] = {"gateway": gateway, "calculator": calculator, "cache": cache}
        load = subprocess.Popen(
            [sys.executable, "-m", "locust", "-f", "locustfile.py", "--headless", "--users", str(args.users),
             "--spawn-rate", str(args.users), "--run-time", f"{args.duration}s", "--stop-timeout", "5",
             "--host", gateway.url, "--only-summary"],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        samples = []
        try:
            deadline = time.monotonic() + args.duration
            while time.monotonic() < deadline and load.poll() is None:
                samples.append(_sample(procs, gateway))
                print("  ".join(f"{k} {v:.0f}" for k, v in samples[-1].items()), flush=True)
                time.sleep(args.interval)
            output, _ = load.communicate(timeout=args.duration + 120)
            samples.append(_sample(procs, gateway))
        finally:
            if load.poll() is None:
                load.kill()
            for proc in procs.values():
                proc.stop()

    aggregated = re.search(r"Aggregated\s+(\d+)\s+(\d+)\(", output)
    requests_made, failures = (int(x) for x in aggregated.groups()) if aggregated else (0, -1)
    keys = [k for k in samples[0] if k != "pooled connections"]
    flat = {k: _flat(samples, k) for k in keys}
    pool_max = max(s["pooled connections"] for s in samples)
    ok = failures == 0 and requests_made > 0 and all(flat.values()) and load.returncode == 0
    lines = [
        "# Soak run", "",
        f"`python -m bench.soak --duration {args.duration} --interval {args.interval:g} --users {args.users}`: "
        f"{requests_made} requests, {failures} failed (locust checks every answer).", "",
        "| measure | first sample | last sample | max | flat |", "|---|---:|---:|---:|---|",
        *[f"| {k} | {samples[0][k]:.1f} | {samples[-1][k]:.1f} | {max(s[k] for s in samples):.1f} | "
          f"{'yes' if flat[k] else 'NO'} |" for k in keys],
        f"| pooled connections | {samples[0]['pooled connections']:.0f} | {samples[-1]['pooled connections']:.0f} "
        f"| {pool_max:.0f} | (bounded by workers × pool size) |",
        "", f"Verdict: {'PASS' if ok else 'FAIL'}", "",
    ]
    report = "\n".join(lines)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report)
    print(report)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
