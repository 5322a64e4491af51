"""The steps of the gateway's ``GET /add`` that ``make breakdown`` switches off.

``bench/layers_app.py`` switches steps off when started with ``BENCH_OFF=<name>`` (or
several, ``BENCH_OFF=<name>+<name>+...``); ``bench/breakdown.py`` starts one gateway per
step, and one per stair of the staircase (``STAIRCASE``: each stair one step more than the
one before), with the environment the steps need besides. Kept apart from both so that
the breakdown can read the table without making an app.

The patches of several steps are applied in the order of ``STEPS`` whatever the order
of ``BENCH_OFF``: ``response_headers`` wraps ``RequestObserver.__call__`` before
``observer`` replaces it, ``service`` replaces ``Service.invoke`` before ``upstream``
wraps it.
"""

from __future__ import annotations

from typing import NamedTuple


class Step(NamedTuple):
    name: str
    off: str  # what the gateway does without it
    env: tuple[tuple[str, str], ...] = ()  # set for its gateway besides BENCH_OFF
    framed: bool = False  # the calculator reached over plain framed transport (?transport=framed)
    # Added into the sum of the steps. False for a step that contains others: its cost
    # would be counted twice.
    summed: bool = True
    note: str = ""  # what it overlaps, said in the report


STEPS: tuple[Step, ...] = (
    # The HTTP side.
    Step("access_log", 'no access log (GATEWAY_ACCESS_LOG="")', env=(("GATEWAY_ACCESS_LOG", ""),)),
    Step("metrics", "gateway.metrics.http_request and thrift_call are no-ops",
         note="thrift_call is also part of service"),
    Step("ids", "the request id, trace id and span id are constants, not random"),
    Step("response_headers", "no X-Request-ID or traceparent response header: the start_response "
         "RequestObserver.__call__ receives is wrapped, and the wrapper drops the two headers the observer "
         "appended before Gunicorn sees them - so Gunicorn neither checks nor writes them (the ids are still "
         "made; the wrapper's own closure and call, well under 1 µs, stay in)"),
    Step("observer", "RequestObserver.__call__ hands the request straight to the app it wraps: no request id, "
         "trace ids or server span, body guard, deadline start (deadlines.of reads the clock itself), "
         "backends_called context, HTTP metric, access-log line or response headers; without the id and span "
         "in the environ, call_headers sends no THeader headers either (Deadline-Budget still goes)",
         summed=False, note="contains access_log, metrics' http_request, ids, response_headers and call_headers"),
    Step("routing", "RouteTable.match memoised per (method, path)"),
    Step("validation", "validation.path_int is int(text): no pattern match, digit count or signed 64-bit "
         "range check of /add's (and /calc's) two numbers"),
    Step("json_answer", "the JSON answer not encoded: problems.write_json, for a 200 whose body is "
         "{\"result\": 5} (GET /add/2/3, the path the breakdown drives), writes the constant "
         "b'{\"result\":5}\\n' with the same Content-Type and Content-Length (13) - no dumps, newline, encode or "
         "len(); any other answer (a dict compare later) is encoded as before"),
    # The Thrift side.
    Step("call_headers", "handlers.call_headers returns None: no request id or traceparent THeader headers "
         "(Deadline-Budget is still sent: Service._attempt hands the pool {})",
         summed=False, note="part of theader"),
    Step("theader", "the THeader format: plain framed transport (?transport=framed), so no headers at all, "
         "and call_headers off", framed=True, note="includes call_headers"),
    Step("deadline_timer", "no timer per call in ConnectionPool.round_trip (its _arm gives a timer that never fires)"),
    Step("reuse_check", "ThriftConnection.is_reusable is True without looking at the socket"),
    Step("service", "Service.invoke goes straight to the first pool's round_trip: no deadline arithmetic, "
         "balancer pick, retry budget, per-call metric or access-log note",
         note="its per-call metric is also part of metrics"),
    Step("gc", "the garbage collector disabled (gc.disable()) once the app is made"),
    Step("upstream", "the whole Thrift side: Service.invoke for calculator/add is the minimal pooled call "
         "(bench/pooled_app.py's Apache client from its deque)",
         summed=False, note="contains service, deadline_timer, reuse_check, theader and part of metrics"),
)
BY_NAME = {step.name: step for step in STEPS}

# The staircase: each stair switches off one step more than the one before, so a stair's
# cost is what its step removes beyond those already off. A step that contains others
# comes after them (observer after access_log, metrics, ids and response_headers; upstream,
# which contains service, deadline_timer, reuse_check and theader, last): its stair counts
# only what they left. With every step off, what is left against the minimal pooled call
# is what cannot be switched off.
STAIRCASE: tuple[str, ...] = (
    "access_log", "metrics", "ids", "response_headers", "routing", "validation", "json_answer", "service",
    "deadline_timer", "reuse_check", "theader", "gc", "observer", "upstream",
)


def order(names: list[str] | tuple[str, ...]) -> list[str]:
    """``names`` in the order of ``STEPS``, the order their patches are applied in."""
    position = {name: n for n, name in enumerate(BY_NAME)}
    return sorted(dict.fromkeys(names), key=position.__getitem__)
