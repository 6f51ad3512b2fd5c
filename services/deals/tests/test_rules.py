"""Rules of engagement: ordered, versioned, applied to every registration at once, explained
to the partner, and dry-runnable."""

import datetime as dt
import uuid

import pytest
from sqlalchemy import text

from prm_deals.rules.evaluate import Facts, unmet

CLOSE = (dt.date.today() + dt.timedelta(days=30)).isoformat()


def registration(amount: str = "20000.00", currency: str = "EUR", **more) -> dict:
    word = f"Ru{uuid.uuid4().hex[:10]}"
    return {"customer": {"name": f"{word} Werkzeug", "domain": f"{word.lower()}.example",
                         "country": "AT"},
            "amount": {"amount": amount, "currency": currency},
            "expected_close_date": CLOSE, **more}


@pytest.fixture
async def tiered(app, list_partner, partner_event):
    """Active partners with a programme tier, as the partner events bring it."""
    from prm_deals.directory.handlers import HANDLERS

    async def partner(tier: str) -> uuid.UUID:
        partner_id = await list_partner("active")
        event = partner_event(partner_id, version=3, status="active")
        payload = event.payload()
        event = event.model_copy(update={"data": {
            **event.data, "partner": {**payload.partner.model_dump(mode="json"), "tier": tier}}})
        async with app.state.sessionmaker() as session:
            await HANDLERS[event.type](session, event)
            await session.commit()
        return partner_id
    return partner


@pytest.fixture
async def rules(client, vendor):
    """Creates rules; removes them afterwards (the table is shared by the session's tests)."""
    made = []

    async def create(**rule) -> dict:
        response = await client.post("/v1/engagement-rules", headers=vendor, json=rule)
        assert response.status_code == 201, response.text
        made.append(response.json()["id"])
        return response.json()
    yield create
    for rule_id in made:
        await client.delete(f"/v1/engagement-rules/{rule_id}", headers=vendor)


async def test_the_first_rule_that_holds_decides_and_is_named(client, rules, tiered,
                                                              as_partner):
    gold = await rules(name="Gold under 50k EUR: approved", position=10, outcome="approve",
                       protection_days=120,
                       conditions={"partner_tiers": ["Gold"], "conflict": "none",
                                   "amount_below": {"amount": "50000", "currency": "EUR"}})
    await rules(name="Marketplace offers: review", position=20, outcome="review",
                reason="Private offers are checked by the alliances team.",
                conditions={"private_offer": True})
    await rules(name="Everything else in AT: reject", position=30, outcome="reject",
                reason="Austria is served by our distributor directly.",
                conditions={"countries": ["AT"]})
    partner = as_partner(await tiered("Gold"))

    approved = (await client.post("/v1/deals", headers=partner, json=registration())).json()
    assert approved["status"] == "approved"
    assert approved["decision"]["rule"] == {"id": gold["id"], "name": gold["name"],
                                            "version": 1}
    assert approved["protected_until"] == (dt.date.today() + dt.timedelta(days=120)
                                           ).isoformat()
    large = (await client.post("/v1/deals", headers=partner,
                               json=registration(private_offer=True, amount="90000"))).json()
    assert large["status"] == "in_review"
    assert large["decision"]["reason"] == "Private offers are checked by the alliances team."
    rejected = (await client.post("/v1/deals", headers=partner,
                                  json=registration(amount="90000"))).json()
    assert rejected["status"] == "rejected"
    assert rejected["decision"]["reason"] == "Austria is served by our distributor directly."
    dollars = (await client.post("/v1/deals", headers=partner,
                                 json=registration(currency="USD"))).json()
    assert dollars["decision"]["rule"]["name"] == "Everything else in AT: reject"


async def test_a_change_is_a_new_version_and_old_decisions_keep_theirs(client, rules, vendor,
                                                                        tiered, as_partner):
    rule = await rules(name="Silver: review", outcome="review", reason="Silver is reviewed.",
                       conditions={"partner_tiers": ["Silver"]})
    partner = as_partner(await tiered("Silver"))
    before = (await client.post("/v1/deals", headers=partner, json=registration())).json()
    changed = await client.patch(f"/v1/engagement-rules/{rule['id']}", headers={
        **vendor, "If-Match": '"1"'}, json={"outcome": "approve", "reason": None})
    assert changed.status_code == 200, changed.text
    assert changed.json()["version"] == 2 and changed.headers["etag"] == '"2"'
    after = (await client.post("/v1/deals", headers=partner, json=registration())).json()
    assert after["status"] == "approved" and after["decision"]["rule"]["version"] == 2
    kept = (await client.get(f"/v1/deals/{before['id']}", headers=partner)).json()
    assert kept["decision"]["rule"]["version"] == 1 and kept["status"] == "in_review"
    versions = (await client.get(f"/v1/engagement-rules/{rule['id']}/versions",
                                 headers=vendor)).json()
    assert [(v["version"], v["rule"]["outcome"]) for v in versions["items"]] == [
        (1, "review"), (2, "approve")]
    assert versions["next_cursor"] is None
    first = (await client.get(f"/v1/engagement-rules/{rule['id']}/versions",
                              params={"limit": 1}, headers=vendor)).json()
    rest = (await client.get(f"/v1/engagement-rules/{rule['id']}/versions", params={
        "limit": 1, "cursor": first["next_cursor"]}, headers=vendor)).json()
    assert [v["version"] for v in first["items"] + rest["items"]] == [1, 2]
    stale = await client.patch(f"/v1/engagement-rules/{rule['id']}", headers={
        **vendor, "If-Match": '"1"'}, json={"enabled": False})
    assert stale.status_code == 412


async def test_the_dry_run_says_which_rule_would_fire_and_why_others_did_not(
        client, rules, vendor, tiered):
    await rules(name="Platinum only", position=1, outcome="approve",
                conditions={"partner_tiers": ["Platinum"]})
    second = await rules(name="Renewals of EDGE", position=2, outcome="review",
                         reason="Renewals go to the renewals desk.",
                         conditions={"deal_types": ["renewal"], "products": ["EDGE-1"]})
    partner_id = await tiered("Gold")
    body = registration(deal_type="renewal", partner_id=str(partner_id), products=[
        {"sku": "EDGE-1", "quantity": 1, "unit_price": {"amount": "20000", "currency": "EUR"}}])
    result = await client.post("/v1/engagement-rules/dry-run", headers=vendor,
                               json={"registration": body})
    assert result.status_code == 200, result.text
    run = result.json()
    assert run["decision"]["outcome"] == "in_review"
    assert run["decision"]["rule"]["id"] == second["id"]
    traced = [(t["name"], t["fired"]) for t in run["rules"]]
    assert traced[:2] == [("Platinum only", False), ("Renewals of EDGE", True)]
    assert run["rules"][0]["failed"] == ["partner tier Gold is not one of Platinum"]
    assert run["rules"][0]["failed_codes"] == [{
        "code": "not_one_of", "text": "partner tier Gold is not one of Platinum",
        "params": {"condition": "partner_tiers", "value": "Gold", "allowed": ["Platinum"]}}]
    assert run["decision"]["code"] == "engagement_rule_reason"
    assert run["decision"]["params"] == {"rule": "Renewals of EDGE",
                                         "reason": "Renewals go to the renewals desk."}
    # Nothing was registered.
    listed = (await client.get(f"/v1/deals?partner_id={partner_id}", headers=vendor)).json()
    assert listed["items"] == []


async def test_rules_are_the_vendors(client, list_partner, as_partner):
    partner = as_partner(await list_partner("active"))
    assert (await client.get("/v1/engagement-rules", headers=partner)).status_code == 403
    created = await client.post("/v1/engagement-rules", headers=partner,
                                json={"name": "Me first", "outcome": "approve"})
    assert created.status_code == 403


@pytest.mark.parametrize("rule", [
    {"name": "Reject without a reason", "outcome": "reject"},
    {"name": "Unknown condition", "outcome": "review", "conditions": {"moon_phase": "full"}},
    {"name": "Bad score", "outcome": "review", "conditions": {"conflict_score_at_least": 2}},
])
async def test_malformed_rules_are_refused(client, vendor, rule):
    response = await client.post("/v1/engagement-rules", headers=vendor, json=rule)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"


def test_conditions_read_as_words():
    facts = Facts(partner_tier=None, partner_type="msp", country="DE", deal_type="new",
                  skus=frozenset({"A"}), amount=__import__("decimal").Decimal("10"),
                  currency="EUR", private_offer=False)
    failed = unmet({"amount_at_least": {"amount": "5", "currency": "USD"},
                    "partner_tiers": ["Gold"], "conflict": "any"}, facts, [])
    assert [f.text for f in failed] == [
        "partner tier none is not one of Gold",
        "the deal is in EUR, the bound in USD",
        "conflict is not any",
    ]
    assert [(f.code, f.params) for f in failed] == [
        ("not_one_of", {"condition": "partner_tiers", "value": None, "allowed": ["Gold"]}),
        ("bound_in_other_currency", {"condition": "amount_at_least", "currency": "EUR",
                                     "bound_currency": "USD"}),
        ("conflict_not", {"wanted": "any"}),
    ]


async def test_extension_requests_follow_their_own_rules(client, rules, vendor, tiered,
                                                         as_partner):
    await rules(name="Silver extensions are reviewed", outcome="review", applies_to="extension",
                reason="Silver partners' extensions are checked by the channel team.",
                conditions={"partner_tiers": ["Silver"]})
    await rules(name="No extensions for AT", outcome="reject", applies_to="extension",
                reason="Austrian registrations are not extended.",
                conditions={"countries": ["AT"], "partner_tiers": ["Bronze"]})
    silver = as_partner(await tiered("Silver"))
    deal = (await client.post("/v1/deals", headers=silver, json=registration())).json()
    assert deal["status"] == "submitted"  # extension rules do not decide registrations
    asked = await client.post(f"/v1/deals/{deal['id']}/extend", headers=silver,
                              json={"reason": "The customer's board meets in March."})
    assert asked.status_code == 200, asked.text
    assert asked.json()["extensions"] == 0
    assert asked.json()["extension_requested_at"] is not None
    granted = await client.post(f"/v1/deals/{deal['id']}/extend", headers=vendor)
    assert granted.json()["extensions"] == 1
    assert granted.json()["extension_requested_at"] is None
    kinds = [a["kind"] for a in (await client.get(f"/v1/deals/{deal['id']}/activities",
                                                  headers=silver)).json()["items"]]
    assert kinds == ["registered", "extension_requested", "extended"]
    types = [r.event_type for r in await client.connection.execute(text(
        "SELECT event_type FROM outbox WHERE key = :k ORDER BY seq"), {"k": deal["id"]})]
    assert types == ["prm.deal.registered.v1", "prm.deal.extension_requested.v1",
                     "prm.deal.extended.v1"]

    bronze = as_partner(await tiered("Bronze"))
    other = (await client.post("/v1/deals", headers=bronze, json=registration())).json()
    refused = await client.post(f"/v1/deals/{other['id']}/extend", headers=bronze)
    assert refused.status_code == 409
    assert "Austrian registrations are not extended." in refused.json()["detail"]
