"""Trace context through the outbox, the broker and a consumer's batch, in-process against the
real PostgreSQL and broker (telemetry on, spans kept in memory): the relay's send is a child of
the event's outbox span and its context rides in the record's headers; a batch's span links to
every event's send; each event's apply span is a child of its send, and what its handler
publishes continues that trace."""

import uuid
from collections.abc import Iterator

import pytest
from aiokafka import ConsumerRecord
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sqlalchemy import text

from prm_contracts import PartnerSnapshot, PartnerUpdatedV1
from prm_events.consumer import EventConsumer
from prm_events.envelope import CloudEvent
from prm_events.kafka import ensure_topics, make_consumer, make_producer
from prm_events.outbox import OutboxRelay, publish
from prm_platform import telemetry
from prm_platform.db import make_sessionmaker
from prm_platform.settings import ServiceSettings
from prm_stack.testing import scratch_schema

EFFECTS = "CREATE TABLE effects (event_id uuid NOT NULL, name text NOT NULL)"


def payload(name: str) -> PartnerUpdatedV1:
    snapshot = PartnerSnapshot(id=uuid.uuid4(), name=name, type="msp", country="DE",
                               status="active", version=1)
    return PartnerUpdatedV1(partner=snapshot, changed=["name"])


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    telemetry.start_tracing("events-test", exporter)
    try:
        yield exporter
    finally:
        telemetry.stop_tracing()


def hex_ids(span: ReadableSpan) -> tuple[str, str]:
    return format(span.context.trace_id, "032x"), format(span.context.span_id, "016x")


async def test_a_batch_links_its_events_and_each_trace_goes_on(prm_infra, spans) -> None:
    settings = ServiceSettings()
    producer = make_producer(settings)
    await producer.start()
    await ensure_topics(settings, [PartnerUpdatedV1.topic])
    async with scratch_schema(prm_infra, EFFECTS) as (engine, _):
        sessionmaker = make_sessionmaker(engine)
        # Three events, each recorded by a request of its own.
        recorded = []
        for name in ("one", "two", "three"):
            with telemetry.span(f"POST /{name}", kind=telemetry.SpanKind.SERVER):
                async with sessionmaker() as session:
                    event = await publish(session, payload(name), source="/test",
                                          aggregate_id=uuid.uuid4())
                    await session.commit()
            recorded.append(event)
        assert all(e.traceparent for e in recorded)
        assert await OutboxRelay(sessionmaker, producer).relay_once() == 3

        kafka_consumer = make_consumer(settings, f"group-{uuid.uuid4().hex[:8]}",
                                       PartnerUpdatedV1.topic)
        await kafka_consumer.start()
        wanted = {e.id for e in recorded}
        records: list[ConsumerRecord] = []
        while len(records) < 3:
            for batch in (await kafka_consumer.getmany(timeout_ms=1000)).values():
                records += [r for r in batch
                            if CloudEvent.from_json(r.value).id in wanted]
        await kafka_consumer.stop()

        async def reacting(session, event: CloudEvent) -> None:
            """Applies the event and publishes another (as a consumer's handler may)."""
            await session.execute(text("INSERT INTO effects VALUES (:id, :name)"),
                                  {"id": event.id, "name": event.data["partner"]["name"]})
            await publish(session, payload(f"after {event.data['partner']['name']}"),
                          source="/test", aggregate_id=uuid.uuid4())

        runner = EventConsumer("reactions", [PartnerUpdatedV1.topic],
                               {PartnerUpdatedV1.event_type: reacting}, sessionmaker, producer)
        await runner.handle_batch(records)  # one poll: applied together
        async with engine.connect() as connection:
            published = [row[0] for row in await connection.execute(text(
                "SELECT envelope->>'traceparent' FROM outbox ORDER BY seq"))]
    await producer.stop()
    telemetry.flush()

    finished = spans.get_finished_spans()
    by_name: dict[str, list[ReadableSpan]] = {}
    for span in finished:
        by_name.setdefault(span.name, []).append(span)
    requests = [by_name[f"POST /{name}"][0] for name in ("one", "two", "three")]
    outboxes = by_name[f"outbox {PartnerUpdatedV1.event_type}"]
    sends = by_name[f"send {PartnerUpdatedV1.topic}"]
    applies = by_name[f"apply {PartnerUpdatedV1.event_type}"]
    [batch] = by_name["apply batch"]
    assert len(sends) == 3 and len(applies) == 3
    for request, event in zip(requests, recorded, strict=True):
        # The event's outbox span is the request's child; its envelope names that span.
        [outbox] = [s for s in outboxes
                    if s.attributes["messaging.message.id"] == str(event.id)]
        assert outbox.parent.span_id == request.context.span_id
        trace_id, span_id = hex_ids(outbox)
        assert event.traceparent.split("-")[1:3] == [trace_id, span_id]
        # The relay's send is its child (not the relay loop's), in the request's trace.
        [send] = [s for s in sends if s.attributes["messaging.message.id"] == str(event.id)]
        assert send.parent.span_id == outbox.context.span_id
        assert send.context.trace_id == request.context.trace_id
        [record] = [r for r in records if CloudEvent.from_json(r.value).id == event.id]
        assert dict(record.headers)["traceparent"].decode().split("-")[1:3] == list(
            hex_ids(send))
        # Its application: a child of the send, linked to the batch's span.
        [applied] = [s for s in applies if s.attributes["messaging.message.id"] == str(event.id)]
        assert applied.parent.span_id == send.context.span_id
        assert [link.context.span_id for link in applied.links] == [batch.context.span_id]
    # The batch's span links to each event's send.
    assert sorted(link.context.span_id for link in batch.links) == sorted(
        s.context.span_id for s in sends)
    assert batch.attributes["messaging.batch.message_count"] == 3
    # What the handlers published continues each event's trace, under its application.
    reactions = published[3:]
    assert len(reactions) == 3
    reaction_outboxes = {hex_ids(s)[1]: s for s in outboxes}
    for traceparent in reactions:
        outbox = reaction_outboxes[traceparent.split("-")[2]]
        assert outbox.parent.span_id in {s.context.span_id for s in applies}
    # The SQL of the batch ran under its spans; none of it as a trace of its own.
    queries = [s for s in finished if s.attributes.get("db.system") == "postgresql"]
    assert queries and all(s.parent is not None for s in queries)
