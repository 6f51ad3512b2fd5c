"""Transactional outbox: ``publish`` writes the event in the caller's transaction; the relay
sends committed rows to Kafka and marks them published once the broker acknowledged them.

A relay that has found nothing for ``STAY_AWAKE`` seconds sleeps on a PostgreSQL ``LISTEN``
(looking anyway every ``idle_poll_interval``); a process that writes outbox rows after
``QUIET_SECONDS`` without any sends one ``NOTIFY`` with them (``wake_relay``). While events
flow, writers send none: a NOTIFY per commit would serialise the writers' commits on the
database's notification lock, and the relay is awake anyway (it polls every few tens of
milliseconds). Since a quiet spell of the writers is shorter than the relay's stay, a relay
sleeps only when every writer has been quiet long enough to send a NOTIFY with its next row.

Several relays may run at once. Each locks a batch with ``FOR UPDATE SKIP LOCKED`` and keeps
only rows with no earlier unpublished row of the same key that it did not lock itself, so events
of one aggregate leave in the order they were written. A relay that dies mid-batch leaves its
rows unpublished: they are sent again (at least once), and consumers drop the duplicates.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

import orjson
from aiokafka import AIOKafkaProducer
from aiokafka.errors import (
    BrokerNotAvailableError,
    KafkaError,
    KafkaTimeoutError,
    KafkaUnavailableError,
    ProducerClosed,
)
from sqlalchemy import insert, text
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
)

from prm_contracts import EventPayload
from prm_events.envelope import CloudEvent, new_event
from prm_platform import metrics, telemetry
from prm_platform.db import CONNECTION_ERRORS, rows_affected
from prm_platform.tables import outbox

if TYPE_CHECKING:
    from opentelemetry.trace import Span

log = logging.getLogger("prm.outbox")

# A writer quiet this long wakes the relay with its next row; a relay that published nothing
# for STAY_AWAKE seconds sleeps until woken (STAY_AWAKE > QUIET_SECONDS plus a poll or two).
QUIET_SECONDS = 1.0
STAY_AWAKE = 3.0
_WAKE = text("SELECT pg_notify('prm_outbox_' || current_schema(), '')")
_last_written = -math.inf


def wake_channel(schema: str) -> str:
    """The channel a schema's relay listens on."""
    return f"prm_outbox_{schema}"


async def wake_relay(executor: AsyncSession | AsyncConnection) -> None:
    """Called with every write of outbox rows, in its transaction (or after it, in
    autocommit): after a quiet spell of this process, a NOTIFY that the relay gets with the
    commit. A transaction that rolls back takes its NOTIFY with it; the relay's own idle
    poll bounds the wait of a write that relied on it."""
    global _last_written
    now = time.monotonic()
    quiet, _last_written = now - _last_written >= QUIET_SECONDS, now
    if quiet:
        await executor.execute(_WAKE)


async def publish(
    session: AsyncSession,
    payload: EventPayload,
    *,
    source: str,
    aggregate_id: uuid.UUID,
    partner_id: uuid.UUID | None = None,
    traceparent: str | None = None,
) -> CloudEvent:
    """Record an event in the outbox, inside the caller's transaction."""
    event = new_event(payload, source=source, subject=str(aggregate_id), partner_id=partner_id,
                      traceparent=traceparent)
    await session.execute(
        insert(outbox).values(
            event_id=event.id,
            topic=payload.topic,
            key=str(aggregate_id),
            event_type=event.type,
            envelope=event.model_dump(mode="json", exclude_none=True),
        )
    )
    await wake_relay(session)
    return event


async def publish_many(session: AsyncSession, payloads: list[tuple[EventPayload, uuid.UUID]],
                       *, source: str) -> None:
    """Record several events (payload, aggregate id) in the outbox with one statement, inside
    the caller's transaction (a bulk import's changes)."""
    if not payloads:
        return
    rows = []
    for payload, aggregate_id in payloads:
        event = new_event(payload, source=source, subject=str(aggregate_id))
        rows.append({"event_id": event.id, "topic": payload.topic, "key": str(aggregate_id),
                     "event_type": event.type,
                     "envelope": event.model_dump(mode="json", exclude_none=True)})
    await session.execute(insert(outbox).values(rows))
    await wake_relay(session)


def insert_cte(after: str) -> str:
    """``event AS (...)``: the CTE of a single-statement write that records its event in the
    outbox, once per row the CTE ``after`` returned (``event_params`` fills it). The caller
    calls ``wake_relay`` in the same transaction."""
    return f"""event AS (
        INSERT INTO outbox (event_id, topic, key, event_type, envelope)
        SELECT CAST(:event_id AS uuid), CAST(:event_topic AS varchar),
               CAST(:event_key AS varchar), CAST(:event_type AS varchar),
               CAST(:event_envelope AS jsonb)
        FROM {after}
        RETURNING seq
    )"""


def envelope(payload: EventPayload, *, source: str, aggregate_id: uuid.UUID,
             partner_id: uuid.UUID | None = None) -> dict[str, Any]:
    """The CloudEvent of ``payload`` as the outbox stores it (its ``id`` is the event id)."""
    event = new_event(payload, source=source, subject=str(aggregate_id), partner_id=partner_id)
    return event.model_dump(mode="json", exclude_none=True)


def event_params(payload: EventPayload, *, source: str, aggregate_id: uuid.UUID,
                 partner_id: uuid.UUID | None = None) -> dict[str, object]:
    stored = envelope(payload, source=source, aggregate_id=aggregate_id, partner_id=partner_id)
    return {"event_id": stored["id"], "event_topic": payload.topic,
            "event_key": str(aggregate_id), "event_type": stored["type"],
            "event_envelope": orjson.dumps(stored).decode()}


# The relay's statements go to asyncpg itself (``OutboxRelay._driver``), hence $n parameters.
_CLAIM_BATCH = """
    WITH locked AS (
        SELECT seq, key FROM outbox
        WHERE published_at IS NULL AND attempts < $1
        ORDER BY seq
        LIMIT $2
        FOR UPDATE SKIP LOCKED
    )
    SELECT o.seq, o.topic, o.key, o.event_type, o.envelope
    FROM outbox o JOIN locked l ON l.seq = o.seq
    WHERE NOT EXISTS (
        SELECT 1 FROM outbox earlier
        WHERE earlier.key = l.key AND earlier.published_at IS NULL AND earlier.seq < l.seq
          AND earlier.seq NOT IN (SELECT seq FROM locked)
    )
    ORDER BY o.seq
    """
_PENDING = ("SELECT EXISTS (SELECT 1 FROM outbox WHERE published_at IS NULL "
            "AND attempts < $1)")
_MARK_PUBLISHED = ("UPDATE outbox SET published_at = now(), attempts = attempts + 1 "
                   "WHERE seq = ANY($1::bigint[])")
_NOTE_FAILURE = ("UPDATE outbox SET attempts = attempts + $3, last_error = $2 "
                 "WHERE seq = $1 RETURNING attempts >= $4, key")

_SKIPPED = object()


async def _settled(send: asyncio.Future[Any] | BaseException | None) -> object:
    """The outcome of one row's send: the broker's answer, its error, or _SKIPPED."""
    if send is None:
        return _SKIPPED
    if isinstance(send, BaseException):
        raise send
    return await send


# Not retriable by aiokafka's own mark, yet the broker's trouble rather than the row's: a batch
# that expired while a partition had no leader, a broker gone or a producer stopping.
_BROKER_TROUBLE = (KafkaTimeoutError, KafkaUnavailableError, BrokerNotAvailableError,
                   ProducerClosed)


def row_fault(error: BaseException) -> bool:
    """Whether a failed send is the row's own fault (too large, not serialisable, a topic it
    may not write) rather than the broker's (no leader, a timeout, a lost connection): only
    the row's own faults count towards parking it. During a broker restart some partitions
    answer before others, and those failures say nothing about the rows."""
    if not isinstance(error, KafkaError):
        return True
    return not (error.retriable or isinstance(error, _BROKER_TROUBLE))


def _sending(topic: str, envelope: dict[str, Any]) -> Span:
    """The span of one event's send, a child of the ``outbox`` span that recorded it (the
    request's trace, not the relay loop's); its context goes in the record's headers."""
    return telemetry.start_span(
        f"send {topic}", parent=envelope.get("traceparent"), kind=telemetry.SpanKind.PRODUCER,
        attributes={"messaging.system": "kafka", "messaging.operation.type": "send",
                    "messaging.destination.name": topic,
                    "messaging.message.id": str(envelope["id"])})


class OutboxRelay:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        producer: AIOKafkaProducer,
        *,
        batch_size: int = 500,
        poll_interval: float = 0.025,
        max_poll_interval: float = 0.05,
        gather_seconds: float = 0.1,
        error_backoff: float = 1.0,
        max_attempts: int = 5,
        wake: tuple[str, str] | None = None,
        idle_poll_interval: float = 2.0,
        stay_awake: float = STAY_AWAKE,
    ) -> None:
        """``wake``: (an asyncpg DSN, the channel) to sleep on when idle; without it the relay
        polls every ``max_poll_interval`` however long nothing comes."""
        self.wake = wake
        self.stay_awake = stay_awake
        self.idle_poll_interval = max(idle_poll_interval, max_poll_interval)
        engine = sessionmaker.kw.get("bind")
        if not isinstance(engine, AsyncEngine):
            raise TypeError("the relay needs a sessionmaker bound to an AsyncEngine")
        self.engine = engine
        self.producer = producer
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.max_poll_interval = max(poll_interval, max_poll_interval)
        self.gather_seconds = gather_seconds
        self.error_backoff = error_backoff
        self.max_attempts = max_attempts

    @contextlib.asynccontextmanager
    async def _driver(self) -> AsyncIterator[Any]:
        """The asyncpg connection under one of the engine's pooled connections (its schema
        and codecs set), outside any SQLAlchemy transaction: the relay's few statements skip
        SQLAlchemy's session and execution, which cost more CPU than the statements did
        (about a third of a millisecond each, a relay's whole cost under a steady trickle)."""
        async with self.engine.connect() as connection:
            driver: Any = (await connection.get_raw_connection()).driver_connection
            ended = False
            try:
                yield driver
            except CONNECTION_ERRORS:
                # The server's "terminating connection" error can come before the socket's
                # close is seen, or leave the protocol in a state the next statement is
                # refused in: is_closed() may still say no.
                ended = True
                raise
            finally:
                # Ended by the server or the network (a restart, a failover): SQLAlchemy did
                # not see the error, so it is told, and the pool opens a new one next time
                # instead of handing this one out again.
                if ended or driver.is_closed():
                    await connection.invalidate()

    async def relay_once(self) -> int:
        """Publish one batch; returns how many events were published.

        A row the broker refuses while others of the batch go through (too large, say) is the
        row's fault: its ``attempts`` grow, and after ``max_attempts`` it is parked (left
        unpublished, skipped, logged as an error with its ``last_error``) so that it cannot
        hold up the rest; later events of the same aggregate wait behind it, keeping order. A
        broker's error (a partition without a leader, a timeout: ``row_fault``) never counts
        against a row, nor does any error when every row fails: the error is recorded and the
        batch is retried with backoff.
        """
        async with self._driver() as driver, driver.transaction():
            rows = await driver.fetch(_CLAIM_BATCH, self.max_attempts, self.batch_size)
            if not rows:
                return 0
            sends: list[asyncio.Future[Any] | BaseException | None] = []
            refused_keys: set[str] = set()
            spans: list[Span | None] = []
            for row in rows:
                key = row["key"]
                if key in refused_keys:  # an earlier event of it failed: keep the order
                    sends.append(None)
                    spans.append(None)
                    continue
                envelope = row["envelope"]
                headers = [("ce_type", row["event_type"].encode()),
                           ("ce_id", str(envelope["id"]).encode())]
                spans.append(sent := _sending(row["topic"], envelope)
                             if telemetry.enabled() else None)
                if sent is not None:
                    headers.append(("traceparent", (telemetry.traceparent(sent) or "").encode()))
                try:  # send() itself refuses some messages at once (size, serialisation)
                    sends.append(await self.producer.send(
                        row["topic"],
                        key=key.encode(),
                        value=orjson.dumps(envelope),
                        headers=headers,
                    ))
                except Exception as exc:  # noqa: BLE001 - recorded on the row below
                    sends.append(exc)
                    refused_keys.add(key)
            results = await asyncio.gather(
                *(_settled(s) for s in sends), return_exceptions=True)
            for sent, result in zip(spans, results, strict=True):  # acknowledged or refused
                if sent is not None:
                    telemetry.end(sent, result if isinstance(result, BaseException) else None)
            published = [row["seq"] for row, r in zip(rows, results, strict=True)
                         if r is not _SKIPPED and not isinstance(r, BaseException)]
            failed = [(row["seq"], r) for row, r in zip(rows, results, strict=True)
                      if isinstance(r, BaseException)]
            if published:
                await driver.execute(_MARK_PUBLISHED, published)
            for seq, error in failed:  # only a partial failure can be the row's fault
                counted = 1 if published and row_fault(error) else 0
                parked = await driver.fetchrow(_NOTE_FAILURE, seq, repr(error)[:1000], counted,
                                               self.max_attempts)
                if parked is not None and parked[0]:
                    log.error("outbox row parked: seq %s (aggregate %s) failed %d times, last "
                              "error %r; later events of that aggregate wait behind it",
                              seq, parked[1], self.max_attempts, error)
        if published and metrics.enabled():
            metrics.OUTBOX_PUBLISHED.inc(len(published))
        if failed and (not published or not any(row_fault(e) for _, e in failed)):
            raise failed[0][1]  # the broker's trouble: retried after a backoff
        return len(published)

    async def pending(self) -> bool:
        """One cheap query on the partial index of unpublished rows, in autocommit (one round
        trip, no BEGIN and COMMIT around it)."""
        async with self._driver() as driver:
            return bool(await driver.fetchval(_PENDING, self.max_attempts))

    async def _listening(self, woken: asyncio.Event, current: Any) -> Any:
        """A connection that LISTENs on the wake channel (``current`` if still open), or None
        when there is no channel or the database cannot be reached: then the relay polls."""
        if self.wake is None:
            return None
        if current is not None and not current.is_closed():
            return current
        import asyncpg

        dsn, channel = self.wake
        try:
            connection = await asyncpg.connect(dsn)
            await connection.add_listener(channel, lambda *_: woken.set())
        except (OSError, asyncpg.PostgresError) as exc:
            log.warning("outbox relay cannot listen for wake-ups (%r); polling", exc)
            return None
        return connection

    async def run(self, stop: asyncio.Event, alive: Callable[[], None] = lambda: None) -> None:
        """Publish until ``stop``. A full batch is followed at once by the next; a partial one
        by a claim ``gather_seconds`` later, without a look first: events are flowing, and a
        round carries what came meanwhile (at 20 events a second, two a round instead of one
        round and two empty looks each). A claim that finds nothing is followed by looks, the
        first after ``poll_interval``, the wait doubling up to ``max_poll_interval`` while
        nothing comes, and after ``stay_awake`` seconds of nothing on the wake channel (or
        ``idle_poll_interval``, whichever comes first)."""
        backoff = self.error_backoff
        idle = self.poll_interval
        count = 0
        flowing = False  # the last round published some: claim again without a look
        woken = asyncio.Event()
        listener = None
        awake_until = time.monotonic() + self.stay_awake
        try:
            while not stop.is_set():
                alive()
                woken.clear()  # a NOTIFY from now on wakes the next wait
                try:
                    # While events flow, claim: a round every gather_seconds finds some. After
                    # nothing, the cheap check first: a claim is a transaction of its own.
                    busy = flowing or await self.pending()
                    count = await self.relay_once() if busy else 0
                    backoff = self.error_backoff
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # broker or database trouble: retry with backoff
                    log.warning("outbox relay batch failed: %r", exc)
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, 30)
                    continue
                flowing = count > 0
                if count >= self.batch_size:
                    continue
                if count > 0:
                    idle = self.poll_interval
                    wait = self.gather_seconds
                    awake_until = time.monotonic() + self.stay_awake
                elif time.monotonic() >= awake_until and (
                        listener := await self._listening(woken, listener)) is not None:
                    wait = self.idle_poll_interval  # asleep: a NOTIFY wakes it
                else:
                    wait, idle = idle, min(idle * 2, self.max_poll_interval)
                if woken.is_set():
                    continue
                waits = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(woken.wait())]
                try:
                    await asyncio.wait(waits, timeout=wait, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    for waiting in waits:
                        waiting.cancel()
                if woken.is_set():
                    awake_until = time.monotonic() + self.stay_awake
        finally:
            if listener is not None:
                with contextlib.suppress(Exception):
                    await listener.close(timeout=2)


# Both on the partial index of unpublished rows: the count reads the backlog only, the age the
# first row of it.
_BACKLOG = text(
    "SELECT count(*), count(*) FILTER (WHERE attempts >= :max_attempts), "
    "COALESCE((SELECT extract(epoch FROM now() - created_at) FROM outbox "
    "          WHERE published_at IS NULL ORDER BY seq LIMIT 1), 0) "
    "FROM outbox WHERE published_at IS NULL")


async def sample_backlog(session: AsyncSession, max_attempts: int = 5) -> None:
    """Set the outbox gauges (``prm_outbox_backlog_events``, ``..._parked_events``,
    ``..._oldest_age_seconds``); the worker calls it every few seconds when metrics are on."""
    backlog, parked, age = (await session.execute(
        _BACKLOG, {"max_attempts": max_attempts})).one()
    metrics.OUTBOX_BACKLOG.set(backlog)
    metrics.OUTBOX_PARKED.set(parked)
    metrics.OUTBOX_OLDEST_AGE.set(float(age))


PURGE_BATCH = 1000


async def purge_published(session: AsyncSession, older_than_days: int = 7,
                          batch: int = PURGE_BATCH) -> int:
    """Delete up to ``batch`` rows published more than ``older_than_days`` ago."""
    result = await session.execute(
        text("DELETE FROM outbox WHERE seq IN (SELECT seq FROM outbox WHERE published_at < "
             "now() - make_interval(days => :d) ORDER BY seq LIMIT :batch)"),
        {"d": older_than_days, "batch": batch},
    )
    return rows_affected(result)
