"""Prometheus metrics, summed over every Gunicorn worker.

Under Gunicorn ``PROMETHEUS_MULTIPROC_DIR`` is set (``gunicorn.conf.py`` makes one) and
each worker writes its figures to files there; ``render`` merges them. Without it (a
single process, as in unit tests) the default registry is used.
"""

from __future__ import annotations

import os
from bisect import bisect_left
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

# Latency buckets in seconds, from a sub-millisecond cache hit to the default call timeout.
_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

HTTP_REQUESTS = Counter(
    "gateway_http_requests_total", "HTTP requests answered, by route and status.", ["route", "method", "status"]
)
HTTP_LATENCY = Histogram(
    "gateway_http_request_duration_seconds", "Time to answer an HTTP request.", ["route"], buckets=_BUCKETS
)
THRIFT_CALLS = Counter(
    "gateway_thrift_calls_total",
    "Thrift calls to backends, by instance and outcome (ok, a declared exception's name, or an error code).",
    ["backend", "address", "method", "outcome"],
)
EJECTIONS = Counter(
    "gateway_backend_ejections_total", "Times a backend instance was taken out of service after failures.",
    ["backend", "address"],
)
RETRIES = Counter(
    "gateway_backend_retries_total", "Calls retried on another instance after a connection failure.", ["backend"]
)
THRIFT_LATENCY = Histogram(
    "gateway_thrift_call_duration_seconds", "Time of one Thrift call, checkout included.",
    ["backend", "method"], buckets=_BUCKETS,
)
POOL_CONNECTIONS = Gauge(
    "gateway_pool_connections",
    "Pooled Thrift connections by state (in_use, idle), summed over live workers.",
    ["backend", "address", "state"],
    multiprocess_mode="livesum",
)


class _Pending:
    """This worker's counts and latencies not yet written to the shared metric files.

    In multiprocess mode every ``inc``/``observe`` takes a lock, checks the pid and
    writes to a memory-mapped file: with six of them per request that was about a tenth
    of the gateway's CPU (bench/results.md). On the request path we only append to
    lists and add to plain dicts; ``flush`` writes the sums, every second and whenever
    /metrics is answered.
    """

    def __init__(self) -> None:
        self.counts: dict[tuple[Any, tuple[str, ...]], int] = {}
        # (histogram, labels) -> [count per bucket..., sum of observations]
        self.observations: dict[tuple[Any, tuple[str, ...]], list[float]] = {}
        # What every request and every call records: its labels and its time, appended.
        # They are sorted into counters and histograms at ``flush``, all in one loop: code
        # that runs in a burst stays in the CPU's caches, where a little of it on every
        # request ran cold - the same bookkeeping cost two to three times as much there.
        self.requests: list[tuple[str, str, str, float]] = []  # route, method, status, seconds
        self.calls: list[tuple[str, str, str, str, float]] = []  # backend, address, method, outcome, seconds

    def count(self, metric: Any, labels: tuple[str, ...]) -> None:
        _count(self.counts, metric, labels)

    def flush(self) -> None:
        counts, self.counts = self.counts, {}
        observations, self.observations = self.observations, {}
        requests, self.requests = self.requests, []
        calls, self.calls = self.calls, []
        for route, method, status, seconds in requests:
            _count(counts, HTTP_REQUESTS, (route, method, status))
            _observe(observations, HTTP_LATENCY, (route,), seconds)
        for backend, address, method, outcome, seconds in calls:
            _count(counts, THRIFT_CALLS, (backend, address, method, outcome))
            _observe(observations, THRIFT_LATENCY, (backend, method), seconds)
        for (metric, labels), n in counts.items():
            metric.labels(*labels).inc(n)
        for (metric, labels), slots in observations.items():
            child = metric.labels(*labels)
            # prometheus_client has no "observe n times"; these are the values its own
            # observe() increments (one per bucket, not cumulative, and the sum).
            for bucket, n in zip(child._buckets, slots[:-1], strict=True):
                if n:
                    bucket.inc(n)
            child._sum.inc(slots[-1])


def _count(counts: dict[tuple[Any, tuple[str, ...]], int], metric: Any, labels: tuple[str, ...]) -> None:
    key = (metric, labels)
    counts[key] = counts.get(key, 0) + 1


def _observe(observations: dict[tuple[Any, tuple[str, ...]], list[float]], metric: Any, labels: tuple[str, ...],
             seconds: float) -> None:
    key = (metric, labels)
    slots = observations.get(key)
    if slots is None:
        slots = observations[key] = [0.0] * (len(_BOUNDS) + 1)
    slots[bisect_left(_BOUNDS, seconds)] += 1  # the first bucket whose bound >= seconds
    slots[-1] += seconds


# Records kept between flushes at most (a process that never flushes must not grow without bound).
_MAX_PENDING = 100_000


_BOUNDS = (*_BUCKETS, float("inf"))
_pending = _Pending()
flush = _pending.flush


# The methods counted by name; any other a client sends (it may send any token) counts as
# one value, so that no client can grow /metrics without bound.
_KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"})


def http_request(route: str, method: str, status: str, seconds: float) -> None:
    if method not in _KNOWN_METHODS:
        method = "other"
    _pending.requests.append((route, method, status, seconds))
    if len(_pending.requests) > _MAX_PENDING:
        flush()


def thrift_call(backend: str, address: str, method: str, outcome: str, seconds: float) -> None:
    _pending.calls.append((backend, address, method, outcome, seconds))
    if len(_pending.calls) > _MAX_PENDING:
        flush()


def ejection(backend: str, address: str) -> None:
    _pending.count(EJECTIONS, (backend, address))


def retry(backend: str) -> None:
    _pending.count(RETRIES, (backend,))


def pool_connections(backend: str, address: str, in_use: int, idle: int) -> None:
    POOL_CONNECTIONS.labels(backend, address, "in_use").set(in_use)
    POOL_CONNECTIONS.labels(backend, address, "idle").set(idle)


def render() -> tuple[bytes, str]:
    """The exposition text of every metric and its content type."""
    flush()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    return generate_latest(registry), CONTENT_TYPE_LATEST
