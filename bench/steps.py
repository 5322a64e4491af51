"""The steps of the gateway's ``GET /add`` that ``make breakdown`` switches off one at a time.

``bench/layers_app.py`` switches a step off when started with ``BENCH_OFF=<name>``;
``bench/breakdown.py`` starts one gateway per step, with the environment the step needs
besides. Kept apart from both so that the breakdown can read the table without making
an app.
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
    Step("access_log", 'no access log (GATEWAY_ACCESS_LOG="")', env=(("GATEWAY_ACCESS_LOG", ""),)),
    Step("metrics", "gateway.metrics.http_request and thrift_call are no-ops",
         note="thrift_call is also part of service"),
    Step("ids", "the request id, trace id and span id are constants, not random"),
    Step("call_headers", "handlers.call_headers returns None: no request id or traceparent THeader headers "
         "(Deadline-Budget is still sent: Service._attempt hands the pool {})",
         summed=False, note="part of theader"),
    Step("theader", "the THeader format: plain framed transport (?transport=framed), so no headers at all, "
         "and call_headers off", framed=True, note="includes call_headers"),
    Step("deadline_timer", "no gevent timer per call in ConnectionPool.round_trip (its Timeout a no-op)"),
    Step("reuse_check", "ThriftConnection.is_reusable is True without looking at the socket"),
    Step("service", "Service.invoke goes straight to the first pool's round_trip: no deadline arithmetic, "
         "balancer pick, retry budget, per-call metric or access-log note",
         note="its per-call metric is also part of metrics"),
    Step("routing", "RouteTable.match memoised per (method, path)"),
    Step("gc", "the garbage collector disabled (gc.disable()) once the app is made"),
    Step("upstream", "the whole Thrift side: Service.invoke for calculator/add is the minimal pooled call "
         "(bench/pooled_app.py's Apache client from its deque)",
         summed=False, note="contains service, deadline_timer, reuse_check, theader and part of metrics"),
)
BY_NAME = {step.name: step for step in STEPS}
