"""Bulk push (`POST /v1/deal-batches`): one result per item, conflicts with the database and
within the batch, external ids, errors that refuse one item only, and safe retries."""

import datetime as dt
import uuid

from sqlalchemy import text

CLOSE = (dt.date.today() + dt.timedelta(days=120)).isoformat()


def item(name: str, domain: str, partner_id=None, country: str = "NL", **more) -> dict:
    body = {"customer": {"name": name, "domain": domain, "country": country},
            "amount": {"amount": "9900.00", "currency": "EUR"},
            "expected_close_date": CLOSE, **more}
    if partner_id is not None:
        body["partner_id"] = str(partner_id)
    return body


def word() -> str:
    return f"Bx{uuid.uuid4().hex[:8]}"


async def test_a_mixed_batch_is_answered_item_by_item(client, list_partner, as_partner, vendor):
    first, second = await list_partner("active"), await list_partner("active")
    taken = word()
    before = await client.post("/v1/deals", headers=as_partner(second),
                               json=item(f"{taken} Logistiek", f"{taken.lower()}.example"))
    assert before.status_code == 201
    known = await client.post("/v1/deals", headers=as_partner(first), json=item(
        f"{word()} Bouw", f"{word().lower()}.example", external_id="crm-7"))
    assert known.status_code == 201

    a, b = word(), word()
    registrations = [
        item(f"{a} Software B.V.", f"{a.lower()}.example", first, external_id="crm-1"),  # 0
        {"customer": {"name": "No Amount", "domain": "x.example", "country": "NL"}},  # 1
        item(f"{word()} Retail", f"{word().lower()}.example", uuid.uuid4()),  # 2 unknown
        item("Whatever", "whatever.example", first, external_id="crm-7"),  # 3 existing
        item(f"{a.upper()} SOFTWARE BV", f"www.{a.lower()}.example", first),  # 4 dup of 0
        item(f"{a} Software", f"{a.lower()}.example", second),  # 5 conflict with 0
        item(f"{taken} Logistiek B.V.", f"{taken.lower()}.example", first),  # 6 with before
        item(f"{b} Zorg", f"{b.lower()}.example", first, external_id="crm-2"),  # 7
        item(f"{word()} Anders", f"{word().lower()}.example", first, external_id="crm-2"),  # 8
    ]
    response = await client.post("/v1/deal-batches", headers=vendor,
                                 json={"registrations": registrations})
    assert response.status_code == 200, response.text
    result = response.json()
    outcomes = [(i["index"], i["outcome"]) for i in result["items"]]
    assert outcomes == [(0, "created"), (1, "error"), (2, "error"), (3, "existing"),
                        (4, "duplicate"), (5, "conflict"), (6, "conflict"), (7, "created"),
                        (8, "duplicate")]
    items = result["items"]
    assert {k: result[k] for k in ("created", "conflicts", "existing", "duplicates",
                                   "errors")} == {"created": 2, "conflicts": 2, "existing": 1,
                                                  "duplicates": 2, "errors": 2}
    assert items[1]["problem"]["type"] == "/problems/validation-error"
    assert {e["field"] for e in items[1]["problem"]["errors"]} >= {"amount",
                                                                    "expected_close_date"}
    assert items[2]["problem"]["type"] == "/problems/partner-not-eligible"
    assert items[3]["deal"]["id"] == known.json()["id"]
    assert items[4]["duplicate_of"] == 0 and items[8]["duplicate_of"] == 7
    assert items[5]["deal"]["status"] == "rejected"
    assert "registered earlier in this batch (item 0)" in items[5]["deal"]["conflicts"][0][
        "reasons"]
    assert items[6]["deal"]["status"] == "rejected"
    assert items[6]["deal"]["conflicts"][0]["id"] == before.json()["id"]

    made = [i["deal"]["id"] for i in items if i["outcome"] in ("created", "conflict")]
    rows = (await client.connection.execute(text(
        "SELECT count(*) FROM outbox WHERE key = ANY(:ids) "
        "AND event_type = 'prm.deal.registered.v1'"), {"ids": made})).scalar_one()
    assert rows == 4
    stored = (await client.get(f"/v1/deals/{made[0]}", headers=vendor)).json()
    assert stored == items[0]["deal"]


async def test_a_partner_key_pushes_for_its_own_org_only(client, list_partner, as_partner):
    mine, theirs = await list_partner("active"), await list_partner("active")
    c = word()
    response = await client.post("/v1/deal-batches", headers=as_partner(mine), json={
        "registrations": [item(f"{c} Media", f"{c.lower()}.example"),
                          item(f"{word()} Media", f"{word().lower()}.example", theirs)]})
    items = response.json()["items"]
    assert items[0]["outcome"] == "created"
    assert items[0]["deal"]["partner_id"] == str(mine)
    assert items[1]["outcome"] == "error"
    assert items[1]["problem"]["status"] == 403


async def test_a_retried_batch_registers_nothing_twice(client, list_partner, as_partner):
    partner = as_partner(await list_partner("active"))
    c = word()
    body = {"registrations": [item(f"{c} Energie", f"{c.lower()}.example")]}
    key = {"Idempotency-Key": str(uuid.uuid4())}
    first = await client.post("/v1/deal-batches", headers={**partner, **key}, json=body)
    again = await client.post("/v1/deal-batches", headers={**partner, **key}, json=body)
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()
    assert again.headers.get("idempotent-replayed") == "true"
    count = (await client.connection.execute(text(
        "SELECT count(*) FROM deals WHERE customer_domain = :d"),
        {"d": f"{c.lower()}.example"})).scalar_one()
    assert count == 1


async def test_a_batch_holds_at_most_a_thousand(client, list_partner, as_partner):
    partner = as_partner(await list_partner("active"))
    tag = uuid.uuid4().hex[:6]
    full = [item(f"Kx{tag}x{i:04d} Handel", f"kx{tag}x{i:04d}.example") for i in range(1000)]
    accepted = await client.post("/v1/deal-batches", headers=partner,
                                 json={"registrations": full})
    assert accepted.status_code == 200, accepted.text[:500]
    assert accepted.json()["created"] == 1000
    refused = await client.post("/v1/deal-batches", headers=partner,
                                json={"registrations": [*full, full[0]]})
    assert refused.status_code == 422
