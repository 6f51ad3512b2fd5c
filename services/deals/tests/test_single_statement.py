"""Registration in one statement, committed for real: the deal, its event and the stored answer
to its Idempotency-Key come together or not at all, also under concurrent retries."""

import asyncio
import datetime as dt
import uuid

import httpx
import pytest
from sqlalchemy import text

from prm_deals.config import Settings
from prm_deals.main import create_app
from prm_stack.testing import partner_headers

NEXT_MONTH = (dt.date.today() + dt.timedelta(days=30)).isoformat()
BODY = {
    "customer": {"name": "Initech KK", "domain": "initech.example", "country": "JP"},
    "amount": {"amount": "5200000", "currency": "JPY"},
    "expected_close_date": NEXT_MONTH,
}


@pytest.fixture
async def committed(app, engine, prm_infra):
    """A client of a fresh deals app on the real pool (nothing rolled back), and a partner of
    its own in the directory with the given status."""
    fresh = create_app(Settings())
    partner_id = uuid.uuid4()

    async def listed(status: str) -> uuid.UUID:
        async with engine.begin() as connection:
            await connection.execute(text(
                "INSERT INTO partner_directory (partner_id, name, type, country, status, version,"
                " events_applied, last_event_at, projected_at) VALUES (:p, 'Single Statement KK',"
                " 'reseller', 'JP', :s, 1, 1, now(), now())"), {"p": partner_id, "s": status})
        return partner_id

    transport = httpx.ASGITransport(app=fresh)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        client.headers.update(partner_headers(prm_infra.internal_secret, partner_id,
                                              ["deals:write", "deals:read"]))
        yield client, listed
    await fresh.state.engine.dispose()


async def counts(engine, partner_id: uuid.UUID) -> tuple[int, int]:
    async with engine.connect() as connection:
        deals = (await connection.execute(text(
            "SELECT count(*) FROM deals WHERE partner_id = :p"), {"p": partner_id})).scalar_one()
        events = (await connection.execute(text(
            "SELECT count(*) FROM outbox WHERE envelope->>'partnerid' = :p"),
            {"p": str(partner_id)})).scalar_one()
    return deals, events


async def test_twenty_concurrent_retries_make_one_deal_and_one_event(committed, engine):
    client, listed = committed
    partner_id = await listed("active")
    key = {"Idempotency-Key": str(uuid.uuid4())}
    answers = await asyncio.gather(*(client.post("/v1/deals", json=BODY, headers=key)
                                     for _ in range(20)))
    assert {a.status_code for a in answers} == {201}, [a.text for a in answers]
    assert len({a.content for a in answers}) == 1, "every retry gets the very same answer"
    assert sum(a.headers.get("idempotent-replayed") == "true" for a in answers) == 19
    assert {a.headers["location"] for a in answers} == {f"/v1/deals/{answers[0].json()['id']}"}
    assert await counts(engine, partner_id) == (1, 1)

    other = await client.post("/v1/deals", json={**BODY, "notes": "changed"}, headers=key)
    assert other.status_code == 422
    assert other.json()["type"] == "/problems/idempotency-key-reused"
    assert await counts(engine, partner_id) == (1, 1)


async def test_without_a_key_each_request_registers(committed, engine):
    client, listed = committed
    partner_id = await listed("active")
    answers = await asyncio.gather(*(client.post("/v1/deals", json=BODY) for _ in range(5)))
    assert [a.status_code for a in answers] == [201] * 5
    assert len({a.json()["id"] for a in answers}) == 5
    assert await counts(engine, partner_id) == (5, 5)


async def test_a_refusal_stores_nothing_and_an_expired_key_is_reusable(committed, engine):
    client, listed = committed
    partner_id = await listed("suspended")
    key = {"Idempotency-Key": str(uuid.uuid4())}
    refused = await client.post("/v1/deals", json=BODY, headers=key)
    assert refused.status_code == 422
    assert refused.json()["type"] == "/problems/partner-not-eligible"
    assert await counts(engine, partner_id) == (0, 0)

    async with engine.begin() as connection:
        await connection.execute(text(
            "UPDATE partner_directory SET status = 'active' WHERE partner_id = :p"),
            {"p": partner_id})
    first = await client.post("/v1/deals", json=BODY, headers=key)
    assert first.status_code == 201 and "idempotent-replayed" not in first.headers
    async with engine.begin() as connection:  # a day later the key has expired
        await connection.execute(text(
            "UPDATE idempotency_keys SET expires_at = now() - interval '1 second' "
            "WHERE key = :k"), {"k": key["Idempotency-Key"]})
    again = await client.post("/v1/deals", json=BODY, headers=key)
    assert again.status_code == 201 and "idempotent-replayed" not in again.headers
    assert again.json()["id"] != first.json()["id"]
    assert await counts(engine, partner_id) == (2, 2)
