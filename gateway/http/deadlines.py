"""A request's deadline, from the headers its client sends.

``Grpc-Timeout`` (gRPC's format: 1 to 8 digits and a unit - ``H`` hours, ``M`` minutes,
``S`` seconds, ``m`` milliseconds, ``u`` microseconds, ``n`` nanoseconds) or
``Connect-Timeout-Ms`` (Connect's: milliseconds, up to 10 digits). Both given: the
earlier. The deadline is a ``time.monotonic()`` instant; every backend call the request
makes ends by it (``upstream.services``), and the call timeout still bounds each call.
"""

from __future__ import annotations

import re
import time

from gateway.errors import InvalidArgument
from gateway.http.wsgi_types import Environ

DEADLINE_ENVIRON_KEY = "gateway.deadline"  # when the request arrived (time.monotonic())

_GRPC_TIMEOUT = re.compile(r"([0-9]{1,8})([HMSmun])", re.ASCII)
_CONNECT_TIMEOUT = re.compile(r"[0-9]{1,10}", re.ASCII)
_UNIT_S = {"H": 3600.0, "M": 60.0, "S": 1.0, "m": 1e-3, "u": 1e-6, "n": 1e-9}


def of(environ: Environ) -> float | None:
    """The request's deadline, read from its headers when a backend call first asks for it
    - after the guard, so that a malformed header is never answered before 401/403/429.
    InvalidArgument (400) naming the header for a malformed value."""
    arrived = environ.get(DEADLINE_ENVIRON_KEY)
    return from_headers(environ, arrived if isinstance(arrived, float) else time.monotonic())


def from_headers(environ: Environ, now: float) -> float | None:
    """The deadline the request's headers set, or None; InvalidArgument (400) naming the
    header for a value that is not in its format."""
    seconds = None
    grpc = environ.get("HTTP_GRPC_TIMEOUT")
    if grpc is not None:
        found = _GRPC_TIMEOUT.fullmatch(grpc.strip())
        if found is None:
            raise InvalidArgument(f"Grpc-Timeout: {grpc[:40]!r} is not 1 to 8 digits and a unit "
                                  "(H, M, S, m, u or n), as in 250m")
        seconds = int(found.group(1)) * _UNIT_S[found.group(2)]
    connect = environ.get("HTTP_CONNECT_TIMEOUT_MS")
    if connect is not None:
        if _CONNECT_TIMEOUT.fullmatch(connect.strip()) is None:
            raise InvalidArgument(f"Connect-Timeout-Ms: {connect[:40]!r} is not a whole number of milliseconds")
        connect_s = int(connect) / 1000
        seconds = connect_s if seconds is None else min(seconds, connect_s)
    return None if seconds is None else now + seconds
