"""Who am I: a key, a portal user with its identity claims, and its org's card."""

import uuid

from prm_stack.testing import signing_in


async def test_a_partner_key_is_told_its_org(client, consume, story, as_partner):
    told = story()
    await consume(*told.events[:3])  # created, active, Gold
    response = await client.get("/v1/me", headers=as_partner(told.partner_id))
    assert response.status_code == 200, response.text
    me = response.json()
    assert (me["kind"], me["credential"], me["partner_id"]) == (
        "partner", "key", str(told.partner_id))
    assert me["partner"]["tier"] == "Gold" and me["partner"]["status"] == "active"
    assert me["roles"] == [] and me["name"] is None
    assert "deals:read" in me["scopes"]


async def test_a_portal_user_is_told_its_roles_and_identity(client, app, prm_issuer):
    partner = uuid.uuid4()
    token = prm_issuer.token(sub="jana", roles=["partner_sales", "no_such_role"],
                             prm_partner_id=str(partner), name="Jana Novák",
                             email="jana@acme.example", locale="cs-CZ")
    with signing_in(app, prm_issuer):
        response = await client.get("/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text
    me = response.json()
    assert (me["subject"], me["kind"], me["credential"]) == ("user:jana", "partner", "user")
    assert me["roles"] == ["partner_sales"]
    assert (me["name"], me["email"], me["locale"]) == ("Jana Novák", "jana@acme.example",
                                                       "cs-CZ")
    assert me["partner"] is None  # no event named the org yet
    assert {"portal:read", "deals:read"} <= set(me["scopes"])
    staff = prm_issuer.token(sub="olga", roles=["channel_manager"], name="Olga")
    with signing_in(app, prm_issuer):
        vendor = (await client.get("/v1/me", headers={"Authorization": f"Bearer {staff}"}))
    assert vendor.json()["kind"] == "vendor" and vendor.json()["roles"] == ["channel_manager"]


async def test_without_credentials_there_is_no_me(client):
    response = await client.get("/v1/me")
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/problem+json")
