"""Leads through the deals API against the real PostgreSQL: received, routed in fair weighted
turn with every offer explained, accepted, declined on to the next partner, capped and paused,
flagged when the customer is protected, upserted by external id, received in bulk, and
converted to a registration that keeps the lead as its source."""

import datetime as dt
import uuid

import pytest
from sqlalchemy import text

from prm_contracts import CertificationEarnedV1, PartnerCreatedV1, PartnerSnapshot
from prm_deals.directory.handlers import HANDLERS
from prm_deals.leads import routing
from prm_deals.leads.fairness import Groups, Member
from prm_events.envelope import new_event
from prm_stack.testing import partner_headers, vendor_headers

LEAD_SCOPES = ("leads:read", "leads:write", "deals:read", "deals:write")


@pytest.fixture
def staff(prm_infra):
    return vendor_headers(prm_infra.internal_secret, LEAD_SCOPES)


@pytest.fixture
def partner_key(prm_infra):
    def headers(partner_id):
        return partner_headers(prm_infra.internal_secret, partner_id, LEAD_SCOPES)
    return headers


@pytest.fixture
def tier():
    """This test's tier names: its rules route only to its own partners, whatever active
    partners other tests committed to the directory."""
    tag = uuid.uuid4().hex[:8]
    return lambda name="Member": f"{name}-{tag}"


@pytest.fixture
def add_partner(app, client, tier):
    """An active partner in the directory, as the partners' events put it there (in one of
    this test's tiers)."""
    async def add(name: str, *, level: str = "Member", country: str = "DE",
                  serves: tuple[str, ...] = (), languages: tuple[str, ...] = ("de",),
                  specialisations: tuple[str, ...] = (), certifications: tuple[str, ...] = ()
                  ) -> uuid.UUID:
        partner_id = uuid.uuid4()
        snapshot = PartnerSnapshot(id=partner_id, name=name, type="reseller", country=country,
                                   status="active", version=1, tier=tier(level),
                                   countries_served=list(serves), languages=list(languages),
                                   specialisations=list(specialisations))
        events = [new_event(PartnerCreatedV1(partner=snapshot), source="/prm/partners",
                            subject=str(partner_id), partner_id=partner_id)]
        events += [new_event(CertificationEarnedV1(
            partner_id=partner_id, certification_id=uuid.uuid4(), code=code,
            earned_on=dt.date(2026, 1, 1)), source="/prm/partners", subject=str(partner_id),
            partner_id=partner_id) for code in certifications]
        async with app.state.sessionmaker() as session:
            for event in events:
                await HANDLERS[event.type](session, event)
            await session.commit()
        return partner_id
    return add


def lead(name: str = "Globex GmbH", country: str = "DE", **extra):
    return {"company": {"name": name, "domain": f"{name.split()[0].lower()}-"
                        f"{uuid.uuid4().hex[:8]}.example", "country": country}, **extra}


async def rule(client, staff, tier, levels=("Member",), **body):
    partners = {"tiers": [tier(level) for level in levels], **body.pop("partners", {})}
    answer = await client.post("/v1/lead-routing-rules", headers=staff,
                               json={"name": "DACH", "partners": partners, **body})
    assert answer.status_code == 201, answer.text
    return answer.json()


async def test_leads_go_round_by_weight_and_every_offer_is_explained(client, staff,
                                                                     add_partner, tier):
    gold = await add_partner("Gold GmbH", level="Gold")
    silver = await add_partner("Silver GmbH", level="Silver")
    await add_partner("Elsewhere Ltd", level="Gold", country="GB")  # does not serve DE
    made = await rule(client, staff, tier, ("Gold", "Silver"),
                      conditions={"countries": ["DE", "AT"]},
                      weighting={"tier_weights": {tier("Gold"): 3, tier("Silver"): 1}})
    given = []
    for i in range(8):
        answer = await client.post("/v1/leads", headers=staff, json=lead(f"Firm{i} AG"))
        assert answer.status_code == 201, answer.text
        body = answer.json()
        assert body["status"] == "offered" and body["respond_by"] is not None
        given.append(uuid.UUID(body["partner_id"]))
    assert given.count(gold) == 6 and given.count(silver) == 2
    # At every prefix within one lead of the 3:1 share.
    for n in range(1, 9):
        assert abs(given[:n].count(gold) - n * 3 / 4) < 1
    history = (await client.get(f"/v1/leads/{body['id']}/assignments", headers=staff)).json()
    offer = history["items"][0]
    assert offer["reason"] == "routed" and offer["outcome"] == "pending"
    explanation = offer["explanation"]
    assert explanation["rule_id"] == made["id"] and explanation["rule_version"] == 1
    assert explanation["pool_members"] == 2 and explanation["pool_leads"] == 7
    chosen = [c for c in explanation["candidates"] if c["outcome"] == "chosen"]
    assert [c["partner_id"] for c in chosen] == [str(given[-1])]
    assert {c["weight"] for c in explanation["candidates"]} == {3, 1}
    assert "turn" in explanation["summary"]


async def test_a_decline_goes_on_to_the_next_partner_never_back(client, staff, add_partner,
                                                                 partner_key, tier):
    first = await add_partner("One GmbH")
    second = await add_partner("Two GmbH")
    await rule(client, staff, tier)
    offered = (await client.post("/v1/leads", headers=staff, json=lead())).json()
    holder = uuid.UUID(offered["partner_id"])
    other = second if holder == first else first
    # Another partner cannot see it, let alone answer it.
    assert (await client.get(f"/v1/leads/{offered['id']}",
                             headers=partner_key(other))).status_code == 404
    declined = await client.post(f"/v1/leads/{offered['id']}/decline",
                                 headers=partner_key(holder), json={"reason": "not_a_fit"})
    assert declined.status_code == 200, declined.text
    # The answer is the lead as the decliner may see it now: gone to the other partner.
    assert (await client.get(f"/v1/leads/{offered['id']}", headers=staff)).json()[
        "partner_id"] == str(other)
    # The other declines too: nobody is left, the vendor's queue takes it.
    await client.post(f"/v1/leads/{offered['id']}/decline", headers=partner_key(other),
                      json={"reason": "no_capacity", "note": "Full until March"})
    queued = (await client.get(f"/v1/leads/{offered['id']}", headers=staff)).json()
    assert queued["status"] == "queued" and queued["queue_reason"] == "no_candidate"
    history = (await client.get(f"/v1/leads/{offered['id']}/assignments",
                                headers=staff)).json()["items"]
    assert [(h["outcome"], h["outcome_reason"]) for h in history] == [
        ("declined", "not_a_fit"), ("declined", "no_capacity"), ("queued", None)]
    assert history[2]["explanation"]["passed_over"] == {"declined_before": 2}
    # The decliner sees its own offer, without the explanation.
    own = (await client.get(f"/v1/leads/{offered['id']}/assignments",
                            headers=partner_key(holder)))
    assert own.status_code == 404  # no longer offered to it: not its lead


async def test_caps_and_pauses_are_never_exceeded(client, staff, add_partner, partner_key,
                                                  tier):
    busy = await add_partner("Busy GmbH")
    calm = await add_partner("Calm GmbH")
    resting = await add_partner("Resting GmbH")
    await rule(client, staff, tier, capacity={"max_open": 2})
    paused = await client.put(f"/v1/lead-capacity/{resting}", headers=partner_key(resting),
                              json={"paused": True})
    assert paused.status_code == 200 and paused.json()["paused"] is True
    for i in range(4):
        assert (await client.post("/v1/leads", headers=staff,
                                  json=lead(f"Capped{i} AG"))).status_code == 201
    held = {p: (await client.get(f"/v1/lead-capacity/{p}", headers=staff)).json()["open_offers"]
            for p in (busy, calm, resting)}
    assert held == {busy: 2, calm: 2, resting: 0}
    fifth = (await client.post("/v1/leads", headers=staff, json=lead("Fifth AG"))).json()
    assert fifth["status"] == "queued" and fifth["queue_reason"] == "no_candidate"
    history = (await client.get(f"/v1/leads/{fifth['id']}/assignments",
                                headers=staff)).json()["items"]
    assert history[0]["explanation"]["passed_over"] == {"at_capacity": 2}
    # Resumed, the paused partner takes the next one.
    await client.put(f"/v1/lead-capacity/{resting}", headers=staff, json={"paused": False})
    sixth = (await client.post("/v1/leads", headers=staff, json=lead("Sixth AG"))).json()
    assert sixth["partner_id"] == str(resting)


async def test_rules_match_on_partner_facts_and_the_dry_run_moves_nothing(client, staff,
                                                                          add_partner, tier):
    certified = await add_partner("Certified GmbH", certifications=("SEC-101",),
                                  specialisations=("manufacturing",), languages=("de-AT",))
    await add_partner("Plain GmbH", specialisations=("manufacturing",))
    await add_partner("Swiss AG", country="CH", serves=("DE",), languages=("fr",))
    await rule(client, staff, tier, conditions={"products": ["SEC-EDGE"]},
               partners={"certifications": ["SEC-101"], "specialised_in_lead_industry": True,
                         "speaks_lead_language": True})
    probe = lead(product="SEC-EDGE", industry="Manufacturing", language="de")
    dry = await client.post("/v1/lead-routing-rules/dry-run", headers=staff, json=probe)
    assert dry.status_code == 200, dry.text
    assert dry.json()["partner_id"] == str(certified)
    assert dry.json()["explanation"]["pool_leads"] == 0
    again = (await client.post("/v1/lead-routing-rules/dry-run", headers=staff,
                               json=probe)).json()
    assert again["explanation"]["pool_leads"] == 0
    # A lead the rule does not match waits for the vendor.
    other = (await client.post("/v1/leads", headers=staff, json=lead(product="OTHER"))).json()
    assert other["status"] == "queued" and other["queue_reason"] == "no_rule_matched"


async def test_a_protected_customer_flags_the_lead_instead_of_routing_it(client, staff,
                                                                         add_partner,
                                                                         partner_key, tier):
    owner = await add_partner("Owner GmbH")
    await add_partner("Rival GmbH")
    await rule(client, staff, tier)
    registered = await client.post("/v1/deals", headers=partner_key(owner), json={
        "customer": {"name": "Protected Industries AG", "domain": "protected.example",
                     "country": "DE"},
        "amount": {"amount": "1000.00", "currency": "EUR"},
        "expected_close_date": "2027-06-30"})
    assert registered.status_code == 201, registered.text
    flagged = (await client.post("/v1/leads", headers=staff, json={"company": {
        "name": "Protected Industries AG", "domain": "protected.example",
        "country": "DE"}})).json()
    assert flagged["flagged"] is True and flagged["status"] == "queued"
    assert flagged["queue_reason"] == "customer_protected"
    assert flagged["conflicts"][0]["partner_id"] == str(owner)
    # The vendor routes it by hand to the owner.
    assigned = await client.post(f"/v1/leads/{flagged['id']}/assign", headers=staff,
                                 json={"partner_id": str(owner), "note": "Their customer"})
    assert assigned.status_code == 200, assigned.text
    assert assigned.json()["partner_id"] == str(owner)


async def test_external_id_upserts_and_a_batch_answers_per_item(client, staff, add_partner,
                                                                 partner_key):
    source = await add_partner("Referrer GmbH")
    first = await client.post("/v1/leads", headers=partner_key(source),
                              json=lead(external_id="crm-1", route=False))
    assert first.status_code == 201 and first.json()["source"] == "partner"
    assert first.json()["source_partner_id"] == str(source)
    same = await client.post("/v1/leads", headers=partner_key(source), json={
        **lead(external_id="crm-1", route=False), "company": first.json()["company"]})
    assert same.status_code == 200 and same.json()["id"] == first.json()["id"]
    assert same.json()["version"] == first.json()["version"]
    changed = await client.post("/v1/leads", headers=partner_key(source), json={
        "external_id": "crm-1", "company": first.json()["company"], "industry": "retail",
        "route": False})
    assert changed.status_code == 200 and changed.json()["version"] == 2
    items = [lead(f"Bulk{i} AG", external_id=f"bulk-{i}", route=False) for i in range(1000)]
    items[7] = {"company": {"name": "No country"}}
    batch = await client.post("/v1/lead-batches", headers=staff, json={"items": items})
    assert batch.status_code == 200, batch.text
    result = batch.json()
    assert (result["created"], result["errors"]) == (999, 1)
    assert result["items"][7]["outcome"] == "error"
    assert result["items"][7]["problem"]["status"] == 422
    again = (await client.post("/v1/lead-batches", headers=staff,
                               json={"items": items[:3]})).json()
    assert [i["outcome"] for i in again["items"]] == ["unchanged"] * 3
    over = await client.post("/v1/lead-batches", headers=staff, json={"items": items + items[:1]})
    assert over.status_code == 422


async def test_the_intake_key_submits_and_does_nothing_else(client, prm_infra, add_partner):
    intake = vendor_headers(prm_infra.internal_secret, ("lead_intake:write",), "key-forms")
    await add_partner("Anyone GmbH")
    made = await client.post("/v1/lead-intake", headers=intake, json=lead(route=False))
    assert made.status_code == 201, made.text
    # A receipt: nothing of where the lead went or what the conflict check found.
    assert set(made.json()) == {"id", "external_id", "received_at"}
    staff = vendor_headers(prm_infra.internal_secret, LEAD_SCOPES)
    seen = (await client.get(f"/v1/leads/{made.json()['id']}", headers=staff)).json()
    assert seen["source"] == "vendor"
    assert (await client.get("/v1/leads", headers=intake)).status_code == 403
    assert (await client.post("/v1/leads", headers=intake, json=lead())).status_code == 403
    bulk = await client.post("/v1/lead-intake/batch", headers=intake,
                             json={"items": [lead(route=False), lead(route=False)]})
    assert bulk.json()["created"] == 2


async def test_an_accepted_lead_converts_to_a_registration_that_keeps_it_as_source(
        client, staff, add_partner, partner_key, tier):
    partner = await add_partner("Closer GmbH")
    await rule(client, staff, tier)
    offered = (await client.post("/v1/leads", headers=staff, json=lead(
        "Convertible AG", estimated_amount={"amount": "25000.00", "currency": "EUR"}))).json()
    assert offered["partner_id"] == str(partner)
    stale = await client.post(f"/v1/leads/{offered['id']}/accept",
                              headers={**partner_key(partner), "If-Match": '"99"'})
    assert stale.status_code == 412
    accepted = await client.post(f"/v1/leads/{offered['id']}/accept",
                                 headers=partner_key(partner))
    assert accepted.status_code == 200 and accepted.json()["status"] == "accepted"
    assert (await client.get(f"/v1/lead-capacity/{partner}",
                             headers=staff)).json()["open_offers"] == 0
    converted = await client.post(f"/v1/leads/{offered['id']}/convert",
                                  headers=partner_key(partner),
                                  json={"expected_close_date": "2027-03-31"})
    assert converted.status_code == 201, converted.text
    deal = converted.json()
    assert deal["source_lead_id"] == offered["id"] and deal["partner_id"] == str(partner)
    assert deal["amount"] == {"amount": "25000.00", "currency": "EUR"}
    after = (await client.get(f"/v1/leads/{offered['id']}", headers=staff)).json()
    assert after["status"] == "converted" and after["deal_id"] == deal["id"]
    again = await client.post(f"/v1/leads/{offered['id']}/convert",
                              headers=partner_key(partner),
                              json={"expected_close_date": "2027-03-31"})
    assert again.status_code == 409
    events = (await client.connection.execute(text(
        "SELECT event_type, envelope -> 'data' AS data FROM outbox WHERE key = :lead "
        "OR key = :deal ORDER BY seq"), {"lead": offered["id"], "deal": deal["id"]})).all()
    assert [e.event_type for e in events] == [
        "prm.lead.received.v1", "prm.lead.assigned.v1", "prm.lead.accepted.v1",
        "prm.deal.registered.v1", "prm.lead.converted.v1"]
    assert events[3].data["lead_id"] == offered["id"]


async def _close_deals(client, staff, partner_key, partner, won: int, lost: int) -> None:
    for i in range(won + lost):
        word = uuid.uuid4().hex[:10]
        made = await client.post("/v1/deals", headers=partner_key(partner), json={
            "customer": {"name": f"History {word} AG", "domain": f"h{word}.example",
                         "country": "DE"},
            "amount": {"amount": "1000.00", "currency": "EUR"},
            "expected_close_date": "2030-06-30"})
        assert made.status_code == 201, made.text
        deal = made.json()["id"]
        if i < won:
            assert (await client.post(f"/v1/deals/{deal}/approve", headers=staff,
                                      json={"reason": "ok"})).status_code == 200
            assert (await client.post(f"/v1/deals/{deal}/win",
                                      headers=staff)).status_code == 200
        else:
            assert (await client.post(f"/v1/deals/{deal}/lose", headers=staff,
                                      json={"reason": "price"})).status_code == 200


async def test_recommendations_and_propensity_weights_come_from_the_closed_deals(
        client, staff, add_partner, partner_key, tier):
    from prm_deals.leads import service

    strong = await add_partner("Closes Often GmbH")
    weak = await add_partner("Closes Rarely GmbH")
    new = await add_partner("Brand New GmbH")
    await _close_deals(client, staff, partner_key, strong, won=10, lost=2)
    await _close_deals(client, staff, partner_key, weak, won=2, lost=10)
    service._MODEL.clear()  # the model is refitted from this test's history
    await rule(client, staff, tier, weighting={"propensity": True})
    offered = (await client.post("/v1/leads", headers=staff, json=lead())).json()
    ranked = (await client.get(f"/v1/leads/{offered['id']}/recommendations",
                               headers=staff)).json()["items"]
    mine = [r for r in ranked if r["partner_id"] in {str(strong), str(weak), str(new)}]
    assert [r["partner_id"] for r in mine] == [str(strong), str(weak), str(new)]
    assert mine[0]["sample_size"] == 12 and mine[0]["basis"] == "estimated"
    assert float(mine[0]["probability"]) > float(mine[1]["probability"])
    assert mine[2]["probability"] is None and mine[2]["basis"] == "insufficient_history"
    explanation = (await client.get(f"/v1/leads/{offered['id']}/assignments",
                                    headers=staff)).json()["items"][0]["explanation"]
    weights = {c["partner_id"]: c["weight"] for c in explanation["candidates"]}
    assert weights[str(strong)] > weights[str(weak)]
    # A partner key may not compare partners.
    assert (await client.get(f"/v1/leads/{offered['id']}/recommendations",
                             headers=partner_key(strong))).status_code in (403, 404)
    service._MODEL.clear()


async def test_a_partner_sourced_lead_is_not_offered_back_to_its_source(client, staff,
                                                                       add_partner,
                                                                       partner_key, tier):
    source = await add_partner("Referrer GmbH")
    other = await add_partner("Worker GmbH")
    await rule(client, staff, tier)
    for i in range(3):
        passed_on = await client.post("/v1/leads", headers=partner_key(source),
                                      json=lead(f"Referred{i} AG"))
        assert passed_on.status_code == 201, passed_on.text
        held = await client.get(f"/v1/leads/{passed_on.json()['id']}", headers=staff)
        assert held.json()["partner_id"] == str(other)
    # It still sees the lead it passed on, but not who holds it, nor by filtering.
    seen = await client.get(f"/v1/leads/{passed_on.json()['id']}", headers=partner_key(source))
    assert seen.status_code == 200 and seen.json()["partner_id"] is None
    assert seen.json()["partner_name"] is None and seen.json()["status"] == "offered"
    found = (await client.get(f"/v1/leads?partner_id={other}",
                              headers=partner_key(source))).json()["items"]
    assert found == []
    assert len((await client.get("/v1/leads", headers=partner_key(source))).json()["items"]) == 3


def test_what_routing_keeps_stays_within_its_bound(monkeypatch):
    """Members and pools kept between leads never hold more than the bound, however often
    the same key is kept again (two leads that both missed) or large pools come and go."""
    monkeypatch.setattr(routing, "KEPT_MEMBERS", 1_000)
    kept = routing._Kept()
    for round_ in range(3):
        for size in (400, 300, 400, 999, 1, 1_001):
            found = routing._Found(dict.fromkeys(range(size)), 1)
            kept.keep(("rule", size), found)
            kept.keep(("rule", size), found)
            groups = Groups([Member(uuid.UUID(int=i + 1), 1, round_) for i in range(size)])
            kept.keep_groups(uuid.UUID(int=size), "1", round_, groups)
            assert kept.held == sum(len(f.tiers) for f in kept.members.values()) <= 1_000
            assert kept.grouped == sum(g.size for _, _, g in kept.pools.values()) <= 1_000
    # The newest are kept (least recently used first out); one over the bound never is.
    assert ("rule", 1) in kept.members and ("rule", 1_001) not in kept.members
    assert kept.groups(uuid.UUID(int=1), "1", 2) is not None
    assert kept.groups(uuid.UUID(int=1), "2", 2) is None  # another version of the pool row
