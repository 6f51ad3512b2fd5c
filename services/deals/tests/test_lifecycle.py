"""A registration's life after the conflict check: review, outcome, extensions, expiry, the
channel team's resolution of a conflict, and co-selling (account executive, collaborators,
the shared timeline)."""

import datetime as dt
import uuid

import pytest
from sqlalchemy import text

from prm_deals.registrations import lifecycle

CLOSE = (dt.date.today() + dt.timedelta(days=45)).isoformat()


def body(name: str | None = None, **more) -> dict:
    word = uuid.uuid4().hex[:10]
    return {"customer": {"name": name or f"Lk{word} Maschinenbau", "domain": f"lk{word}.example",
                         "country": "DE"},
            "amount": {"amount": "80000.00", "currency": "EUR"},
            "products": [{"sku": "EDGE-100", "quantity": 4,
                          "unit_price": {"amount": "20000.00", "currency": "EUR"}}],
            "expected_close_date": CLOSE, **more}


@pytest.fixture
async def deal(client, list_partner, as_partner):
    """A submitted registration, with its partner's headers."""
    partner_id = await list_partner("active")
    headers = as_partner(partner_id)
    response = await client.post("/v1/deals", json=body(), headers=headers)
    assert response.status_code == 201, response.text
    return response.json(), headers


async def events(client, deal_id: str) -> list[dict]:
    rows = await client.connection.execute(text(
        "SELECT envelope FROM outbox WHERE key = :k ORDER BY seq"), {"k": deal_id})
    return [r.envelope for r in rows]


async def act(client, deal_id: str, action: str, headers, json=None, version=None):
    extra = {"If-Match": f'"{version}"'} if version else {}
    return await client.post(f"/v1/deals/{deal_id}/{action}", json=json,
                             headers={**headers, **extra})


async def test_approve_then_win_with_events_and_a_timeline(client, deal, vendor):
    registered, partner = deal
    refused = await act(client, registered["id"], "approve", partner)
    assert refused.status_code == 403  # review is the vendor's
    stale = await act(client, registered["id"], "approve", vendor, version=7)
    assert stale.status_code == 412

    approved = await act(client, registered["id"], "approve", vendor,
                         {"reason": "Partner of record confirmed."}, version=1)
    assert approved.status_code == 200, approved.text
    assert approved.headers["etag"] == '"2"'
    assert approved.json()["status"] == "approved"
    assert approved.json()["status_reason"] == "Partner of record confirmed."

    wrong_currency = await act(client, registered["id"], "win", partner,
                               {"amount": {"amount": "1000", "currency": "USD"}})
    assert wrong_currency.status_code == 422
    won = await act(client, registered["id"], "win", partner,
                    {"amount": {"amount": "76500.5", "currency": "EUR"},
                     "closed_on": dt.date.today().isoformat()})
    assert won.status_code == 200, won.text
    assert won.json()["status"] == "won"
    assert won.json()["won_amount"] == {"amount": "76500.50", "currency": "EUR"}
    again = await act(client, registered["id"], "win", partner)
    assert again.status_code == 409
    assert again.json()["type"] == "/problems/invalid-transition"

    sent = await events(client, registered["id"])
    assert [e["type"] for e in sent] == ["prm.deal.registered.v1", "prm.deal.approved.v1",
                                         "prm.deal.won.v1"]
    assert sent[2]["data"]["amount"] == {"amount": "76500.50", "currency": "EUR"}
    assert sent[2]["data"]["products"] == [{"sku": "EDGE-100", "quantity": 4, "unit_price": {
        "amount": "20000.00", "currency": "EUR"}}]
    assert sent[2]["data"]["version"] == 3

    timeline = (await client.get(f"/v1/deals/{registered['id']}/activities",
                                 headers=partner)).json()["items"]
    assert [a["kind"] for a in timeline] == ["registered", "approved", "won"]
    assert timeline[1]["text"] == "Partner of record confirmed."


async def test_a_rejection_needs_a_reason_and_ends_the_protection(client, deal, vendor):
    registered, _ = deal
    assert (await act(client, registered["id"], "reject", vendor, {})).status_code == 422
    rejected = await act(client, registered["id"], "reject", vendor,
                         {"reason": "The customer buys direct."})
    assert rejected.json()["status"] == "rejected"
    assert rejected.json()["protected_until"] is None
    assert (await act(client, registered["id"], "approve", vendor)).status_code == 409
    [*_, event] = await events(client, registered["id"])
    assert event["data"]["reason"] == "The customer buys direct."
    assert event["data"]["previous_status"] == "submitted"


async def test_extensions_are_counted_and_bounded(client, deal):
    registered, partner = deal
    until = dt.date.fromisoformat(registered["protected_until"])
    for n in (1, 2):
        extended = await act(client, registered["id"], "extend", partner)
        assert extended.status_code == 200, extended.text
        assert extended.json()["extensions"] == n
        assert extended.json()["protected_until"] == (until + dt.timedelta(days=30 * n)
                                                      ).isoformat()
    third = await act(client, registered["id"], "extend", partner)
    assert third.status_code == 409
    assert "extended 2 times" in third.json()["detail"]


async def test_a_lost_deal_says_why(client, deal):
    registered, partner = deal
    lost = await act(client, registered["id"], "lose", partner,
                     {"reason": "Budget moved to next year."})
    assert lost.json()["status"] == "lost"
    assert lost.json()["closed_on"] == dt.date.today().isoformat()


async def test_the_expiry_job_expires_what_ran_out(client, deal, app):
    registered, partner = deal
    await client.connection.execute(text(
        "UPDATE deals SET protected_until = CURRENT_DATE - 1 WHERE id = :id"),
        {"id": registered["id"]})
    async with app.state.sessionmaker() as session:
        expired = await lifecycle.expire(session)
        await session.commit()
    assert expired >= 1
    seen = (await client.get(f"/v1/deals/{registered['id']}", headers=partner)).json()
    assert seen["status"] == "expired" and seen["version"] == 2
    [*_, event] = await events(client, registered["id"])
    assert event["type"] == "prm.deal.expired.v1"
    assert event["data"]["previous_status"] == "submitted"
    async with app.state.sessionmaker() as session:  # run again: nothing left to do
        assert await lifecycle.expire(session) == 0


async def test_the_channel_team_resolves_a_conflict(client, list_partner, as_partner, vendor):
    word = uuid.uuid4().hex[:8]
    first_partner = as_partner(await list_partner("active"))
    second_partner = as_partner(await list_partner("active"))
    first = (await client.post("/v1/deals", headers=first_partner,
                               json=body(f"Rk{word} Optik"))).json()
    second = (await client.post("/v1/deals", headers=second_partner,
                                json=body(f"Rk{word} Optik Vertrieb"))).json()
    assert first["status"] == "submitted" and second["status"] == "in_review"

    resolved = await client.post(f"/v1/deals/{second['id']}/resolve-conflict", headers=vendor,
                                 json={"reason": "The customer asked for this partner."})
    assert resolved.status_code == 200, resolved.text
    assert resolved.json()["winner"]["status"] == "approved"
    assert resolved.json()["rejected"] == [first["id"]]
    loser = (await client.get(f"/v1/deals/{first['id']}", headers=first_partner)).json()
    assert loser["status"] == "rejected"
    assert loser["status_reason"].startswith("the channel team chose another partner's "
                                             "registration")


async def test_co_selling(client, deal, vendor):
    registered, partner = deal
    url = f"/v1/deals/{registered['id']}"
    assert (await client.post(f"{url}/assign", headers=partner,
                              json={"account_executive": "me"})).status_code == 403
    assigned = await client.post(f"{url}/assign", headers=vendor,
                                 json={"account_executive": "jane.doe@vendor.example"})
    assert assigned.json()["account_executive"] == "jane.doe@vendor.example"

    ours = await client.post(f"{url}/collaborators", headers=partner, json={
        "side": "partner", "name": "Kai Berg", "email": "Kai@Partner.example",
        "role": "account manager"})
    assert ours.status_code == 201, ours.text
    assert ours.json()["email"] == "kai@partner.example"
    theirs = await client.post(f"{url}/collaborators", headers=partner, json={
        "side": "vendor", "name": "Not Mine", "email": "x@vendor.example"})
    assert theirs.status_code == 403
    twice = await client.post(f"{url}/collaborators", headers=vendor, json={
        "side": "partner", "name": "Kai Berg", "email": "kai@partner.example"})
    assert twice.status_code == 409
    await client.post(f"{url}/collaborators", headers=vendor, json={
        "side": "vendor", "name": "Sam Lee", "email": "sam@vendor.example"})
    people = (await client.get(f"{url}/collaborators", headers=partner)).json()["items"]
    assert [p["name"] for p in people] == ["Kai Berg", "Sam Lee"]
    vendors = (await client.get(f"{url}/collaborators", params={"side": "vendor"},
                                headers=partner)).json()["items"]
    assert [p["name"] for p in vendors] == ["Sam Lee"]
    expanded = (await client.get(url, params={"expand": "collaborators"},
                                 headers=partner)).json()
    assert [p["name"] for p in expanded["collaborators"]] == ["Kai Berg", "Sam Lee"]
    assert (await client.get(url, headers=partner)).json()["collaborators"] is None
    removed = await client.delete(f"{url}/collaborators/{people[1]['id']}", headers=partner)
    assert removed.status_code == 403  # the vendor's side is the vendor's
    assert (await client.delete(f"{url}/collaborators/{people[1]['id']}",
                                headers=vendor)).status_code == 204

    note = await client.post(f"{url}/notes", headers=partner,
                             json={"text": "Joint call with the CIO on Tuesday."})
    assert note.status_code == 201 and note.json()["kind"] == "note"
    timeline = (await client.get(f"{url}/activities?limit=3", headers=vendor)).json()
    assert [a["kind"] for a in timeline["items"]] == ["registered", "assigned",
                                                      "collaborator_added"]
    rest = (await client.get(f"{url}/activities?cursor={timeline['next_cursor']}",
                             headers=partner)).json()
    assert [a["kind"] for a in rest["items"]] == ["collaborator_added",
                                                  "collaborator_removed", "note"]


async def test_protection_ending_is_announced_once_per_end(client, deal, app, vendor):
    registered, partner = deal
    approved = await act(client, registered["id"], "approve", vendor, version=1)
    assert approved.status_code == 200, approved.text
    soon = dt.date.today() + dt.timedelta(days=10)
    await client.connection.execute(text(
        "UPDATE deals SET protected_until = :d WHERE id = :id"),
        {"id": registered["id"], "d": soon})

    async def announce() -> int:
        async with app.state.sessionmaker() as session:
            done = await lifecycle.warn_protection_ending(session, notice_days=14)
            await session.commit()
        return done

    assert await announce() >= 1
    [*_, event] = await events(client, registered["id"])
    assert event["type"] == "prm.deal.protection_ending.v1"
    assert event["data"]["protected_until"] == soon.isoformat()
    assert event["data"]["days_left"] == 10
    await announce()  # once per end: nothing new for this deal
    assert [e["type"] for e in await events(client, registered["id"])].count(
        "prm.deal.protection_ending.v1") == 1
    extended = await act(client, registered["id"], "extend", vendor)
    assert extended.status_code == 200, extended.text
    assert extended.json()["protected_until"] > soon.isoformat()
    await announce()  # the new end is 40 days away: not yet
    assert [e["type"] for e in await events(client, registered["id"])].count(
        "prm.deal.protection_ending.v1") == 1


async def test_assignments_and_collaborators_are_announced(client, deal, vendor):
    registered, partner = deal
    assigned = await client.post(f"/v1/deals/{registered['id']}/assign", headers=vendor,
                                 json={"account_executive": "sam.lee@vendor.example"})
    assert assigned.status_code == 200, assigned.text
    added = await client.post(f"/v1/deals/{registered['id']}/collaborators", headers=partner,
                              json={"side": "partner", "name": "Kai Berg",
                                    "email": "kai@partner.example", "role": "engineer"})
    assert added.status_code == 201, added.text
    *_, assignment, collaborator = await events(client, registered["id"])
    assert assignment["type"] == "prm.deal.assigned.v1"
    assert assignment["data"]["account_executive"] == "sam.lee@vendor.example"
    assert assignment["data"]["previous_account_executive"] is None
    assert collaborator["type"] == "prm.deal.collaborator_added.v1"
    assert collaborator["data"]["name"] == "Kai Berg"
    assert collaborator["data"]["collaborator_id"] == added.json()["id"]
    assert "email" not in collaborator["data"]  # personal data stays behind the API
