"""The partner directory: kept only from partner events, never going back in time."""

import uuid

from sqlalchemy import text

from prm_contracts import PARTNERS_TOPIC
from prm_deals.directory.handlers import HANDLERS
from prm_deals.directory.models import PartnerDirectoryEntry
from prm_deals.worker import spec
from prm_events.consumer import EventConsumer


async def apply(sessions, *events):
    async with sessions() as session:
        for event in events:
            await HANDLERS[event.type](session, event)
        await session.commit()


async def entry(sessions, partner_id) -> PartnerDirectoryEntry:
    async with sessions() as session:
        return await session.get(PartnerDirectoryEntry, partner_id)


def test_handles_every_partner_event_and_the_worker_subscribes_them(prm_infra):
    assert set(HANDLERS) == {"prm.partner.created.v1", "prm.partner.updated.v1",
                             "prm.partner.status_changed.v1"}
    worker = spec()
    assert (worker.service, worker.schema, worker.relay) == ("deals", "deals", True)
    subscriptions = {sub.name: sub for sub in worker.subscriptions}
    assert set(subscriptions) == {"partner-directory", "credentials"}
    assert subscriptions["partner-directory"].topics == [PARTNERS_TOPIC]
    assert subscriptions["partner-directory"].handlers is HANDLERS


async def test_created_event_lists_the_partner(sessions, partner_event):
    partner_id = uuid.uuid4()
    created = partner_event(partner_id)
    await apply(sessions, created)
    listed = await entry(sessions, partner_id)
    assert (listed.name, listed.type, listed.country, listed.status, listed.version) == (
        "Acme Cloud GmbH", "msp", "DE", "onboarding", 1)
    assert listed.events_applied == 1
    assert listed.last_event_at == created.time
    assert listed.projected_at is not None


async def test_later_versions_replace_the_snapshot(sessions, partner_event):
    partner_id = uuid.uuid4()
    renamed = partner_event(partner_id, version=2, name="Acme Cloud SE")
    activated = partner_event(partner_id, version=3, name="Acme Cloud SE", status="active",
                              previous_status="onboarding")
    await apply(sessions, partner_event(partner_id), renamed, activated)
    listed = await entry(sessions, partner_id)
    assert (listed.name, listed.status, listed.version) == ("Acme Cloud SE", "active", 3)
    assert listed.last_event_at == activated.time
    assert listed.events_applied == 3


async def test_out_of_order_and_replayed_events_never_regress_it(sessions, partner_event):
    partner_id = uuid.uuid4()
    created = partner_event(partner_id)
    suspended = partner_event(partner_id, version=3, status="suspended",
                              previous_status="active")
    activated = partner_event(partner_id, version=2, status="active",
                              previous_status="onboarding")
    # The status change to suspended overtakes both earlier events, then one is replayed.
    await apply(sessions, suspended, created, activated, created)
    listed = await entry(sessions, partner_id)
    assert (listed.status, listed.version, listed.last_event_at) == (
        "suspended", 3, suspended.time)
    assert listed.events_applied == 4  # the handler ran four times; only one took


async def test_the_inbox_applies_each_event_once(sessions, partner_event):
    # apply() records the inbox row and runs the handler; it never touches the broker.
    consumer = EventConsumer("deals.partner-directory", [PARTNERS_TOPIC], HANDLERS, sessions,
                             producer=None)
    partner_id = uuid.uuid4()
    created = partner_event(partner_id)
    assert await consumer.apply(created) is True
    before = await entry(sessions, partner_id)
    assert await consumer.apply(created) is False
    after = await entry(sessions, partner_id)
    assert after.events_applied == before.events_applied == 1
    async with sessions() as session:
        outcomes = (await session.execute(
            text("SELECT outcome FROM inbox WHERE event_id = :id"), {"id": created.id}
        )).scalars().all()
    assert outcomes == ["applied"]



async def test_unknown_type_and_status_from_a_newer_producer_are_kept(sessions, partner_event,
                                                                     engine):
    """A tolerant reader: values this service does not know yet are stored as sent, and the
    consumer applies the event instead of dead-lettering it."""
    partner_id = uuid.uuid4()
    known = partner_event(partner_id)
    newer = known.model_copy(update={"data": {"partner": {
        **known.data["partner"], "type": "marketplace", "status": "probation"}}})
    consumer = EventConsumer("deals.partner-directory-test", [PARTNERS_TOPIC], HANDLERS,
                             sessions, producer=None)
    assert await consumer.apply(newer) is True
    listed = await entry(sessions, partner_id)
    assert (listed.type, listed.status) == ("marketplace", "probation")
