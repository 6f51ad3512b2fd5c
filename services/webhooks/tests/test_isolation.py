"""A partner key's endpoint receives its own org's events, of every published type, and
nothing else; a vendor endpoint receives every org's."""

import uuid

from prm_contracts import CONTRACTS
from prm_events.envelope import CloudEvent
from prm_platform.ids import new_id
from prm_webhooks.declaration import DELIVERED_TOPICS

TYPES = sorted(t for t, model in CONTRACTS.items() if model.topic in DELIVERED_TOPICS)


def event(event_type: str, partner: uuid.UUID | None) -> CloudEvent:
    import datetime as dt

    aggregate = uuid.uuid4()
    return CloudEvent(id=new_id(), source="/prm/test", type=event_type, subject=str(aggregate),
                      time=dt.datetime.now(dt.UTC), data={"version": 1},
                      partnerid=str(partner) if partner else None)


async def test_every_type_reaches_only_its_org(live, vendor, as_partner, consume, dispatcher,
                                               receiver, create_endpoint, settle):
    assert {"prm.deal.registered.v1", "prm.partner.created.v1"} <= set(TYPES)
    a, b = uuid.uuid4(), uuid.uuid4()
    inbox = {name: receiver() for name in ("a", "b", "vendor")}
    await create_endpoint(live, as_partner(a), inbox["a"].url)
    await create_endpoint(live, as_partner(b), inbox["b"].url)
    await create_endpoint(live, vendor, inbox["vendor"].url)
    sent = {owner: [event(t, partner) for t in TYPES]
            for owner, partner in (("a", a), ("b", b), ("none", None))}
    await consume(*[e for events in sent.values() for e in events])
    await settle(dispatcher(concurrency=32, per_endpoint_concurrency=16))

    def seen(name: str) -> list[tuple[str, str]]:
        return sorted((r.json()["type"], r.json()["event_id"]) for r in inbox[name].received)

    def expected(*owners: str) -> list[tuple[str, str]]:
        return sorted((e.type, str(e.id)) for o in owners for e in sent[o])

    assert seen("a") == expected("a")
    assert seen("b") == expected("b")
    assert seen("vendor") == expected("a", "b", "none")
    assert {r.json()["partner_id"] for r in inbox["a"].received} == {str(a)}


async def test_payload_partner_counts_without_the_extension(live, as_partner, consume,
                                                            dispatcher, receiver,
                                                            create_endpoint, settle):
    a = uuid.uuid4()
    listening = receiver()
    await create_endpoint(live, as_partner(a), listening.url)
    import datetime as dt

    for partner in (a, uuid.uuid4()):
        await consume(CloudEvent(id=new_id(), source="/prm/partners",
                                 type="prm.partner.certification_earned.v1", subject="x",
                                 time=dt.datetime.now(dt.UTC),
                                 data={"partner_id": str(partner)}))
    await settle(dispatcher())
    assert [r.json()["partner_id"] for r in listening.received] == [str(a)]
