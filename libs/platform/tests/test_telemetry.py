"""prm_platform.telemetry on its own: the sampler that drops parentless client spans, the JSON
log lines with their ids, and the trace context helpers. (The stack's traces end to end:
tests/observability/test_traces.py.)"""

from __future__ import annotations

import io
import json
import logging

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_ON
from opentelemetry.trace import SpanKind, Tracer

from prm_platform import problems, telemetry


def tracer_and_spans() -> tuple[Tracer, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(sampler=telemetry.NoOrphanClientSpans(ALWAYS_ON))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider.get_tracer("test"), exporter


def test_client_spans_without_a_parent_are_dropped() -> None:
    tracer, exporter = tracer_and_spans()
    with tracer.start_as_current_span("SELECT polling", kind=SpanKind.CLIENT):
        pass
    with tracer.start_as_current_span("POST /v1/deals", kind=SpanKind.SERVER):
        with tracer.start_as_current_span("INSERT", kind=SpanKind.CLIENT):
            pass
    with tracer.start_as_current_span("apply batch", kind=SpanKind.CONSUMER):
        pass
    assert sorted(s.name for s in exporter.get_finished_spans()) == [
        "INSERT", "POST /v1/deals", "apply batch"]


def test_a_log_line_is_json_with_the_trace_span_and_request_ids() -> None:
    tracer, _ = tracer_and_spans()
    stream = io.StringIO()
    logger = logging.getLogger("prm.test.telemetry")
    logger.propagate = False
    logger.addHandler(telemetry.json_handler("deals", stream))
    token = problems._request_id.set("req-42")
    try:
        with tracer.start_as_current_span("POST /v1/deals") as span:
            logger.warning("registered %s", "a deal")
            context = span.get_span_context()
        logger.warning("outside")
    finally:
        problems._request_id.reset(token)
        logger.handlers.clear()
    inside, outside = (json.loads(line) for line in stream.getvalue().splitlines())
    assert inside["message"] == "registered a deal"
    assert inside["level"] == "WARNING" and inside["logger"] == "prm.test.telemetry"
    assert inside["service"] == "deals" and inside["time"].endswith("+00:00")
    assert inside["trace_id"] == format(context.trace_id, "032x")
    assert inside["span_id"] == format(context.span_id, "016x")
    assert inside["request_id"] == "req-42"
    assert outside["trace_id"] is None and outside["span_id"] is None
    assert outside["request_id"] == "req-42"  # the same request, outside the span


def test_trace_context_round_trip() -> None:
    tracer, _ = tracer_and_spans()
    with tracer.start_as_current_span("outbox") as span:
        parent = telemetry.traceparent()
        context = span.get_span_context()
    assert parent == f"00-{context.trace_id:032x}-{context.span_id:016x}-{context.trace_flags:02x}"
    assert telemetry.context_of(parent) is not None
    assert telemetry.context_of("00-not-a-context") is None
    assert telemetry.context_of(None) is None
    assert [link.context.span_id for link in telemetry.links_to([parent, None, "junk"])] == [
        context.span_id]


def test_spans_without_export_when_the_exporter_is_none(monkeypatch) -> None:
    """OTEL_TRACES_EXPORTER=none: spans exist (their ids go into the log lines) and no
    processor sends them anywhere."""
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "none")
    telemetry.start_tracing("quiet")
    try:
        assert telemetry.enabled()
        assert telemetry.context_of(telemetry.mark("outbox prm.test.v1")) is not None
        assert telemetry._provider is not None
        assert not telemetry._provider._active_span_processor._span_processors
    finally:
        telemetry.stop_tracing()
    assert not telemetry.enabled()
