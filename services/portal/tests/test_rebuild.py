"""The read model is rebuilt from the topics alone: the worker as deployed reads the contexts'
events from the broker, and a fresh consumer group replaying the topics from the start into
emptied tables gives the same answers."""

import asyncio
import dataclasses
import uuid

from sqlalchemy import text

from prm_events.kafka import ensure_topics, make_producer
from prm_events.worker import run_worker
from prm_portal.config import Settings
from prm_portal.worker import spec


async def answers(client, vendor, as_partner, partners) -> dict:
    found = {}
    for partner in partners:
        mine = as_partner(partner)
        found[f"home {partner}"] = (await client.get("/v1/partner-home", headers=mine)).json()
        found[f"notifications {partner}"] = (await client.get(
            "/v1/notifications", headers=mine, params={"limit": 200})).json()
    found["vendor notifications"] = (await client.get(
        "/v1/notifications", headers=vendor, params={"limit": 200})).json()
    for q in ("müller", "globex", "webinar", "initech"):
        found[f"search {q}"] = (await client.get("/v1/search", headers=vendor,
                                                 params={"q": q, "limit": 50})).json()
    return found


async def consume_all(engine, worker_spec, expected: int) -> None:
    """Run the worker until its inbox holds ``expected`` (part, event) records."""
    stop = asyncio.Event()
    worker = asyncio.create_task(run_worker(worker_spec, stop))
    try:
        async with asyncio.timeout(90):
            while True:
                assert not worker.done(), worker
                async with engine.connect() as connection:
                    applied = (await connection.execute(text(
                        "SELECT count(*) FROM inbox"))).scalar_one()
                if applied >= expected:
                    return
                await asyncio.sleep(0.2)
    finally:
        stop.set()
        await worker


async def test_replaying_the_topics_from_the_start_gives_the_same_answers(
        client, engine, story, vendor, as_partner, fresh):
    settings = Settings()
    run = uuid.uuid4().hex[:8]
    base = spec(settings)
    # Topics and groups of its own: the broker is shared with the whole test session.
    renamed = {topic: f"{topic}.test-{run}" for sub in base.subscriptions for topic in sub.topics}
    subscriptions = [dataclasses.replace(s, topics=[renamed[t] for t in s.topics])
                     for s in base.subscriptions]
    await ensure_topics(settings, sorted(set(renamed.values())))
    told, other = story(), story()
    events = told.events + other.events
    producer = make_producer(settings)
    await producer.start()
    try:
        for event in events:
            topic = renamed[{"/prm/partners": "prm.partners", "/prm/deals": "prm.deals",
                             "/prm/incentives": "prm.incentives"}[event.source]]
            await producer.send_and_wait(topic, key=(event.subject or "").encode(),
                                         value=event.to_json())
    finally:
        await producer.stop()
    # Each event is recorded once by each part with a handler for it (the home, the
    # notifications); a part without one records nothing.
    expected = sum(event.type in sub.handlers for sub in subscriptions for event in events)
    assert expected >= len(events)
    first = dataclasses.replace(base, service=f"portal-test-{run}-a", subscriptions=subscriptions)
    await consume_all(engine, first, expected)
    before = await answers(client, vendor, as_partner, [told.partner_id, other.partner_id])
    assert before[f"home {told.partner_id}"]["deals"]["open"] == 3
    assert len(before[f"notifications {told.partner_id}"]["items"]) == 10

    await fresh()
    replay = dataclasses.replace(base, service=f"portal-test-{run}-b", subscriptions=subscriptions)
    await consume_all(engine, replay, expected)
    assert await answers(client, vendor, as_partner, [told.partner_id, other.partner_id]) \
        == before
