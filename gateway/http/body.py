"""Request bodies read within a deadline and a per-worker memory budget.

Gunicorn's gevent worker bounds how long it waits for a request's headers, not for its
body: a client that sends headers announcing 1,000 bytes and then nothing holds a
worker connection for as long as it likes, and 200 clients that each send 1.9 MiB of a
2 MiB body and stop hold 380 MB of one worker's memory. ``GuardedInput`` stands in for
``wsgi.input``: every read must finish within the body deadline (``GATEWAY_BODY_TIMEOUT_MS``
from the start of the request), and the bytes it may hold are reserved from the
worker's ``BodyBudget`` first, so a body that does not fit is refused before it is read.

The errors it raises are the gateway's own: 408 ``request_timeout``, 503 ``overloaded``,
400 ``invalid_json`` for a body whose chunked framing is broken, and
``ClientDisconnected`` when the client left mid-body. After any of them the connection
cannot be trusted to be in step, so the caller closes it.
"""

from __future__ import annotations

import time
from typing import BinaryIO

from gateway.config import MAX_BODY_BYTES
from gateway.errors import ClientDisconnected, InvalidJson, Overloaded, RequestTimeout
from gateway.timers import arm

# The 408's detail.
_LATE = "the request body did not arrive within the body timeout"


class _BodyLate(BaseException):
    """Thrown into a greenlet whose body read outlived the body deadline (a BaseException,
    as gevent.Timeout is, so that no ``except Exception`` on the way swallows it)."""


class BodyBudget:
    """The bytes of request bodies one worker may hold at once."""

    __slots__ = ("limit", "in_use")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.in_use = 0

    def reserve(self, size: int) -> None:
        if self.in_use + size > self.limit:
            raise Overloaded(
                f"this worker already holds {self.in_use} bytes of request bodies; {size} more would pass "
                f"GATEWAY_BODY_BUFFER_BYTES ({self.limit})", backend="gateway", address="")
        self.in_use += size

    def release(self, size: int) -> None:
        self.in_use -= size


class GuardedInput:
    """``wsgi.input`` with a deadline and a memory budget (see the module's docstring)."""

    def __init__(self, raw: BinaryIO, content_length: int | None, deadline: float, budget: BodyBudget) -> None:
        self._raw = raw
        self._remaining = content_length  # None: chunked, the end is where the body says
        self._deadline = deadline  # time.monotonic() by which the body must have arrived
        self._budget = budget
        self.reserved = 0
        self.finished = content_length == 0
        self.broken = False  # the connection is out of step and must be closed

    def read(self, size: int = -1) -> bytes:
        if self.finished:
            return b""
        want = size if size is not None and size >= 0 else (self._remaining if self._remaining is not None else -1)
        if self._remaining is not None and want > self._remaining:
            # PEP 3333: more than Content-Length gives the rest, then end-of-file. Werkzeug
            # reads in 64 KiB pieces, and Gunicorn's wsgi.input_terminated lets it.
            want = self._remaining
        self._reserve(want)
        left = self._deadline - time.monotonic()
        try:
            if left <= 0:
                raise RequestTimeout(_LATE)
            timer = arm(left, _BodyLate)  # most reads finish: only a late one makes its error
            try:
                data = self._raw.read(want) if want >= 0 else self._raw.read()
            finally:
                timer.close()
        except _BodyLate:
            self.broken = True
            raise RequestTimeout(_LATE) from None
        except RequestTimeout:
            self.broken = True
            raise
        except OSError as err:  # gunicorn's NoMoreData is an IOError: the client went away
            self.broken = True
            raise ClientDisconnected(f"the client closed the connection inside its request body: {err}") from None
        except Exception as err:  # gunicorn's parser: a broken chunk size, terminator, trailer
            if type(err).__module__.startswith("gunicorn."):
                self.broken = True
                raise InvalidJson(f"the request body's chunked encoding is broken: {type(err).__name__}") from None
            raise
        if self._remaining is not None:
            self._remaining -= len(data)
            if len(data) < want:
                self.broken = True
                raise ClientDisconnected("the client closed the connection inside its request body")
            self.finished = self._remaining <= 0
        elif want < 0 or len(data) < want:
            self.finished = True
        return data

    def _reserve(self, want: int) -> None:
        """Reserve what this read may bring, up to the limit every body is held to."""
        target = min(MAX_BODY_BYTES + 1, self.reserved + (want if want >= 0 else MAX_BODY_BYTES + 1))
        if target > self.reserved:
            self._budget.reserve(target - self.reserved)
            self.reserved = target

    def release(self) -> None:
        self._budget.release(self.reserved)
        self.reserved = 0
