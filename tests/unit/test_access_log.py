"""The access log's lines: valid JSON whatever a client sent, batched, never lost on a stop."""

from __future__ import annotations

import json
import os
from pathlib import Path

import gevent
import pytest

from gateway.http import access_log
from gateway.http.access_log import AccessLog


def _log_one(log: AccessLog, path: str = "/add/1/2", **overrides: object) -> None:
    fields = dict(request_id="rid", method="GET", path=path, route="/add/<a>/<b>", status=200, duration_s=0.0012345,
                  backends=["calculator@127.0.0.1:9090"], remote="127.0.0.1", trace_id="ab" * 16)
    fields.update(overrides)
    log.request(**fields)  # type: ignore[arg-type]


def test_lines_are_json_with_every_field(tmp_path: Path) -> None:
    target = tmp_path / "access.log"
    log = AccessLog.open(str(target))
    assert log is not None
    _log_one(log, path='/cache/"quoted"\\é\x00\x7f', method="BR\"EW", remote=None, backends=[])
    log.flush()
    entry = json.loads(target.read_text(encoding="utf-8"))
    assert entry["path"] == '/cache/"quoted"\\é\x00\x7f' and entry["method"] == 'BR"EW'
    assert entry["remote"] is None and entry["backends"] == [] and entry["duration_ms"] == 1.234
    assert entry["status"] == 200 and entry["trace_id"] == "ab" * 16 and entry["route"] == "/add/<a>/<b>"
    assert len(entry["time"]) >= 19
    # Spaced as json.dumps spaced the lines before: greps for '"status": 200' still match.
    assert '"status": 200, ' in target.read_text()


def test_lines_go_out_together_every_tenth_of_a_second_or_when_a_batch_is_full(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "access.log"
    log = AccessLog.open(str(target))
    assert log is not None
    writes: list[int] = []
    real_write = os.write

    def counting_write(fd: int, data: bytes) -> int:
        writes.append(len(data))
        return real_write(fd, data)

    monkeypatch.setattr(access_log.os, "write", counting_write)
    for i in range(50):
        _log_one(log, request_id=f"r{i}")
    gevent.sleep(0)  # turns of the loop write nothing: one write per interval
    assert target.read_text() == ""
    gevent.sleep(access_log.FLUSH_INTERVAL_S * 1.5)
    lines = target.read_text().splitlines()
    assert [json.loads(line)["request_id"] for line in lines] == [f"r{i}" for i in range(50)]
    assert len(writes) == 1
    for i in range(access_log.FLUSH_LINES):  # a full batch goes out at once, without waiting
        _log_one(log, request_id=f"b{i}")
    assert len(writes) == 2 and len(target.read_text().splitlines()) == 50 + access_log.FLUSH_LINES
    gevent.sleep(access_log.FLUSH_INTERVAL_S * 1.5)  # nothing left pending, nothing more written
    assert len(writes) == 2


def test_no_target_no_log() -> None:
    assert AccessLog.open("") is None
