"""telemetry/tracing.py in-process: ``traceparent`` parsing by W3C Trace Context's rules,
the spans ``IdsOnly`` makes (ids carried on, nothing recorded), and which tracer the
``OTEL_*`` variables choose.

The integration test (test_tracing.py) follows one trace from an HTTP client through the
gateway to a backend and into a collector; these check every header that should or should
not continue a trace, without a process.
"""

from __future__ import annotations

import re

import pytest

from telemetry.tracing import IdsOnly, Otel, Tracer, parse

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT = "00f067aa0ba902b7"
VALID = f"00-{TRACE}-{PARENT}-01"
TRACEPARENT = re.compile(r"00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})")


# parse ----------------------------------------------------------------------------------------

def test_a_valid_traceparent_gives_its_trace_parent_and_flags() -> None:
    assert parse(VALID) == (TRACE, PARENT, "01")


def test_flags_are_carried_as_sent() -> None:
    assert parse(f"00-{TRACE}-{PARENT}-00") == (TRACE, PARENT, "00")  # not sampled
    assert parse(f"00-{TRACE}-{PARENT}-03") == (TRACE, PARENT, "03")


def test_surrounding_whitespace_is_not_part_of_the_value() -> None:
    # HTTP's optional whitespace around a field value (RFC 9110 5.5).
    assert parse(f"  {VALID}\t") == (TRACE, PARENT, "01")


@pytest.mark.parametrize("header", [None, "", "   "])
def test_no_traceparent_is_none(header: str | None) -> None:
    assert parse(header) is None


@pytest.mark.parametrize("header", [
    f"00-{'0' * 32}-{PARENT}-01",  # all-zero trace id: invalid
    f"00-{TRACE}-{'0' * 16}-01",  # all-zero parent id: invalid
    f"00-{TRACE.upper()}-{PARENT}-01",  # ids are lower-case hex
    f"00-{TRACE}-{PARENT.upper()}-01",
    f"00-{TRACE}-{PARENT}-0A",
    f"00-{TRACE[:-1]}-{PARENT}-01",  # a digit short
    f"00-{TRACE}0-{PARENT}-01",  # a digit too many
    f"00-{TRACE}-{PARENT[:-1]}-01",
    f"00-{TRACE}-{PARENT}-1",
    f"00-{TRACE[:-1]}g-{PARENT}-01",  # not hex
    f"00-{TRACE}-{PARENT}-zz",
    f"00_{TRACE}_{PARENT}_01",  # the separators are dashes
    f"00-{TRACE}-{PARENT}",  # no flags
    f"00-{TRACE}-{PARENT}-01-extra",  # version 00 is exactly 55 characters
    f"00-{TRACE}-{PARENT}-01 {VALID}",  # two values folded into one
    f"ff-{TRACE}-{PARENT}-01",  # version ff is forbidden
    f"0-{TRACE}-{PARENT}-01",
    f"000-{TRACE}-{PARENT}-01",
    "garbage",
])
def test_an_invalid_traceparent_is_none(header: str) -> None:
    assert parse(header) is None


@pytest.mark.parametrize("header", [f"01-{TRACE}-{PARENT}-01", f"01-{TRACE}-{PARENT}-01-what-the-future-adds"])
def test_a_later_version_continues_the_trace(header: str) -> None:
    assert parse(header) == (TRACE, PARENT, "01")


# IdsOnly spans --------------------------------------------------------------------------------

def test_ids_only_records_nothing() -> None:
    tracer = IdsOnly()
    assert tracer.exporting is False
    span = tracer.server("GET", None, None, **{"http.request.method": "GET"})
    span.end()
    span.end(ValueError("x"), name="GET /add", extra=1)  # ending is free, and says nothing
    tracer.shutdown()


@pytest.mark.parametrize("kind", ["server", "client"])
def test_a_span_continues_its_parents_trace_as_a_new_span(kind: str) -> None:
    span = getattr(IdsOnly(), kind)("op", f"00-{TRACE}-{PARENT}-00", "vendor=1")
    found = TRACEPARENT.fullmatch(span.traceparent)
    assert found is not None
    trace_id, span_id, flags = found.groups()
    assert trace_id == TRACE == span.trace_id
    assert span_id not in (PARENT, "0" * 16)  # its own id, the parent's child
    assert flags == "00"  # the caller's sampling decision stands
    assert span.tracestate == "vendor=1"  # carried on with the trace it belongs to


def test_each_span_of_one_parent_has_its_own_id() -> None:
    tracer = IdsOnly()
    spans = [tracer.client("call", VALID, None) for _ in range(50)]
    assert len({s.traceparent for s in spans}) == 50
    assert {s.trace_id for s in spans} == {TRACE}


@pytest.mark.parametrize("parent", [None, "", "garbage", f"00-{'0' * 32}-{PARENT}-01", f"ff-{TRACE}-{PARENT}-01"])
def test_without_a_valid_parent_a_new_sampled_trace_starts(parent: str | None) -> None:
    span = IdsOnly().server("GET", parent, "vendor=1")
    found = TRACEPARENT.fullmatch(span.traceparent)
    assert found is not None
    trace_id, span_id, flags = found.groups()
    assert trace_id == span.trace_id and trace_id not in (TRACE, "0" * 32)
    assert span_id != "0" * 16 and flags == "01"
    # Trace Context 3.3: a tracestate without a valid traceparent is discarded.
    assert span.tracestate is None


def test_new_traces_are_different_traces() -> None:
    tracer = IdsOnly()
    assert len({tracer.server("GET", None, None).trace_id for _ in range(50)}) == 50


def test_a_span_is_the_parent_of_what_it_calls() -> None:
    # The gateway's server span hands its traceparent to each Thrift call's client span,
    # and the backend's server span continues from that: one trace, three spans.
    tracer = IdsOnly()
    server = tracer.server("GET", VALID, "a=1")
    client = tracer.client("calculator.add", server.traceparent, server.tracestate)
    backend = tracer.server("add", client.traceparent, client.tracestate)
    assert server.trace_id == client.trace_id == backend.trace_id == TRACE
    assert backend.tracestate == "a=1"
    assert len({server.traceparent, client.traceparent, backend.traceparent}) == 3


# Tracer.from_environment ----------------------------------------------------------------------

OTEL_VARIABLES = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_SDK_DISABLED",
                  "OTEL_TRACES_EXPORTER", "OTEL_SERVICE_NAME")


@pytest.fixture
def otel_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """The environment without any OTEL_* variable the runner may have set."""
    for name in OTEL_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


@pytest.mark.parametrize("env", [
    {},
    {"OTEL_EXPORTER_OTLP_ENDPOINT": ""},
    {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", "OTEL_SDK_DISABLED": "true"},
    {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", "OTEL_SDK_DISABLED": "TRUE"},
    {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:4318/v1/traces", "OTEL_TRACES_EXPORTER": "none"},
    {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", "OTEL_TRACES_EXPORTER": "None"},
], ids=["nothing", "empty-endpoint", "sdk-disabled", "sdk-disabled-upper", "exporter-none", "exporter-none-mixed"])
def test_ids_only_unless_an_endpoint_is_configured_and_enabled(otel_env: pytest.MonkeyPatch, env: dict[str, str]
                                                                ) -> None:
    for name, value in env.items():
        otel_env.setenv(name, value)
    assert isinstance(Tracer.from_environment("gateway"), IdsOnly)


@pytest.mark.parametrize("variable", ["OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"])
def test_an_otlp_endpoint_turns_the_sdk_on(otel_env: pytest.MonkeyPatch, variable: str) -> None:
    # Made and shut down without a span: nothing is exported, no connection is made.
    otel_env.setenv(variable, "http://127.0.0.1:9/v1/traces")
    otel_env.setenv("OTEL_SDK_DISABLED", "false")
    tracer = Tracer.from_environment("gateway")
    try:
        assert isinstance(tracer, Otel) and tracer.exporting
        # Its spans carry the same trace context as IdsOnly's: the parent's trace, a
        # new span id, the caller's flags and tracestate (unended: never exported).
        span = tracer.server("GET", f"00-{TRACE}-{PARENT}-01", "vendor=1")
        found = TRACEPARENT.fullmatch(span.traceparent)
        assert found is not None and found.group(1) == TRACE == span.trace_id
        assert found.group(2) != PARENT and found.group(3) == "01"
        assert span.tracestate == "vendor=1"
        fresh = tracer.client("call", "garbage", "vendor=1")
        assert fresh.trace_id != TRACE and fresh.tracestate is None
    finally:
        tracer.shutdown()
