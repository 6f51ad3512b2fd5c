"""BOLA cases of the survey campaigns (collected by test_authorisation.py): the campaigns are
the vendor's set-up; no partner key reads or changes them, whatever scopes it holds."""

from sqlalchemy import text

CAMPAIGN = {"name": "Quarterly PSAT", "kind": "psat", "contact_roles": ["admin"],
            "trigger": "schedule", "every_days": 91}


async def _campaign(client, vendor) -> dict:
    made = await client.post("/v1/survey-campaigns", json=CAMPAIGN, headers=vendor)
    assert made.status_code == 201, made.text
    return made.json()


async def _count(client) -> int:
    return (await client.connection.execute(text("SELECT count(*) FROM survey_campaigns"))
            ).scalar_one()


async def create_survey_campaign(client, a, b, vendor):
    before = await _count(client)
    refused = await client.post("/v1/survey-campaigns", json=CAMPAIGN, headers=b[1])
    assert refused.status_code == 403
    assert await _count(client) == before


async def list_survey_campaigns(client, a, b, vendor):
    await _campaign(client, vendor)
    assert (await client.get("/v1/survey-campaigns", headers=b[1])).status_code == 403


async def get_survey_campaign(client, a, b, vendor):
    made = await _campaign(client, vendor)
    hidden = await client.get(f"/v1/survey-campaigns/{made['id']}", headers=b[1])
    assert hidden.status_code == 403 and "Quarterly" not in hidden.text


async def update_survey_campaign(client, a, b, vendor):
    made = await _campaign(client, vendor)
    refused = await client.patch(f"/v1/survey-campaigns/{made['id']}", json={"active": False},
                                 headers=b[1])
    assert refused.status_code == 403
    got = await client.get(f"/v1/survey-campaigns/{made['id']}", headers=vendor)
    assert got.json()["active"] is True and got.json()["version"] == 1


CASES = {
    ("POST", "/v1/survey-campaigns"): create_survey_campaign,
    ("GET", "/v1/survey-campaigns"): list_survey_campaigns,
    ("GET", "/v1/survey-campaigns/{campaign_id}"): get_survey_campaign,
    ("PATCH", "/v1/survey-campaigns/{campaign_id}"): update_survey_campaign,
}
