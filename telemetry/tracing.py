"""W3C trace context for Thrift calls, and spans for them when OpenTelemetry is set up.

Every process continues the trace its caller started: the gateway reads ``traceparent``
from HTTP (or starts a trace), sends each Thrift call's own ``traceparent`` in a THeader
header, and a backend continues it. ``Tracer.from_environment`` gives either
``IdsOnly`` - the ids and nothing else, which is all that costs while nobody collects
spans - or, when the standard ``OTEL_*`` variables name an OTLP endpoint, ``Otel``: the
OpenTelemetry SDK's spans (a SERVER span per HTTP request, a CLIENT span per Thrift call,
a SERVER span per call a backend serves, with OpenTelemetry's RPC attributes), exported
over OTLP/HTTP in the background by the SDK's batch processor.
"""

from __future__ import annotations

import os
import re
from typing import Any, Protocol

from telemetry.ids import new_span_id, new_trace_id

# version-trace id-parent id-flags, and for a later version what it may add after a dash.
_TRACEPARENT = re.compile(r"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?", re.DOTALL)


def parse(traceparent: str | None) -> tuple[str, str, str] | None:
    """(trace id, parent span id, flags) of a valid ``traceparent``; None for one that is
    absent or invalid (then a new trace starts, as the spec says). A later version than
    00 is read by its first 55 characters, as W3C Trace Context (4.3) asks, so the trace
    goes on; version ff is invalid, and 00 has nothing after its flags."""
    if not traceparent:
        return None
    match = _TRACEPARENT.fullmatch(traceparent.strip())
    if match is None or match.group(1) == "ff" or (match.group(1) == "00" and match.group(5) is not None):
        return None
    if match.group(2) == "0" * 32 or match.group(3) == "0" * 16:
        return None
    return match.group(2), match.group(3), match.group(4)


class Span(Protocol):
    trace_id: str
    traceparent: str  # this span as the parent of what it calls
    tracestate: str | None

    def end(self, error: BaseException | str | None = None, **attributes: Any) -> None: ...


class _IdSpan:
    __slots__ = ("trace_id", "traceparent", "tracestate")

    def __init__(self, parent: str | None, tracestate: str | None) -> None:
        found = parse(parent)
        trace_id, flags = (found[0], found[2]) if found else (new_trace_id(), "01")
        self.trace_id = trace_id
        self.traceparent = f"00-{trace_id}-{new_span_id()}-{flags}"
        self.tracestate = tracestate if found else None

    def end(self, error: BaseException | str | None = None, **attributes: Any) -> None:
        pass


class Tracer:
    """Where spans come from; ``IdsOnly`` or ``Otel``."""

    exporting = False

    def server(self, name: str, parent: str | None, tracestate: str | None, **attributes: Any) -> Span:
        raise NotImplementedError

    def client(self, name: str, parent: str | None, tracestate: str | None, **attributes: Any) -> Span:
        raise NotImplementedError

    def shutdown(self) -> None:
        pass

    @staticmethod
    def from_environment(service_name: str) -> Tracer:
        """``Otel`` when an OTLP endpoint is configured (and the SDK not disabled)."""
        configured = os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or os.environ.get(
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        if not configured or os.environ.get("OTEL_SDK_DISABLED", "").lower() == "true" or os.environ.get(
                "OTEL_TRACES_EXPORTER", "otlp").lower() == "none":
            return IdsOnly()
        return Otel(service_name)


class IdsOnly(Tracer):
    """Trace context carried on, no spans recorded: what tracing costs while it is off."""

    def server(self, name: str, parent: str | None, tracestate: str | None, **attributes: Any) -> Span:
        return _IdSpan(parent, tracestate)

    client = server


class Otel(Tracer):
    """The OpenTelemetry SDK, exporting over OTLP/HTTP as the ``OTEL_*`` variables say."""

    exporting = True

    def __init__(self, service_name: str) -> None:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
        from opentelemetry.trace import SpanKind
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

        # OTEL_SERVICE_NAME, when set, names the process; otherwise its role does.
        attributes = {} if os.environ.get("OTEL_SERVICE_NAME") else {"service.name": service_name}
        self._provider = TracerProvider(resource=Resource.create(attributes))
        self._provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        self._tracer = self._provider.get_tracer("thrift-gateway")
        self._propagator = TraceContextTextMapPropagator()
        self._kinds = {"server": SpanKind.SERVER, "client": SpanKind.CLIENT}

    def _start(self, kind: str, name: str, parent: str | None, tracestate: str | None, attributes: Any) -> Span:
        carrier = {"traceparent": parent} if parent else {}
        if parent and tracestate:
            carrier["tracestate"] = tracestate
        context = self._propagator.extract(carrier)
        span = self._tracer.start_span(name, context=context, kind=self._kinds[kind], attributes=attributes)
        return _OtelSpan(span)

    def server(self, name: str, parent: str | None, tracestate: str | None, **attributes: Any) -> Span:
        return self._start("server", name, parent, tracestate, attributes)

    def client(self, name: str, parent: str | None, tracestate: str | None, **attributes: Any) -> Span:
        return self._start("client", name, parent, tracestate, attributes)

    def shutdown(self) -> None:
        self._provider.shutdown()  # flushes what the batch processor still holds


class _OtelSpan:
    __slots__ = ("_span", "trace_id", "traceparent", "tracestate")

    def __init__(self, span: Any) -> None:
        context = span.get_span_context()
        self._span = span
        self.trace_id = "%032x" % context.trace_id
        self.traceparent = f"00-{self.trace_id}-{context.span_id:016x}-{int(context.trace_flags):02x}"
        state = context.trace_state.to_header() if context.trace_state else ""
        self.tracestate = state or None

    def end(self, error: BaseException | str | None = None, **attributes: Any) -> None:
        from opentelemetry.trace import Status, StatusCode

        if attributes:
            name = attributes.pop("name", None)
            if name:
                self._span.update_name(name)
            self._span.set_attributes(attributes)
        if error is not None:
            self._span.set_status(Status(StatusCode.ERROR, str(error)[:200]))
        self._span.end()
