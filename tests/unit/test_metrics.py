from __future__ import annotations

from prometheus_client import REGISTRY

from gateway import metrics


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_batched_figures_match_what_observe_would_have_written() -> None:
    labels = {"backend": "unit", "method": "m"}
    for seconds in (0.0001, 0.0005, 0.003, 0.003, 20.0):
        metrics.thrift_call("unit", "127.0.0.1:1", "m", "ok", seconds)
    assert sample("gateway_thrift_calls_total", outcome="ok", address="127.0.0.1:1", **labels) == 0  # not yet written
    metrics.flush()
    assert sample("gateway_thrift_calls_total", outcome="ok", address="127.0.0.1:1", **labels) == 5
    assert sample("gateway_thrift_call_duration_seconds_count", **labels) == 5
    assert sample("gateway_thrift_call_duration_seconds_sum", **labels) == 0.0001 + 0.0005 + 0.003 + 0.003 + 20.0
    # Buckets are cumulative in the exposition: le=0.0005 holds 0.0001 and 0.0005 itself.
    assert sample("gateway_thrift_call_duration_seconds_bucket", le="0.0005", **labels) == 2
    assert sample("gateway_thrift_call_duration_seconds_bucket", le="0.005", **labels) == 4
    assert sample("gateway_thrift_call_duration_seconds_bucket", le="10.0", **labels) == 4
    assert sample("gateway_thrift_call_duration_seconds_bucket", le="+Inf", **labels) == 5
    metrics.flush()  # nothing pending: nothing changes
    assert sample("gateway_thrift_calls_total", outcome="ok", address="127.0.0.1:1", **labels) == 5


def test_render_writes_pending_figures_first() -> None:
    metrics.http_request("/unit", "GET", "200", 0.01)
    text = metrics.render()[0].decode()
    assert 'gateway_http_requests_total{method="GET",route="/unit",status="200"} 1.0' in text
