"""Prometheus metrics, summed over every Gunicorn worker.

Under Gunicorn ``PROMETHEUS_MULTIPROC_DIR`` is set (``gunicorn.conf.py`` makes one) and
each worker writes its figures to files there; ``render`` merges them. Without it (a
single process, as in unit tests) the default registry is used.
"""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client import multiprocess

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
    "Thrift calls to backends, by outcome (ok, a declared exception's name, or an error code).",
    ["backend", "method", "outcome"],
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


def render() -> tuple[bytes, str]:
    """The exposition text of every metric and its content type."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    return generate_latest(registry), CONTENT_TYPE_LATEST
