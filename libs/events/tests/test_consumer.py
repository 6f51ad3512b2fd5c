"""The idempotent consumer: inbox, manual commits, dead-letter topic."""

import asyncio
import uuid

import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.structs import ConsumerRecord
from sqlalchemy import text

from prm_contracts import PartnerSnapshot, PartnerUpdatedV1, dead_letter_topic
from prm_events import consumer as consumer_module
from prm_events.consumer import EventConsumer, Part
from prm_events.envelope import CloudEvent, new_event
from prm_events.kafka import ensure_topics, make_consumer, make_producer
from prm_platform.db import Statement, make_sessionmaker
from prm_platform.projections import GATHERED, NewestVersion, projection, write_gathered
from prm_platform.settings import ServiceSettings
from prm_stack.testing import scratch_schema

EFFECTS = "CREATE TABLE effects (event_id uuid NOT NULL, name text NOT NULL)"


def event(name: str) -> CloudEvent:
    snapshot = PartnerSnapshot(id=uuid.uuid4(), name=name, type="msp", country="DE",
                               status="active", version=1)
    return new_event(PartnerUpdatedV1(partner=snapshot, changed=["name"]), source="/test",
                     subject=str(snapshot.id))


async def effect(session, event: CloudEvent) -> None:
    name = event.data["partner"]["name"]
    if name == "poison":
        raise ValueError("cannot apply a poison event")
    await session.execute(text("INSERT INTO effects VALUES (:id, :name)"),
                          {"id": event.id, "name": name})


async def consume_until(runner, kafka_consumer, done, timeout=30):
    stop = asyncio.Event()
    task = asyncio.create_task(runner.run(kafka_consumer, stop))
    try:
        for _ in range(int(timeout / 0.1)):
            if await done():
                break
            await asyncio.sleep(0.1)
    finally:
        stop.set()
        await task


async def effect_names(engine) -> list[str]:
    async with engine.connect() as c:
        return list((await c.execute(text("SELECT name FROM effects ORDER BY name"))
                     ).scalars().all())


async def consume_to(runner, settings, engine, wanted: list[str], *topics: str) -> list[str]:
    """Run ``runner`` in a new group on ``topics`` until the effects are ``wanted`` (or 30 s
    passed); returns the effects then."""
    async def done():
        return await effect_names(engine) == wanted

    kafka_consumer = make_consumer(settings, f"group-{uuid.uuid4().hex[:8]}", *topics)
    await kafka_consumer.start()
    await consume_until(runner, kafka_consumer, done)
    await kafka_consumer.stop()
    return await effect_names(engine)


async def test_duplicates_applied_once_poison_dead_lettered_offsets_committed(prm_infra):
    settings = ServiceSettings()
    topic = f"test.consumer.{uuid.uuid4().hex[:8]}"
    await ensure_topics(settings, [topic, dead_letter_topic(topic)])
    good, poison, after = event("good"), event("poison"), event("after")
    producer = make_producer(settings)
    await producer.start()
    for raw in (good.to_json(), good.to_json(), b"not json at all", poison.to_json(),
                after.to_json()):
        await producer.send_and_wait(topic, key=b"same-key", value=raw)

    async with scratch_schema(prm_infra, EFFECTS) as (engine, _):
        sessionmaker = make_sessionmaker(engine)
        handlers = {PartnerUpdatedV1.event_type: effect}
        runner = EventConsumer("test-consumer", [topic], handlers, sessionmaker, producer,
                               max_attempts=3, retry_delay=0.01)
        group = f"group-{uuid.uuid4().hex[:8]}"

        async def effects():
            async with engine.connect() as c:
                return (await c.execute(text("SELECT name FROM effects ORDER BY name"))
                        ).scalars().all()

        async def all_done():
            return await effects() == ["after", "good"]

        kafka_consumer = make_consumer(settings, group, topic)
        await kafka_consumer.start()
        await consume_until(runner, kafka_consumer, all_done)
        await kafka_consumer.stop()
        assert await effects() == ["after", "good"]  # duplicate of "good" applied once

        async with engine.connect() as c:
            outcomes = dict((await c.execute(text(
                "SELECT event_id, outcome FROM inbox"))).all())
        assert outcomes == {good.id: "applied", after.id: "applied",
                            poison.id: "dead_lettered"}

        # the poison event and the malformed message are on the dead-letter topic
        dlt = AIOKafkaConsumer(dead_letter_topic(topic), bootstrap_servers=settings.kafka_bootstrap,
                               auto_offset_reset="earliest", group_id=f"dlt-{group}")
        await dlt.start()
        dead = []
        for _ in range(40):
            for records in (await dlt.getmany(timeout_ms=250)).values():
                dead += records
            if len(dead) >= 2:
                break
        await dlt.stop()
        assert sorted(r.value[:8] for r in dead) == sorted([b"not json", poison.to_json()[:8]])
        errors = [dict(r.headers)["dlt_error"].decode() for r in dead]
        assert any("poison" in e for e in errors) and any("not a CloudEvent" in e for e in errors)

        # offsets were committed: the same group has nothing left to read
        again = make_consumer(settings, group, topic)
        await again.start()
        leftover = await again.getmany(timeout_ms=2000)
        await again.stop()
        assert sum(len(r) for r in leftover.values()) == 0

        # replaying the whole topic from the start in a new group changes nothing
        replay = make_consumer(settings, f"replay-{group}", topic)
        await replay.start()
        applied = await runner.apply(good)
        await consume_until(runner, replay, all_done, timeout=3)
        await replay.stop()
        assert applied is False
        assert await effects() == ["after", "good"]
    await producer.stop()


async def test_a_fetch_is_applied_in_one_transaction_and_a_poison_costs_only_itself(prm_infra):
    settings = ServiceSettings()
    topic = f"test.consumer.{uuid.uuid4().hex[:8]}"
    await ensure_topics(settings, [topic, dead_letter_topic(topic)])
    names = [f"p{i:03d}" for i in range(60)]
    names[30] = "poison"
    events = [event(name) for name in names]
    producer = make_producer(settings)
    await producer.start()
    for e in events + events[:5]:  # five redelivered at the end
        await producer.send(topic, key=b"one-partition", value=e.to_json())
    await producer.flush()

    async with scratch_schema(prm_infra, EFFECTS) as (engine, _):
        runner = EventConsumer("test-batch", [topic], {PartnerUpdatedV1.event_type: effect},
                               make_sessionmaker(engine), producer, max_attempts=2,
                               retry_delay=0.01)
        wanted = sorted(n for n in names if n != "poison")
        # each once; the poison alone left out
        assert await consume_to(runner, settings, engine, wanted, topic) == wanted

        async with engine.connect() as c:
            rows = (await c.execute(text(
                "SELECT outcome, count(*), count(DISTINCT processed_at) FROM inbox "
                "GROUP BY outcome"))).all()
        by_outcome = {outcome: (count, moments) for outcome, count, moments in rows}
        assert by_outcome["dead_lettered"][0] == 1
        applied, moments = by_outcome["applied"]
        assert applied == 59
        # far fewer transactions than events: fetches went in together
        assert moments < applied / 2
    await producer.stop()


async def test_parts_share_one_consumer_and_fail_alone(prm_infra):
    """Two parts read one topic with one consumer (a third part reads another topic): each
    applies every event under its own inbox name, in one transaction per fetch; the part whose
    handler refuses an event dead-letters it alone, naming itself, and the other part's effect
    of that event stays."""
    settings = ServiceSettings()
    shared, other = (f"test.parts.{uuid.uuid4().hex[:8]}" for _ in range(2))
    await ensure_topics(settings, [shared, other, dead_letter_topic(shared)])
    names = [f"n{i:02d}" for i in range(20)]
    names[7] = "poison"
    events = [event(name) for name in names]
    elsewhere = event("elsewhere")
    producer = make_producer(settings)
    await producer.start()
    for e in events:
        await producer.send(shared, key=b"one-partition", value=e.to_json())
    await producer.send(other, key=b"k", value=elsewhere.to_json())
    await producer.flush()

    async def lenient(session, event: CloudEvent) -> None:
        await session.execute(text("INSERT INTO effects VALUES (:id, :name)"),
                              {"id": event.id, "name": "lenient " + event.data["partner"]["name"]})

    async with scratch_schema(prm_infra, EFFECTS) as (engine, _):
        runner = EventConsumer.shared("test.events", [
            Part("test.strict", (shared,), {PartnerUpdatedV1.event_type: effect}, 2),
            Part("test.lenient", (shared, other), {PartnerUpdatedV1.event_type: lenient}),
            Part("test.unrelated", (other,), {}),
        ], make_sessionmaker(engine), producer, retry_delay=0.01)
        assert runner.topics == sorted([shared, other])
        wanted = sorted([n for n in names if n != "poison"]
                        + [f"lenient {n}" for n in [*names, "elsewhere"]])
        assert await consume_to(runner, settings, engine, wanted, *runner.topics) == wanted

        async with engine.connect() as c:
            rows = (await c.execute(text(
                "SELECT consumer, outcome, count(*) FROM inbox GROUP BY consumer, outcome"))
            ).all()
        assert {(consumer, outcome): n for consumer, outcome, n in rows} == {
            ("test.strict", "applied"): 19, ("test.strict", "dead_lettered"): 1,
            ("test.lenient", "applied"): 21}  # a part with no handler for it records nothing

        dlt = AIOKafkaConsumer(dead_letter_topic(shared),
                               bootstrap_servers=settings.kafka_bootstrap,
                               auto_offset_reset="earliest", group_id=f"dlt-{uuid.uuid4().hex}")
        await dlt.start()
        dead = []
        for _ in range(20):
            for records in (await dlt.getmany(timeout_ms=250)).values():
                dead += records
            if dead:
                break
        await dlt.stop()
        assert [(r.value, dict(r.headers)["dlt_consumer"]) for r in dead] == [
            (events[7].to_json(), b"test.strict")]
    await producer.stop()


STANDINGS = ("CREATE TABLE standings (partner_id uuid PRIMARY KEY, "
             "name text NOT NULL CHECK (name <> 'refused'), version int NOT NULL, "
             "seen int NOT NULL)")
_STANDINGS = NewestVersion("standings", "partner_id",
                           {"partner_id": None, "name": None, "version": None, "seen": "1"},
                           newer=("name", "version"), always={"seen": "t.seen + 1"})


@projection
async def standing(session, event: CloudEvent) -> None:
    partner = event.data["partner"]
    await _STANDINGS(session, partner_id=uuid.UUID(partner["id"]), name=partner["name"],
                     version=partner["version"])


async def read_standing(session, event: CloudEvent) -> None:
    """Not a projection: it reads what the projection wrote before it in the batch."""
    partner = event.data["partner"]
    held = (await session.execute(text("SELECT name FROM standings WHERE partner_id = :id"),
                                  {"id": uuid.UUID(partner["id"])})).scalar_one()
    await session.execute(text("INSERT INTO effects VALUES (:id, :name)"),
                          {"id": event.id, "name": f"{partner['name']} saw {held}"})


def versioned(partner_id: uuid.UUID, name: str, version: int) -> CloudEvent:
    snapshot = PartnerSnapshot(id=partner_id, name=name, type="msp", country="DE",
                               status="active", version=version)
    return new_event(PartnerUpdatedV1(partner=snapshot, changed=["name"]), source="/test",
                     subject=str(partner_id))


@pytest.mark.parametrize("with_reader", [False, True])
async def test_projection_upserts_are_gathered_over_a_batch(prm_infra, monkeypatch, with_reader):
    """In one batch, projection upserts wait and go together, yet a handler after them reads
    them, every version is counted, the newest wins whatever the order, and a row the
    database refuses costs only its own event (retried alone, dead-lettered)."""
    sent: list[int] = []

    async def counting(session) -> None:
        sent.append(sum(len(rows) for rows in session.info.get(GATHERED, {}).values()))
        await write_gathered(session)
    monkeypatch.setattr(consumer_module, "write_gathered", counting)

    settings = ServiceSettings()
    topic = f"test.gathered.{uuid.uuid4().hex[:8]}"
    await ensure_topics(settings, [topic, dead_letter_topic(topic)])
    one, two, three = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    events = [versioned(one, "one v2", 2), versioned(two, "two v1", 1),
              versioned(one, "one v1", 1), versioned(three, "refused", 1),
              versioned(two, "two v3", 3), versioned(one, "one v3", 3)]
    producer = make_producer(settings)
    await producer.start()
    for e in events:
        await producer.send(topic, key=b"one-partition", value=e.to_json())
    await producer.flush()
    async with scratch_schema(prm_infra, EFFECTS, STANDINGS) as (engine, _):
        parts = [Part("test.standing", (topic,), {PartnerUpdatedV1.event_type: standing}, 2)]
        if with_reader:
            parts.append(Part("test.reader", (topic,),
                              {PartnerUpdatedV1.event_type: read_standing}, 2))
            # Each event is read after its own standing was written; "refused" never is, so
            # the reader fails on it too and dead-letters it as well.
            wanted = sorted(["one v2 saw one v2", "two v1 saw two v1", "one v1 saw one v2",
                             "two v3 saw two v3", "one v3 saw one v3"])
        else:
            wanted = []
        runner = EventConsumer.shared("test.events", parts, make_sessionmaker(engine),
                                      producer, retry_delay=0.01)

        async def standings():
            async with engine.connect() as c:
                return sorted((await c.execute(text(
                    "SELECT partner_id, name, version, seen FROM standings"))).all())
        final = sorted([(one, "one v3", 3, 3), (two, "two v3", 3, 2)])
        kafka_consumer = make_consumer(settings, f"group-{uuid.uuid4().hex[:8]}", topic)
        await kafka_consumer.start()
        async def done() -> bool:
            return await standings() == final and await effect_names(engine) == wanted
        await consume_until(runner, kafka_consumer, done)
        await kafka_consumer.stop()
        assert await standings() == final
        assert await effect_names(engine) == wanted
        async with engine.connect() as c:
            outcomes = (await c.execute(text(
                "SELECT consumer, outcome, count(*) FROM inbox GROUP BY consumer, outcome"))
            ).all()
        assert {(c, o): n for c, o, n in outcomes} == {
            (part.name, outcome): n for part in parts
            for outcome, n in (("applied", 5), ("dead_lettered", 1))}
        if not with_reader:  # several rows went in one send
            assert max(sent) > 1
    await producer.stop()



async def test_a_quiet_consumer_waits_longer_per_fetch_and_still_gets_the_next_event(prm_infra):
    """Quiet for ``idle_after``, the broker may hold the consumer's fetches the longer idle
    wait, and longer still after ``deep_idle_after`` (fewer requests while nothing happens);
    the next event still arrives, and brings the short wait back."""
    from prm_events.kafka import BUSY_FETCH_WAIT_MS, DEEP_IDLE_FETCH_WAIT_MS, IDLE_FETCH_WAIT_MS

    settings = ServiceSettings()
    topic = f"test.quiet.{uuid.uuid4().hex[:8]}"
    await ensure_topics(settings, [topic])
    producer = make_producer(settings)
    await producer.start()
    async with scratch_schema(prm_infra, EFFECTS) as (engine, _):
        runner = EventConsumer("quiet", [topic], {PartnerUpdatedV1.event_type: effect},
                               make_sessionmaker(engine), producer, idle_after=0.5,
                               deep_idle_after=3.0)
        kafka_consumer = make_consumer(settings, f"group-{uuid.uuid4().hex[:8]}", topic)
        await kafka_consumer.start()
        waits = []
        stop = asyncio.Event()
        task = asyncio.create_task(runner.run(
            kafka_consumer, stop, lambda: waits.append(kafka_consumer._fetcher._fetch_max_wait_ms)))
        try:
            await asyncio.sleep(2.0)
            assert waits[-1] == IDLE_FETCH_WAIT_MS
            await asyncio.sleep(2.5)
            assert waits[-1] == DEEP_IDLE_FETCH_WAIT_MS
            await producer.send_and_wait(topic, value=event("woken").to_json())
            for _ in range(50):
                if await effect_names(engine) == ["woken"]:
                    break
                await asyncio.sleep(0.1)
            assert await effect_names(engine) == ["woken"]
            assert waits[-1] == BUSY_FETCH_WAIT_MS
        finally:
            stop.set()
            await task
            await kafka_consumer.stop()
    await producer.stop()


async def test_a_connection_lost_under_a_driver_statement_is_an_outage_not_a_poison(prm_infra):
    """A handler's statement on asyncpg itself fails with asyncpg's error when the server ends
    the connection: the consumer waits and applies the event again, alone or in a batch, and
    dead-letters nothing (with one attempt allowed, a poison would be parked at once)."""
    settings = ServiceSettings()
    topic = f"test.outage.{uuid.uuid4().hex[:8]}"
    await ensure_topics(settings, [topic, dead_letter_topic(topic)])
    producer = make_producer(settings)
    await producer.start()
    severed: set[str] = set()

    try:
        await severed_consumer(prm_infra, topic, producer, severed)
    finally:
        await producer.stop()


async def severed_consumer(prm_infra, topic, producer, severed: set[str]) -> None:
    pid = Statement("SELECT pg_backend_pid() AS pid")
    record_effect = Statement("INSERT INTO effects VALUES (:id, :name)")
    async with scratch_schema(prm_infra, EFFECTS) as (engine, _):
        async def cut_once(session, event: CloudEvent) -> None:
            name = event.data["partner"]["name"]
            if name not in severed:  # the first try of each event loses its connection
                severed.add(name)
                own = (await pid.fetchrow(session))["pid"]
                async with engine.connect() as other:
                    await other.execute(text("SELECT pg_terminate_backend(:pid)"),
                                        {"pid": own})
                    await other.commit()
            await record_effect.fetchrow(session, {"id": event.id, "name": name})

        runner = EventConsumer("test-outage", [topic], {PartnerUpdatedV1.event_type: cut_once},
                               make_sessionmaker(engine), producer, max_attempts=1,
                               retry_delay=0.01)

        def record(e: CloudEvent, offset: int) -> ConsumerRecord:
            value = e.to_json()
            return ConsumerRecord(topic, 0, offset, 0, 0, None, value, None, 0, len(value), ())

        await runner.handle(record(event("alone"), 0))
        await runner.handle_batch([record(event("first"), 1), record(event("second"), 2)])
        assert await effect_names(engine) == ["alone", "first", "second"]
        assert severed == {"alone", "first", "second"}
        async with engine.connect() as c:
            outcomes = (await c.execute(text("SELECT DISTINCT outcome FROM inbox"))).all()
        assert outcomes == [("applied",)]
