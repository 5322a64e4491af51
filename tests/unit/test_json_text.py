"""The compact encoder made once (gateway/http/json_text.py) against json.dumps."""

from __future__ import annotations

import datetime
import json
from typing import Any

import pytest

from gateway.http.json_text import compact_encoder

VALUES = [
    {"result": 3},
    {"key": "a/b", "value": {"n": 1, "text": "benchmark", "list": [1, 2.5, -0.0, 1e300, None, True, False]}},
    "plain", 0, -9223372036854775808, 2**70, 1.5, [], {}, [[[]]],
    {"é": "ü\u2028\ud800\"\\\n"},  # non-ASCII, a line separator, a lone surrogate, escapes
    {"order": 1, "kept": 2, "as": 3, "written": 4},
]


@pytest.mark.parametrize("value", VALUES)
@pytest.mark.parametrize("ascii_only", [True, False])
def test_it_writes_what_json_dumps_writes(value: Any, ascii_only: bool) -> None:
    encode = compact_encoder(ensure_ascii=ascii_only)
    assert encode(value) == json.dumps(value, separators=(",", ":"), ensure_ascii=ascii_only)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), {"x": [float("-inf")]}])
def test_nan_and_the_infinities_are_refused(value: Any) -> None:
    with pytest.raises(ValueError):
        compact_encoder()(value)


def test_what_json_has_no_type_for_goes_to_default_or_is_refused() -> None:
    day = datetime.date(2026, 12, 6)
    assert compact_encoder(default=lambda v: v.isoformat())({"day": day}) == '{"day":"2026-12-06"}'
    with pytest.raises(TypeError):
        compact_encoder()({"day": day})


def test_an_error_leaves_nothing_behind_for_the_next_value() -> None:
    # The C encoder keeps no state between calls: a value refused halfway (its dicts and
    # lists already entered) does not make the next one, maybe at the same address, fail.
    encode = compact_encoder()
    for _ in range(100):
        with pytest.raises(ValueError):
            encode({"a": [{"b": float("nan")}]})
        assert encode({"a": [{"b": 1}]}) == '{"a":[{"b":1}]}'


def test_a_cycle_is_an_error_not_a_hang() -> None:
    cyclic: list[Any] = []
    cyclic.append(cyclic)
    with pytest.raises(RecursionError):
        compact_encoder()(cyclic)
