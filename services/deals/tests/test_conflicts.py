"""Duplicate and channel-conflict detection on registration, the dry run, direct accounts with
aliases, external ids, and the race of two partners registering one customer at once."""

import asyncio
import datetime as dt
import random
import uuid

import httpx
import pytest
from sqlalchemy import text

from prm_deals.config import Settings
from prm_deals.main import create_app
from prm_stack.testing import partner_headers, vendor_headers

CLOSE = (dt.date.today() + dt.timedelta(days=60)).isoformat()


def customer(name: str, domain: str, country: str = "US") -> dict:
    return {"name": name, "domain": domain, "country": country}


def registration(who: dict, **more) -> dict:
    return {"customer": who, "amount": {"amount": "25000.00", "currency": "USD"},
            "expected_close_date": CLOSE, **more}


def unique(word: str = "Quarzwerk") -> str:
    """A name of its own per test: other tests' registrations must not match it."""
    return f"{word} {uuid.uuid4().hex[:8]}"


@pytest.fixture
def accounts_admin(prm_infra):
    return vendor_headers(prm_infra.internal_secret,
                          ("deals:read", "deals:write", "direct_accounts:read",
                           "direct_accounts:write"))


async def partner(list_partner, as_partner) -> dict[str, str]:
    return as_partner(await list_partner("active"))


async def register(client, headers, body) -> dict:
    response = await client.post("/v1/deals", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


async def test_a_later_partner_registering_the_same_customer_is_rejected_with_reasons(
        client, list_partner, as_partner, vendor):
    name = unique()
    slug = name.split()[1]
    first = await register(client, await partner(list_partner, as_partner), registration(
        customer(f"{name} Corp.", f"www.{slug}.example")))
    assert first["status"] == "submitted" and first["conflicts"] == []

    later = await register(client, await partner(list_partner, as_partner), registration(
        customer(f"{name.upper()} CORPORATION", f"shop.{slug}.example")))
    assert later["status"] == "rejected"
    assert later["protected_until"] is None
    assert later["decision"]["reason"].startswith("another partner registered this customer "
                                                  "first, on ")
    assert later["decision"]["code"] == "registered_first"
    assert later["decision"]["params"] == {
        "registered_on": first["created_at"][:10], "protected_until": first["protected_until"]}
    [conflict] = later["conflicts"]
    key = name.lower()
    assert conflict == {
        "kind": "registration", "score": 1.0, "same_partner": False,
        "reasons": [f"same registrable domain: {slug}.example",
                    f'name match 1.00 after normalisation (same name): "{key}" = "{key}"',
                    "same country: US"],
        "reason_codes": [
            {"code": "same_domain", "params": {"domain": f"{slug}.example"},
             "text": f"same registrable domain: {slug}.example"},
            {"code": "name_match", "params": {"score": 1.0, "method": "same_name", "name": key,
                                              "matched": key},
             "text": f'name match 1.00 after normalisation (same name): "{key}" = "{key}"'},
            {"code": "same_country", "params": {"country": "US"}, "text": "same country: US"}],
        # a partner learns that the customer is taken, not by whom
        "id": None, "partner_id": None, "customer_name": None, "status": "submitted",
        "registered_at": conflict["registered_at"],
        "protected_until": first["protected_until"], "owner": None,
    }
    # The vendor sees whose registration it was.
    seen = (await client.get(f"/v1/deals/{later['id']}", headers=vendor)).json()
    assert seen["conflicts"][0]["id"] == first["id"]
    assert seen["conflicts"][0]["partner_id"] == first["partner_id"]


async def test_a_lesser_match_goes_to_review(client, list_partner, as_partner):
    name = unique("Brightwater")
    await register(client, await partner(list_partner, as_partner), registration(
        customer(f"{name}", f"{uuid.uuid4().hex[:10]}.example")))
    later = await register(client, await partner(list_partner, as_partner), registration(
        customer(f"{name} Shipyards", f"{uuid.uuid4().hex[:10]}.example")))
    assert later["status"] == "in_review"
    [conflict] = later["conflicts"]
    assert 0.85 <= conflict["score"] < 0.95
    assert any("one name begins with the other" in r for r in conflict["reasons"])


async def test_no_conflict_across_countries_by_name_alone_nor_after_protection(
        client, list_partner, as_partner):
    name = unique("Nordlicht")
    first = await register(client, await partner(list_partner, as_partner), registration(
        customer(name, f"{uuid.uuid4().hex[:10]}.example", "DE")))
    abroad = await register(client, await partner(list_partner, as_partner), registration(
        customer(name, f"{uuid.uuid4().hex[:10]}.example", "AT")))
    assert abroad["status"] == "submitted" and abroad["conflicts"] == []
    # Once the first registration's protection ran out, the customer is free again.
    await client.connection.execute(text(
        "UPDATE deals SET protected_until = CURRENT_DATE - 1 WHERE id = :id"),
        {"id": first["id"]})
    again = await register(client, await partner(list_partner, as_partner), registration(
        customer(name, f"{uuid.uuid4().hex[:10]}.example", "DE")))
    assert again["status"] == "submitted" and again["conflicts"] == []


async def test_a_partners_own_registrations_decide_nothing(client, list_partner, as_partner):
    headers = await partner(list_partner, as_partner)
    who = customer(unique("Eisvogel"), f"{uuid.uuid4().hex[:10]}.example")
    first = await register(client, headers, registration(who))
    upsell = await register(client, headers, registration(who, deal_type="upsell"))
    assert upsell["status"] == "submitted"
    [own] = upsell["conflicts"]
    assert own["same_partner"] is True and own["id"] == first["id"]


async def test_an_external_id_registers_once_per_partner(client, list_partner, as_partner):
    headers = await partner(list_partner, as_partner)
    body = registration(customer(unique("Seidenweg"), f"{uuid.uuid4().hex[:10]}.example"),
                        external_id="006-sync-1")
    first = await register(client, headers, body)
    again = await client.post("/v1/deals", json=body, headers=headers)
    assert again.status_code == 200 and again.json() == first
    assert again.headers["location"] == f"/v1/deals/{first['id']}"
    # The partner's CRM sync sends what changed: the open registration follows.
    changed = await client.post("/v1/deals", headers=headers, json={
        **body, "amount": {"amount": "31000.00", "currency": "USD"}, "deal_type": "upsell"})
    assert changed.status_code == 200, changed.text
    assert changed.json()["id"] == first["id"] and changed.json()["version"] == 2
    assert changed.json()["amount"] == {"amount": "31000.00", "currency": "USD"}
    event = (await client.connection.execute(text(
        "SELECT envelope FROM outbox WHERE key = :k ORDER BY seq DESC LIMIT 1"),
        {"k": first["id"]})).scalar_one()
    assert event["type"] == "prm.deal.updated.v1"
    assert event["data"]["changed"] == ["amount", "deal_type"]
    moved = await client.post("/v1/deals", headers=headers, json={
        **body, "customer": customer(unique("Anderswo"), "anderswo.example")})
    assert moved.status_code == 409
    # Another partner's CRM may use the same id for its own opportunity.
    other = await register(client, await partner(list_partner, as_partner), registration(
        customer(unique("Holzweg"), f"{uuid.uuid4().hex[:10]}.example"),
        external_id="006-sync-1"))
    assert other["id"] != first["id"]


async def test_direct_accounts_and_aliases_are_channel_conflicts(
        client, list_partner, as_partner, accounts_admin):
    tag = uuid.uuid4().hex[:8]
    created = await client.post("/v1/direct-accounts", headers=accounts_admin, json={
        "external_id": f"acct-{tag}", "name": f"Bayerische Motoren Werke {tag} AG",
        "domain": f"bmw{tag}.example", "country": "DE", "owner": "jane@vendor.example",
        "aliases": [f"BMW{tag}", f"ビーエムダブリュー{tag}"]})
    assert created.status_code == 201, created.text
    account = created.json()
    assert created.headers["location"] == f"/v1/direct-accounts/{account['id']}"

    headers = await partner(list_partner, as_partner)
    by_alias = await register(client, headers, registration(
        customer(f"BMW{tag} GmbH", f"{uuid.uuid4().hex[:10]}.example", "DE")))
    assert by_alias["status"] == "in_review"
    assert by_alias["conflicts"] == [{
        "kind": "direct_account", "score": 1.0,
        "reasons": ["the customer is a named account of the vendor"],
        "reason_codes": [{"code": "named_account", "params": {},
                          "text": "the customer is a named account of the vendor"}],
        "same_partner": None, "id": None, "partner_id": None, "customer_name": None,
        "status": None, "registered_at": None, "protected_until": None, "owner": None}]
    assert by_alias["decision"]["reason"].startswith("the customer is a named account")
    assert by_alias["decision"]["code"] == "named_account_review"

    # The vendor's dry run names the account, its owner and how it matched.
    check = (await client.post("/v1/deals/conflict-check", headers=accounts_admin, json={
        "partner_id": by_alias["partner_id"],
        "customer": customer(f"ビーエムダブリュー{tag}", "other.example", "DE")})).json()
    [found] = check["conflicts"]
    assert found["id"] == account["id"] and found["owner"] == "jane@vendor.example"
    assert found["reasons"][0].startswith("alias match 1.00")
    assert found["reason_codes"][0]["code"] == "alias_match"
    assert found["reason_codes"][0]["params"]["score"] == 1.0
    assert check["decision"]["outcome"] == "in_review"

    # Removing the alias removes the conflict.
    patched = await client.patch(f"/v1/direct-accounts/{account['id']}", headers={
        **accounts_admin, "If-Match": '"1"'}, json={"aliases": []})
    assert patched.status_code == 200 and patched.headers["etag"] == '"2"'
    check = (await client.post("/v1/deals/conflict-check", headers=accounts_admin, json={
        "partner_id": by_alias["partner_id"],
        "customer": customer(f"BMW{tag}", "other.example", "DE")})).json()
    # (the partner's own registration of it still shows, deciding nothing)
    assert [c["kind"] for c in check["conflicts"]] == ["registration"]
    assert check["conflicts"][0]["same_partner"] is True
    assert check["decision"]["outcome"] == "submitted"


async def test_a_well_known_companys_names_in_another_script_meet(
        client, list_partner, as_partner, vendor):
    # Hyundai Motor in Korean and in English share no word: the bundled alias table gives both
    # one blocking key, and the match goes to review (it never rejects alone).
    first = await register(client, await partner(list_partner, as_partner), registration(
        customer("Hyundai Motor Company", f"{uuid.uuid4().hex[:10]}.example", "KR")))
    later = await register(client, await partner(list_partner, as_partner), registration(
        customer("현대자동차 주식회사", f"{uuid.uuid4().hex[:10]}.example", "KR")))
    assert later["status"] == "in_review"
    seen = (await client.get(f"/v1/deals/{later['id']}", headers=vendor)).json()
    [conflict] = [c for c in seen["conflicts"] if c["id"] == first["id"]]
    assert conflict["score"] == 0.94
    assert conflict["reason_codes"][0]["code"] == "alias_match"
    assert conflict["reason_codes"][0]["params"]["matched"] == "hyundai motor"


async def test_an_acronym_meets_the_account_whose_domain_it_is(
        client, list_partner, as_partner, accounts_admin):
    letters = "".join(random.choices("bcdfghjklmnpqrstvwxz", k=4))
    words = " ".join(f"{c.upper()}{uuid.uuid4().hex[:6]}o" for c in letters)
    created = await client.post("/v1/direct-accounts", headers=accounts_admin, json={
        "external_id": f"acct-{letters}-{uuid.uuid4().hex[:6]}", "name": f"{words} AG",
        "domain": f"www.{letters}.example", "country": "NL"})
    assert created.status_code == 201, created.text
    check = (await client.post("/v1/deals/conflict-check", headers=accounts_admin, json={
        "partner_id": str(await list_partner("active")),
        "customer": customer(letters.upper(), f"{uuid.uuid4().hex[:10]}.example", "NL")})).json()
    [found] = [c for c in check["conflicts"] if c["id"] == created.json()["id"]]
    assert found["score"] == 0.87
    assert found["reason_codes"][0]["params"]["method"] == "initials"


async def test_direct_accounts_are_the_vendors_alone(client, list_partner, as_partner,
                                                      accounts_admin):
    partner_id = await list_partner("active")
    headers = as_partner(partner_id, ("deals:read", "deals:write", "direct_accounts:read",
                                      "direct_accounts:write"))
    for method, url in (("GET", "/v1/direct-accounts"), ("POST", "/v1/direct-accounts")):
        response = await client.request(method, url, headers=headers,
                                        json={"name": "Sneaky Partner Account"})
        assert response.status_code == 403, response.text


async def test_import_upserts_by_external_id(client, accounts_admin):
    tag = uuid.uuid4().hex[:8]
    accounts = [{"external_id": f"imp-{tag}-{i}", "name": f"Importa {tag} {i} Ltd",
                 "domain": f"importa{tag}{i}.example", "country": "GB"} for i in range(300)]
    first = await client.post("/v1/direct-accounts/import", headers=accounts_admin,
                              json={"accounts": accounts})
    assert first.status_code == 200, first.text
    assert first.json() == {"created": 300, "updated": 0}
    accounts[7]["owner"] = "sam@vendor.example"
    again = await client.post("/v1/direct-accounts/import", headers=accounts_admin,
                              json={"accounts": accounts})
    assert again.json() == {"created": 0, "updated": 1}
    page = (await client.get("/v1/direct-accounts?owner=sam@vendor.example",
                             headers=accounts_admin)).json()
    assert [a["external_id"] for a in page["items"]] == [f"imp-{tag}-7"]
    assert page["items"][0]["version"] == 2
    # Every imported account is matched at once.
    check = (await client.post("/v1/deals/conflict-check", headers=accounts_admin, json={
        "partner_id": str(uuid.uuid4()),
        "customer": customer("Whoever", f"www.importa{tag}42.example", "GB")})).json()
    assert [c["customer_name"] for c in check["conflicts"]] == [f"Importa {tag} 42 Ltd"]


@pytest.mark.parametrize("accounts", [
    [{"name": "No External Id"}],
    [{"external_id": "twice", "name": "A"}, {"external_id": "twice", "name": "B"}],
])
async def test_an_import_refuses_unkeyed_or_repeated_accounts(client, accounts_admin, accounts):
    response = await client.post("/v1/direct-accounts/import", headers=accounts_admin,
                                 json={"accounts": accounts})
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"


@pytest.fixture
async def real_pool(prm_infra, engine):
    """A deals app on the real pool (commits for real), and active partners of its own."""
    fresh = create_app(Settings())

    async def active_partner() -> dict[str, str]:
        partner_id = uuid.uuid4()
        async with engine.begin() as connection:
            await connection.execute(text(
                "INSERT INTO partner_directory (partner_id, name, type, country, status, "
                "version, events_applied, last_event_at, projected_at) VALUES (:p, 'Racer', "
                "'reseller', 'US', 'active', 1, 1, now(), now())"), {"p": partner_id})
        return partner_headers(prm_infra.internal_secret, partner_id,
                               ["deals:read", "deals:write"])

    transport = httpx.ASGITransport(app=fresh)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client, active_partner
    await fresh.state.engine.dispose()


async def test_two_partners_registering_one_customer_at_once_cannot_both_pass(real_pool):
    """The race CRM duplicate rules leave open: each round, two partners send the same
    customer (spelt differently) at the same instant; exactly one is submitted and the other
    is told who came first."""
    client, active_partner = real_pool
    for _ in range(10):
        name, a, b = unique("Wettlauf"), await active_partner(), await active_partner()
        slug = name.split()[1]
        bodies = [registration(customer(f"{name} Inc.", f"{slug}.example")),
                  registration(customer(f"{name.upper()}, INC", f"www.{slug}.example"))]
        answers = await asyncio.gather(*(client.post("/v1/deals", json=body, headers=h)
                                         for body, h in zip(bodies, (a, b), strict=True)))
        assert [r.status_code for r in answers] == [201, 201]
        statuses = sorted(r.json()["status"] for r in answers)
        assert statuses == ["rejected", "submitted"], statuses
        loser = next(r.json() for r in answers if r.json()["status"] == "rejected")
        assert loser["conflicts"][0]["score"] == 1.0


async def test_one_typo_still_finds_the_registration(client, list_partner,
                                                   as_partner):
    word = f"zentrix{uuid.uuid4().hex[:6]}"
    first = await register(client, await partner(list_partner, as_partner), registration(
        customer(f"{word.capitalize()} Logistics", f"{word}.example", "DE")))
    swapped = word[:2] + word[3] + word[2] + word[4:]  # "eznt..." : two letters swapped
    check = (await client.post("/v1/deals/conflict-check",
                               headers=await partner(list_partner, as_partner), json={
                                   "customer": customer(f"{swapped.upper()} LOGISTICS GMBH",
                                                        "elsewhere.example", "DE")})).json()
    assert check["decision"]["outcome"] == "in_review", check
    assert check["conflicts"][0]["kind"] == "registration"
    assert 0.85 <= check["conflicts"][0]["score"] < 0.95
    assert first["status"] == "submitted"


async def test_every_change_of_a_direct_account_is_announced(client, accounts_admin):
    """The read models (the portal's search) hear of each account as it is now: created,
    imported (only what changed), patched and deleted."""
    from sqlalchemy import text

    async def announced(account_id: str) -> list[tuple]:
        rows = await client.connection.execute(text(
            "SELECT envelope FROM outbox WHERE event_type = 'prm.direct_account.changed.v1' "
            "AND key = :key ORDER BY seq"), {"key": account_id})
        return [(e["data"]["name"], e["data"]["version"], e["data"]["removed"])
                for (e,) in rows]

    tag = uuid.uuid4().hex[:8]
    created = (await client.post("/v1/direct-accounts", headers=accounts_admin, json={
        "external_id": f"ann-{tag}", "name": f"Announced {tag}", "country": "FR"})).json()
    imported = [{"external_id": f"ann-{tag}", "name": f"Announced {tag} SA", "country": "FR"},
                {"external_id": f"ann-{tag}-2", "name": f"Second {tag}"}]
    await client.post("/v1/direct-accounts/import", headers=accounts_admin,
                      json={"accounts": imported})
    await client.post("/v1/direct-accounts/import", headers=accounts_admin,
                      json={"accounts": imported})  # unchanged: nothing to say
    patched = await client.patch(f"/v1/direct-accounts/{created['id']}", headers={
        **accounts_admin, "If-Match": '"2"'}, json={"domain": f"ann{tag}.example"})
    assert patched.status_code == 200, patched.text
    gone = await client.delete(f"/v1/direct-accounts/{created['id']}",
                               headers={**accounts_admin, "If-Match": '"3"'})
    assert gone.status_code == 204, gone.text
    assert await announced(created["id"]) == [
        (f"Announced {tag}", 1, False), (f"Announced {tag} SA", 2, False),
        (f"Announced {tag} SA", 3, False), (f"Announced {tag} SA", 4, True)]
