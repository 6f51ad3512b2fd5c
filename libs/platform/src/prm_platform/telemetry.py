"""Traces (OpenTelemetry) and JSON logs, off unless ``PRM_TELEMETRY`` is on.

On, every process (API, gateway, worker) sends its spans to an OTLP/HTTP endpoint configured
by the standard variables (``OTEL_EXPORTER_OTLP_ENDPOINT``, ``OTEL_EXPORTER_OTLP_HEADERS``,
``OTEL_TRACES_SAMPLER``, ``OTEL_BSP_SCHEDULE_DELAY``, ...; ``OTEL_SERVICE_NAME`` overrides the
name from the service's declaration). One API request is one trace across the stack: the
FastAPI span, its SQL, the ``outbox`` span of each event it records (whose context the event's
envelope carries as ``traceparent``), the relay's ``send`` to the broker (a child of that
context, which also goes into the Kafka record's headers), the ``apply`` span of every
consumer that applies the event (a child of the send; the events a handler records continue
the same trace), and the webhook delivery.

A client span (SQL, HTTP) with no parent is not recorded: the polling loops of the workers
(the relay's, the dispatcher's, the scheduler's) would otherwise send a trace per poll.

Off, nothing is set up: callers check ``enabled()`` (a module global) before doing anything,
and ``span`` hands back one shared no-op context manager.

Logs are one JSON object a line (``time``, ``level``, ``logger``, ``message``, ``service``,
``trace_id``, ``span_id``, ``request_id``, and the ``exc_info`` of an error) when
``PRM_LOG_FORMAT`` is ``json``, or ``auto`` (the default) with telemetry on.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.sampling import Decision, Sampler, SamplingResult
from opentelemetry.trace import Link, Status, StatusCode
from opentelemetry.trace import SpanKind as SpanKind  # for callers
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from opentelemetry.util.types import Attributes
from pythonjsonlogger.json import JsonFormatter

from prm_platform.problems import this_request_id

if TYPE_CHECKING:
    import httpx
    from fastapi import FastAPI
    from sqlalchemy.ext.asyncio import AsyncEngine

    from prm_platform.settings import ServiceSettings

_tracer: trace.Tracer | None = None
_provider: TracerProvider | None = None
_W3C = TraceContextTextMapPropagator()
_NOTHING: contextlib.nullcontext[None] = contextlib.nullcontext()
# Not traced as requests: probes and scrapes.
_UNTRACED_PATHS = "/healthz,/readyz,/metrics"


def enabled() -> bool:
    return _tracer is not None


class NoOrphanClientSpans(Sampler):
    """Drops a client span (a query, an outgoing call) that has no parent; anything else is
    for the configured sampler (``OTEL_TRACES_SAMPLER``, parent-based always-on by default)."""

    def __init__(self, configured: Sampler) -> None:
        self.configured = configured

    def should_sample(self, parent_context: otel_context.Context | None, trace_id: int,
                      name: str, kind: SpanKind | None = None,
                      attributes: Attributes = None, links: Sequence[Link] | None = None,
                      trace_state: trace.TraceState | None = None) -> SamplingResult:
        if kind is SpanKind.CLIENT and not trace.get_current_span(
                parent_context).get_span_context().is_valid:
            return SamplingResult(Decision.DROP)
        return self.configured.should_sample(parent_context, trace_id, name, kind, attributes,
                                             links, trace_state)

    def get_description(self) -> str:
        return f"NoOrphanClientSpans{{{self.configured.get_description()}}}"


def start_tracing(service: str, exporter: SpanExporter | None = None) -> None:
    """Send this process's spans (to OTLP/HTTP unless ``exporter`` is given), as ``service``.
    Once per process: a second call changes nothing."""
    global _tracer, _provider
    if _provider is not None:
        return
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    attributes = {} if os.environ.get("OTEL_SERVICE_NAME") else {"service.name": service}
    provider = TracerProvider(resource=Resource.create(attributes))
    provider.sampler = NoOrphanClientSpans(provider.sampler)
    # OTEL_TRACES_EXPORTER=none: spans for the ids in the log lines, sent nowhere (no collector).
    if exporter is not None or os.environ.get("OTEL_TRACES_EXPORTER", "").lower() != "none":
        provider.add_span_processor(BatchSpanProcessor(exporter or OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    _provider = provider
    _tracer = provider.get_tracer("prm")


def stop_tracing() -> None:
    """Export what is left and trace no more (a test that traced in-process). OpenTelemetry's
    global provider stays the first one set: instrumentations started later in the process
    would send to a stopped provider, ours start afresh."""
    global _tracer, _provider
    if _provider is not None:
        _provider.shutdown()
    _tracer = _provider = None


def flush(timeout_millis: int = 5000) -> None:
    """Export what is buffered (a process about to exit; the provider also does at exit)."""
    if _provider is not None:
        _provider.force_flush(timeout_millis)


def setup(service: str, settings: ServiceSettings) -> None:
    """What a process does first: JSON logs if asked for, traces if telemetry is on."""
    if settings.json_logs():
        log_json(service)
    if settings.telemetry:
        start_tracing(service)


# -- spans ----------------------------------------------------------------------------------

def traceparent(of: trace.Span | None = None) -> str | None:
    """The W3C ``traceparent`` of ``of`` (the current span by default), None if none."""
    span = of if of is not None else trace.get_current_span()
    carrier: dict[str, str] = {}
    _W3C.inject(carrier, trace.set_span_in_context(span))
    return carrier.get("traceparent")


def context_of(traceparent: str | None) -> otel_context.Context | None:
    """The context a ``traceparent`` names (None if absent or malformed: a new trace)."""
    if not traceparent:
        return None
    extracted = _W3C.extract({"traceparent": traceparent})
    return extracted if trace.get_current_span(extracted).get_span_context().is_valid else None


def links_to(traceparents: Iterable[str | None]) -> list[Link]:
    """Links to the spans the traceparents name (those absent or malformed left out)."""
    links = []
    for each in traceparents:
        if (context := context_of(each)) is not None:
            links.append(Link(trace.get_current_span(context).get_span_context()))
    return links


def current_link() -> list[Link]:
    """A link to the current span (none if there is none)."""
    context = trace.get_current_span().get_span_context()
    return [Link(context)] if context.is_valid else []


def span(name: str, *, parent: str | None = None, kind: SpanKind = SpanKind.INTERNAL,
         attributes: Mapping[str, Any] | None = None, links: Sequence[Link] = ()
         ) -> contextlib.AbstractContextManager[Any]:
    """A span around the block, the current one inside it: a child of ``parent`` (a
    traceparent) when given, else of the current span. A no-op while telemetry is off."""
    if _tracer is None:
        return _NOTHING
    context = context_of(parent) if parent else None
    return _tracer.start_as_current_span(name, context=context, kind=kind,
                                         attributes=attributes, links=links)


def start_span(name: str, *, parent: str | None = None, kind: SpanKind = SpanKind.INTERNAL,
               attributes: Mapping[str, Any] | None = None) -> trace.Span:
    """A span the caller ends (``end(span, error)``), not made current: one of many in
    flight at once (a relay's sends). Only while telemetry is on."""
    assert _tracer is not None, "telemetry is off"
    return _tracer.start_span(name, context=context_of(parent), kind=kind,
                              attributes=attributes)


def failed(span: trace.Span, description: str) -> None:
    span.set_status(Status(StatusCode.ERROR, description[:200]))


def end(span: trace.Span, error: BaseException | None = None) -> None:
    if error is not None:
        span.record_exception(error)
        failed(span, repr(error))
    span.end()


def mark(name: str, *, kind: SpanKind = SpanKind.INTERNAL,
         attributes: Mapping[str, Any] | None = None) -> str | None:
    """A span of an instant under the current one (an event recorded in the outbox); its
    traceparent, for what carries the trace on. None while telemetry is off."""
    if _tracer is None:
        return None
    marked = _tracer.start_span(name, kind=kind, attributes=attributes)
    marked.end()
    return traceparent(marked)


# -- instrumentations ------------------------------------------------------------------------

def trace_app(app: FastAPI) -> None:
    """A server span per request (the route template as its name), not for probes."""
    if _tracer is None:
        return
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    # The request id the answer carries (the client's, the edge's or a new one), to go from a
    # span to the log lines and the problem a client quotes.
    FastAPIInstrumentor.instrument_app(app, excluded_urls=_UNTRACED_PATHS,
                                       exclude_spans=["receive", "send"],
                                       http_capture_headers_server_response=["x-request-id"])


def trace_engine(engine: AsyncEngine) -> None:
    """A client span per SQL statement of ``engine`` (the statement, never its values)."""
    if _tracer is None:
        return
    from opentelemetry.instrumentation.sqlalchemy.engine import EngineTracer
    from opentelemetry.metrics import get_meter

    # SQLAlchemyInstrumentor instruments once per process; its tracer of each engine instead
    # (a process may make several). Pool usage is a metric: a no-op meter here, Prometheus
    # counts the pools (prm_platform.metrics).
    usage = get_meter("prm").create_up_down_counter("db.client.connections.usage")
    EngineTracer(_tracer, engine.sync_engine, usage)  # type: ignore[no-untyped-call]


def trace_client(client: httpx.AsyncClient) -> None:
    """A client span per call of ``client``, whose context goes with the request."""
    if _tracer is None:
        return
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

    HTTPXClientInstrumentor.instrument_client(client)


# -- logs -------------------------------------------------------------------------------------

class TraceIds(logging.Filter):
    """Adds the current trace id, span id and request id to every record (None if none)."""

    def filter(self, record: logging.LogRecord) -> bool:
        context = trace.get_current_span().get_span_context()
        if context.is_valid:
            record.trace_id = format(context.trace_id, "032x")
            record.span_id = format(context.span_id, "016x")
        else:
            record.trace_id = record.span_id = None
        record.request_id = this_request_id()
        return True


def json_handler(service: str, stream: Any = None) -> logging.Handler:
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter(
        ["levelname", "name", "message"], rename_fields={"levelname": "level", "name": "logger"},
        timestamp="time", static_fields={"service": service}))
    handler.addFilter(TraceIds())
    return handler


def log_json(service: str, level: int = logging.INFO) -> None:
    """Every log line of this process one JSON object on stderr, uvicorn's included."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    root.addHandler(json_handler(service))
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
