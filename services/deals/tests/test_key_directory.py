"""Callers may reach the service straight with an API key: it checks the key against its own
directory, kept from the key owner's and the partners' events, exactly as the gateway would."""

import datetime as dt
import secrets
import uuid

from prm_contracts import ApiKeyIssuedV1, ApiKeyRevokedV1
from prm_events import credentials
from prm_events.envelope import new_event
from prm_platform.credentials import secret_hash

NEXT_MONTH = (dt.date.today() + dt.timedelta(days=30)).isoformat()
DEAL = {
    "customer": {"name": "Umbrella Ltd", "domain": "umbrella.example", "country": "GB"},
    "amount": {"amount": "9000", "currency": "GBP"},
    "expected_close_date": NEXT_MONTH,
}


async def apply(app, *events) -> None:
    """What the worker's ``credentials`` consumer does with each event."""
    async with app.state.sessionmaker() as session:
        for event in events:
            await credentials.HANDLERS[event.type](session, event)
        await session.commit()


def issued(key: str, *, kind: str = "vendor", partner_id: uuid.UUID | None = None,
           scopes=("deals:read", "deals:write"), expires_at=None):
    key_id = uuid.uuid4()
    event = new_event(ApiKeyIssuedV1(key_id=key_id, secret_hash=secret_hash(key), kind=kind,
                                     partner_id=partner_id, scopes=list(scopes),
                                     expires_at=expires_at),
                      source="/prm/gateway", subject=str(key_id), partner_id=partner_id)
    return key_id, event


def new_key() -> str:
    return "prm_" + secrets.token_urlsafe(32)


def bearer(key: str) -> dict:
    return {"Authorization": f"Bearer {key}"}


async def test_a_key_announced_by_the_owner_works_here(app, client, list_partner):
    partner_id = await list_partner("active")
    key = new_key()
    _, event = issued(key)
    await apply(app, event)
    answer = await client.post("/v1/deals", json={**DEAL, "partner_id": str(partner_id)},
                               headers=bearer(key))
    assert answer.status_code == 201, answer.text
    assert answer.headers["ratelimit-limit"] and answer.headers["x-request-id"]
    listed = await client.get("/v1/deals", params={"partner_id": str(partner_id)},
                              headers=bearer(key))
    assert [d["id"] for d in listed.json()["items"]] == [answer.json()["id"]]


async def test_unknown_revoked_expired_and_underscoped_keys_are_refused(app, client,
                                                                       list_partner):
    partner_id = await list_partner("active")
    unknown = await client.get("/v1/deals", headers=bearer(new_key()))
    assert unknown.status_code == 401 and unknown.json()["type"] == "/problems/unauthenticated"
    assert (await client.get("/v1/deals")).status_code == 401

    revoked_key = new_key()
    key_id, event = issued(revoked_key)
    await apply(app, event, new_event(ApiKeyRevokedV1(key_id=key_id, revoked_at=dt.datetime.now(
        dt.UTC)), source="/prm/gateway", subject=str(key_id)))
    assert (await client.get("/v1/deals", headers=bearer(revoked_key))).status_code == 401

    expired_key = new_key()
    _, event = issued(expired_key, expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1))
    await apply(app, event)
    assert (await client.get("/v1/deals", headers=bearer(expired_key))).status_code == 401

    reader = new_key()
    _, event = issued(reader, scopes=("deals:read",))
    await apply(app, event)
    refused = await client.post("/v1/deals", json={**DEAL, "partner_id": str(partner_id)},
                                headers=bearer(reader))
    assert refused.status_code == 403 and refused.json()["type"] == "/problems/forbidden"


async def test_a_partner_key_acts_for_its_org_until_the_org_is_suspended(
        app, client, list_partner, partner_event):
    partner_id, other = await list_partner("active"), await list_partner("active")
    key = new_key()
    _, event = issued(key, kind="partner", partner_id=partner_id)
    await apply(app, event, partner_event(partner_id),
                partner_event(partner_id, version=2, status="active",
                              previous_status="onboarding"))
    mine = await client.post("/v1/deals", json=DEAL, headers=bearer(key))
    assert mine.status_code == 201 and mine.json()["partner_id"] == str(partner_id)
    theirs = await client.post("/v1/deals", json={**DEAL, "partner_id": str(other)},
                               headers=bearer(key))
    assert theirs.status_code == 403

    suspended_key = new_key()  # a key never looked up yet: no cached standing of its own org
    suspended = await list_partner("active")
    _, event = issued(suspended_key, kind="partner", partner_id=suspended)
    await apply(app, event, partner_event(suspended),
                partner_event(suspended, version=2, status="suspended",
                              previous_status="onboarding"))
    barred = await client.get("/v1/deals", headers=bearer(suspended_key))
    assert barred.status_code == 403
    assert barred.json()["type"] == "/problems/partner-inactive"


async def test_a_forged_gateway_principal_is_refused(client):
    forged = await client.get("/v1/deals", headers={"X-PRM-Principal": "not.a.token"})
    assert forged.status_code == 401


async def test_portal_users_oidc_tokens_are_checked_here_too(engine):
    """With PRM_OIDC_* set, the service verifies a portal user's token itself (same issuer,
    audience and role mapping as the gateway)."""
    from prm_deals.config import Settings
    from prm_deals.main import create_app
    from prm_stack.testing import Issuer, rolled_back_client

    issuer = Issuer()
    try:
        app = create_app(Settings(oidc_issuer=issuer.url, oidc_jwks_url=issuer.jwks_url,
                                  oidc_audience="prm-portal"))
        async with app.router.lifespan_context(app), rolled_back_client(app, engine) as client:
            manager = {"Authorization": f"Bearer {issuer.token(roles=['channel_manager'])}"}
            finance = {"Authorization": f"Bearer {issuer.token(roles=['finance'])}"}
            assert (await client.get("/v1/deals", headers=manager)).status_code == 200
            assert (await client.get("/v1/deals", headers=finance)).status_code == 200
            refused = await client.post("/v1/deals", headers=finance, json=DEAL)
            assert refused.status_code == 403
            forged = issuer.token(roles=["admin"], aud="someone-else")
            assert (await client.get("/v1/deals", headers={
                "Authorization": f"Bearer {forged}"})).status_code == 401
    finally:
        issuer.server.shutdown()
