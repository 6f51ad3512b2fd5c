"""The outbox relay against the real PostgreSQL and broker."""

import asyncio
import uuid

import asyncpg
import orjson
import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.errors import NotLeaderForPartitionError
from sqlalchemy import text

from prm_contracts import PARTNERS_TOPIC, PartnerSnapshot, PartnerUpdatedV1
from prm_events.kafka import ensure_topics, make_producer
from prm_events.outbox import OutboxRelay, publish, wake_channel
from prm_platform.db import asyncpg_dsn, make_sessionmaker
from prm_platform.settings import ServiceSettings
from prm_stack.testing import scratch_schema


def update_event(partner_id: uuid.UUID, version: int) -> PartnerUpdatedV1:
    snapshot = PartnerSnapshot(id=partner_id, name=f"v{version}", type="msp", country="DE",
                               status="active", version=version)
    return PartnerUpdatedV1(partner=snapshot, changed=["name"])


async def write_event(sessionmaker, aggregate: uuid.UUID, version: int = 1) -> None:
    """One event of ``aggregate`` written and committed, as a request would."""
    async with sessionmaker() as session:
        await publish(session, update_event(aggregate, version), source="/test",
                      aggregate_id=aggregate)
        await session.commit()


async def read_topic(bootstrap: str, keys: set[str], expected: int, timeout: float = 30):
    consumer = AIOKafkaConsumer(PARTNERS_TOPIC, bootstrap_servers=bootstrap,
                                auto_offset_reset="earliest", enable_auto_commit=False,
                                group_id=f"reader-{uuid.uuid4()}")
    await consumer.start()
    seen = []
    try:
        deadline = asyncio.get_running_loop().time() + timeout
        while len(seen) < expected and asyncio.get_running_loop().time() < deadline:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                seen += [r for r in records if r.key.decode() in keys]
    finally:
        await consumer.stop()
    return seen


async def test_two_relays_publish_everything_in_order_per_aggregate(prm_infra):
    settings = ServiceSettings()
    await ensure_topics(settings, [PARTNERS_TOPIC])
    aggregates = [uuid.uuid4() for _ in range(8)]
    versions = 25
    async with scratch_schema(prm_infra) as (engine, schema):
        sessionmaker = make_sessionmaker(engine)
        # interleave the aggregates' events, one transaction each, as real requests would
        for version in range(1, versions + 1):
            for aggregate in aggregates:
                async with sessionmaker() as session:
                    await publish(session, update_event(aggregate, version), source="/test",
                                  aggregate_id=aggregate)
                    await session.commit()

        producers = [make_producer(settings) for _ in range(2)]
        for producer in producers:
            await producer.start()
        stop = asyncio.Event()
        relays = [OutboxRelay(sessionmaker, producer, batch_size=7)
                  for producer in producers]
        tasks = [asyncio.create_task(relay.run(stop)) for relay in relays]
        try:
            for _ in range(200):
                async with engine.connect() as c:
                    left = (await c.execute(text(
                        "SELECT count(*) FROM outbox WHERE published_at IS NULL"))).scalar_one()
                if left == 0:
                    break
                await asyncio.sleep(0.1)
            assert left == 0
        finally:
            stop.set()
            await asyncio.gather(*tasks)
            for producer in producers:
                await producer.stop()

    records = await read_topic(prm_infra.kafka_bootstrap, {str(a) for a in aggregates},
                               expected=len(aggregates) * versions)
    by_key: dict[str, list[int]] = {}
    for record in records:
        envelope = orjson.loads(record.value)
        assert envelope["specversion"] == "1.0"
        assert envelope["type"] == "prm.partner.updated.v1"
        by_key.setdefault(record.key.decode(), []).append(envelope["data"]["partner"]["version"])
    assert set(by_key) == {str(a) for a in aggregates}
    for versions_seen in by_key.values():
        assert versions_seen == list(range(1, versions + 1))


async def test_an_idle_relay_picks_new_events_up_within_its_poll_interval(prm_infra):
    """No NOTIFY: an idle relay probes for unpublished rows every poll interval (50 ms here);
    the row's commit wakes nothing, and the error backoff (60 s) would time the test out."""
    settings = ServiceSettings()
    aggregate = uuid.uuid4()
    async with scratch_schema(prm_infra) as (engine, schema):
        sessionmaker = make_sessionmaker(engine)
        producer = make_producer(settings)
        await producer.start()
        stop = asyncio.Event()
        relay = OutboxRelay(sessionmaker, producer, poll_interval=0.05, error_backoff=60)
        task = asyncio.create_task(relay.run(stop))
        try:
            await asyncio.sleep(0.5)  # the relay is idle, probing
            await write_event(sessionmaker, aggregate)
            records = await read_topic(prm_infra.kafka_bootstrap, {str(aggregate)}, 1,
                                       timeout=20)
            assert len(records) == 1
        finally:
            stop.set()
            await task
            await producer.stop()


class CountingRelay(OutboxRelay):
    """Records the events of each round that published some, and counts the looks."""

    rounds: list[int]
    looks = 0
    published: asyncio.Event

    async def relay_once(self) -> int:
        published = await super().relay_once()
        if published:
            self.rounds.append(published)
            self.published.set()
        return published

    async def until_published(self, events: int) -> None:
        async with asyncio.timeout(20):
            while sum(self.rounds) < events:
                self.published.clear()
                await self.published.wait()

    async def pending(self) -> bool:
        self.looks += 1
        return await super().pending()


async def test_while_events_flow_a_round_carries_what_came_meanwhile(prm_infra):
    """After a round that published some, the relay claims again ``gather_seconds`` later
    without a look first: the events written meanwhile leave in that one round."""
    settings = ServiceSettings()
    await ensure_topics(settings, [PARTNERS_TOPIC])
    aggregates = [uuid.uuid4() for _ in range(5)]
    async with scratch_schema(prm_infra) as (engine, schema):
        sessionmaker = make_sessionmaker(engine)
        producer = make_producer(settings)
        await producer.start()
        stop = asyncio.Event()
        relay = CountingRelay(sessionmaker, producer, gather_seconds=3.0, poll_interval=0.02,
                              error_backoff=60)
        relay.rounds, relay.published = [], asyncio.Event()
        task = asyncio.create_task(relay.run(stop))
        try:
            await write_event(sessionmaker, aggregates[0])
            await relay.until_published(1)
            looks = relay.looks
            for aggregate in aggregates[1:]:  # well within the gather
                await write_event(sessionmaker, aggregate)
            await relay.until_published(len(aggregates))
            assert relay.rounds == [1, 4]
            assert relay.looks == looks  # claimed at once, no look between the rounds
        finally:
            stop.set()
            await task
            await producer.stop()
    records = await read_topic(prm_infra.kafka_bootstrap, {str(a) for a in aggregates},
                               expected=len(aggregates))
    assert len(records) == len(aggregates)


async def test_a_row_the_broker_refuses_is_parked_and_does_not_wedge_the_relay(prm_infra,
                                                                             caplog):
    settings = ServiceSettings()
    await ensure_topics(settings, [PARTNERS_TOPIC])
    bad, good = uuid.uuid4(), uuid.uuid4()
    async with scratch_schema(prm_infra) as (engine, schema):
        sessionmaker = make_sessionmaker(engine)
        async with sessionmaker() as session:
            # Larger than the producer's request limit: send() refuses it at once.
            huge = PartnerUpdatedV1(partner=PartnerSnapshot(
                id=bad, name="x" * 2_000_000, type="msp", country="DE", status="active",
                version=1), changed=["name"])
            await publish(session, huge, source="/test", aggregate_id=bad)
            await publish(session, update_event(bad, 2), source="/test", aggregate_id=bad)
            await session.commit()
        producer = make_producer(settings)
        await producer.start()
        relay = OutboxRelay(sessionmaker, producer, max_attempts=3)
        try:
            for version in range(1, 5):  # other aggregates keep flowing meanwhile
                async with sessionmaker() as session:
                    await publish(session, update_event(good, version), source="/test",
                                  aggregate_id=good)
                    await session.commit()
                assert await relay.relay_once() == 1
            assert await relay.relay_once() == 0  # parked: no longer tried
        finally:
            await producer.stop()
        async with engine.connect() as c:
            rows = [tuple(r) for r in await c.execute(text(
                "SELECT key, published_at IS NOT NULL, attempts, last_error IS NOT NULL "
                "FROM outbox ORDER BY seq"))]
    assert rows[0] == (str(bad), False, 3, True)  # parked, visible, with its error
    assert rows[1][:2] == (str(bad), False)  # the next event of that aggregate waits behind it
    assert all(published for key, published, *_ in rows[2:] if key == str(good))
    assert "outbox row parked" in caplog.text
    records = await read_topic(prm_infra.kafka_bootstrap, {str(good)}, expected=4)
    assert len(records) == 4


class LeaderlessFor:
    """The real producer, except that while ``leaderless``, sends of one key fail as a
    partition without a leader fails them (during a broker's restart)."""

    def __init__(self, producer, key: bytes) -> None:
        self.producer, self.key, self.leaderless = producer, key, True

    async def send(self, topic, *, key, **kwargs):
        if key == self.key and self.leaderless:
            failed = asyncio.get_running_loop().create_future()
            failed.set_exception(NotLeaderForPartitionError())
            return failed
        return await self.producer.send(topic, key=key, **kwargs)


async def test_a_broker_error_on_some_rows_never_parks_them(prm_infra):
    """While some partitions have no leader, others accept: the failed rows are not at fault,
    so however often it happens they are sent again, never parked, and keep their order."""
    settings = ServiceSettings()
    await ensure_topics(settings, [PARTNERS_TOPIC])
    unlucky, lucky = uuid.uuid4(), uuid.uuid4()
    async with scratch_schema(prm_infra) as (engine, schema):
        sessionmaker = make_sessionmaker(engine)
        producer = make_producer(settings)
        await producer.start()
        leaderless = LeaderlessFor(producer, str(unlucky).encode())
        relay = OutboxRelay(sessionmaker, leaderless, max_attempts=3)
        try:
            for version in range(1, 7):
                async with sessionmaker() as session:
                    await publish(session, update_event(unlucky, version), source="/test",
                                  aggregate_id=unlucky)
                    await publish(session, update_event(lucky, version), source="/test",
                                  aggregate_id=lucky)
                    await session.commit()
                with pytest.raises(NotLeaderForPartitionError):  # the broker's trouble
                    await relay.relay_once()
            leaderless.leaderless = False
            assert await relay.relay_once() == 6  # the leader is back: all of them go
        finally:
            await producer.stop()
        async with engine.connect() as c:
            rows = [tuple(r) for r in await c.execute(text(
                "SELECT key, published_at IS NOT NULL, attempts FROM outbox ORDER BY seq"))]
    assert all(published for _, published, _ in rows), rows
    assert {attempts for key, _, attempts in rows if key == str(unlucky)} == {1}, rows
    records = await read_topic(prm_infra.kafka_bootstrap, {str(unlucky)}, expected=6)
    assert [orjson.loads(r.value)["data"]["partner"]["version"] for r in records] == \
        list(range(1, 7))


async def test_a_sleeping_relay_is_woken_by_the_first_write_after_a_quiet_spell(prm_infra):
    """Asleep (nothing for ``stay_awake``), the relay would look again only after a minute:
    the first event written after a quiet spell wakes it with its commit, and the writes that
    follow at once send no NOTIFY of their own (the relay is awake)."""
    settings = ServiceSettings()
    aggregate = uuid.uuid4()
    async with scratch_schema(prm_infra) as (engine, schema):
        sessionmaker = make_sessionmaker(engine)
        dsn = asyncpg_dsn(prm_infra.database_url)
        notified: list[str] = []
        watcher = await asyncpg.connect(dsn)
        await watcher.add_listener(wake_channel(schema), lambda *args: notified.append(args[2]))
        producer = make_producer(settings)
        await producer.start()
        stop = asyncio.Event()
        relay = OutboxRelay(sessionmaker, producer, error_backoff=60, idle_poll_interval=60,
                            stay_awake=0.3, wake=(dsn, wake_channel(schema)))
        task = asyncio.create_task(relay.run(stop))
        try:
            await asyncio.sleep(1.5)  # asleep, and this process quiet for QUIET_SECONDS
            for version in range(1, 21):
                async with sessionmaker() as session:
                    await publish(session, update_event(aggregate, version), source="/test",
                                  aggregate_id=aggregate)
                    await session.commit()
            records = await read_topic(prm_infra.kafka_bootstrap, {str(aggregate)}, 20,
                                       timeout=20)
            assert len(records) == 20
            assert notified == [wake_channel(schema)], "one NOTIFY: the first write after quiet"
        finally:
            stop.set()
            await task
            await producer.stop()
            await watcher.close()


async def test_a_relay_gets_over_its_connection_being_ended(prm_infra):
    """The relay's statements bypass SQLAlchemy's execution, so a pooled connection the server
    ended (a restart, a failover) must still leave the pool: the next look opens a new one
    rather than failing on the dead one for ever."""
    settings = ServiceSettings()
    await ensure_topics(settings, [PARTNERS_TOPIC])
    async with scratch_schema(prm_infra) as (engine, _):
        sessionmaker = make_sessionmaker(engine)
        aggregate = uuid.uuid4()
        await write_event(sessionmaker, aggregate)
        producer = make_producer(settings)
        await producer.start()
        try:
            relay = OutboxRelay(sessionmaker, producer)
            assert await relay.pending()  # the pool holds this one connection now
            async with relay._driver() as driver:
                pid = await driver.fetchval("SELECT pg_backend_pid()")
            admin = await asyncpg.connect(asyncpg_dsn(prm_infra.database_url))
            try:
                assert await admin.fetchval("SELECT pg_terminate_backend($1)", pid)
            finally:
                await admin.close()
            # The error depends on when the client sees the server's goodbye: an error
            # response, a closed connection, or a protocol left mid-operation.
            with pytest.raises((asyncpg.PostgresError, asyncpg.InterfaceError,
                                asyncpg.InternalClientError, OSError)):
                await relay.pending()
            assert await relay.pending()  # a new connection
            assert await relay.relay_once() == 1
        finally:
            await producer.stop()
