"""Partner activity: time to first deal whatever the order of events, the last signs of life,
API calls, and inactivity flagged once per quiet stretch under the programme policy."""

import datetime as dt
import uuid

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from prm_contracts import (
    DEALS_TOPIC,
    PARTNERS_TOPIC,
    Amount,
    CertificationEarnedV1,
    Customer,
    DealRegisteredV1,
)
from prm_events.envelope import CloudEvent, new_event
from prm_partners.activity import background, service
from prm_partners.activity.handlers import HANDLERS
from prm_partners.worker import spec

NOW = dt.datetime.now(dt.UTC)


def test_the_worker_subscribes_the_handlers_and_runs_the_job(prm_infra):
    assert set(HANDLERS) == {"prm.deal.registered.v1", "prm.partner.certification_earned.v1"}
    [subscription] = background.SUBSCRIPTIONS
    assert subscription.name == "activity"
    assert set(subscription.topics) == {DEALS_TOPIC, PARTNERS_TOPIC}
    assert subscription.handlers is HANDLERS
    worker = spec()
    assert subscription in worker.subscriptions
    assert "flag-inactive-partners" in {job.name for job in worker.jobs}


async def active_partner(client, vendor):
    created = (await client.post("/v1/partners", json={
        "name": "Acme Cloud", "type": "msp", "country": "DE"}, headers=vendor)).json()
    activated = await client.post(f"/v1/partners/{created['id']}/activate", headers=vendor)
    return activated.json()


def session_on(client) -> AsyncSession:
    return AsyncSession(bind=client.connection, expire_on_commit=False,
                        join_transaction_mode="create_savepoint")


async def apply(client, *events: CloudEvent):
    for event in events:
        async with session_on(client) as session:
            await HANDLERS[event.type](session, event)
            await session.commit()


def registered(partner_id, time, deal_id=None):
    built = new_event(DealRegisteredV1(
        deal_id=deal_id or uuid.uuid4(), partner_id=partner_id,
        customer=Customer(name="Globex", domain="globex.example", country="DE"),
        amount=Amount(amount="1000.00", currency="EUR"),
        expected_close_date=dt.date(2027, 3, 1), status="submitted"),
        source="/prm/deals", subject=str(partner_id), partner_id=partner_id)
    return built.model_copy(update={"time": time})


def certified(partner_id, code, time):
    built = new_event(CertificationEarnedV1(
        partner_id=partner_id, certification_id=uuid.uuid4(), code=code,
        earned_on=time.date()), source="/prm/partners", subject=str(partner_id),
        partner_id=partner_id)
    return built.model_copy(update={"time": time})


async def activity(client, partner_id, headers):
    response = await client.get(f"/v1/partners/{partner_id}/activity", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


async def test_time_to_first_deal_ignores_replays_and_order(client, vendor):
    partner = await active_partner(client, vendor)
    pid = uuid.UUID(partner["id"])
    activated = dt.datetime.fromisoformat(partner["activated_at"])
    first = registered(pid, activated + dt.timedelta(days=3, hours=2))
    second = registered(pid, activated + dt.timedelta(days=5))
    third = registered(pid, activated + dt.timedelta(days=9))
    await apply(client, second, third, first, second, third, first)  # late and replayed

    body = await activity(client, pid, vendor)
    assert body["first_deal"] == {"deal_id": str(first.data["deal_id"]),
                                  "registered_at": first.time.isoformat().replace(
                                      "+00:00", "Z")}
    assert body["time_to_first_deal"] == {"seconds": (3 * 24 + 2) * 3600, "days": 3}
    assert body["last_deal"]["deal_id"] == str(third.data["deal_id"])
    before = body

    await apply(client, third, first)  # the topic replayed from the start once more
    assert await activity(client, pid, vendor) == before


async def test_a_deal_while_onboarding_counts_as_no_wait(client, vendor):
    created = (await client.post("/v1/partners", json={
        "name": "Early Bird", "type": "msp", "country": "DE"}, headers=vendor)).json()
    pid = uuid.UUID(created["id"])
    await apply(client, registered(pid, NOW - dt.timedelta(hours=1)))
    assert (await activity(client, pid, vendor))["time_to_first_deal"] is None  # not active
    await client.post(f"/v1/partners/{pid}/activate", headers=vendor)
    body = await activity(client, pid, vendor)
    assert body["time_to_first_deal"] == {"seconds": 0, "days": 0}


async def test_last_certification_and_events_for_unknown_partners(client, vendor):
    partner = await active_partner(client, vendor)
    pid = uuid.UUID(partner["id"])
    await apply(client, certified(pid, "SEC-201", NOW + dt.timedelta(days=2)),
                certified(pid, "SEC-101", NOW + dt.timedelta(days=1)))
    body = await activity(client, pid, vendor)
    assert body["last_certification"]["code"] == "SEC-201"
    assert body["last_activity_at"] == body["last_certification"]["earned_at"]
    # another service's partner this one does not know: dropped, not an error
    await apply(client, registered(uuid.uuid4(), NOW))


async def test_a_partner_keys_calls_are_recorded_at_most_hourly(client, vendor, as_partner):
    partner = await active_partner(client, vendor)
    assert (await activity(client, partner["id"], vendor))["last_api_call_at"] is None
    own = as_partner(partner["id"])
    seen = (await activity(client, partner["id"], own))["last_api_call_at"]
    assert seen is not None
    assert (await activity(client, partner["id"], own))["last_api_call_at"] == seen
    # the table holds it to an hour too, whatever another process remembers
    async with session_on(client) as session:
        await service.record_api_call(session, uuid.UUID(partner["id"]),
                                      dt.datetime.fromisoformat(seen) + dt.timedelta(minutes=30))
        await session.commit()
    assert (await activity(client, partner["id"], vendor))["last_api_call_at"] == seen
    # a refused call still counts as the partner's own activity (another org's record)
    other = await active_partner(client, vendor)
    assert (await client.get(f"/v1/partners/{partner['id']}/activity",
                             headers=as_partner(other["id"]))).status_code == 404
    assert (await activity(client, other["id"], vendor))["last_api_call_at"] is not None


async def test_a_call_on_any_route_of_the_service_counts(client, vendor, as_partner):
    partner = await active_partner(client, vendor)
    assert (await client.get(f"/v1/partners/{partner['id']}",
                             headers=as_partner(partner["id"]))).status_code == 200
    assert (await activity(client, partner["id"], vendor))["last_api_call_at"] is not None


async def run_flagging(client) -> None:
    async with session_on(client) as session:
        while await service.flag_inactive(session) >= 200:
            pass
        await session.commit()


async def flags(client, partner_id) -> list[CloudEvent]:
    rows = (await client.connection.execute(text(
        "SELECT envelope FROM outbox WHERE key = :k AND event_type = :t ORDER BY seq"),
        {"k": str(partner_id), "t": "prm.partner.inactivity_flagged.v1"})).scalars()
    return [CloudEvent.model_validate(envelope) for envelope in rows]


async def test_inactivity_is_flagged_once_per_quiet_stretch(client, vendor):
    partner = await active_partner(client, vendor)
    pid = uuid.UUID(partner["id"])
    busy = await active_partner(client, vendor)
    await client.connection.execute(text(
        "UPDATE partners SET status_changed_at = :t, activated_at = :t WHERE id IN (:a, :b)"),
        {"t": NOW - dt.timedelta(days=200), "a": pid, "b": uuid.UUID(busy["id"])})
    await apply(client, registered(uuid.UUID(busy["id"]), NOW - dt.timedelta(days=10)))
    await apply(client, registered(pid, NOW - dt.timedelta(days=120)))

    await run_flagging(client)
    await run_flagging(client)  # the next hour: still the same stretch
    [flag] = await flags(client, pid)
    assert flag.data["last_activity_at"] is not None
    assert flag.data["inactive_days"] == 120
    assert await flags(client, busy["id"]) == []
    body = await activity(client, pid, vendor)
    assert body["inactivity"]["flagged"] is True
    assert body["inactivity"]["inactivity_days"] == 90
    assert dt.datetime.fromisoformat(body["inactivity"]["inactive_since"]) == \
        NOW - dt.timedelta(days=120)

    # a certification ends the stretch; the flag clears, and no new one while it is recent
    await apply(client, certified(pid, "SEC-101", NOW - dt.timedelta(days=1)))
    assert (await activity(client, pid, vendor))["inactivity"]["flagged"] is False
    await run_flagging(client)
    assert len(await flags(client, pid)) == 1

    # a later activity that is itself long past starts a new stretch: flagged again, once
    partner2 = await active_partner(client, vendor)
    pid2 = uuid.UUID(partner2["id"])
    await client.connection.execute(text(
        "UPDATE partners SET status_changed_at = :t WHERE id = :p"),
        {"t": NOW - dt.timedelta(days=300), "p": pid2})
    await run_flagging(client)
    await apply(client, registered(pid2, NOW - dt.timedelta(days=100)))
    await run_flagging(client)
    await run_flagging(client)
    first, second = await flags(client, pid2)
    assert first.data["last_activity_at"] is None and first.data["inactive_days"] == 300
    assert second.data["inactive_days"] == 100


async def test_the_policy_decides_how_long_is_inactive(client, vendor):
    partner = await active_partner(client, vendor)
    await client.connection.execute(text(
        "UPDATE partners SET status_changed_at = :t WHERE id = :p"),
        {"t": NOW - dt.timedelta(days=40), "p": uuid.UUID(partner["id"])})
    await run_flagging(client)
    assert await flags(client, partner["id"]) == []
    assert (await client.put("/v1/programme-policy", json={"inactivity_days": 30},
                             headers=vendor)).status_code == 200
    await run_flagging(client)
    assert len(await flags(client, partner["id"])) == 1
    body = await activity(client, partner["id"], vendor)
    assert body["inactivity"] | {"flagged_at": None} == {
        "inactivity_days": 30, "flagged": True, "flagged_at": None,
        "inactive_since": body["inactivity"]["inactive_since"]}


async def test_policy_read_and_validated_writes(client, vendor, as_partner):
    got = await client.get("/v1/programme-policy", headers=vendor)
    assert got.status_code == 200
    assert got.json()["inactivity_days"] == 90
    version = got.json()["version"]
    assert got.headers["etag"] == f'"{version}"'
    partner = as_partner(uuid.uuid4())
    assert (await client.get("/v1/programme-policy", headers=partner)).status_code == 200
    assert (await client.put("/v1/programme-policy", json={"inactivity_days": 30},
                             headers=partner)).status_code == 403
    for bad in ({"inactivity_days": 0}, {"inactivity_days": 6}, {"inactivity_days": 731},
                {"inactivity_days": "30"}, {"inactivity_days": 30.5}, {},
                {"inactivity_days": 30, "extra": 1}):
        response = await client.put("/v1/programme-policy", json=bad, headers=vendor)
        assert response.status_code == 422, bad
        assert response.headers["content-type"] == "application/problem+json"
    stale = await client.put("/v1/programme-policy", json={"inactivity_days": 30},
                             headers={**vendor, "If-Match": f'"{version + 5}"'})
    assert stale.status_code == 412
    changed = await client.put("/v1/programme-policy", json={"inactivity_days": 30},
                               headers={**vendor, "If-Match": f'"{version}"'})
    assert changed.status_code == 200
    assert changed.json()["inactivity_days"] == 30
    assert changed.headers["etag"] == f'"{version + 1}"'


async def test_activity_of_an_unknown_partner_is_a_404(client, vendor):
    response = await client.get(f"/v1/partners/{uuid.uuid4()}/activity", headers=vendor)
    assert response.status_code == 404
    assert response.json()["type"] == "/problems/not-found"
