"""Idempotent consumer: apply each event once in effect, however often it is delivered.

For every message: in one transaction, insert (consumer, event id) into the inbox and run the
handler; a redelivered event hits the inbox row and does nothing. Offsets are committed only
after that transaction committed. A handler that keeps failing (a poison message) is retried
``max_attempts`` times, then the message goes to ``<topic>.dlt`` with its error and the consumer
moves on. Database or broker outages are not poison: those are retried until they pass.

The messages of one poll (every partition's, each partition's in its order) are applied
together in one transaction (up to ``batch_size``): a commit per event capped a consumer at a
few dozen events a second, far below what a burst brings, and a transaction per partition
still split a poll three ways. If one of them fails, the transaction is rolled back; those
before it are applied together again, it alone is retried (and perhaps dead-lettered), then
the rest go on together, so a poison message costs only itself.

A worker's subscriptions share one consumer (``Part`` each): every record is fetched, parsed
and committed once, and the parts whose topics it is on apply it in the same transaction, each
under its own inbox name. A part whose handler fails is retried and dead-lettered alone; the
others' effects of that event are kept. Each subscription reading the topic for itself cost the
broker a fetch stream, and the database a transaction, per subscription and event.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.errors import CommitFailedError, KafkaError
from pydantic import ValidationError
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from prm_contracts import dead_letter_topic
from prm_events.envelope import CloudEvent
from prm_events.kafka import (
    BUSY_FETCH_WAIT_MS,
    DEEP_IDLE_FETCH_WAIT_MS,
    IDLE_FETCH_WAIT_MS,
    fetch_wait,
)
from prm_platform import cause, metrics, telemetry
from prm_platform.db import CONNECTION_ERRORS, Statement, rows_affected
from prm_platform.projections import gathering, is_projection, write_gathered

log = logging.getLogger("prm.consumer")

Handler = Callable[[AsyncSession, CloudEvent], Awaitable[None]]


def _is_outage(exc: BaseException) -> bool:
    """The database is away (not the event at fault): wait and retry, never dead-letter. A
    statement on asyncpg itself (``prm_platform.db.Statement``) raises asyncpg's errors."""
    if isinstance(exc, (OperationalError, InterfaceError, ConnectionError, *CONNECTION_ERRORS)):
        return True
    return isinstance(exc, DBAPIError) and exc.connection_invalidated


PURGE_BATCH = 1000
# The inbox rows of a batch, for every part, in one statement written once (not built per
# batch), and the row of one event (applied alone, or dead-lettered). Both run on asyncpg
# itself (``Statement``): once a poll each, SQLAlchemy's execution cost more than they did.
_RECORD_MANY = Statement(
    "INSERT INTO inbox (consumer, event_id, event_type, outcome) "
    "SELECT e.consumer, e.id, e.type, e.outcome FROM unnest(CAST(:consumers AS text[]), "
    "CAST(:ids AS uuid[]), CAST(:types AS text[]), CAST(:outcomes AS text[])) "
    "AS e(consumer, id, type, outcome) "
    "ON CONFLICT DO NOTHING RETURNING consumer, event_id")
_RECORD = Statement(
    "INSERT INTO inbox (consumer, event_id, event_type, outcome) "
    "VALUES (:consumer, CAST(:event_id AS uuid), :event_type, :outcome) "
    "ON CONFLICT DO NOTHING RETURNING event_id")
COMMIT_TIMEOUT_SECONDS = 10.0
MAX_COMMIT_FAILURES = 10


@dataclass(frozen=True)
class Part:
    """One subscription of a consumer: its inbox name, its topics, its handlers by event type."""

    name: str
    topics: tuple[str, ...]
    handlers: Mapping[str, Handler]
    max_attempts: int = 5

    def outcome(self, event: CloudEvent) -> str:
        return "applied" if event.type in self.handlers else "ignored"


@dataclass(frozen=True)
class Pending:
    """A record of a poll, its event, and the parts it is for."""

    record: ConsumerRecord
    event: CloudEvent
    parts: Sequence[Part]


class EventFailed(Exception):
    """The handler of the event at ``index`` of a batch failed (the cause is chained)."""

    def __init__(self, index: int) -> None:
        super().__init__(f"event {index} of the batch failed")
        self.index = index


class ConsumerStalled(RuntimeError):
    """The consumer cannot make progress where it is; its process should start afresh."""


async def purge_inbox(session: AsyncSession, older_than_days: int, batch: int = PURGE_BATCH
                      ) -> int:
    """Forget events applied more than ``older_than_days`` ago (up to ``batch`` rows).

    The retention must exceed how long the broker keeps messages and how far back a replay may
    start: an event redelivered after its inbox row is gone would be applied again.
    """
    result = await session.execute(
        text("DELETE FROM inbox WHERE ctid IN (SELECT ctid FROM inbox WHERE processed_at < "
             "now() - make_interval(days => :d) LIMIT :batch)"),
        {"d": older_than_days, "batch": batch},
    )
    return rows_affected(result)


_CONSUMER = telemetry.SpanKind.CONSUMER


def _applying(event: CloudEvent, part: Part, together: bool = False
              ) -> contextlib.AbstractContextManager[object]:
    """The span of ``part`` applying ``event`` (while telemetry is on): a child of the event's
    context (its send, the record's ``traceparent``), so the trace of the request that caused
    it goes on through every consumer and what their handlers publish. Applied ``together``
    with others, it also links to the batch's span (the shared transaction)."""
    if not telemetry.enabled():
        return contextlib.nullcontext()
    return telemetry.span(
        f"apply {event.type}", parent=event.traceparent, kind=_CONSUMER,
        attributes={"messaging.system": "kafka", "messaging.operation.type": "process",
                    "messaging.consumer.group.name": part.name,
                    "messaging.message.id": str(event.id)},
        links=telemetry.current_link() if together else ())


def _applying_together(consumer: str, events: Sequence[CloudEvent]
                       ) -> contextlib.AbstractContextManager[object]:
    """The span of a batch's transaction, linked to the context of each of its events (their
    traces go on in each event's own ``apply`` span)."""
    if not telemetry.enabled():
        return contextlib.nullcontext()
    return telemetry.span(
        "apply batch", kind=_CONSUMER,
        attributes={"messaging.system": "kafka", "messaging.operation.type": "process",
                    "messaging.consumer.group.name": consumer,
                    "messaging.batch.message_count": len(events)},
        links=telemetry.links_to([event.traceparent for event in events]))


def received(record: ConsumerRecord) -> CloudEvent:
    """The record's event; while telemetry is on, as a child of its send (the record's
    ``traceparent`` header, which the relay set) rather than of its recording."""
    event = CloudEvent.from_json(record.value)
    if telemetry.enabled():
        for name, value in record.headers or ():
            if name == "traceparent":
                return event.model_copy(update={"traceparent": value.decode()})
    return event


def _announced_type(record: ConsumerRecord) -> str | None:
    """The event type the relay put in the record's ``ce_type`` header, known before the body
    is parsed: most consumers handle a few of a topic's types and skip the others unread."""
    for name, value in record.headers or ():
        if name == "ce_type":
            return bytes(value).decode(errors="replace")
    return None


class EventConsumer:
    """One consumer applying the events of its topics for one or more parts. Built with a name,
    topics and handlers, it is one part of that name; ``shared`` builds one for several."""

    def __init__(
        self,
        name: str,
        topics: Sequence[str],
        handlers: Mapping[str, Handler],
        sessionmaker: async_sessionmaker[AsyncSession],
        producer: AIOKafkaProducer,
        *,
        max_attempts: int = 5,
        retry_delay: float = 0.2,
        batch_size: int = 200,
        commit_seconds: float = 1.0,
        parts: Sequence[Part] = (),
        idle_after: float = 3.0,
        deep_idle_after: float = 30.0,
        linger_ms: int | None = None,
    ) -> None:
        self.name = name
        # While records flow the broker may hold fetches BUSY_FETCH_WAIT_MS, or ``linger_ms``
        # for a consumer made with it (prm_events.kafka.make_consumer). Quiet this long: then
        # IDLE_FETCH_WAIT_MS, then DEEP_IDLE_FETCH_WAIT_MS (fewer requests while nothing
        # happens, at the price of the first event after the quiet spell waiting up to that
        # long), never less than while records flow.
        self.busy_wait_ms = BUSY_FETCH_WAIT_MS if linger_ms is None else linger_ms
        self.idle_waits = ((deep_idle_after, max(DEEP_IDLE_FETCH_WAIT_MS, self.busy_wait_ms)),
                           (idle_after, max(IDLE_FETCH_WAIT_MS, self.busy_wait_ms)))
        self.parts = list(parts) or [Part(name, tuple(topics), handlers, max_attempts)]
        self.topics = sorted({topic for part in self.parts for topic in part.topics})
        self.sessionmaker = sessionmaker
        self.producer = producer
        self.retry_delay = retry_delay
        self.batch_size = batch_size
        self.commit_seconds = commit_seconds
        self._by_topic: dict[str, list[Part]] = {}
        self._by_type: dict[tuple[str, str], list[Part]] = {}

    @classmethod
    def shared(cls, name: str, parts: Sequence[Part],
               sessionmaker: async_sessionmaker[AsyncSession], producer: AIOKafkaProducer,
               *, retry_delay: float = 0.2, batch_size: int = 200,
               linger_ms: int | None = None) -> EventConsumer:
        """One consumer (``name`` in logs) for several parts, each with its own inbox name."""
        return cls(name, (), {}, sessionmaker, producer, parts=parts, retry_delay=retry_delay,
                   batch_size=batch_size, linger_ms=linger_ms)

    def parts_of(self, topic: str) -> list[Part]:
        """The parts a record of ``topic`` is for."""
        if topic not in self._by_topic:
            self._by_topic[topic] = [p for p in self.parts if topic in p.topics]
        return self._by_topic[topic]

    def parts_for(self, topic: str, event_type: str) -> list[Part]:
        """The parts of ``topic`` that have a handler for ``event_type``: the others would
        only record that they ignored it."""
        key = (topic, event_type)
        if (parts := self._by_type.get(key)) is None:
            parts = [part for part in self.parts_of(topic) if event_type in part.handlers]
            if len(self._by_type) < 10_000:  # types a producer made up are not kept
                self._by_type[key] = parts
        return parts

    async def apply(self, event: CloudEvent, part: Part | None = None) -> bool:
        """Apply one event for one part (the only one if not named) in one transaction.
        Returns False if that part had applied it before."""
        if part is None:
            if len(self.parts) != 1:
                raise ValueError(f"{self.name} has {len(self.parts)} parts: name one")
            part = self.parts[0]
        handler = part.handlers.get(event.type)
        with _applying(event, part):  # the span of this consumer's work on the event
            async with self.sessionmaker() as session:
                recorded = await _RECORD.fetchrow(session, {
                    "consumer": part.name, "event_id": event.id, "event_type": event.type,
                    "outcome": part.outcome(event)})
                if recorded is None:
                    await session.commit()
                    return False
                if handler is not None:
                    with cause.acting(event.caused_by()):
                        await handler(session, event)
                await session.commit()
                return True

    async def apply_batch(self, events: list[CloudEvent],
                          parts: Sequence[Sequence[Part]] | None = None) -> int:
        """Apply events in one transaction, in their order (each partition's events in its
        order), each for its parts (``parts[i]`` for ``events[i]``; all of the consumer's by
        default) and once per part. Returns how many (part, event) pairs were new. Each handler
        starts from an empty identity map, as with a session of its own, so that none reads
        objects another changed beneath the ORM. A failing handler raises ``EventFailed``
        naming its event's index."""
        each = [self.parts] * len(events) if parts is None else parts
        pairs = list({(part.name, event.id): (part, event)
                      for event, its in zip(events, each, strict=True) for part in its
                      }.values())
        with _applying_together(self.name, events):
            async with self.sessionmaker() as session:
                recorded = await _RECORD_MANY.fetch(session, {
                    "consumers": [part.name for part, _ in pairs],
                    "ids": [event.id for _, event in pairs],
                    "types": [event.type for _, event in pairs],
                    "outcomes": [part.outcome(event) for part, event in pairs]})
                fresh = {(name, event_id) for name, event_id in recorded}
                new = len(fresh)
                # The upserts of projection handlers are gathered and sent together before the
                # next other handler runs (which may read them) and at the end; if sending fails,
                # the first event they came from is the one taken out and retried alone.
                gathered_from: int | None = None
                for index, (event, its) in enumerate(zip(events, each, strict=True)):
                    for part in its:
                        if (part.name, event.id) not in fresh:
                            continue
                        fresh.discard((part.name, event.id))  # twice in one poll: applied once
                        handler = part.handlers.get(event.type)
                        if handler is None:
                            continue
                        if is_projection(handler):
                            gathering(session)
                            gathered_from = index if gathered_from is None else gathered_from
                            try:
                                with cause.acting(event.caused_by()), _applying(event, part,
                                                                                together=True):
                                    await handler(session, event)
                            except Exception as exc:
                                raise EventFailed(index) from exc
                            continue
                        if gathered_from is not None:
                            await self._write_gathered(session, gathered_from)
                            gathered_from = None
                        try:
                            with cause.acting(event.caused_by()), _applying(event, part,
                                                                            together=True):
                                await handler(session, event)
                                await session.flush()
                        except Exception as exc:
                            raise EventFailed(index) from exc
                        session.expunge_all()
                if gathered_from is not None:
                    await self._write_gathered(session, gathered_from)
                await session.commit()
                return new

    @staticmethod
    async def _write_gathered(session: AsyncSession, first: int) -> None:
        try:
            await write_gathered(session)
        except Exception as exc:
            raise EventFailed(first) from exc

    async def handle_batch(self, records: list[ConsumerRecord]) -> None:
        """Apply the records of a poll (each partition's in its order): together where
        possible, one by one where not."""
        pending: list[Pending] = []
        for record in records:
            announced = _announced_type(record)
            if announced is not None and not self.parts_for(record.topic, announced):
                continue  # no part has a handler for it: no transaction, no inbox row
            try:
                event = received(record)
                if parts := self.parts_for(record.topic, event.type):  # the body decides
                    pending.append(Pending(record, event, parts))
            except (ValidationError, ValueError) as exc:
                await self._apply_together(pending)
                pending = []
                await self.dead_letter(record, f"not a CloudEvent: {exc}", event=None,
                                       part=None)
                continue
            if len(pending) >= self.batch_size:
                await self._apply_together(pending)
                pending = []
        await self._apply_together(pending)

    async def _apply_together(self, pending: list[Pending]) -> None:
        while pending:
            # One event for one part: its own transaction is the same work. For several parts
            # (a worker's projections of one event) one transaction serves them all.
            if len(pending) == 1 and len(pending[0].parts) == 1:
                await self.handle(pending[0].record, pending[0].event)
                return
            try:
                await self.apply_batch([p.event for p in pending], [p.parts for p in pending])
                return
            except asyncio.CancelledError:
                raise
            except EventFailed as failed:
                cause = failed.__cause__
                if cause is not None and _is_outage(cause):
                    log.warning("%s: outage while applying %d events, retrying: %r",
                                self.name, len(pending), cause)
                    await asyncio.sleep(1.0)
                    continue
                # Those before it together, the failing one alone (retried, perhaps
                # dead-lettered), then the rest together again.
                head, failing = pending[:failed.index], pending[failed.index]
                pending = pending[failed.index + 1:]
                await self._apply_together(head)
                await self.handle(failing.record, failing.event)
            except Exception as exc:  # the inbox rows or the commit itself
                if _is_outage(exc):
                    log.warning("%s: outage while applying %d events, retrying: %r",
                                self.name, len(pending), exc)
                    await asyncio.sleep(1.0)
                    continue
                log.info("%s: a batch of %d failed (%r); applying it one event at a time",
                         self.name, len(pending), exc)
                for item in pending:
                    await self.handle(item.record, item.event)
                return

    async def handle(self, record: ConsumerRecord, event: CloudEvent | None = None) -> None:
        """Apply one record for each part it is for, each in its own transaction: a part
        that keeps failing is dead-lettered alone."""
        if event is None:
            try:
                event = received(record)
            except (ValidationError, ValueError) as exc:
                await self.dead_letter(record, f"not a CloudEvent: {exc}", event=None,
                                       part=None)
                return
        for part in self.parts_for(record.topic, event.type):
            await self._handle_part(part, record, event)

    async def _handle_part(self, part: Part, record: ConsumerRecord, event: CloudEvent
                           ) -> None:
        attempt = 0
        while True:
            try:
                await self.apply(event, part)
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if _is_outage(exc):
                    log.warning("%s: outage while applying %s, retrying: %r", part.name,
                                event.id, exc)
                    await asyncio.sleep(1.0)
                    continue
                attempt += 1
                if attempt >= part.max_attempts:
                    log.error("%s: %s %s failed %d times, dead-lettering: %r", part.name,
                              event.type, event.id, attempt, exc)
                    await self.dead_letter(record, repr(exc), event=event, part=part)
                    return
                await asyncio.sleep(self.retry_delay * 2 ** (attempt - 1))

    async def dead_letter(self, record: ConsumerRecord, error: str,
                          event: CloudEvent | None, part: Part | None) -> None:
        """Park ``record`` on its dead-letter topic, naming the part that gave up on it (the
        consumer, when the record is no event at all and so none of its parts can take it)."""
        await self.producer.send_and_wait(
            dead_letter_topic(record.topic),
            key=record.key,
            value=record.value,
            headers=[
                ("dlt_consumer", (part.name if part else self.name).encode()),
                ("dlt_error", error[:2000].encode()),
                ("dlt_source", f"{record.topic}/{record.partition}/{record.offset}".encode()),
            ],
        )
        if metrics.enabled():
            metrics.DEAD_LETTERED.labels(part.name if part else self.name, record.topic).inc()
        if event is not None and part is not None:  # a replay must not dead-letter it again
            async with self.sessionmaker() as session:
                await _RECORD.fetchrow(session, {
                    "consumer": part.name, "event_id": event.id, "event_type": event.type,
                    "outcome": "dead_lettered"})
                await session.commit()

    async def run(self, consumer: AIOKafkaConsumer, stop: asyncio.Event,
                  alive: Callable[[], None] = lambda: None) -> None:
        """Consume until ``stop`` is set. ``consumer`` must have auto-commit off. ``alive`` is
        called after every poll that went through (the worker's liveness signal).

        Positions are committed once a poll comes back empty, and otherwise at most every
        ``commit_seconds`` (a second) while polls keep bringing records (a commit per poll cost
        the broker a request per poll and consumer, five a second each under a steady load):
        what a crash or a rebalance leaves uncommitted is read again and turned into no-ops
        by the inbox."""
        self._commit_failures = 0
        uncommitted: dict[TopicPartition, int] = {}
        committed_at = last_records = time.monotonic()
        wait = self.busy_wait_ms
        fetch_wait(consumer, wait)  # this consumer's wait, whatever ``consumer`` was made with
        try:
            while not stop.is_set():
                try:
                    batches = await consumer.getmany(timeout_ms=500)
                except KafkaError as exc:
                    log.warning("%s: fetch failed: %r", self.name, exc)
                    await asyncio.sleep(1.0)
                    continue
                # Quiet for a while: fetches held longer (the first event after the quiet
                # spell waits up to that long); records: back to the short wait.
                if batches:
                    last_records = time.monotonic()
                quiet = time.monotonic() - last_records
                wanted = next((ms for after, ms in self.idle_waits if quiet >= after),
                              self.busy_wait_ms)
                if wanted != wait:
                    wait = wanted
                    fetch_wait(consumer, wait)
                if batches:  # the whole poll in one transaction
                    started = time.perf_counter()
                    await self.handle_batch([r for records in batches.values() for r in records])
                    if metrics.enabled():
                        self._measure(batches, time.perf_counter() - started)
                    uncommitted |= {partition: records[-1].offset + 1
                                    for partition, records in batches.items()}
                if uncommitted and (not batches or
                                    time.monotonic() - committed_at >= self.commit_seconds):
                    await self._commit(consumer, uncommitted)
                    uncommitted, committed_at = {}, time.monotonic()
                alive()
        finally:
            if uncommitted:
                with contextlib.suppress(Exception):
                    await self._commit(consumer, uncommitted)

    def _measure(self, batches: Mapping[TopicPartition, list[ConsumerRecord]],
                 seconds: float) -> None:
        """A poll applied in ``seconds``: its events, and the delay since the relay published
        the oldest record of each partition (the broker record's timestamp; the outbox's own
        wait is its gauge): the poll's worst delay, at one observation per partition, not per
        event."""
        events, apply_seconds, delay = metrics.consumer_series(self.name)
        apply_seconds.observe(seconds)
        now_ms = time.time() * 1000
        count = 0
        for records in batches.values():
            count += len(records)
            if records and records[0].timestamp > 0:
                delay.observe(max(0.0, now_ms - records[0].timestamp) / 1000)
        events.inc(count)

    async def sample_lag(self, consumer: AIOKafkaConsumer) -> None:
        """Set ``prm_consumer_lag_messages`` per topic: the broker's end of each partition this
        consumer holds (as its last fetch saw it) less its position."""
        lag = dict.fromkeys(self.topics, 0)
        for partition in consumer.assignment():
            end = consumer.highwater(partition)
            if end is None:  # nothing fetched from it yet
                continue
            position = await asyncio.wait_for(consumer.position(partition), 2.0)
            lag[partition.topic] = lag.get(partition.topic, 0) + max(0, end - position)
        for topic, behind in lag.items():
            metrics.CONSUMER_LAG.labels(self.name, topic).set(behind)

    async def _commit(self, consumer: AIOKafkaConsumer, offsets: dict[TopicPartition, int]
                      ) -> None:
        """Commit, bounded in time. A failure is survivable (rebalanced away: the next owner
        re-reads from the last commit and the inbox turns the repeats into no-ops), but one
        that keeps recurring (a topic recreated under the consumer, a broker that lost its
        groups) is not: the consumer stops, so the worker exits and is started afresh, which
        re-seeks from the committed position."""
        assigned = consumer.assignment()  # a partition rebalanced away is its new owner's
        offsets = {partition: offset for partition, offset in offsets.items()
                   if partition in assigned}
        if not offsets:
            return
        try:
            await asyncio.wait_for(consumer.commit(offsets), COMMIT_TIMEOUT_SECONDS)
            self._commit_failures = 0
        except (CommitFailedError, KafkaError, TimeoutError) as exc:
            self._commit_failures += 1
            log.warning("%s: commit of %s failed (%d in a row): %r", self.name, offsets,
                        self._commit_failures, exc)
            if self._commit_failures >= MAX_COMMIT_FAILURES:
                raise ConsumerStalled(f"{self.name}: {self._commit_failures} commits failed in "
                                      "a row; restarting the consumer") from exc
