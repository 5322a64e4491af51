"""A timer that throws into the greenlet that armed it: the deadline of one blocking step.

A bare timer of the event loop, not a ``gevent.Timeout``: that is a Python object, an
exception instance and two method calls more each time, paid on every backend call and
every body read, while almost every one of them finishes in time. The caller passes its
own private exception class (a ``BaseException``, as ``gevent.Timeout`` is, so that no
``except Exception`` on the way takes it for an error of its own) and closes the timer
when the step is over: only that caller catches the class, and no timer outlives it.
"""

from __future__ import annotations

from typing import Any

import gevent
from gevent import getcurrent


def arm(seconds: float, throws: type[BaseException]) -> Any:
    """``throws`` thrown into the current greenlet after ``seconds``, counted from now
    (``update``), not from the loop's last clock read; ``close()`` the result when done."""
    timer = gevent.get_hub().loop.timer(seconds)
    timer.start(getcurrent().throw, throws, update=True)
    return timer
