"""Object-level authorisation of the activity routes (collected by test_authorisation.py):
org B's key reads none of org A's activity, and no partner key changes the policy."""

import datetime as dt
import uuid

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from prm_contracts import Amount, Customer, DealRegisteredV1
from prm_events.envelope import new_event
from prm_partners.activity.handlers import HANDLERS


async def get_activity(client, a, b, vendor):
    deal = new_event(DealRegisteredV1(
        deal_id=uuid.uuid4(), partner_id=a[0]["id"],
        customer=Customer(name="Globex", domain="globex.example", country="DE"),
        amount=Amount(amount="10.00", currency="EUR"), expected_close_date=dt.date(2027, 1, 1),
        status="submitted"), source="/prm/deals", subject=a[0]["id"], partner_id=a[0]["id"])
    async with AsyncSession(bind=client.connection, expire_on_commit=False,
                            join_transaction_mode="create_savepoint") as session:
        await HANDLERS[deal.type](session, deal)
        await session.commit()
    hidden = await client.get(f"/v1/partners/{a[0]['id']}/activity", headers=b[1])
    assert hidden.status_code == 404
    assert "last_deal" not in hidden.text
    own = await client.get(f"/v1/partners/{b[0]['id']}/activity", headers=b[1])
    assert own.status_code == 200 and own.json()["last_deal"] is None
    theirs = await client.get(f"/v1/partners/{a[0]['id']}/activity", headers=a[1])
    assert theirs.json()["last_deal"]["deal_id"] == str(deal.data["deal_id"])


async def get_policy(client, a, b, vendor):
    assert (await client.get("/v1/programme-policy", headers=b[1])).status_code == 200


async def put_policy(client, a, b, vendor):
    before = (await client.connection.execute(text(
        "SELECT inactivity_days, version FROM programme_policy"))).one()
    refused = await client.put("/v1/programme-policy", json={"inactivity_days": 7},
                               headers=b[1])
    assert refused.status_code == 403
    after = (await client.connection.execute(text(
        "SELECT inactivity_days, version FROM programme_policy"))).one()
    assert after == before


CASES = {
    ("GET", "/v1/partners/{partner_id}/activity"): get_activity,
    ("GET", "/v1/programme-policy"): get_policy,
    ("PUT", "/v1/programme-policy"): put_policy,
}
