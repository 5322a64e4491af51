"""The pool alone, with fake connections: no sockets, no backend."""

from __future__ import annotations

import time

import gevent
import pytest
from thrift.protocol.TProtocol import TProtocolException
from thrift.Thrift import TApplicationException
from thrift.transport.TTransport import TTransportException

from gateway.config import Address
from gateway.errors import BackendTimeout, BackendUnavailable, BadGateway, DeadlineExceeded, Overloaded
from gateway.upstream.pool import ConnectionPool, FairSlots
from thrift_idl.gen.calculator.ttypes import CalculatorError
from thrift_wire.headers import DEADLINE_EXCEEDED_MESSAGE


class Boom(BaseException):
    """Stands for gevent.Timeout, GreenletExit, KeyboardInterrupt: not an Exception."""


class FakeClient:
    def __init__(self) -> None:
        self.behaviour = lambda *args: sum(args)


class FakeConnection:
    def __init__(self) -> None:
        self.client = FakeClient()
        self.closed = False
        self.reusable = True

    def exchange(self, method: str, args: tuple, headers: dict | None = None):
        assert method == "add"
        return self.client.behaviour(*args)

    def is_reusable(self) -> bool:
        return self.reusable and not self.closed

    def close(self) -> None:
        self.closed = True


class Opener:
    def __init__(self, fail_with: BaseException | None = None) -> None:
        self.opened: list[FakeConnection] = []
        self.fail_with = fail_with

    def __call__(self) -> FakeConnection:
        if self.fail_with is not None:
            raise self.fail_with
        conn = FakeConnection()
        self.opened.append(conn)
        return conn


def make_pool(opener: Opener, size: int = 2, checkout_timeout_s: float = 0.05, call_timeout_s: float = 0.2) -> ConnectionPool:
    return ConnectionPool("calculator", Address("127.0.0.1", 1), opener, size=size,
                          checkout_timeout_s=checkout_timeout_s, call_timeout_s=call_timeout_s)


def assert_whole(pool: ConnectionPool) -> None:
    assert pool.in_use == 0 and pool._slots.waiting == 0
    # Every slot can be taken again at once.
    for _ in range(pool.size):
        assert pool._slots.acquire(0)
    assert not pool._slots.acquire(0)
    for _ in range(pool.size):
        pool._slots.release()


def test_connections_open_lazily_and_are_reused() -> None:
    opener = Opener()
    pool = make_pool(opener)
    assert opener.opened == []
    assert pool.round_trip("add", 1, 2) == 3
    assert pool.round_trip("add", 3, 4) == 7
    assert len(opener.opened) == 1 and pool.idle == 1
    assert_whole(pool)


def test_base_exception_mid_call_closes_the_connection_and_frees_the_slot() -> None:
    opener = Opener()
    pool = make_pool(opener)
    pool.round_trip("add", 1)

    def explode(*args):
        raise Boom()

    opener.opened[0].client.behaviour = explode
    with pytest.raises(Boom):
        pool.round_trip("add", 1)
    assert opener.opened[0].closed
    assert pool.idle == 0
    assert_whole(pool)
    assert pool.round_trip("add", 2) == 2  # a new connection
    assert len(opener.opened) == 2


def test_declared_exception_keeps_the_connection() -> None:
    opener = Opener()
    pool = make_pool(opener)

    def declared(*args):
        raise CalculatorError(code="division_by_zero", message="no")

    pool.round_trip("add", 1)
    opener.opened[0].client.behaviour = declared
    with pytest.raises(CalculatorError):
        pool.round_trip("add", 1)
    assert not opener.opened[0].closed and pool.idle == 1
    assert_whole(pool)


def test_call_timeout_discards_the_connection() -> None:
    opener = Opener()
    pool = make_pool(opener, call_timeout_s=0.05)
    pool.round_trip("add", 1)
    opener.opened[0].client.behaviour = lambda *args: gevent.sleep(1)
    with pytest.raises(BackendTimeout) as info:
        pool.round_trip("add", 1)
    assert info.value.status == 504
    assert opener.opened[0].closed and pool.idle == 0
    assert_whole(pool)


def _read_timed_out(*args: int) -> None:
    raise TTransportException(TTransportException.TIMED_OUT, "timed out")


@pytest.mark.parametrize("slow", [lambda *args: gevent.sleep(1), _read_timed_out], ids=["deadline", "socket"])
def test_a_timeout_names_the_transport_and_protocol_sent(slow: object) -> None:
    # A server that cannot read our format often waits for more bytes: silence, and then
    # this detail is all a user sees of the mismatch.
    opener = Opener()
    pool = ConnectionPool("calculator", Address("127.0.0.1", 1), opener, size=1, checkout_timeout_s=0.05,
                          call_timeout_s=0.05, wire="transport=framed, protocol=json")
    pool.round_trip("add", 1)
    opener.opened[0].client.behaviour = slow
    with pytest.raises(BackendTimeout) as info:
        pool.round_trip("add", 1)
    assert "(the gateway sent transport=framed, protocol=json: is that what the server speaks?)" in info.value.detail
    assert_whole(pool)


def test_someone_elses_timeout_is_not_mistaken_for_ours() -> None:
    opener = Opener()
    pool = make_pool(opener, call_timeout_s=5)
    pool.round_trip("add", 1)
    opener.opened[0].client.behaviour = lambda *args: gevent.sleep(1)
    outer = gevent.Timeout(0.05)
    with pytest.raises(gevent.Timeout) as info:
        with outer:
            pool.round_trip("add", 1)
    assert info.value is outer
    assert opener.opened[0].closed
    assert_whole(pool)


def test_a_calls_timer_ends_with_its_call() -> None:
    # The call's timer throws into the greenlet that armed it: one left running after its
    # call would break into whatever that greenlet does next.
    opener = Opener()
    pool = make_pool(opener, call_timeout_s=0.05)
    assert pool.round_trip("add", 1, 2) == 3
    assert pool.round_trip("add", 1, 2, deadline=time.monotonic() + 0.05) == 3
    gevent.sleep(0.15)  # past both timers
    opener.opened[0].client.behaviour = lambda *args: gevent.sleep(0.1)
    with pytest.raises(BackendTimeout):
        pool.round_trip("add", 1)
    gevent.sleep(0.15)
    assert_whole(pool)


@pytest.mark.parametrize(("raised", "expected"), [
    (TTransportException(TTransportException.END_OF_FILE, "eof"), BackendUnavailable),
    (TTransportException(TTransportException.TIMED_OUT, "slow"), BackendTimeout),
    (TTransportException(TTransportException.SIZE_LIMIT, "big"), BadGateway),
    (TProtocolException(TProtocolException.INVALID_DATA, "junk"), BadGateway),
    (TApplicationException(TApplicationException.INTERNAL_ERROR, "handler bug"), BadGateway),
    (UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte"), BadGateway),
])
def test_transport_and_protocol_errors_are_translated_and_discard(raised: Exception, expected: type) -> None:
    opener = Opener()
    pool = make_pool(opener)

    def fail(*args):
        raise raised

    pool.round_trip("add", 1)
    opener.opened[0].client.behaviour = fail
    with pytest.raises(expected) as info:
        pool.round_trip("add", 1)
    assert info.value.backend == "calculator" and info.value.address == "127.0.0.1:1"
    assert opener.opened[0].closed
    assert_whole(pool)


def test_connect_failure_is_unavailable_and_frees_the_slot() -> None:
    pool = make_pool(Opener(fail_with=TTransportException(TTransportException.NOT_OPEN, "refused")))
    for _ in range(5):  # more attempts than slots: a leak would turn into Overloaded
        with pytest.raises(BackendUnavailable):
            pool.round_trip("add", 1)
    assert_whole(pool)


def test_checkout_timeout_is_overloaded() -> None:
    opener = Opener()
    pool = make_pool(opener, size=1, checkout_timeout_s=0.05)
    pool.round_trip("add", 1)
    opener.opened[0].client.behaviour = lambda *args: gevent.sleep(0.15) or 1
    holder = gevent.spawn(pool.round_trip, "add", 1)
    gevent.sleep(0)
    with pytest.raises(Overloaded) as info:
        pool.round_trip("add", 1)
    assert info.value.status == 503 and info.value.code == "overloaded"
    assert holder.get() == 1
    assert_whole(pool)


def test_a_dead_idle_connection_is_replaced_not_used() -> None:
    opener = Opener()
    pool = make_pool(opener)
    pool.round_trip("add", 1)
    opener.opened[0].reusable = False  # e.g. the backend closed it, or a stray reply sits in it
    assert pool.round_trip("add", 5) == 5
    assert opener.opened[0].closed and len(opener.opened) == 2


def test_pool_never_opens_more_than_its_size() -> None:
    opener = Opener()
    pool = make_pool(opener, size=3, checkout_timeout_s=5)
    pool.round_trip("add", 0)
    for conn in opener.opened:
        conn.client.behaviour = lambda *args: gevent.sleep(0.01) or 1
    original = opener.__call__

    def slow_open():
        conn = original()
        conn.client.behaviour = lambda *args: gevent.sleep(0.01) or 1
        return conn

    pool._open = slow_open
    jobs = [gevent.spawn(pool.round_trip, "add", 1) for _ in range(30)]
    gevent.joinall(jobs, raise_error=True)
    assert len(opener.opened) <= 3
    assert_whole(pool)


def test_waiters_are_served_first_come_first_served() -> None:
    slots = FairSlots(1)
    assert slots.acquire(0)
    order: list[int] = []

    def waiter(n: int) -> None:
        assert slots.acquire(5)
        order.append(n)
        gevent.sleep(0.001)
        slots.release()

    jobs = [gevent.spawn(waiter, n) for n in range(5)]
    gevent.sleep(0.01)  # all five are queued
    slots.release()
    # A newcomer arriving while others wait must queue behind them, not barge in.
    jobs.append(gevent.spawn(waiter, 99))
    gevent.joinall(jobs, raise_error=True)
    assert order == [0, 1, 2, 3, 4, 99]
    assert slots.in_use == 0 and slots.waiting == 0


def test_a_waiter_that_times_out_or_is_killed_leaves_no_trace() -> None:
    slots = FairSlots(1)
    assert slots.acquire(0)
    assert not slots.acquire(0.01)
    killed = gevent.spawn(slots.acquire, 5)
    gevent.sleep(0)
    killed.kill()
    assert slots.waiting == 0
    slots.release()
    assert slots.in_use == 0
    assert slots.acquire(0)


def test_a_slot_handed_over_to_a_waiter_that_gives_up_is_given_back() -> None:
    # The race where a waiter times out (or is killed) after release() chose it but
    # before it ran: the hand-over must not be lost.
    from gevent.event import Event

    slots = FairSlots(1)
    assert slots.acquire(0)
    chosen = Event()
    slots._waiters.append(chosen)
    slots.release()
    assert chosen.is_set() and slots.in_use == 1
    assert slots._abandon(chosen) is False
    assert slots.in_use == 0 and slots.waiting == 0


def test_a_connection_idle_longer_than_the_idle_timeout_is_closed_not_reused() -> None:
    opener = Opener()
    pool = ConnectionPool("calculator", Address("127.0.0.1", 1), opener, size=2, checkout_timeout_s=0.05,
                          call_timeout_s=0.2, idle_timeout_s=0.05)
    pool.round_trip("add", 1)
    pool.round_trip("add", 1)
    assert len(opener.opened) == 1  # idle for less than the timeout: reused
    gevent.sleep(0.1)
    pool.round_trip("add", 1)
    assert len(opener.opened) == 2 and opener.opened[0].closed
    assert_whole(pool)


def test_idle_timeout_0_closes_every_connection_after_its_call() -> None:
    opener = Opener()
    pool = ConnectionPool("calculator", Address("127.0.0.1", 1), opener, size=2, checkout_timeout_s=0.05,
                          call_timeout_s=0.2, idle_timeout_s=0)
    for _ in range(3):
        assert pool.round_trip("add", 2) == 2
    assert len(opener.opened) == 3 and all(c.closed for c in opener.opened) and pool.idle == 0
    assert_whole(pool)


# The request's deadline ---------------------------------------------------------------

def _recording(conn: FakeConnection, seen: list[dict | None]) -> None:
    original = conn.exchange

    def exchange(method: str, args: tuple, headers: dict | None = None):  # type: ignore[no-untyped-def]
        seen.append(headers)
        return original(method, args, headers)

    conn.exchange = exchange  # type: ignore[method-assign]


def test_nothing_is_sent_once_the_deadline_has_passed() -> None:
    opener = Opener()
    pool = make_pool(opener)
    with pytest.raises(DeadlineExceeded, match="before the call was sent"):
        pool.round_trip("add", 1, 2, headers={}, deadline=time.monotonic() - 0.001)
    assert opener.opened == []
    assert_whole(pool)


def test_a_slow_answer_past_the_deadline_is_deadline_exceeded_and_the_connection_closed() -> None:
    opener = Opener()
    pool = make_pool(opener, call_timeout_s=5.0)
    pool.round_trip("add", 1)
    opener.opened[0].client.behaviour = lambda *a: gevent.sleep(1)
    started = time.monotonic()
    with pytest.raises(DeadlineExceeded, match="by the request's deadline"):
        pool.round_trip("add", 1, deadline=time.monotonic() + 0.05)
    assert time.monotonic() - started < 0.5  # the deadline ended it, not the 5 s call timeout
    assert opener.opened[0].closed  # it may still receive the late answer
    assert_whole(pool)


def test_the_call_timeout_still_bounds_a_call_with_a_later_deadline() -> None:
    opener = Opener()
    pool = make_pool(opener, call_timeout_s=0.05)
    pool.round_trip("add", 1)
    opener.opened[0].client.behaviour = lambda *a: gevent.sleep(1)
    with pytest.raises(BackendTimeout):
        pool.round_trip("add", 1, deadline=time.monotonic() + 10)


def test_every_call_with_headers_carries_its_budget_in_whole_milliseconds() -> None:
    opener = Opener()
    pool = make_pool(opener, call_timeout_s=2.0)
    pool.round_trip("add", 1)
    seen: list[dict | None] = []
    _recording(opener.opened[0], seen)
    pool.round_trip("add", 1, headers={"request-id": "r"})  # no client deadline: the call timeout's
    pool.round_trip("add", 1, headers={"request-id": "r"}, deadline=time.monotonic() + 0.3)
    pool.round_trip("add", 1)  # a transport without headers: none sent
    first, second, third = seen
    assert first is not None and 1900 <= int(first["Deadline-Budget"]) <= 2000 and first["request-id"] == "r"
    assert second is not None and 1 <= int(second["Deadline-Budget"]) <= 300
    assert third is None


def test_the_backends_refusal_of_a_spent_budget_is_deadline_exceeded() -> None:
    opener = Opener()
    pool = make_pool(opener)
    pool.round_trip("add", 1)

    def refuse(*args: int) -> None:
        raise TApplicationException(TApplicationException.INTERNAL_ERROR, DEADLINE_EXCEEDED_MESSAGE)

    opener.opened[0].client.behaviour = refuse
    with pytest.raises(DeadlineExceeded, match="after its budget ran out"):
        pool.round_trip("add", 1)
    assert opener.opened[0].closed  # an application exception may leave the stream out of step
    pool.round_trip("add", 1)  # a new connection
    opener.opened[-1].client.behaviour = lambda *a: (_ for _ in ()).throw(
        TApplicationException(TApplicationException.INTERNAL_ERROR, "Internal error"))
    with pytest.raises(BadGateway):  # any other application exception is still a bad reply
        pool.round_trip("add", 1)


def test_a_slot_handed_over_near_the_deadline_sends_nothing_once_it_has_passed() -> None:
    # The slot frees before the deadline, but the waiting greenlet runs only after it (the
    # releasing one keeps the CPU): the call must not go out, not even with a budget of 1.
    opener = Opener()
    pool = make_pool(opener, size=1, checkout_timeout_s=1.0, call_timeout_s=1.0)
    pool.round_trip("add", 1)
    seen: list[dict | None] = []
    _recording(opener.opened[0], seen)
    pool._slots.acquire(1.0)

    def holder() -> None:
        gevent.sleep(0.04)
        pool._slots.release()
        time.sleep(0.06)  # busy: no yield until past the caller's deadline

    gevent.spawn(holder)
    with pytest.raises(DeadlineExceeded, match="before the call was sent"):
        pool.round_trip("add", 1, headers={}, deadline=time.monotonic() + 0.08)
    assert seen == []
    assert_whole(pool)
