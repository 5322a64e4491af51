"""A bounded pool of persistent Thrift connections to one backend address.

One pool per worker process and backend address, created after the fork. It holds at
most ``size`` connections, opens them lazily, and makes a caller wait at most the checkout
timeout for a free one.

The rule that keeps answers correct: a connection whose call did not end cleanly may
still hold (part of) a reply that the next call would read as its own - Apache's
generated client never checks sequence ids, and even our codec, which does, could only
refuse the stray reply, failing an innocent call. Such a connection is closed, never
reused. Only a normal return or an IDL-declared exception - both of which consume the
whole reply - put it back. ``gevent.Timeout`` and ``GreenletExit`` are ``BaseException``s, so
the decision is made in ``finally`` from a flag, not in ``except Exception``.
"""

from __future__ import annotations

import time
from collections import deque
from typing import Any, Callable, Protocol

from gevent.event import Event
from thrift.protocol.TProtocol import TProtocolException
from thrift.Thrift import TApplicationException, TException
from thrift.transport.TTransport import TTransportException

from gateway.config import Address
from gateway.errors import BackendTimeout, BackendUnavailable, BadGateway, DeadlineExceeded, Overloaded
from gateway.timers import arm as _arm
from thrift_wire.headers import DEADLINE_BUDGET_KEY, DEADLINE_EXCEEDED_MESSAGE, budget_header


class _CallLate(BaseException):
    """Thrown into the greenlet whose call outlived its timer (``gateway.timers``)."""


class Connection(Protocol):
    def exchange(self, method: Any, args: tuple[Any, ...], headers: dict[str, str] | None = None) -> Any: ...

    def is_reusable(self) -> bool: ...

    def close(self) -> None: ...


class FairSlots:
    """A counting semaphore that serves waiters strictly first come, first served.

    gevent's semaphores let a newly arriving greenlet take a slot that was just released
    while earlier waiters still sleep; under load that starves some of them for seconds
    (p99 far above the mean). Here a released slot is handed to the oldest waiter
    directly, and newcomers queue behind it.
    """

    __slots__ = ("size", "_free", "_waiters")

    def __init__(self, size: int) -> None:
        self.size = size
        self._free = size
        self._waiters: deque[Event] = deque()

    @property
    def in_use(self) -> int:
        return self.size - self._free

    @property
    def waiting(self) -> int:
        return len(self._waiters)

    def acquire(self, timeout_s: float) -> bool:
        if self._free and not self._waiters:
            self._free -= 1
            return True
        waiter = Event()
        self._waiters.append(waiter)
        try:
            handed_over = waiter.wait(timeout_s)
        except BaseException:
            handed_over = self._abandon(waiter)
            raise
        return handed_over or self._abandon(waiter)

    def release(self) -> None:
        if self._waiters:
            self._waiters.popleft().set()  # the slot passes to the waiter: _free unchanged
        else:
            self._free += 1

    def _abandon(self, waiter: Event) -> bool:
        """Stop waiting; a slot handed over meanwhile is given back. Returns False."""
        try:
            self._waiters.remove(waiter)
        except ValueError:
            self.release()
        return False


class ConnectionPool:
    def __init__(
        self,
        backend: str,
        address: Address,
        opener: Callable[[], Connection],
        *,
        size: int,
        checkout_timeout_s: float,
        call_timeout_s: float,
        idle_timeout_s: float = 60.0,
        wire: str = "",
    ) -> None:
        self.backend = backend
        self.address = address
        self.label = str(address)  # "host:port", formatted once: it labels every call
        self.size = size
        self._open = opener
        self._checkout_timeout_s = checkout_timeout_s
        self._call_timeout_s = call_timeout_s
        # A connection idle longer than this is closed rather than reused: servers and
        # middleboxes drop idle connections. 0 closes each after its call, for servers
        # that serve one connection at a time (TSimpleServer) and would make every other
        # connection wait while ours sits in the pool.
        self._idle_timeout_s = idle_timeout_s
        # The transport and protocol the calls are sent in ("transport=framed, protocol=json"),
        # for the timeout's detail: a server that cannot read them often just waits for
        # more bytes, silent, and that is the only sign of the mismatch a user gets.
        self._timeout_hint = f" (the gateway sent {wire}: is that what the server speaks?)" if wire else ""
        self._slots = FairSlots(size)
        self.draining = False  # left the service (DNS): no reuse, connections close on return
        # LIFO: the most recently used connection is the one least likely to have been
        # closed by the peer, and the rest can age out together. Each with when it came back.
        self._idle: list[tuple[Connection, float]] = []

    @property
    def in_use(self) -> int:
        return self._slots.in_use

    @property
    def idle(self) -> int:
        return len(self._idle)

    def round_trip(self, method: Any, *args: Any, headers: dict[str, str] | None = None,
                   deadline: float | None = None, expired: type[Exception] = DeadlineExceeded) -> Any:
        """One call of ``method`` on a pooled connection, its reply back (``headers`` go
        with it where the transport carries them, ``Deadline-Budget`` among them); raises
        only GatewayErrors and the exceptions the IDL declares.

        ``deadline`` (``time.monotonic()``; None: none) is the request's: the wait for a
        connection, the connect and the answer all end by it (DeadlineExceeded), and
        nothing is sent once it has passed. The call timeout bounds the answer as well.
        ``expired`` is what a passed deadline raises: DeadlineExceeded for a client's,
        BackendTimeout when the deadline is the call timeout's (``Service.invoke``)."""
        checkout_s = self._checkout_timeout_s
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise self._error(expired, "the request's deadline passed before the call was sent")
            checkout_s = min(checkout_s, left)
        if not self._slots.acquire(checkout_s):
            if deadline is not None and time.monotonic() >= deadline:
                raise self._error(expired, "the request's deadline passed waiting for a connection")
            raise Overloaded(
                f"no connection to {self.backend} free within {self._checkout_timeout_s:g} s",
                backend=self.backend, address=self.label,
            )
        conn: Connection | None = None
        clean = False
        # One timer per call. With a deadline it runs from now, over the connect and the
        # answer; the call timeout, which bounds the answer alone, is armed in its place
        # only where it would end first (Service.invoke never lets it: its deadline is
        # never later than the call timeout from the start of the call).
        timer: Any = None
        call_timed = deadline is None  # the timer is the call timeout's: BackendTimeout
        try:
            if deadline is not None:
                timer = _arm(max(deadline - time.monotonic(), 0.0), _CallLate)
                if time.monotonic() >= deadline:
                    # A slot handed over near the deadline: this greenlet may run only after it.
                    raise self._error(expired, "the request's deadline passed before the call was sent")
            conn = self._checkout()
            call_s = self._call_timeout_s
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:  # nothing is sent after the deadline, not even with a budget of 1
                    clean = True  # the connection carried nothing: it goes back as it was
                    raise self._error(expired, "the request's deadline passed before the call was sent")
                if call_s < left:
                    timer.close()  # type: ignore[union-attr]
                    timer, call_timed = None, True
                else:
                    call_s = left
            if timer is None:
                timer = _arm(call_s, _CallLate)
            if headers is not None:
                headers = {**headers, DEADLINE_BUDGET_KEY: budget_header(call_s)}
            try:
                result = conn.exchange(method, args, headers)
            except (TTransportException, TProtocolException, TApplicationException):
                raise
            except TException:
                # Declared in the IDL: the whole reply was read, the stream is in sync.
                clean = True
                raise
            clean = True
            return result
        except _CallLate:
            if call_timed or expired is BackendTimeout:  # the call timeout's, or the deadline it set
                raise self._error(BackendTimeout,
                                  f"no answer within {self._call_timeout_s:g} s{self._timeout_hint}") from None
            raise self._error(expired, "no answer by the request's deadline") from None
        except TTransportException as err:
            raise self._transport_error(err, connected=conn is not None) from err
        except TApplicationException as err:
            if err.message == DEADLINE_EXCEEDED_MESSAGE:  # the backend got it too late and did not run it
                raise self._error(DeadlineExceeded, "the backend received the call after its budget ran out") from err
            raise self._error(BadGateway, f"invalid reply: {err}") from err
        except (TProtocolException, UnicodeDecodeError) as err:
            raise self._error(BadGateway, f"invalid reply: {err}") from err
        finally:
            try:
                if timer is not None:
                    timer.close()
                if conn is not None:
                    if clean and self._idle_timeout_s > 0 and not self.draining:
                        self._idle.append((conn, time.monotonic()))
                    else:
                        conn.close()
            finally:
                self._slots.release()

    def drain(self) -> None:
        """The instance has left: its calls in flight finish, then its connections close."""
        self.draining = True
        self.close()

    def close(self) -> None:
        """Close the idle connections (those in use are closed when they come back)."""
        idle, self._idle = self._idle, []
        for conn, _ in idle:
            conn.close()

    def _checkout(self) -> Connection:
        now = time.monotonic()
        while self._idle:
            conn, returned_at = self._idle.pop()
            if now - returned_at <= self._idle_timeout_s and conn.is_reusable():
                return conn
            conn.close()
        return self._open()

    def _transport_error(self, err: TTransportException, *, connected: bool) -> Exception:
        if err.type == TTransportException.TIMED_OUT:
            return self._error(BackendTimeout, f"no answer within the call timeout{self._timeout_hint}")
        if not connected:
            return self._error(BackendUnavailable, f"cannot connect: {err.message}")
        if err.type == TTransportException.SIZE_LIMIT:
            return self._error(BadGateway, f"invalid reply: {err.message}")
        return self._error(BackendUnavailable, f"connection lost: {err.message}")

    def _error(self, cls: type, detail: str) -> Exception:
        return cls(f"{self.backend} at {self.label}: {detail}", backend=self.backend, address=self.label)
