"""The partner directory: kept only from partner events, never going back in time."""

import datetime as dt
import uuid

from sqlalchemy import text

from prm_contracts import (
    PARTNERS_TOPIC,
    CertificationEarnedV1,
    CertificationExpiredV1,
    PartnerCreatedV1,
    PartnerSnapshot,
    PartnerTierChangedV1,
    PartnerUpdatedV1,
)
from prm_deals.directory import repository
from prm_deals.directory.handlers import HANDLERS
from prm_deals.directory.models import PartnerDirectoryEntry
from prm_deals.worker import spec
from prm_events.consumer import EventConsumer
from prm_events.envelope import new_event


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
                             "prm.partner.status_changed.v1", "prm.partner.tier_changed.v1",
                             "prm.partner.certification_earned.v1",
                             "prm.partner.certification_expired.v1"}
    worker = spec()
    assert (worker.service, worker.schema, worker.relay) == ("deals", "deals", True)
    subscriptions = {sub.name: sub for sub in worker.subscriptions}
    assert set(subscriptions) == {"partner-directory", "mdf-fund-requests", "credentials"}
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


# Lead routing's facts: countries served, languages, specialisations, certifications.

FACTS = ("countries_served", "languages", "specialisations", "certifications")


def partner_event_with(partner_id, *, version=1, tier=None, **facts):
    """A snapshot event carrying routing facts: created at version 1, updated after."""
    partner = PartnerSnapshot(id=partner_id, name="Acme Cloud GmbH", type="msp", country="DE",
                              status="active", version=version, tier=tier, **facts)
    payload = (PartnerCreatedV1(partner=partner) if version == 1
               else PartnerUpdatedV1(partner=partner, changed=sorted(facts)))
    return new_event(payload, source="/prm/partners", subject=str(partner_id),
                     partner_id=partner_id)


def earned(partner_id, certification_id, code, expires_on=None):
    return new_event(CertificationEarnedV1(
        partner_id=partner_id, certification_id=certification_id, code=code,
        earned_on=dt.date(2026, 11, 1), expires_on=expires_on),
        source="/prm/partners", subject=str(partner_id), partner_id=partner_id)


def expired(partner_id, certification_id, code):
    return new_event(CertificationExpiredV1(
        partner_id=partner_id, certification_id=certification_id, code=code,
        expired_on=dt.date(2026, 12, 1)),
        source="/prm/partners", subject=str(partner_id), partner_id=partner_id)


def consumer(sessions):
    return EventConsumer("deals.partner-directory", [PARTNERS_TOPIC], HANDLERS, sessions,
                         producer=None)


async def facts(sessions, partner_id) -> dict:
    async with sessions() as session:
        return (await repository.routing_facts(session, [partner_id]))[partner_id]


async def codes(sessions, partner_id) -> list[str]:
    return (await facts(sessions, partner_id))["certifications"]


async def test_snapshots_project_the_routing_facts_newest_version_wins(sessions):
    partner_id = uuid.uuid4()
    created = partner_event_with(partner_id, countries_served=["DE", "AT"],
                                 languages=["de", "en"], specialisations=["cloud security"])
    updated = partner_event_with(partner_id, version=2, countries_served=["DE", "AT", "CH"],
                                 languages=["de"], specialisations=["sap", "cloud security"])
    tiered = new_event(PartnerTierChangedV1(
        partner=updated.payload().partner.model_copy(update={"version": 3, "tier": "Gold"}),
        previous_tier=None, tier="Gold", direction="promotion", criteria={},
        reason="revenue"), source="/prm/partners", subject=str(partner_id),
        partner_id=partner_id)
    # The tier change overtakes the update, which then arrives stale.
    await apply(sessions, created, tiered, updated)
    assert await facts(sessions, partner_id) == {
        "name": "Acme Cloud GmbH", "type": "msp", "country": "DE", "status": "active",
        "tier": "Gold", "countries_served": ["DE", "AT", "CH"], "languages": ["de"],
        "specialisations": ["sap", "cloud security"], "certifications": []}
    assert (await entry(sessions, partner_id)).events_applied == 3


async def test_an_event_of_an_older_producer_lists_no_routing_facts(sessions, partner_event):
    partner_id = uuid.uuid4()
    old = partner_event(partner_id)
    del old.data["partner"]["countries_served"], old.data["partner"]["languages"]
    del old.data["partner"]["specialisations"]
    assert await consumer(sessions).apply(old) is True
    listed = await facts(sessions, partner_id)
    assert [listed[k] for k in FACTS] == [[], [], [], []]


async def test_certifications_earned_and_expired_keep_the_active_codes(sessions):
    partner_id, sec, cloud, sec_again = uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    inbox = consumer(sessions)
    await inbox.apply(partner_event_with(partner_id))
    await inbox.apply(earned(partner_id, sec, "SEC-101", dt.date(2027, 11, 1)))
    await inbox.apply(earned(partner_id, cloud, "CLOUD-200"))
    assert await codes(sessions, partner_id) == ["CLOUD-200", "SEC-101"]  # sorted
    # A second contact earns the same code: listed once, and it outlives the first's expiry.
    await inbox.apply(earned(partner_id, sec_again, "SEC-101"))
    assert await codes(sessions, partner_id) == ["CLOUD-200", "SEC-101"]
    await inbox.apply(expired(partner_id, sec, "SEC-101"))
    assert await codes(sessions, partner_id) == ["CLOUD-200", "SEC-101"]
    await inbox.apply(expired(partner_id, sec_again, "SEC-101"))
    assert await codes(sessions, partner_id) == ["CLOUD-200"]
    await inbox.apply(expired(partner_id, cloud, "CLOUD-200"))
    assert await codes(sessions, partner_id) == []
    async with sessions() as session:
        kept = (await session.execute(text(
            "SELECT certification_id, code, expires_on, expired_on IS NOT NULL "
            "FROM partner_directory_certifications WHERE partner_id = :p"),
            {"p": partner_id})).all()
    assert sorted(kept) == sorted([(sec, "SEC-101", dt.date(2027, 11, 1), True),
                                   (cloud, "CLOUD-200", None, True),
                                   (sec_again, "SEC-101", None, True)])


async def test_an_expiry_before_its_earn_leaves_the_code_inactive(sessions):
    partner_id, early, other = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    await apply(sessions, partner_event_with(partner_id), earned(partner_id, other, "SEC-101"),
                expired(partner_id, early, "SEC-101"), earned(partner_id, early, "SEC-101"))
    assert await codes(sessions, partner_id) == ["SEC-101"]  # still held by the other
    await apply(sessions, expired(partner_id, other, "SEC-101"))
    assert await codes(sessions, partner_id) == []


async def test_replays_change_nothing(sessions):
    partner_id, sec, cloud = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    events = [partner_event_with(partner_id), earned(partner_id, sec, "SEC-101"),
              earned(partner_id, cloud, "CLOUD-200"), expired(partner_id, sec, "SEC-101")]
    inbox = consumer(sessions)
    assert [await inbox.apply(e) for e in events] == [True] * 4
    assert [await inbox.apply(e) for e in events] == [False] * 4  # the inbox's dedup
    # Past the inbox (its rows purged, say): the handlers themselves change nothing.
    await apply(sessions, *events[1:], *reversed(events[1:]))
    assert await codes(sessions, partner_id) == ["CLOUD-200"]
    assert (await entry(sessions, partner_id)).events_applied == 1


async def test_certifications_that_arrive_before_their_partner_show_once_it_does(sessions):
    partner_id, sec, gone, cloud = uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    await apply(sessions, earned(partner_id, sec, "SEC-101"), earned(partner_id, gone, "OLD-1"),
                expired(partner_id, gone, "OLD-1"))
    assert await entry(sessions, partner_id) is None
    # In one batch, the way the worker applies a poll: the snapshot upserts are gathered.
    applied = await consumer(sessions).apply_batch([
        partner_event_with(partner_id, countries_served=["DE"]),
        earned(partner_id, cloud, "CLOUD-200"),
        partner_event_with(partner_id, version=2, countries_served=["DE", "AT"])])
    assert applied == 3
    listed = await facts(sessions, partner_id)
    assert (listed["countries_served"], listed["certifications"]) == (
        ["DE", "AT"], ["CLOUD-200", "SEC-101"])


async def test_routing_facts_are_read_for_known_partners_at_once(sessions):
    known, other, unknown = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    await apply(sessions, partner_event_with(known, languages=["en"]),
                partner_event_with(other, specialisations=["healthcare"]),
                earned(other, uuid.uuid4(), "SEC-101"))
    async with sessions() as session:
        found = await repository.routing_facts(session, [known, other, unknown])
        assert await repository.routing_facts(session, []) == {}
        # What routing asks of the indexes: every country, any of the specialisations.
        matched = (await session.execute(text(
            "SELECT partner_id FROM partner_directory WHERE certifications @> :codes "
            "AND specialisations && :wanted"),
            {"codes": ["SEC-101"], "wanted": ["healthcare", "sap"]})).scalars().all()
    assert set(found) == {known, other}
    assert found[known]["languages"] == ["en"] and found[known]["certifications"] == []
    assert found[other]["certifications"] == ["SEC-101"]
    assert matched == [other]
