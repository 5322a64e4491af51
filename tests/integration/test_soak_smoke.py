"""`make soak` must not rot: its harness, for a few seconds."""

from __future__ import annotations

from pathlib import Path

from bench import soak


def test_soak_harness_runs_end_to_end(tmp_path: Path) -> None:
    out = tmp_path / "soak.md"
    soak.main(["--duration", "6", "--interval", "1", "--users", "5", "--out", str(out)])
    report = out.read_text()
    assert "| gateway fds |" in report and "| cache rss MiB |" in report and "pooled connections" in report
    # Six seconds say nothing about leaks (the verdict needs the real run); they do say
    # the load ran and every answer was right.
    assert " 0 failed" in report and "Verdict:" in report, report
