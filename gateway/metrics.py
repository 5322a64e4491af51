"""Prometheus metrics, summed over every Gunicorn worker.

Under Gunicorn ``PROMETHEUS_MULTIPROC_DIR`` is set (``gunicorn.conf.py`` makes one) and
each worker writes its figures to files there; ``render`` merges them. Without it (a
single process, as in unit tests) the default registry is used.
"""

from __future__ import annotations

import os
from typing import Any

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


class _Children:
    """A labelled metric's children, looked up once per label combination: ``labels()``
    validates and locks on every call, which showed in profiles of the request path."""

    __slots__ = ("_metric", "_children")

    def __init__(self, metric: Any) -> None:
        self._metric = metric
        self._children: dict[tuple[str, ...], Any] = {}

    def __call__(self, *labels: str) -> Any:
        child = self._children.get(labels)
        if child is None:
            child = self._children[labels] = self._metric.labels(*labels)
        return child


_http_requests = _Children(HTTP_REQUESTS)
_http_latency = _Children(HTTP_LATENCY)
_thrift_calls = _Children(THRIFT_CALLS)
_thrift_latency = _Children(THRIFT_LATENCY)
_pool_connections = _Children(POOL_CONNECTIONS)


def http_request(route: str, method: str, status: str, seconds: float) -> None:
    _http_requests(route, method, status).inc()
    _http_latency(route).observe(seconds)


def thrift_call(backend: str, method: str, outcome: str, seconds: float) -> None:
    _thrift_calls(backend, method, outcome).inc()
    _thrift_latency(backend, method).observe(seconds)


def pool_connections(backend: str, address: str, in_use: int, idle: int) -> None:
    _pool_connections(backend, address, "in_use").set(in_use)
    _pool_connections(backend, address, "idle").set(idle)


def render() -> tuple[bytes, str]:
    """The exposition text of every metric and its content type."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    return generate_latest(registry), CONTENT_TYPE_LATEST
