"""telemetry/ids.py in-process: the formats of request, trace and span ids, the all-zero
ids W3C trace context forbids, and ``reseed`` (each forked worker makes its own ids).

No integration test looks at the ids themselves; test_tracing.py (integration) only
follows them from process to process.
"""

from __future__ import annotations

import random
import re

import pytest

from telemetry import ids
from telemetry.ids import new_request_id, new_span_id, new_trace_id, reseed

HEX32 = re.compile(r"[0-9a-f]{32}")
HEX16 = re.compile(r"[0-9a-f]{16}")


class Fixed(random.Random):
    """A generator whose every draw is ``value`` (masked to the bits asked for)."""

    def __init__(self, value: int) -> None:
        super().__init__()
        self.value = value

    def getrandbits(self, k: int) -> int:
        return self.value & ((1 << k) - 1)


def test_ids_are_lowercase_hex_of_their_lengths() -> None:
    # W3C trace context: 32 and 16 lower-case hex digits; the request id is the same
    # 32 digits as a uuid4().hex, which clients and logs already expect.
    for _ in range(200):
        assert HEX32.fullmatch(new_request_id())
        assert HEX32.fullmatch(new_trace_id())
        assert HEX16.fullmatch(new_span_id())


def test_small_draws_keep_their_leading_zeros(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ids, "_random", Fixed(0xAB))
    assert new_request_id() == "0" * 30 + "ab"
    assert new_trace_id() == "0" * 30 + "ab"
    assert new_span_id() == "0" * 14 + "ab"


def test_the_largest_draws_fit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ids, "_random", Fixed(-1))  # every bit set
    assert new_trace_id() == "f" * 32 and new_span_id() == "f" * 16 and new_request_id() == "f" * 32


def test_trace_and_span_ids_are_never_all_zeros(monkeypatch: pytest.MonkeyPatch) -> None:
    # An all-zero trace or span id is invalid: a receiver would drop the trace context.
    monkeypatch.setattr(ids, "_random", Fixed(0))
    assert new_trace_id() == "0" * 31 + "1"
    assert new_span_id() == "0" * 15 + "1"


def test_ids_do_not_repeat() -> None:
    for make in (new_request_id, new_trace_id, new_span_id):
        made = [make() for _ in range(2000)]
        assert len(set(made)) == len(made), make.__name__


def test_the_three_kinds_draw_the_bits_they_need(monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[int] = []

    class Recording(random.Random):
        def getrandbits(self, k: int) -> int:
            asked.append(k)
            return 1

    monkeypatch.setattr(ids, "_random", Recording())
    new_request_id(), new_trace_id(), new_span_id()
    assert asked == [128, 128, 64]


def test_reseed_gives_a_different_sequence(monkeypatch: pytest.MonkeyPatch) -> None:
    # After a fork every worker holds the master's generator state: without reseed they
    # would all make the same ids in the same order.
    monkeypatch.setattr(ids, "_random", random.Random(1234))
    inherited = [new_request_id() for _ in range(3)]
    ids._random.seed(1234)  # another process with the same inherited state ...
    assert [new_request_id() for _ in range(3)] == inherited  # ... makes the same ids
    ids._random.seed(1234)
    reseed()  # ... unless it reseeds
    assert [new_request_id() for _ in range(3)] != inherited


def test_reseed_changes_the_module_generator_in_place(monkeypatch: pytest.MonkeyPatch) -> None:
    # Everyone imported the functions, not the generator: reseed must seed the one they use.
    generator = random.Random(7)
    monkeypatch.setattr(ids, "_random", generator)
    before = generator.getstate()
    reseed()
    assert ids._random is generator and generator.getstate() != before
