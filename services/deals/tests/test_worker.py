"""The worker as deployed: partner events on the real broker reach the directory."""

import asyncio
import dataclasses
import uuid

from sqlalchemy import text

from prm_deals.config import Settings
from prm_deals.worker import spec
from prm_events.kafka import ensure_topics, make_producer
from prm_events.worker import run_worker


async def test_partner_events_on_the_broker_reach_the_directory(engine, partner_event):
    # The broker is shared with the whole test session (cross-service stacks included): a topic
    # and consumer group of its own keep this worker from taking or stealing anyone's events.
    settings = Settings()
    run = uuid.uuid4().hex[:8]
    topic = f"prm.partners.test-{run}"
    worker_spec = spec(settings)
    worker_spec = dataclasses.replace(
        worker_spec, service=f"deals-test-{run}",
        subscriptions=[dataclasses.replace(s, topics=[topic]) for s in worker_spec.subscriptions])
    await ensure_topics(settings, [topic])
    partner_id = uuid.uuid4()
    events = [partner_event(partner_id),
              partner_event(partner_id, version=2, status="active", previous_status="onboarding")]
    stop = asyncio.Event()
    worker = asyncio.create_task(run_worker(worker_spec, stop))
    producer = make_producer(settings)
    await producer.start()
    try:
        for event in events:
            await producer.send_and_wait(topic, key=str(partner_id).encode(),
                                         value=event.to_json())
        row = None
        async with asyncio.timeout(60):
            while row is None or row.version < 2:
                assert not worker.done(), worker
                await asyncio.sleep(0.2)
                async with engine.connect() as connection:
                    row = (await connection.execute(
                        text("SELECT status, version, events_applied FROM partner_directory "
                             "WHERE partner_id = :p"), {"p": partner_id})).first()
        assert tuple(row) == ("active", 2, 2)
    finally:
        await producer.stop()
        stop.set()
        await worker
        async with engine.begin() as connection:  # the worker committed for real
            await connection.execute(text("DELETE FROM partner_directory WHERE partner_id = :p"),
                                     {"p": partner_id})
            await connection.execute(text("DELETE FROM inbox WHERE event_id = ANY(:ids)"),
                                     {"ids": [e.id for e in events]})
