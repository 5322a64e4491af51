"""`make load` must keep working: a few seconds of locust against the real stack."""

from __future__ import annotations

import re
import subprocess

from tests.harness import ROOT


def test_make_load_runs_checks_answers_and_writes_a_report(gw: str) -> None:
    result = subprocess.run(
        ["make", "--no-print-directory", "load", f"HOST={gw}", "USERS=5", "SPAWN_RATE=5", "DURATION=5s"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    output = result.stdout + result.stderr
    # Locust exits non-zero when any request failed its answer check.
    assert result.returncode == 0, output
    aggregated = re.search(r"Aggregated\s+(\d+)\s+(\d+)\(", output)
    assert aggregated, output
    requests_made, failures = map(int, aggregated.groups())
    assert requests_made > 20 and failures == 0, output
    assert (ROOT / "var" / "load-report.html").stat().st_size > 0
