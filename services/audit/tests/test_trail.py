"""The trail records every event once, in its service's chain, and answers who did what: by
actor, record, type, service, partner and time, a page at a time, to the vendor alone."""

import datetime as dt
import uuid

from sqlalchemy import text

from prm_contracts import MdfClaimApprovedV1, PartnerTierChangedV1

from .conftest import T0, claim_approved, event, tier_changed

KEY = "key:0193b79f-0000-7000-8000-00000000000a"
OTHER_KEY = "key:0193b79f-0000-7000-8000-00000000000b"


async def entries(client, vendor, **params) -> list[dict]:
    found: list[dict] = []
    cursor = None
    while True:
        response = await client.get("/v1/audit-entries", headers=vendor, params={
            **params, "limit": 2, **({"cursor": cursor} if cursor else {})})
        assert response.status_code == 200, response.text
        page = response.json()
        assert len(page["items"]) <= 2
        found += page["items"]
        if not (cursor := page["next_cursor"]):
            return found


async def test_who_approved_a_claim_and_who_changed_a_tier(client, consume, vendor):
    partner, claim = uuid.uuid4(), uuid.uuid4()
    approved = claim_approved(claim, partner, actor=KEY, request_id="req-approve-1")
    promoted = tier_changed(partner, actor="job:evaluate-tiers")
    other = claim_approved(uuid.uuid4(), partner, actor=OTHER_KEY)
    await consume(approved, promoted, other)

    [by_record] = await entries(client, vendor, record=str(claim))
    assert by_record["type"] == MdfClaimApprovedV1.event_type
    assert by_record["actor"] == KEY and by_record["request_id"] == "req-approve-1"
    assert by_record["service"] == "incentives" and by_record["partner_id"] == str(partner)
    assert by_record["event_id"] == str(approved.id)
    assert by_record["data"]["approved"] == {"amount": "1800.00", "currency": "EUR"}
    assert dt.datetime.fromisoformat(by_record["occurred_at"]) == approved.time

    [tier] = await entries(client, vendor, record=str(partner),
                           type=PartnerTierChangedV1.event_type)
    assert tier["actor"] == "job:evaluate-tiers" and tier["data"]["tier"] == "Gold"

    assert by_record["record"] == approved.subject  # its allocation
    assert set(by_record["records"]) == {approved.subject, str(claim), str(partner),
                                         approved.data["request_id"]}
    assert [e["event_id"] for e in await entries(client, vendor, actor=KEY)] == [
        str(approved.id)]
    assert len(await entries(client, vendor, partner_id=str(partner))) == 3
    assert len(await entries(client, vendor, service="incentives")) == 2
    assert [e["actor"] for e in await entries(client, vendor, request_id="req-approve-1")
            ] == [KEY]

    got = await client.get(f"/v1/audit-entries/{by_record['id']}", headers=vendor)
    assert got.status_code == 200 and got.json() == by_record
    missing = await client.get(f"/v1/audit-entries/{uuid.uuid4()}", headers=vendor)
    assert missing.status_code == 404 and missing.json()["type"] == "/problems/not-found"


async def test_each_service_has_its_own_chain_numbered_without_gaps(client, consume, vendor):
    partner = uuid.uuid4()
    await consume(*[claim_approved(uuid.uuid4(), partner) for _ in range(3)],
                  tier_changed(partner))
    await consume(claim_approved(uuid.uuid4(), partner), batch=False)
    found = await entries(client, vendor)
    assert [(e["service"], e["seq"]) for e in found] == [
        ("incentives", 1), ("incentives", 2), ("incentives", 3), ("partners", 1),
        ("incentives", 4)]


async def test_a_redelivered_event_adds_nothing(client, consume, engine, vendor):
    partner = uuid.uuid4()
    first = claim_approved(uuid.uuid4(), partner)
    await consume(first)
    await consume(first, batch=False)  # the inbox drops it
    # Its inbox row forgotten (a replay after the inbox's retention): the trail still has it.
    async with engine.begin() as connection:
        await connection.execute(text("DELETE FROM inbox"))
    second = claim_approved(uuid.uuid4(), partner)
    await consume(first, second)
    found = await entries(client, vendor)
    assert [(e["event_id"], e["seq"]) for e in found] == [(str(first.id), 1),
                                                          (str(second.id), 2)]


async def test_time_ranges_and_sorting(client, consume, vendor):
    partner = uuid.uuid4()
    days = [claim_approved(uuid.uuid4(), partner, at=T0 + dt.timedelta(days=d))
            for d in (3, 1, 2)]
    await consume(*days)
    window = await entries(client, vendor, **{"occurred_at[gte]": (T0 + dt.timedelta(days=1))
                                              .isoformat(),
                                              "occurred_at[lt]": (T0 + dt.timedelta(days=3))
                                              .isoformat()})
    assert {e["event_id"] for e in window} == {str(days[1].id), str(days[2].id)}
    newest = await entries(client, vendor, sort="-occurred_at")
    assert [e["event_id"] for e in newest] == [str(days[0].id), str(days[2].id),
                                               str(days[1].id)]


async def test_vendor_only(client, consume, as_partner, prm_infra):
    from prm_stack.testing import vendor_headers

    partner = uuid.uuid4()
    approved = claim_approved(uuid.uuid4(), partner)
    await consume(approved)
    own = as_partner(partner)
    listed = await client.get("/v1/audit-entries", headers=own,
                              params={"partner_id": str(partner)})
    assert listed.status_code == 403
    verify = await client.post("/v1/audit-verifications", headers=own, json={})
    assert verify.status_code == 403
    no_scope = vendor_headers(prm_infra.internal_secret, ["partners:read"])
    refused = await client.get("/v1/audit-entries", headers=no_scope)
    assert refused.status_code == 403 and refused.json()["missing_scope"] == "audit:read"


async def test_bad_filters_are_problems(client, vendor):
    for params in ({"actor": "somebody"}, {"actor": "key:a\x00b"}, {"record": "a\x00"},
                   {"request_id": "two words"}, {"partner_id": "not-a-uuid"},
                   {"occurred_at[gte]": "yesterday"}, {"limit": "500"}):
        response = await client.get("/v1/audit-entries", headers=vendor, params=params)
        assert response.status_code == 422, params
        assert response.headers["content-type"].startswith("application/problem+json")


async def test_unknown_event_types_are_recorded_too(client, consume, vendor):
    novel = event("prm.partner.something_new.v1", {"partner_id": str(uuid.uuid4())},
                  subject="x-1")
    await consume(novel)
    [found] = await entries(client, vendor, type="prm.partner.something_new.v1")
    assert found["record"] == "x-1"


async def test_key_secrets_digest_is_not_kept(client, consume, vendor):
    key = uuid.uuid4()
    issued = event("prm.api_key.issued.v1", {"key_id": str(key), "secret_hash": "ab" * 32,
                                             "kind": "vendor", "scopes": ["deals:read"]},
                   source="/prm/gateway", subject=key)
    await consume(issued)
    [found] = await entries(client, vendor, record=str(key))
    assert found["service"] == "gateway" and "secret_hash" not in found["data"]
    assert found["data"]["scopes"] == ["deals:read"]
