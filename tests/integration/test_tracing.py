"""W3C trace context end to end, and OpenTelemetry spans to a real OTLP/HTTP receiver."""

from __future__ import annotations

import gzip
import threading
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Iterator

import pytest
import requests
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tests.harness import Backend, Gateway, Process, wait_for

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT = f"00-{TRACE}-00f067aa0ba902b7-01"


def test_the_trace_continues_through_the_gateway_to_the_backend(procs: list[Process], log_dir: Path) -> None:
    calculator = Backend("calculator", log_dir, args=("--log-calls",))
    cache = Backend("cache", log_dir)
    procs += [calculator, cache]
    gw = Gateway(log_dir, [calculator.address], [cache.address])
    procs.append(gw)
    r = requests.get(f"{gw.url}/add/1/2", headers={"traceparent": PARENT, "tracestate": "vendor=x"})
    assert r.json() == {"result": 3}
    version, trace, span, flags = r.headers["traceparent"].split("-")
    assert (version, trace, flags) == ("00", TRACE, "01") and span != "00f067aa0ba902b7"  # the gateway's own span
    wait_for(lambda: calculator.search(rf"call add from 127\.0\.0\.1 request_id=\S+ trace_id={TRACE} "), 10,
             "the backend's log line with the trace id")
    # No traceparent, or one that is invalid: a new trace starts.
    for headers in ({}, {"traceparent": "00-" + "0" * 32 + "-00f067aa0ba902b7-01"}, {"traceparent": "garbage"}):
        started = requests.get(f"{gw.url}/add/1/2", headers=headers).headers["traceparent"]
        assert len(started.split("-")[1]) == 32 and started.split("-")[1] not in (TRACE, "0" * 32)


class _Receiver(BaseHTTPRequestHandler):
    spans: list[dict[str, Any]] = []

    def do_POST(self) -> None:  # noqa: N802 - the handler's name
        data = self.rfile.read(int(self.headers["Content-Length"]))
        encoding = self.headers.get("Content-Encoding", "")
        if encoding == "gzip":
            data = gzip.decompress(data)
        elif encoding == "deflate":
            data = zlib.decompress(data)
        request = ExportTraceServiceRequest.FromString(data)
        for resource_spans in request.resource_spans:
            service = next(a.value.string_value for a in resource_spans.resource.attributes if a.key == "service.name")
            for scope in resource_spans.scope_spans:
                for span in scope.spans:
                    attributes = {a.key: a.value.string_value or a.value.int_value for a in span.attributes}
                    self.spans.append({"service": service, "name": span.name, "kind": span.kind,
                                       "trace": span.trace_id.hex(), "id": span.span_id.hex(),
                                       "parent": span.parent_span_id.hex(), "error": span.status.code == 2,
                                       "attributes": attributes})
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    _Receiver.spans = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", _Receiver.spans
    server.shutdown()


def test_spans_from_the_gateway_and_the_backend_share_the_trace(procs: list[Process], log_dir: Path,
                                                                receiver: tuple[str, list[dict[str, Any]]],
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    endpoint, spans = receiver
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "100")
    calculator = Backend("calculator", log_dir, args=("--log-calls",))
    cache = Backend("cache", log_dir)
    procs += [calculator, cache]
    gw = Gateway(log_dir, [calculator.address], [cache.address])
    procs.append(gw)
    r = requests.get(f"{gw.url}/add/2/3", headers={"traceparent": PARENT})
    assert r.json() == {"result": 5}
    assert requests.get(f"{gw.url}/calc/divide/1/0", headers={"traceparent": PARENT}).status_code == 400

    def of(service: str, name: str) -> list[dict[str, Any]]:
        return [s for s in spans if s["service"] == service and s["name"] == name and s["trace"] == TRACE]

    wait_for(lambda: of("gateway", "GET /add/<a>/<b>") and of("gateway", "calculator/add")
             and of("calculator", "Calculator/add") and of("calculator", "Calculator/divide"), 20,
             "the spans of both requests at the receiver")
    http, client, served = of("gateway", "GET /add/<a>/<b>")[0], of("gateway", "calculator/add")[0], \
        of("calculator", "Calculator/add")[0]
    assert http["kind"] == 2 and client["kind"] == 3 and served["kind"] == 2  # SERVER, CLIENT, SERVER
    assert http["parent"] == "00f067aa0ba902b7" and client["parent"] == http["id"] and served["parent"] == client["id"]
    assert r.headers["traceparent"].split("-")[2] == http["id"]
    assert client["attributes"]["rpc.system"] == "thrift" and client["attributes"]["rpc.method"] == "add"
    assert client["attributes"]["rpc.service"] == "calculator"
    assert client["attributes"]["server.address"] == "127.0.0.1"
    assert client["attributes"]["server.port"] == calculator.port
    assert served["attributes"]["rpc.service"] == "Calculator" and http["attributes"]["http.response.status_code"] == 200
    assert not client["error"] and of("gateway", "calculator/divide")[0]["error"]  # division by zero failed
    assert of("calculator", "Calculator/divide")[0]["error"]
    assert calculator.search(rf"trace_id={TRACE} ")
