"""A won deal undone by the vendor: `reverse-win` takes it to the final `win_reversed`, once,
with its reason, its event (the amount and close date of the reversed win) and a timeline
entry; any other status is a 409 naming the one it is allowed from."""

import datetime as dt
import uuid

import pytest
from sqlalchemy import text

CLOSE = (dt.date.today() + dt.timedelta(days=45)).isoformat()
REASON = "Booking cancelled by the customer before go-live."


def registration() -> dict:
    word = uuid.uuid4().hex[:10]
    return {"customer": {"name": f"Wr{word} Logistik", "domain": f"wr{word}.example",
                         "country": "DE"},
            "amount": {"amount": "80000.00", "currency": "EUR"},
            "expected_close_date": CLOSE}


@pytest.fixture
async def approved(client, list_partner, as_partner, vendor):
    """An approved registration, with its partner's headers."""
    partner_id = await list_partner("active")
    partner = as_partner(partner_id)
    created = await client.post("/v1/deals", json=registration(), headers=partner)
    assert created.status_code == 201, created.text
    deal_id = created.json()["id"]
    done = await client.post(f"/v1/deals/{deal_id}/approve", headers=vendor)
    assert done.status_code == 200, done.text
    return done.json(), partner


async def won(client, deal_id: str, headers) -> dict:
    response = await client.post(f"/v1/deals/{deal_id}/win", headers=headers, json={
        "amount": {"amount": "76500.5", "currency": "EUR"}, "closed_on": "2026-11-20"})
    assert response.status_code == 200, response.text
    return response.json()


async def events(client, deal_id: str) -> list[dict]:
    rows = await client.connection.execute(text(
        "SELECT envelope FROM outbox WHERE key = :k ORDER BY seq"), {"k": deal_id})
    return [r.envelope for r in rows]


async def test_the_vendor_reverses_a_win_once(client, approved, vendor):
    deal, partner = approved
    url = f"/v1/deals/{deal['id']}/reverse-win"
    deal = await won(client, deal["id"], partner)

    refused = await client.post(url, headers=partner, json={"reason": REASON})
    assert refused.status_code == 403  # the partner may record a win, not undo one
    assert (await client.post(url, headers=vendor, json={})).status_code == 422
    assert (await client.post(url, headers=vendor, json={"reason": "  "})).status_code == 422
    stale = await client.post(url, headers={**vendor, "If-Match": '"2"'},
                              json={"reason": REASON})
    assert stale.status_code == 412

    reversed_ = await client.post(url, headers={**vendor, "If-Match": f'"{deal["version"]}"'},
                                  json={"reason": REASON})
    assert reversed_.status_code == 200, reversed_.text
    body = reversed_.json()
    assert body["status"] == "win_reversed" and body["status_reason"] == REASON
    assert body["version"] == deal["version"] + 1
    assert reversed_.headers["etag"] == f'"{body["version"]}"'
    # What was won stays readable on the deal.
    assert body["won_amount"] == {"amount": "76500.50", "currency": "EUR"}
    assert body["closed_on"] == "2026-11-20"

    [*_, event] = await events(client, deal["id"])
    assert event["type"] == "prm.deal.win_reversed.v1"
    assert event["partnerid"] == deal["partner_id"]
    assert event["data"] == {
        "deal_id": deal["id"], "partner_id": deal["partner_id"], "status": "win_reversed",
        "version": body["version"], "reason": REASON,
        "amount": {"amount": "76500.50", "currency": "EUR"}, "closed_on": "2026-11-20"}

    timeline = (await client.get(f"/v1/deals/{deal['id']}/activities",
                                 headers=partner)).json()["items"]
    assert [a["kind"] for a in timeline][-2:] == ["won", "win_reversed"]
    assert timeline[-1]["text"] == REASON

    # Final: no second reversal, no second win, and the partner lists it by its status.
    for action, payload in (("reverse-win", {"reason": REASON}), ("win", None),
                            ("lose", None), ("extend", None)):
        again = await client.post(f"/v1/deals/{deal['id']}/{action}", headers=vendor,
                                  json=payload)
        assert again.status_code == 409, (action, again.text)
        assert again.json()["current_status"] == "win_reversed"
    listed = (await client.get("/v1/deals", headers=partner,
                               params={"status": "win_reversed"})).json()["items"]
    assert [d["id"] for d in listed] == [deal["id"]]
    assert len([e for e in await events(client, deal["id"])
                if e["type"] == "prm.deal.win_reversed.v1"]) == 1


async def test_only_a_won_deal_is_reversed(client, approved, vendor):
    deal, _ = approved
    refused = await client.post(f"/v1/deals/{deal['id']}/reverse-win", headers=vendor,
                                json={"reason": REASON})
    assert refused.status_code == 409
    problem = refused.json()
    assert problem["type"] == "/problems/invalid-transition"
    assert problem["current_status"] == "approved"
    assert problem["allowed_from"] == ["won"]
    assert "reverse the win of a deal that is approved" in problem["detail"]
    unknown = await client.post(f"/v1/deals/{uuid.uuid4()}/reverse-win", headers=vendor,
                                json={"reason": REASON})
    assert unknown.status_code == 404


async def test_a_retry_with_the_same_idempotency_key_replays_the_reversal(client, approved,
                                                                          vendor):
    deal, partner = approved
    await won(client, deal["id"], partner)
    headers = {**vendor, "Idempotency-Key": f"reverse-{uuid.uuid4()}"}
    url = f"/v1/deals/{deal['id']}/reverse-win"
    first = await client.post(url, headers=headers, json={"reason": REASON})
    assert first.status_code == 200, first.text
    retried = await client.post(url, headers=headers, json={"reason": REASON})
    assert retried.status_code == 200
    assert retried.content == first.content
    assert retried.headers["etag"] == first.headers["etag"]
    assert len([e for e in await events(client, deal["id"])
                if e["type"] == "prm.deal.win_reversed.v1"]) == 1
