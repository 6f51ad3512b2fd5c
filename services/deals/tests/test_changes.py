"""Changing an open registration: `PATCH /v1/deals/{id}` (a JSON merge patch of its amount,
products, expected close date and notes, with If-Match), and the same registration sent again
under its external id, an update that takes If-Match too."""

import datetime as dt
import uuid

import orjson
import pytest
from sqlalchemy import text

CLOSE = (dt.date.today() + dt.timedelta(days=45)).isoformat()
LATER = (dt.date.today() + dt.timedelta(days=75)).isoformat()
MERGE_PATCH = "application/merge-patch+json"


def registration(**more) -> dict:
    word = uuid.uuid4().hex[:10]
    return {"customer": {"name": f"Ch{word} Anlagenbau", "domain": f"ch{word}.example",
                         "country": "DE"},
            "amount": {"amount": "80000.00", "currency": "EUR"},
            "products": [{"sku": "EDGE-100", "quantity": 4,
                          "unit_price": {"amount": "20000.00", "currency": "EUR"}}],
            "expected_close_date": CLOSE, "notes": "First call went well.", **more}


@pytest.fixture
async def deal(client, list_partner, as_partner):
    """A submitted registration, with its partner's headers."""
    headers = as_partner(await list_partner("active"))
    response = await client.post("/v1/deals", json=registration(), headers=headers)
    assert response.status_code == 201, response.text
    return response.json(), headers


def patch(client, deal: dict, headers: dict, body, *, if_match: str | None = "",
          media_type: str = MERGE_PATCH):
    """PATCH with the deal's ETag (``if_match=""``), another one, or none (None)."""
    sent = {**headers, "Content-Type": media_type}
    if if_match is not None:
        sent["If-Match"] = if_match or f'"{deal["version"]}"'
    return client.patch(f"/v1/deals/{deal['id']}", headers=sent, content=orjson.dumps(body))


async def events(client, deal_id: str) -> list[dict]:
    rows = await client.connection.execute(text(
        "SELECT envelope FROM outbox WHERE key = :k ORDER BY seq"), {"k": deal_id})
    return [r.envelope for r in rows]


async def timeline(client, deal_id: str, headers: dict) -> list[dict]:
    return (await client.get(f"/v1/deals/{deal_id}/activities", headers=headers)).json()["items"]


async def test_a_partner_changes_its_open_registration(client, deal):
    made, partner = deal
    response = await patch(client, made, partner, {
        "amount": {"amount": "95000.5"},  # the currency stays: members merge
        "products": [{"sku": "EDGE-100", "quantity": 5,
                      "unit_price": {"amount": "19000.10", "currency": "EUR"}}],
        "expected_close_date": LATER})
    assert response.status_code == 200, response.text
    changed = response.json()
    assert response.headers["etag"] == '"2"' and changed["version"] == 2
    assert changed["amount"] == {"amount": "95000.50", "currency": "EUR"}
    assert changed["products"] == [{"sku": "EDGE-100", "quantity": 5,
                                    "unit_price": {"amount": "19000.10", "currency": "EUR"}}]
    assert changed["expected_close_date"] == LATER
    assert changed["notes"] == made["notes"]  # left out: kept
    # What is not the partner's to change here stays as it was.
    for kept in ("customer", "status", "decision", "conflicts", "protected_until",
                 "deal_type", "private_offer", "external_id", "created_at"):
        assert changed[kept] == made[kept], kept
    assert changed["updated_at"] > made["updated_at"]
    assert (await client.get(f"/v1/deals/{made['id']}", headers=partner)).json() == changed

    [registered, updated] = await events(client, made["id"])
    assert registered["type"] == "prm.deal.registered.v1"
    assert updated["type"] == "prm.deal.updated.v1"
    assert updated["data"] == {
        "deal_id": made["id"], "partner_id": made["partner_id"], "status": "submitted",
        "version": 2, "changed": ["amount", "expected_close_date", "products"],
        "amount": {"amount": "95000.50", "currency": "EUR"}, "expected_close_date": LATER,
        "deal_type": "new", "products": changed["products"]}
    entries = await timeline(client, made["id"], partner)
    assert [e["kind"] for e in entries] == ["registered", "updated"]
    assert entries[1]["text"] == (f"updated: amount 80000.00 EUR -> 95000.50 EUR, expected "
                                  f"close date {CLOSE} -> {LATER}, products")


async def test_plain_json_is_taken_alike_and_null_removes_the_notes(client, deal):
    made, partner = deal
    response = await patch(client, made, partner, {"notes": None},
                           media_type="application/json")
    assert response.status_code == 200, response.text
    assert response.json()["notes"] is None
    entries = await timeline(client, made["id"], partner)
    assert entries[-1]["text"] == "updated: notes"
    refused = await patch(client, response.json(), partner, {"notes": "x"},
                          media_type="text/plain")
    assert refused.status_code == 415


async def test_the_vendor_changes_an_approved_registration_and_the_decision_stays(
        client, deal, vendor):
    made, partner = deal
    approved = (await client.post(f"/v1/deals/{made['id']}/approve", headers=vendor)).json()
    response = await patch(client, approved, vendor, {"amount": {"amount": "1.00"}})
    assert response.status_code == 200, response.text
    changed = response.json()
    # Neither the conflict check nor the rules run again: what was decided stays.
    assert changed["status"] == "approved" and changed["decision"] == made["decision"]
    assert changed["protected_until"] == approved["protected_until"]
    assert [e["actor"] for e in await timeline(client, made["id"], partner)][-1] == \
        "key-vendor"


async def test_if_match_is_honoured(client, deal):
    made, partner = deal
    stale = await patch(client, made, partner, {"notes": "stale"}, if_match='"7"')
    assert stale.status_code == 412
    assert stale.json()["type"] == "/problems/precondition-failed"
    assert (await client.get(f"/v1/deals/{made['id']}", headers=partner)).json() == made
    assert len(await events(client, made["id"])) == 1
    # Without If-Match the change applies to the deal as it is (as every update of the API).
    blind = await patch(client, made, partner, {"notes": "blind"}, if_match=None)
    assert blind.status_code == 200 and blind.json()["version"] == 2
    star = await patch(client, made, partner, {"notes": "any version"}, if_match="*")
    assert star.status_code == 200 and star.json()["version"] == 3


async def test_nothing_changed_is_no_new_version(client, deal):
    made, partner = deal
    for body in ({}, {"notes": made["notes"], "amount": {"amount": "80000", "currency": "EUR"},
                      "expected_close_date": CLOSE, "products": made["products"]}):
        same = await patch(client, made, partner, body)
        assert same.status_code == 200, same.text
        assert same.json() == made and same.headers["etag"] == '"1"'
    assert len(await events(client, made["id"])) == 1
    assert len(await timeline(client, made["id"], partner)) == 1


@pytest.mark.parametrize(("body", "field"), [
    ({"amount": {"amount": "0"}}, "amount"),
    ({"amount": {"amount": "-5.00"}}, "amount.amount"),
    ({"amount": {"amount": 5000}}, "amount.amount"),  # money is a string, never a number
    ({"amount": {"amount": "10.005"}}, "amount"),  # more decimals than EUR has
    ({"amount": {"currency": "XXY"}}, "amount.currency"),
    ({"amount": {"currency": None}}, "amount.currency"),
    ({"amount": None}, "amount"),
    ({"products": None}, "products"),
    ({"expected_close_date": None}, "expected_close_date"),
    ({"expected_close_date": "2020-01-01"}, "expected_close_date"),
    ({"expected_close_date": "2999-01-01"}, "expected_close_date"),
    # The products are priced in the deal's currency, also when only one of them changes.
    ({"amount": {"currency": "USD"}}, "products[0].unit_price.currency"),
    ({"products": [{"sku": "X", "quantity": 1,
                    "unit_price": {"amount": "1.00", "currency": "USD"}}]},
     "products[0].unit_price.currency"),
    ({"customer": {"name": "Someone Else", "domain": "else.example", "country": "DE"}},
     "customer"),
    ({"status": "approved"}, "status"),
    ({"deal_type": "upsell"}, "deal_type"),
])
async def test_changes_are_checked_as_at_registration(client, deal, body, field):
    made, partner = deal
    refused = await patch(client, made, partner, body)
    assert refused.status_code == 422, refused.text
    assert refused.json()["type"] == "/problems/validation-error"
    assert field in {e["field"] for e in refused.json()["errors"]}, refused.json()
    assert (await client.get(f"/v1/deals/{made['id']}", headers=partner)).json() == made


async def test_a_new_currency_comes_with_its_products(client, deal):
    made, partner = deal
    response = await patch(client, made, partner, {
        "amount": {"amount": "9000000", "currency": "JPY"},
        "products": [{"sku": "EDGE-100", "quantity": 1,
                      "unit_price": {"amount": "9000000", "currency": "JPY"}}]})
    assert response.status_code == 200, response.text
    assert response.json()["amount"] == {"amount": "9000000", "currency": "JPY"}
    [*_, updated] = await events(client, made["id"])
    assert updated["data"]["changed"] == ["amount", "currency", "products"]


async def test_a_close_date_that_passed_is_not_judged_again(client, deal):
    made, partner = deal
    await client.connection.execute(text(
        "UPDATE deals SET expected_close_date = CURRENT_DATE - 3 WHERE id = :id"),
        {"id": made["id"]})
    past = (dt.date.today() - dt.timedelta(days=3)).isoformat()
    response = await patch(client, made, partner, {"notes": "still on",
                                                   "expected_close_date": past})
    assert response.status_code == 200, response.text
    assert response.json()["expected_close_date"] == past


@pytest.mark.parametrize("actions", [("reject",), ("approve", "win"), ("lose",)])
async def test_a_closed_registration_cannot_change(client, deal, vendor, actions):
    made, partner = deal
    for action in actions:
        done = await client.post(f"/v1/deals/{made['id']}/{action}", headers=vendor,
                                 json={"reason": "setup"} if action == "reject" else None)
        assert done.status_code == 200, done.text
    current = done.json()
    refused = await patch(client, current, partner, {"notes": "too late"})
    assert refused.status_code == 409
    problem = refused.json()
    assert problem["type"] == "/problems/invalid-transition"
    assert problem["current_status"] == current["status"]
    assert problem["allowed_from"] == ["approved", "in_review", "submitted"]


async def test_the_scopes_are_needed(client, deal, as_partner):
    made, partner = deal
    read_only = as_partner(uuid.UUID(made["partner_id"]), ("deals:read",))
    refused = await patch(client, made, read_only, {"notes": "no"})
    assert refused.status_code == 403
    missing = await client.patch(f"/v1/deals/{uuid.uuid4()}", headers={
        **partner, "Content-Type": MERGE_PATCH}, content=b'{"notes": "no"}')
    assert missing.status_code == 404


# The registration sent again under its external id: an update, with If-Match.

async def test_the_external_id_update_takes_if_match(client, list_partner, as_partner):
    headers = as_partner(await list_partner("active"))
    body = registration(external_id=f"crm-{uuid.uuid4().hex[:8]}")
    made = (await client.post("/v1/deals", headers=headers, json=body)).json()
    bigger = {**body, "amount": {"amount": "90000.00", "currency": "EUR"},
              "products": []}

    stale = await client.post("/v1/deals", json=bigger, headers={**headers, "If-Match": '"5"'})
    assert stale.status_code == 412, stale.text
    assert (await client.get(f"/v1/deals/{made['id']}", headers=headers)).json() == made

    current = await client.post("/v1/deals", json=bigger,
                                headers={**headers, "If-Match": '"1"'})
    assert current.status_code == 200, current.text
    assert current.headers["etag"] == '"2"'
    assert current.json()["amount"] == {"amount": "90000.00", "currency": "EUR"}
    [*_, updated] = await events(client, made["id"])
    assert updated["type"] == "prm.deal.updated.v1"
    assert updated["data"]["changed"] == ["amount", "products"]
    entries = await timeline(client, made["id"], headers)
    assert entries[-1]["kind"] == "updated"
    assert entries[-1]["text"] == ("updated by the partner's system: amount 80000.00 EUR -> "
                                   "90000.00 EUR, products")

    # The same again at the old version: stale; at any version ("*"): nothing to change.
    again = await client.post("/v1/deals", json=bigger, headers={**headers, "If-Match": '"1"'})
    assert again.status_code == 412
    star = await client.post("/v1/deals", json=bigger, headers={**headers, "If-Match": "*"})
    assert star.status_code == 200 and star.json()["version"] == 2
    # Without If-Match, as before: the sync applies what it sends.
    blind = await client.post("/v1/deals", json=body, headers=headers)
    assert blind.status_code == 200 and blind.json()["version"] == 3
    assert blind.json()["amount"] == made["amount"]


async def test_if_match_without_a_registration_to_match_creates_nothing(
        client, list_partner, as_partner):
    partner_id = await list_partner("active")
    headers = as_partner(partner_id)
    for body in (registration(external_id="never-made"), registration()):
        for tag in ('"1"', "*"):
            refused = await client.post("/v1/deals", json=body,
                                        headers={**headers, "If-Match": tag})
            assert refused.status_code == 412, refused.text
    count = (await client.connection.execute(text(
        "SELECT count(*) FROM deals WHERE partner_id = :p"), {"p": partner_id})).scalar_one()
    assert count == 0


async def test_a_retried_update_replays_its_first_answer(client, list_partner, as_partner):
    headers = as_partner(await list_partner("active"))
    body = registration(external_id=f"crm-{uuid.uuid4().hex[:8]}")
    made = (await client.post("/v1/deals", headers=headers, json=body)).json()
    key = {"Idempotency-Key": str(uuid.uuid4()), "If-Match": f'"{made["version"]}"'}
    changed = {**body, "notes": "Board approved the budget."}
    first = await client.post("/v1/deals", json=changed, headers={**headers, **key})
    assert first.status_code == 200 and first.json()["version"] == 2
    # The answer was lost: the retry, its If-Match stale by now, gets the first answer.
    retried = await client.post("/v1/deals", json=changed, headers={**headers, **key})
    assert retried.status_code == 200, retried.text
    assert retried.content == first.content
    assert retried.headers["idempotent-replayed"] == "true"
    assert retried.headers["etag"] == '"2"'
    assert len(await events(client, made["id"])) == 2
    # The key of another request is refused, as everywhere.
    other = await client.post("/v1/deals", json={**changed, "notes": "Other."},
                              headers={**headers, **key})
    assert other.status_code == 422
    assert other.json()["type"] == "/problems/idempotency-key-reused"


async def test_a_closed_registration_sent_again_is_answered_as_it_stands(
        client, list_partner, as_partner, vendor):
    headers = as_partner(await list_partner("active"))
    body = registration(external_id=f"crm-{uuid.uuid4().hex[:8]}")
    made = (await client.post("/v1/deals", headers=headers, json=body)).json()
    lost = (await client.post(f"/v1/deals/{made['id']}/lose", headers=vendor)).json()
    again = await client.post("/v1/deals", headers={**headers, "If-Match": '"2"'},
                              json={**body, "notes": "ignored"})
    assert again.status_code == 200
    assert again.json() == (await client.get(f"/v1/deals/{made['id']}", headers=headers)).json()
    assert again.json()["version"] == lost["version"] and again.json()["notes"] == made["notes"]
