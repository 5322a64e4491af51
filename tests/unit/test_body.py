"""gateway/http/body.py in-process: ``GuardedInput`` over a fake, slow ``wsgi.input``.

The integration tests (test_hostile_clients.py) check the 408, the 503 and the 400 for a
broken chunk through Gunicorn, in seconds each; these check the rules one by one in
milliseconds: the deadline is for the whole body, the budget is reserved before a byte is
read and never past the limit every body is held to, every failure marks the input
``broken`` (the connection must close), and ``release`` gives back exactly what was held.
"""

from __future__ import annotations

import time
from typing import Any

import gevent
import pytest
from gunicorn.http.errors import InvalidChunkSize

from gateway.config import MAX_BODY_BYTES
from gateway.errors import ClientDisconnected, InvalidJson, Overloaded, RequestTimeout
from gateway.http.body import BodyBudget, GuardedInput

BIG_BUDGET = 64 * 1024 * 1024  # the default GATEWAY_BODY_BUFFER_BYTES


class SlowInput:
    """A wsgi.input that holds ``data`` and waits ``delay_s`` (cooperatively, as a gevent
    socket read does) before each read; records the sizes asked for."""

    def __init__(self, data: bytes, delay_s: float = 0.0, error: BaseException | None = None) -> None:
        self._data = data
        self._delay_s = delay_s
        self._error = error
        self.asked: list[int] = []

    def read(self, size: int = -1) -> bytes:
        self.asked.append(size)
        if self._delay_s:
            gevent.sleep(self._delay_s)
        if self._error is not None:
            raise self._error
        size = len(self._data) if size < 0 else size
        piece, self._data = self._data[:size], self._data[size:]
        return piece


def guarded(raw: Any, length: int | None, budget: BodyBudget | None = None, within_s: float = 5.0
            ) -> GuardedInput:
    return GuardedInput(raw, length, time.monotonic() + within_s, budget or BodyBudget(BIG_BUDGET))


# Reading a body -------------------------------------------------------------------------------

def test_a_body_with_a_length_is_read_whole_and_finished() -> None:
    budget = BodyBudget(BIG_BUDGET)
    body = guarded(SlowInput(b"0123456789"), 10, budget)
    assert not body.finished
    assert body.read() == b"0123456789"
    assert body.finished and not body.broken
    assert body.reserved == 10 and budget.in_use == 10  # what the body may hold, no more
    assert body.read() == b""  # and then the end, without asking the client again


def test_a_body_read_in_pieces_reserves_as_it_goes() -> None:
    budget = BodyBudget(BIG_BUDGET)
    raw = SlowInput(b"0123456789")
    body = guarded(raw, 10, budget)
    assert body.read(4) == b"0123" and not body.finished
    assert budget.in_use == 4
    assert body.read(6) == b"456789" and body.finished
    assert budget.in_use == 10
    assert raw.asked == [4, 6]


def test_an_empty_body_is_finished_before_any_read() -> None:
    raw = SlowInput(b"", error=AssertionError("read"))
    body = guarded(raw, 0)
    assert body.finished
    assert body.read() == b"" and body.read(10) == b""
    assert raw.asked == [] and body.reserved == 0


def test_a_chunked_body_ends_where_the_stream_ends() -> None:
    body = guarded(SlowInput(b"abc"), None)
    assert body.read(2) == b"ab" and not body.finished
    assert body.read(2) == b"c" and body.finished  # a short read: the last chunk
    assert body.read(2) == b""


def test_a_chunked_body_read_whole() -> None:
    body = guarded(SlowInput(b"abc"), None)
    assert body.read() == b"abc" and body.finished and not body.broken


# The deadline ---------------------------------------------------------------------------------

def test_a_body_that_does_not_arrive_in_time_is_408_and_breaks_the_connection() -> None:
    body = guarded(SlowInput(b"late", delay_s=10), 4, within_s=0.05)
    started = time.monotonic()
    with pytest.raises(RequestTimeout) as refused:
        body.read()
    assert time.monotonic() - started < 1  # the deadline, not the client, ended the wait
    assert refused.value.status == 408 and refused.value.code == "request_timeout"
    assert body.broken and not body.finished


def test_a_read_that_finished_leaves_no_timer_to_fire_later() -> None:
    # The read's timer throws into the reading greenlet: once the read is done it must
    # be gone, or the request's greenlet would be interrupted later, anywhere.
    body = guarded(SlowInput(b"0123", delay_s=0.01), 4, within_s=0.05)
    assert body.read() == b"0123"
    gevent.sleep(0.1)  # past the body deadline: nothing is thrown
    assert not body.broken


def test_the_deadline_is_for_the_whole_body_not_each_read() -> None:
    # Two reads of 60 ms each within 100 ms: each alone would fit, together they do not
    # (a client trickling its body must not get a fresh timeout per read).
    body = guarded(SlowInput(b"abcd", delay_s=0.06), 4, within_s=0.1)
    assert body.read(2) == b"ab"
    with pytest.raises(RequestTimeout):
        body.read(2)
    assert body.broken


def test_a_deadline_already_past_does_not_read_at_all() -> None:
    raw = SlowInput(b"abcd")
    body = guarded(raw, 4, within_s=-1)
    with pytest.raises(RequestTimeout):
        body.read()
    assert raw.asked == [] and body.broken


def test_a_timed_out_read_keeps_its_reservation_until_release() -> None:
    # The observer releases in its finally: whatever failed, the budget is whole after.
    budget = BodyBudget(BIG_BUDGET)
    body = guarded(SlowInput(b"late", delay_s=10), 4, budget, within_s=0.02)
    with pytest.raises(RequestTimeout):
        body.read()
    assert budget.in_use == 4
    body.release()
    assert budget.in_use == 0


# The budget -----------------------------------------------------------------------------------

def test_a_body_that_does_not_fit_the_budget_is_refused_before_it_is_read() -> None:
    budget = BodyBudget(100)
    raw = SlowInput(b"x" * 200)
    body = guarded(raw, 200, budget)
    with pytest.raises(Overloaded) as refused:
        body.read()
    assert refused.value.status == 503 and refused.value.code == "overloaded"
    assert "100" in refused.value.detail  # names the setting's value
    assert raw.asked == [] and budget.in_use == 0 and body.reserved == 0


def test_bodies_share_one_budget_and_release_gives_it_back() -> None:
    budget = BodyBudget(100)
    first = guarded(SlowInput(b"a" * 60), 60, budget)
    second = guarded(SlowInput(b"b" * 50), 50, budget)
    assert first.read() == b"a" * 60
    with pytest.raises(Overloaded):
        second.read()  # 60 + 50 > 100
    first.release()
    assert budget.in_use == 0
    assert second.read() == b"b" * 50
    assert budget.in_use == 50


def test_a_budget_exactly_full_is_not_over() -> None:
    budget = BodyBudget(10)
    assert guarded(SlowInput(b"x" * 10), 10, budget).read() == b"x" * 10
    assert budget.in_use == 10


def test_release_twice_gives_back_once() -> None:
    budget = BodyBudget(BIG_BUDGET)
    body = guarded(SlowInput(b"abc"), 3, budget)
    body.read()
    body.release()
    body.release()
    assert budget.in_use == 0 and body.reserved == 0


def test_a_chunked_body_reserves_the_most_a_body_may_be() -> None:
    # Its length is unknown until it ends: what read_body may read (the limit and one
    # byte, to tell an oversized body apart) is reserved before the first byte.
    budget = BodyBudget(BIG_BUDGET)
    body = guarded(SlowInput(b"{}"), None, budget)
    assert body.read() == b"{}"
    assert budget.in_use == MAX_BODY_BYTES + 1


def test_a_chunked_body_is_refused_when_its_worst_case_does_not_fit() -> None:
    budget = BodyBudget(MAX_BODY_BYTES)
    raw = SlowInput(b"{}")
    with pytest.raises(Overloaded):
        guarded(raw, None, budget).read()
    assert raw.asked == []


# Reading past the limit -----------------------------------------------------------------------

def test_reading_past_the_limit_reserves_no_more_than_the_limit_and_one_byte() -> None:
    # read_body reads MAX_BODY_BYTES + 1 of a chunked body; a caller that read on (in
    # pieces, past the limit) must not take more of the worker's budget than that.
    budget = BodyBudget(BIG_BUDGET)
    body = guarded(SlowInput(b"x" * (MAX_BODY_BYTES + 3000)), None, budget)
    assert len(body.read(MAX_BODY_BYTES + 1)) == MAX_BODY_BYTES + 1
    assert not body.finished
    for _ in range(2):
        assert len(body.read(1000)) == 1000
    assert body.reserved == MAX_BODY_BYTES + 1 and budget.in_use == MAX_BODY_BYTES + 1
    body.release()
    assert budget.in_use == 0


def test_a_large_announced_length_reserves_at_most_the_limit() -> None:
    # Content-Length above the limit is refused (413) before reading by read_body; the
    # reservation of a read in pieces is still bounded by the limit, not the header.
    budget = BodyBudget(BIG_BUDGET)
    body = guarded(SlowInput(b"x" * 10), 10 * MAX_BODY_BYTES, budget)
    body.read(5)
    assert budget.in_use == 5
    body.read(5)
    assert budget.in_use == 10


def test_a_read_larger_than_what_is_left_returns_the_rest() -> None:
    # PEP 3333: an application may ask for more than Content-Length; the server
    # "should simulate an end-of-file condition". Werkzeug's form parser reads in 64 KiB
    # pieces and Gunicorn sets wsgi.input_terminated, so nothing clamps the size first.
    body = guarded(SlowInput(b"abc"), 3)
    assert body.read(65536) == b"abc"
    assert body.finished and not body.broken


# A client that goes away or sends a broken body -----------------------------------------------

def test_a_body_shorter_than_announced_is_a_client_that_left() -> None:
    body = guarded(SlowInput(b"abc"), 10)
    with pytest.raises(ClientDisconnected):
        body.read()
    assert body.broken


def test_an_os_error_while_reading_is_a_client_that_left() -> None:
    # Gunicorn's NoMoreData is an IOError (OSError); a reset connection is one too.
    body = guarded(SlowInput(b"", error=ConnectionResetError("reset by peer")), 10)
    with pytest.raises(ClientDisconnected) as left:
        body.read()
    assert "reset by peer" in left.value.detail
    assert left.value.__cause__ is None and left.value.__suppress_context__
    assert body.broken


def test_a_broken_chunked_framing_is_400_invalid_json() -> None:
    body = guarded(SlowInput(b"", error=InvalidChunkSize("zz")), None)
    with pytest.raises(InvalidJson) as refused:
        body.read()
    assert refused.value.status == 400 and "InvalidChunkSize" in refused.value.detail
    assert body.broken


def test_other_errors_pass_through_as_they_are() -> None:
    # A bug in a layer below is not the client's broken body: no 400, no disguise.
    body = guarded(SlowInput(b"", error=ValueError("a bug")), 10)
    with pytest.raises(ValueError, match="a bug"):
        body.read()
    assert not body.broken
