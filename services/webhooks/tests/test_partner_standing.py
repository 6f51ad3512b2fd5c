"""A partner's endpoints receive what its keys may read: nothing while it is suspended (its
deliveries already queued are held, neither attempted nor counted as failures, and go out once
it is active again), nothing ever again of what was queued once it is offboarded. The vendor's
endpoints receive everything throughout. Real local receivers; events applied as the worker
applies them (the deliveries and the partner standing in one transaction)."""

import uuid

from sqlalchemy import text

from prm_contracts import PartnerCreatedV1, PartnerSnapshot, PartnerStatusChangedV1
from prm_events.envelope import CloudEvent, new_event


class Lifecycle:
    """The partners service's events of one partner, each at its next version."""

    def __init__(self) -> None:
        self.id = uuid.uuid4()
        self.version = 0
        self.status = "onboarding"

    def _event(self, payload) -> CloudEvent:
        return new_event(payload, source="/prm/partners", subject=str(self.id),
                         partner_id=self.id)

    def _snapshot(self) -> PartnerSnapshot:
        self.version += 1
        return PartnerSnapshot(id=self.id, name="Standing Partner GmbH", type="msp",
                               country="DE", status=self.status, version=self.version)

    def created(self) -> CloudEvent:
        return self._event(PartnerCreatedV1(partner=self._snapshot()))

    def moved(self, status: str) -> CloudEvent:
        previous, self.status = self.status, status
        return self._event(PartnerStatusChangedV1(partner=self._snapshot(),
                                                  previous_status=previous, reason="test"))


def deals(receiver) -> list[str]:
    return [r.json()["data"]["deal_id"] for r in receiver.received
            if r.json()["type"].startswith("prm.deal.")]


def types(receiver) -> list[str]:
    return [r.json()["type"] for r in receiver.received]


async def delivery_of(sessionmaker, endpoint_id: str, deal_event: CloudEvent):
    async with sessionmaker() as session:
        return (await session.execute(text(
            "SELECT d.status, d.attempts, d.last_error FROM webhook_deliveries d "
            "JOIN webhook_messages m ON m.id = d.message_id "
            "WHERE d.endpoint_id = :endpoint AND m.event_id = :event"),
            {"endpoint": endpoint_id, "event": deal_event.id})).one_or_none()


async def test_suspended_partner_gets_nothing_until_reactivated(
        live, vendor, as_partner, consume_as_worker, dispatcher, receiver, create_endpoint,
        deal_event, settle, sessionmaker):
    partner = Lifecycle()
    await consume_as_worker(partner.created(), partner.moved("active"))
    own, everything = receiver(), receiver()
    endpoint = await create_endpoint(live, as_partner(partner.id), own.url)
    await create_endpoint(live, vendor, everything.url)
    sender = dispatcher()

    before = deal_event(partner.id)
    await consume_as_worker(before)
    await settle(sender)
    assert deals(own) == [before.data["deal_id"]]

    # Queued before the suspension, not sent yet: held.
    queued = deal_event(partner.id)
    await consume_as_worker(queued, partner.moved("suspended"))
    during = deal_event(partner.id)
    await consume_as_worker(during)
    await settle(sender)
    for _ in range(5):  # a few more rounds: still nothing for the partner
        assert await sender.run_once() == 0
    assert deals(own) == [before.data["deal_id"]]
    assert "prm.partner.status_changed.v1" not in types(own)
    # The vendor's endpoint got everything, the suspension included.
    assert sorted(deals(everything)) == sorted(e.data["deal_id"]
                                              for e in (before, queued, during))
    assert types(everything).count("prm.partner.status_changed.v1") == 1
    held = await delivery_of(sessionmaker, endpoint["id"], queued)
    assert (held.status, held.attempts) == ("pending", 0)  # neither tried nor failed
    assert await delivery_of(sessionmaker, endpoint["id"], during) is None  # never queued
    stats = (await live.get(f"/v1/webhook-endpoints/{endpoint['id']}/stats",
                            headers=vendor)).json()
    assert stats["failed"] == 0 and stats["failed_attempts_24h"] == 0
    # Failing before the suspension: the time held does not count towards disabling it.
    async with sessionmaker() as session:
        await session.execute(text(
            "UPDATE webhook_endpoints SET failing_since = now() - interval '6 days' "
            "WHERE id = :id"), {"id": endpoint["id"]})
        await session.commit()

    await consume_as_worker(partner.moved("active"))
    await settle(sender)
    assert deals(own) == [before.data["deal_id"], queued.data["deal_id"]]
    # ... and its reactivation, the one status change it hears of.
    assert [r.json()["data"]["partner"]["status"] for r in own.received
            if r.json()["type"] == "prm.partner.status_changed.v1"] == ["active"]
    read = (await live.get(f"/v1/webhook-endpoints/{endpoint['id']}", headers=vendor)).json()
    assert read["enabled"] is True
    async with sessionmaker() as session:
        assert (await session.execute(text(
            "SELECT failing_since FROM webhook_endpoints WHERE id = :id"),
            {"id": endpoint["id"]})).scalar_one() is None

    after = deal_event(partner.id)
    await consume_as_worker(after)
    await settle(sender)
    assert deals(own)[-1] == after.data["deal_id"]


async def test_offboarded_partner_stops_for_good(live, vendor, as_partner, consume_as_worker,
                                                 dispatcher, receiver, create_endpoint,
                                                 deal_event, settle, sessionmaker):
    partner = Lifecycle()
    await consume_as_worker(partner.created(), partner.moved("active"))
    own, everything = receiver(), receiver()
    endpoint = await create_endpoint(live, as_partner(partner.id), own.url)
    await create_endpoint(live, vendor, everything.url)
    sender = dispatcher()

    queued = deal_event(partner.id)
    await consume_as_worker(queued, partner.moved("offboarded"))
    later = deal_event(partner.id)
    await consume_as_worker(later)
    await settle(sender)
    assert own.received == []
    assert sorted(deals(everything)) == sorted([queued.data["deal_id"],
                                                later.data["deal_id"]])
    dropped = await delivery_of(sessionmaker, endpoint["id"], queued)
    assert (dropped.status, dropped.attempts) == ("failed", 0)
    assert "offboarded" in dropped.last_error
    assert await delivery_of(sessionmaker, endpoint["id"], later) is None

    # Reinstated (back to onboarding): what was dropped stays dropped; only new events come.
    await consume_as_worker(partner.moved("onboarding"))
    fresh = deal_event(partner.id)
    await consume_as_worker(fresh)
    await settle(sender)
    assert deals(own) == [fresh.data["deal_id"]]
    assert (await delivery_of(sessionmaker, endpoint["id"], queued)).status == "failed"


async def test_a_late_older_event_changes_nothing(live, as_partner, consume_as_worker,
                                                  dispatcher, receiver, create_endpoint,
                                                  deal_event, settle):
    """An offboarding arrives after the reinstatement that followed it (a resend, another
    partition): the partner stays reinstated and what is queued for it is not dropped."""
    partner = Lifecycle()
    await consume_as_worker(partner.created(), partner.moved("active"))
    own = receiver()
    await create_endpoint(live, as_partner(partner.id), own.url)
    offboarded, reinstated = partner.moved("offboarded"), partner.moved("onboarding")
    queued = deal_event(partner.id)
    await consume_as_worker(reinstated, queued, offboarded)
    await settle(dispatcher())
    assert deals(own) == [queued.data["deal_id"]]
    # The late offboarding itself is delivered as what it is: an event of a partner that is
    # not barred now.
    assert sorted(r.json()["data"]["partner"]["status"] for r in own.received
                  if r.json()["type"] == "prm.partner.status_changed.v1") == ["offboarded",
                                                                              "onboarding"]
