"""Authorisation cases of the tiers' routes (gathered by test_authorisation.py): the
programme's set-up is the vendor's to change and every partner's to read; a partner's tier and
its history are its own org's, and another org's are a 404."""

from sqlalchemy import text

TIER = {"name": "Silver", "rank": 10}


async def _tier(client, vendor):
    created = await client.post("/v1/tiers", json=TIER, headers=vendor)
    assert created.status_code == 201, created.text
    return created.json()


async def _tier_count(client) -> int:
    return (await client.connection.execute(text("SELECT count(*) FROM tiers"))).scalar_one()


async def create_tier(client, a, b, vendor):
    before = await _tier_count(client)
    assert (await client.post("/v1/tiers", json=TIER, headers=b[1])).status_code == 403
    assert await _tier_count(client) == before


async def list_tiers(client, a, b, vendor):
    tier = await _tier(client, vendor)
    seen = (await client.get("/v1/tiers", headers=b[1])).json()["items"]
    assert tier["id"] in {t["id"] for t in seen}  # the programme is every partner's to read


async def get_tier(client, a, b, vendor):
    tier = await _tier(client, vendor)
    assert (await client.get(f"/v1/tiers/{tier['id']}", headers=b[1])).status_code == 200


async def update_tier(client, a, b, vendor):
    tier = await _tier(client, vendor)
    changed = await client.patch(f"/v1/tiers/{tier['id']}", json={"min_won_deals": 0},
                                 headers=b[1])
    assert changed.status_code == 403
    assert (await client.get(f"/v1/tiers/{tier['id']}", headers=vendor)).json() == tier


async def delete_tier(client, a, b, vendor):
    tier = await _tier(client, vendor)
    assert (await client.delete(f"/v1/tiers/{tier['id']}", headers=b[1])).status_code == 403
    assert (await client.get(f"/v1/tiers/{tier['id']}", headers=vendor)).status_code == 200


async def get_programme(client, a, b, vendor):
    assert (await client.get("/v1/tiers/programme", headers=b[1])).status_code == 200


async def put_programme(client, a, b, vendor):
    before = (await client.get("/v1/tiers/programme", headers=vendor)).json()
    refused = await client.put("/v1/tiers/programme", json={
        "base_currency": "JPY", "demotion_grace_days": 0}, headers=b[1])
    assert refused.status_code == 403
    assert (await client.get("/v1/tiers/programme", headers=vendor)).json() == before


async def get_partner_tier(client, a, b, vendor):
    hidden = await client.get(f"/v1/partners/{a[0]['id']}/tier", headers=b[1])
    assert hidden.status_code == 404
    assert (await client.get(f"/v1/partners/{b[0]['id']}/tier", headers=b[1])
            ).status_code == 200


async def partner_tier_history(client, a, b, vendor):
    await _tier(client, vendor)
    await client.post("/v1/tiers", json={"name": "Registered", "rank": 0}, headers=vendor)
    assert (await client.post(f"/v1/partners/{a[0]['id']}/tier/evaluate", headers=vendor)
            ).status_code == 200
    assert len((await client.get(f"/v1/partners/{a[0]['id']}/tier-history",
                                 headers=vendor)).json()["items"]) == 1
    hidden = await client.get(f"/v1/partners/{a[0]['id']}/tier-history", headers=b[1])
    assert hidden.status_code == 404
    own = await client.get(f"/v1/partners/{b[0]['id']}/tier-history", headers=b[1])
    assert own.status_code == 200 and own.json()["items"] == []


async def evaluate_partner_tier(client, a, b, vendor):
    await client.post("/v1/tiers", json={"name": "Registered", "rank": 0}, headers=vendor)
    other = await client.post(f"/v1/partners/{a[0]['id']}/tier/evaluate", headers=b[1])
    assert other.status_code == 404
    assert (await client.get(f"/v1/partners/{a[0]['id']}", headers=vendor)
            ).json()["tier"] is None
    own = await client.post(f"/v1/partners/{b[0]['id']}/tier/evaluate", headers=b[1])
    assert own.status_code == 403  # evaluating is the vendor's


CASES = {
    ("POST", "/v1/tiers"): create_tier,
    ("GET", "/v1/tiers"): list_tiers,
    ("GET", "/v1/tiers/{tier_id}"): get_tier,
    ("PATCH", "/v1/tiers/{tier_id}"): update_tier,
    ("DELETE", "/v1/tiers/{tier_id}"): delete_tier,
    ("GET", "/v1/tiers/programme"): get_programme,
    ("PUT", "/v1/tiers/programme"): put_programme,
    ("GET", "/v1/partners/{partner_id}/tier"): get_partner_tier,
    ("GET", "/v1/partners/{partner_id}/tier-history"): partner_tier_history,
    ("POST", "/v1/partners/{partner_id}/tier/evaluate"): evaluate_partner_tier,
}
