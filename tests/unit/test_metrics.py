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


def test_a_histogram_sums_every_counter_entry_that_shares_its_labels() -> None:
    # Requests are kept per (route, method, status) and calls per (backend, address,
    # method, outcome); the latency histograms have fewer labels and add them up.
    metrics.http_request("/sum", "GET", "200", 0.002)
    metrics.http_request("/sum", "GET", "404", 0.002)
    metrics.http_request("/sum", "POST", "200", 0.2)
    metrics.thrift_call("summed", "127.0.0.1:1", "m", "ok", 0.001)
    metrics.thrift_call("summed", "127.0.0.1:2", "m", "backend_timeout", 5.0)
    metrics.flush()
    assert sample("gateway_http_requests_total", route="/sum", method="GET", status="404") == 1
    assert sample("gateway_http_request_duration_seconds_count", route="/sum") == 3
    assert sample("gateway_http_request_duration_seconds_bucket", route="/sum", le="0.0025") == 2
    assert sample("gateway_http_request_duration_seconds_sum", route="/sum") == 0.002 + 0.002 + 0.2
    assert sample("gateway_thrift_calls_total", backend="summed", address="127.0.0.1:2", method="m",
                  outcome="backend_timeout") == 1
    assert sample("gateway_thrift_call_duration_seconds_count", backend="summed", method="m") == 2
    assert sample("gateway_thrift_call_duration_seconds_bucket", backend="summed", method="m", le="0.001") == 1


def test_records_never_pile_up_where_nothing_flushes(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(metrics, "_MAX_PENDING", 3)
    for _ in range(4):
        metrics.http_request("/piled", "GET", "200", 0.001)
    assert metrics._pending.requests == []  # the fourth wrote them all
    assert sample("gateway_http_requests_total", route="/piled", method="GET", status="200") == 4
