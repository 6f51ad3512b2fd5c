"""A service's worker process: its outbox relay, its event consumers, its scheduled jobs (the
platform's purges plus the service's own) and its own loops, until SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import functools
import logging
import signal
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field

import uvloop
from aiokafka import AIOKafkaConsumer
from prometheus_client import start_http_server
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from prm_contracts import dead_letter_topic
from prm_events import consumer, outbox
from prm_events.access import consumer_group
from prm_events.consumer import EventConsumer, Handler, Part, purge_inbox
from prm_events.heartbeat import Heartbeat
from prm_events.kafka import ensure_topics, make_consumer, make_producer
from prm_events.outbox import OutboxRelay, purge_published, wake_channel
from prm_platform import idempotency, liveness, metrics, ratelimits, telemetry
from prm_platform.db import asyncpg_dsn, make_engine, make_sessionmaker
from prm_platform.scheduler import Job, Scheduler
from prm_platform.settings import ServiceSettings

log = logging.getLogger("prm.worker")


@dataclass
class Subscription:
    """One concern of the worker's consumer: its inbox name, topics and handler map. A worker
    reads all its subscriptions' topics with one consumer (group ``<service>.events``)."""

    name: str
    topics: list[str]
    handlers: Mapping[str, Handler]
    max_attempts: int = 5


ServiceLoop = Callable[[async_sessionmaker[AsyncSession], asyncio.Event, Callable[[], None]],
                      Coroutine[object, object, None]]
# Sets gauges of the service's own from a query (the webhooks queue), every SAMPLE_SECONDS
# while telemetry is on.
Sample = Callable[[AsyncSession], Awaitable[None]]


@dataclass
class WorkerSpec:
    service: str
    schema: str
    settings: ServiceSettings
    relay: bool = True
    # The topics its outbox publishes to (its declaration's ``publishes``).
    publishes: tuple[str, ...] = ()
    subscriptions: list[Subscription] = field(default_factory=list)
    # The service's own periodic jobs, run beside the platform's (``platform_jobs``).
    jobs: list[Job] = field(default_factory=list)
    # The service's own long-running loops (the webhooks dispatcher), by name: each gets the
    # worker's sessionmaker, the stop event and its liveness signal, so that a stalled loop
    # makes the worker stale like a stalled consumer would.
    loops: Mapping[str, ServiceLoop] = field(default_factory=dict)
    # The service's own gauges, sampled beside the outbox's and the consumer's (metrics on).
    samples: Sequence[Sample] = ()
    # How long its consumer lets events gather while they flow, when its readers can wait
    # that long (prm_events.kafka.make_consumer; ARCHITECTURE.md says which and why); None:
    # the platform's short wait.
    linger_ms: int | None = None

    def topics(self) -> list[str]:
        """What this worker uses, hence creates when missing: exactly what the broker's ACLs
        let its user create (prm_events.access)."""
        consumed = {topic for sub in self.subscriptions for topic in sub.topics}
        return sorted(set(self.publishes) | consumed | {dead_letter_topic(t) for t in consumed})


PURGE_INTERVAL = dt.timedelta(hours=1)
# The linger of a worker whose readers can wait a second for an event's effect (reports,
# the trail, tiers and onboarding): no longer than a quiet stack's first event waits anyway
# (DEEP_IDLE_FETCH_WAIT_MS).
LINGER_MS = 1000
# The worker's one consumer: its group is ``<service>.events``, its liveness loop "events".
CONSUMER = "events"


def platform_jobs(settings: ServiceSettings) -> list[Job]:
    """Purges every service needs: expired Idempotency-Keys, old published outbox rows, old
    inbox rows, rate-limit buckets that are full again."""
    return [
        idempotency.purge_job(),
        ratelimits.purge_job(),
        Job("purge-published-outbox", PURGE_INTERVAL,
            functools.partial(purge_published, older_than_days=settings.outbox_retention_days),
            batch=outbox.PURGE_BATCH),
        Job("purge-inbox", PURGE_INTERVAL,
            functools.partial(purge_inbox, older_than_days=settings.inbox_retention_days),
            batch=consumer.PURGE_BATCH),
    ]


async def sample(sessionmaker: async_sessionmaker[AsyncSession], spec: WorkerSpec,
                 runner: EventConsumer | None, kafka_consumer: AIOKafkaConsumer | None,
                 stop: asyncio.Event) -> None:
    """Set the gauges that need a query or the broker, every ``metrics.SAMPLE_SECONDS``:
    a scrape never waits on the database, and no event pays for them."""
    while not stop.is_set():
        try:
            async with sessionmaker() as session:
                if spec.relay:
                    await outbox.sample_backlog(session)
                for gauges in spec.samples:
                    await gauges(session)
            if runner is not None and kafka_consumer is not None:
                await runner.sample_lag(kafka_consumer)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - gauges go stale; the worker goes on
            log.warning("sampling the worker's gauges failed: %r", exc)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=metrics.SAMPLE_SECONDS)


async def run_worker(spec: WorkerSpec, stop: asyncio.Event | None = None) -> None:
    stop = stop or asyncio.Event()
    settings = spec.settings
    if settings.telemetry:  # before the engine, whose statements it traces
        telemetry.start_tracing(worker_name(spec))
    engine = make_engine(settings.database_url, spec.schema, pool_size=5 + 5 * len(spec.loops))
    sessionmaker = make_sessionmaker(engine)
    server = None
    if settings.telemetry:  # before anything runs, so that nothing goes uncounted
        metrics.enable()
        metrics.POOLS.watch(spec.schema, engine)
        server, _ = start_http_server(settings.metrics_port, settings.metrics_address)
    await ensure_topics(settings, spec.topics())
    producer = make_producer(settings)
    await producer.start()
    tasks: list[asyncio.Task[None]] = []
    consumers = []
    runner: EventConsumer | None = None
    heartbeat = Heartbeat(settings.worker_heartbeat_file, settings.worker_stale_seconds)
    worker = liveness.worker_id()
    started_at = dt.datetime.now(dt.UTC)

    async def report(lagging: list[str]) -> None:
        async with sessionmaker() as session:
            await liveness.report(session, worker, started_at, lagging=lagging)
    try:
        if spec.relay:
            relay = OutboxRelay(sessionmaker, producer,
                                gather_seconds=settings.outbox_gather_seconds,
                                poll_interval=settings.outbox_poll_seconds,
                                max_poll_interval=settings.outbox_max_poll_seconds,
                                idle_poll_interval=settings.outbox_idle_poll_seconds,
                                wake=(asyncpg_dsn(settings.database_url),
                                      wake_channel(spec.schema)))
            tasks.append(asyncio.create_task(relay.run(stop, heartbeat.loop("relay")),
                                             name="outbox-relay"))
        scheduler = Scheduler(sessionmaker, [*platform_jobs(settings), *spec.jobs])
        tasks.append(asyncio.create_task(scheduler.run(stop, heartbeat.loop("scheduler")),
                                         name="scheduler"))
        if spec.subscriptions:
            group = consumer_group(spec.service, CONSUMER)
            runner = EventConsumer.shared(group, [
                Part(consumer_group(spec.service, sub.name), tuple(sub.topics), sub.handlers,
                     sub.max_attempts) for sub in spec.subscriptions], sessionmaker, producer,
                linger_ms=spec.linger_ms)
            kafka_consumer = make_consumer(settings, group, *runner.topics,
                                           linger_ms=spec.linger_ms)
            await kafka_consumer.start()
            consumers.append(kafka_consumer)
            tasks.append(asyncio.create_task(
                runner.run(kafka_consumer, stop, heartbeat.loop(CONSUMER)), name=CONSUMER))
        for name, service_loop in spec.loops.items():
            tasks.append(asyncio.create_task(
                service_loop(sessionmaker, stop, heartbeat.loop(name)), name=name))
        tasks.append(asyncio.create_task(heartbeat.run(stop, report=report), name="heartbeat"))
        if settings.telemetry:
            tasks.append(asyncio.create_task(
                sample(sessionmaker, spec, runner, consumers[0] if consumers else None, stop),
                name="metrics"))
        log.info("%s worker running (relay=%s, consumers=%s, loops=%s)", spec.service,
                 spec.relay, [s.name for s in spec.subscriptions], list(spec.loops))
        done, _ = await asyncio.wait(
            [*tasks, asyncio.create_task(stop.wait())], return_when=asyncio.FIRST_COMPLETED
        )
        for task in done:  # a crashed loop must take the process down, not hang silently
            if (error := task.exception()) is not None:
                raise error
    finally:
        stop.set()
        await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), timeout=8)
        for kafka_consumer in consumers:
            with contextlib.suppress(Exception):
                await kafka_consumer.stop()
        with contextlib.suppress(Exception):
            await producer.stop()
        with contextlib.suppress(Exception):
            async with asyncio.timeout(3), sessionmaker() as session:
                await liveness.withdraw(session, worker)
        await engine.dispose()
        telemetry.flush()
        if server is not None:
            server.shutdown()
            server.server_close()


def worker_name(spec: WorkerSpec) -> str:
    """The worker in logs and traces: ``deals-worker``."""
    return f"{spec.service}-worker"


def main(spec: WorkerSpec) -> None:
    if spec.settings.json_logs():
        telemetry.log_json(worker_name(spec))
    else:
        logging.basicConfig(level=logging.INFO,
                            format=f"%(asctime)s {worker_name(spec)} %(levelname)s %(message)s")

    async def runner() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await run_worker(spec, stop)

    # uvloop, as the APIs' servers have (uvicorn picks it): a worker's loop turns many times
    # an event (fetches, relay rounds, round trips), each cheaper than the stdlib loop's.
    uvloop.run(runner())
