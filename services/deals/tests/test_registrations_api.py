import datetime as dt
import uuid

import pytest
from sqlalchemy import text

from prm_deals.directory.handlers import HANDLERS

NEXT_MONTH = (dt.date.today() + dt.timedelta(days=30)).isoformat()
NEW = {
    "customer": {"name": "Globex Corporation", "domain": "Globex.Example", "country": "FR"},
    "amount": {"amount": "48000.5", "currency": "EUR"},
    "expected_close_date": NEXT_MONTH,
    "notes": "Renewal of 120 seats.",
}


def unique_customer(country: str = "FR") -> dict:
    """A customer no other registration of the suite names (no conflict to decide)."""
    word = uuid.uuid4().hex[:10]
    return {"name": f"Zq{word} Systemhaus", "domain": f"zq{word}.example", "country": country}


async def register(client, headers, **overrides):
    overrides.setdefault("customer", unique_customer())
    response = await client.post("/v1/deals", json={**NEW, **overrides}, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


async def deal_rows(client, partner_id) -> int:
    return (await client.connection.execute(
        text("SELECT count(*) FROM deals WHERE partner_id = :p"), {"p": partner_id}
    )).scalar_one()


async def test_active_partner_registers_a_deal_and_its_event(client, list_partner, as_partner):
    partner_id = await list_partner("active")
    customer = {**unique_customer(), "address": {"city": "Lyon", "postal_code": "69002"},
                "crm_ids": {"salesforce": "001Dn00000ABCDE"}}
    body = {**NEW, "customer": {**customer, "domain": customer["domain"].upper()},
            "external_id": "opp-4711", "deal_type": "renewal", "private_offer": True,
            "products": [{"sku": "PLAT-SEAT", "quantity": 120,
                          "unit_price": {"amount": "400.5", "currency": "EUR"}}]}
    response = await client.post("/v1/deals", json=body, headers=as_partner(partner_id))
    assert response.status_code == 201, response.text
    deal = response.json()
    assert deal["partner_id"] == str(partner_id)  # a partner key's own org by default
    assert deal["status"] == "submitted" and deal["version"] == 1
    assert deal["decision"] == {"outcome": "submitted", "reason": None, "code": "no_conflict",
                                "params": {}, "rule": None}
    assert deal["conflicts"] == []
    assert deal["protected_until"] == (dt.date.today() + dt.timedelta(days=90)).isoformat()
    assert deal["customer"] == {**customer, "address": {
        "line1": None, "line2": None, "city": "Lyon", "region": None, "postal_code": "69002"}}
    assert deal["external_id"] == "opp-4711" and deal["deal_type"] == "renewal"
    assert deal["private_offer"] is True
    assert deal["products"] == [{"sku": "PLAT-SEAT", "quantity": 120,
                                 "unit_price": {"amount": "400.50", "currency": "EUR"}}]
    assert deal["amount"] == {"amount": "48000.50", "currency": "EUR"}
    assert deal["expected_close_date"] == NEXT_MONTH
    assert response.headers["location"] == f"/v1/deals/{deal['id']}"
    assert response.headers["etag"] == '"1"'

    got = await client.get(f"/v1/deals/{deal['id']}", headers=as_partner(partner_id))
    assert got.status_code == 200 and got.json() == deal  # NUMERIC(19,4) round trip
    assert got.headers["etag"] == '"1"'

    rows = (await client.connection.execute(
        text("SELECT topic, key, event_type, envelope FROM outbox WHERE key = :k"),
        {"k": deal["id"]})).all()
    assert [(r.topic, r.event_type) for r in rows] == [("prm.deals", "prm.deal.registered.v1")]
    envelope = rows[0].envelope
    assert envelope["source"] == "/prm/deals"
    assert envelope["subject"] == deal["id"]
    assert envelope["partnerid"] == str(partner_id)
    assert envelope["data"] == {
        "deal_id": deal["id"], "partner_id": str(partner_id),
        "customer": {k: customer[k] for k in ("name", "domain", "country")},
        "amount": {"amount": "48000.50", "currency": "EUR"},
        "expected_close_date": NEXT_MONTH, "status": "submitted", "deal_type": "renewal",
        "protected_until": deal["protected_until"], "reason": None, "version": 1,
        "lead_id": None,
    }


@pytest.mark.parametrize(("amount", "shown"), [
    ({"amount": "5200000", "currency": "JPY"}, "5200000"),
    ({"amount": "12.5", "currency": "KWD"}, "12.500"),
])
async def test_amounts_keep_their_currency_minor_units(client, list_partner, vendor, amount,
                                                       shown):
    partner_id = str(await list_partner("active"))
    deal = await register(client, vendor, partner_id=partner_id, amount=amount)
    got = (await client.get(f"/v1/deals/{deal['id']}", headers=vendor)).json()
    assert got["amount"] == deal["amount"] == {"amount": shown, "currency": amount["currency"]}


@pytest.mark.parametrize("status", [None, "onboarding", "suspended", "terminated"])
async def test_only_active_partners_are_eligible(client, list_partner, vendor, status):
    partner_id = uuid.uuid4() if status is None else await list_partner(status)
    response = await client.post("/v1/deals", json={**NEW, "partner_id": str(partner_id)},
                                 headers=vendor)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["type"] == "/problems/partner-not-eligible"
    assert problem.get("partner_status") == status
    assert await deal_rows(client, partner_id) == 0


async def test_a_partner_arriving_between_the_decision_and_the_write_is_refused(
        app, client, partner_event, vendor, monkeypatch):
    """The rules' partner facts and the answer's partner name are read before the write: a
    partner whose directory row arrives in between (its events applied meanwhile) is refused
    as that read found it, never registered without its name and facts; the retry registers
    it, named."""
    from prm_deals.matching import conflicts

    partner_id = uuid.uuid4()
    real_find = conflicts.find

    async def arrive() -> None:
        async with app.state.sessionmaker() as session:
            for event in (partner_event(partner_id),
                          partner_event(partner_id, version=2, status="active",
                                        previous_status="onboarding")):
                await HANDLERS[event.type](session, event)
            await session.commit()

    async def find_while_the_partner_arrives(connection, customer):
        await arrive()
        return await real_find(connection, customer)

    monkeypatch.setattr(conflicts, "find", find_while_the_partner_arrives)
    refused = await client.post("/v1/deals", json={**NEW, "partner_id": str(partner_id)},
                                headers=vendor)
    assert refused.status_code == 422, refused.text
    assert refused.json()["type"] == "/problems/partner-not-eligible"
    assert await deal_rows(client, partner_id) == 0
    monkeypatch.setattr(conflicts, "find", real_find)
    # This suite's requests share one rolled-back transaction: the refusal took the rows
    # applied during it along (the worker's own transaction keeps them in a running stack).
    await arrive()
    deal = await register(client, vendor, partner_id=str(partner_id))
    assert deal["partner_name"] == "Acme Cloud GmbH"


@pytest.mark.parametrize(("change", "field"), [
    ({"amount": {"amount": "10.00", "currency": "EURO"}}, "amount.currency"),
    ({"amount": {"amount": "10.00", "currency": "ZZZ"}}, "amount.currency"),
    ({"amount": {"amount": "1500.5", "currency": "JPY"}}, "amount"),
    ({"amount": {"amount": 10.5, "currency": "EUR"}}, "amount.amount"),
    ({"amount": {"amount": "0", "currency": "EUR"}}, "amount"),
    ({"customer": {**NEW["customer"], "domain": "not a domain"}}, "customer.domain"),
    ({"customer": {**NEW["customer"], "domain": "10.0.0.1"}}, "customer.domain"),
    ({"customer": {**NEW["customer"], "country": "XX"}}, "customer.country"),
    ({"expected_close_date": (dt.date.today() - dt.timedelta(days=2)).isoformat()},
     "expected_close_date"),
    ({"notes": "x" * 2001}, "notes"),
    ({"partner_id": None}, "partner_id"),  # vendor keys must name the partner
])
async def test_invalid_registrations_are_problems_per_field(client, list_partner, vendor,
                                                            change, field):
    partner_id = str(await list_partner("active"))
    response = await client.post("/v1/deals", json={**NEW, "partner_id": partner_id, **change},
                                 headers=vendor)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["type"] == "/problems/validation-error"
    assert [(e["location"], e["field"]) for e in problem["errors"]] == [("body", field)]
    assert await deal_rows(client, partner_id) == 0


async def test_today_is_not_in_the_past(client, list_partner, vendor):
    partner_id = str(await list_partner("active"))
    today = dt.datetime.now(dt.UTC).date().isoformat()
    await register(client, vendor, partner_id=partner_id, expected_close_date=today)


async def test_scopes_are_required(client, list_partner, as_partner):
    partner_id = await list_partner("active")
    read_only = as_partner(partner_id, scopes=("deals:read",))
    refused = await client.post("/v1/deals", json=NEW, headers=read_only)
    assert refused.status_code == 403 and refused.json()["type"] == "/problems/forbidden"
    no_deals = as_partner(partner_id, scopes=("partners:read",))
    assert (await client.get("/v1/deals", headers=no_deals)).status_code == 403
    assert (await client.get("/v1/deals")).status_code == 401


async def test_list_with_filters_and_pagination(client, list_partner, vendor):
    first, second = str(await list_partner("active")), str(await list_partner("active"))
    a = await register(client, vendor, partner_id=first)
    b = await register(client, vendor, partner_id=second)
    c = await register(client, vendor, partner_id=first)
    d = await register(client, vendor, partner_id=first)

    page1 = (await client.get(f"/v1/deals?partner_id={first}&limit=2", headers=vendor)).json()
    assert [x["id"] for x in page1["items"]] == [a["id"], c["id"]]
    page2 = (await client.get(f"/v1/deals?partner_id={first}&limit=2"
                              f"&cursor={page1['next_cursor']}", headers=vendor)).json()
    assert [x["id"] for x in page2["items"]] == [d["id"]]
    assert page2["next_cursor"] is None

    everyone = (await client.get("/v1/deals?status=submitted&limit=200", headers=vendor)).json()
    assert {a["id"], b["id"], c["id"], d["id"]} <= {x["id"] for x in everyone["items"]}
    won = (await client.get(f"/v1/deals?partner_id={first}&status=won", headers=vendor)).json()
    assert won == {"items": [], "next_cursor": None, "total_count": None}
    assert (await client.get("/v1/deals?status=maybe", headers=vendor)).status_code == 422
    assert (await client.get("/v1/deals?cursor=!!", headers=vendor)).status_code == 422
    missing = await client.get(f"/v1/deals/{uuid.uuid4()}", headers=vendor)
    assert missing.status_code == 404 and missing.json()["type"] == "/problems/not-found"


async def test_idempotency_key_replays_the_registration(client, list_partner, as_partner):
    partner_id = await list_partner("active")
    headers = {**as_partner(partner_id), "Idempotency-Key": "crm-opportunity-4711"}
    first = await client.post("/v1/deals", json=NEW, headers=headers)
    assert first.status_code == 201
    again = await client.post("/v1/deals", json=NEW, headers=headers)
    assert again.status_code == 201
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    assert again.headers["location"] == first.headers["location"]
    assert again.headers["etag"] == first.headers["etag"]
    assert await deal_rows(client, partner_id) == 1
    events = (await client.connection.execute(
        text("SELECT count(*) FROM outbox WHERE key = :k"), {"k": first.json()["id"]}
    )).scalar_one()
    assert events == 1

    other_body = await client.post("/v1/deals", json={**NEW, "notes": "another deal"},
                                   headers=headers)
    assert other_body.status_code == 422
    assert other_body.json()["type"] == "/problems/idempotency-key-reused"
    assert await deal_rows(client, partner_id) == 1


async def directory_applies(app, event) -> None:
    """The partner directory takes ``event`` as the worker would, committed."""
    async with app.state.sessionmaker() as session:
        await HANDLERS[event.type](session, event)
        await session.commit()


async def test_a_retry_after_the_partner_was_suspended_replays_the_registration(
        client, list_partner, partner_event, app, as_partner):
    """The first try succeeded and its answer was lost; the partner is suspended before the
    client retries: the retry gets the registration it made, not a refusal."""
    partner_id = await list_partner("active")
    headers = {**as_partner(partner_id), "Idempotency-Key": "lost-answer-1"}
    first = await client.post("/v1/deals", json=NEW, headers=headers)
    assert first.status_code == 201
    await directory_applies(app, partner_event(partner_id, version=3, status="suspended",
                                              previous_status="active"))
    again = await client.post("/v1/deals", json=NEW, headers=headers)
    assert (again.status_code, again.content) == (201, first.content)
    assert again.headers["idempotent-replayed"] == "true"
    fresh = await client.post("/v1/deals", json=NEW, headers={
        **headers, "Idempotency-Key": "lost-answer-2"})
    assert fresh.json()["type"] == "/problems/partner-not-eligible"
    assert await deal_rows(client, partner_id) == 1


async def test_a_refused_registration_releases_its_idempotency_key(client, list_partner,
                                                                   partner_event, app,
                                                                   as_partner):
    partner_id = await list_partner("onboarding")
    headers = {**as_partner(partner_id), "Idempotency-Key": "retry-after-activation"}
    refused = await client.post("/v1/deals", json=NEW, headers=headers)
    assert refused.json()["type"] == "/problems/partner-not-eligible"
    await directory_applies(app, partner_event(partner_id, version=2, status="active",
                                              previous_status="onboarding"))
    retried = await client.post("/v1/deals", json=NEW, headers=headers)
    assert retried.status_code == 201
    assert "idempotent-replayed" not in retried.headers


async def test_the_deal_list_filters_sorts_searches_and_names_partners(
        client, list_partner, as_partner, vendor):
    mine, other = await list_partner("active"), await list_partner("active")
    word = uuid.uuid4().hex[:8]
    made = []
    for i, (country, amount, close) in enumerate([("DE", "900.00", "2031-03-01"),
                                                  ("FR", "100.00", "2031-01-01"),
                                                  ("DE", "500.00", "2031-02-01"),
                                                  ("JP", "700.00", "2031-04-01")]):
        made.append(await register(client, vendor, partner_id=str(mine), customer={
            "name": f"Société Générale {word} {i}", "domain": f"sg{word}{i}.example",
            "country": country}, amount={"amount": amount, "currency": "EUR"},
            expected_close_date=close))
    theirs = await register(client, vendor, partner_id=str(other), customer={
        "name": f"Société Générale {word} 9", "domain": f"sg{word}9.example", "country": "DE"})

    async def ids(headers, **params) -> list[str]:
        answer = await client.get("/v1/deals", params=params, headers=headers)
        assert answer.status_code == 200, answer.text
        return [deal["id"] for deal in answer.json()["items"]]

    # Search ignores case and accents; the partner key still sees only its own org's.
    found = await ids(vendor, q=f"SOCIETE generale {word}")
    assert found == [d["id"] for d in made] + [theirs["id"]]
    partner = as_partner(mine)
    assert await ids(partner, q=f"generale {word}") == [d["id"] for d in made]
    assert await ids(partner, q=word, partner_id=str(other)) == []
    # Several values, a range, a sort, across pages.
    assert await ids(partner, q=word, customer_country="DE,JP", sort="-amount") == [
        made[0]["id"], made[3]["id"], made[2]["id"]]
    assert await ids(partner, q=word, **{"amount[gte]": "500", "amount[lt]": "900"}) == [
        made[2]["id"], made[3]["id"]]
    pages, cursor = [], None
    while True:
        answer = (await client.get("/v1/deals", params={
            "q": word, "sort": "expected_close_date", "limit": 1,
            **({"cursor": cursor} if cursor else {})}, headers=partner)).json()
        pages += [deal["id"] for deal in answer["items"]]
        if not (cursor := answer["next_cursor"]):
            break
    assert pages == [made[1]["id"], made[2]["id"], made[0]["id"], made[3]["id"]]
    counted = (await client.get("/v1/deals", params={"q": word, "include": "total_count",
                                                     "limit": 1}, headers=vendor)).json()
    assert counted["total_count"] == 5
    # Batch reads by id, and each deal's partner by name.
    batch = (await client.get("/v1/deals", params={"id": f"{made[3]['id']},{theirs['id']}"},
                              headers=vendor)).json()["items"]
    assert [(d["id"], d["partner_name"]) for d in batch] == [
        (made[3]["id"], "Acme Cloud GmbH"), (theirs["id"], "Acme Cloud GmbH")]
    assert made[0]["partner_name"] == "Acme Cloud GmbH"  # the registration's answer too
    # The change feed: oldest change first, from the time given.
    since = made[2]["updated_at"]
    feed = await ids(partner, q=word, updated_since=since.replace("+00:00", "Z"))
    assert feed == [made[2]["id"], made[3]["id"]]
