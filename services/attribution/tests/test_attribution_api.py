"""Touches from events and the API, recomputation, replays, the explain endpoint, rules
versions and KPIs, against the real database."""

import datetime as dt
import uuid

from sqlalchemy import text


async def _results(client, deal_id):
    rows = await client.connection.execute(text(
        "SELECT rules_version, model, partner_id, role, share, credit_minor "
        "FROM attribution_credits WHERE deal_id = :d ORDER BY 1, 2, 3"), {"d": deal_id})
    return [tuple(r) for r in rows]


async def _events(client, deal_id):
    return list((await client.connection.execute(text(
        "SELECT envelope FROM outbox WHERE event_type = 'prm.attribution.computed.v1' "
        "AND key = :k ORDER BY seq"), {"k": str(deal_id)})).scalars())


async def test_a_registration_is_a_sourcing_touch_and_a_late_touch_recomputes(
        client, apply, vendor, kit):
    T0, DealStory = kit.T0, kit.DealStory
    source, si = uuid.uuid4(), uuid.uuid4()
    deal = DealStory(source, amount="1000.00")
    await apply(deal.registered(), deal.approved())
    pipeline = await _results(client, deal.deal_id)
    assert {r[1] for r in pipeline} >= {"linear", "markov", "shapley"}
    assert all(r[2] == source and r[3] == "sourced" and r[5] == 100000 for r in pipeline)
    await apply(deal.won())
    # The SI's workshop, recorded late (after the win), on the deal.
    response = await client.post("/v1/touchpoints", headers=vendor, json={
        "partner_id": str(si), "deal_id": str(deal.deal_id), "kind": "consulting",
        "occurred_at": (T0 + dt.timedelta(days=10)).isoformat(),
        "evidence": {"description": "Architecture workshop"}})
    assert response.status_code == 201, response.text
    explained = (await client.get(f"/v1/attributed-deals/{deal.deal_id}/explanation",
                                  headers=vendor)).json()
    assert explained["basis"] == "won" and explained["rules_version"] == 2
    assert [t["kind"] for t in explained["touches"]] == ["registration", "consulting"]
    credits = {p["partner_id"]: p for p in explained["partners"]}
    assert credits[str(source)]["role"] == "sourced"
    assert credits[str(si)]["role"] == "influenced"
    # Hand-computed, two touches: first/last all-or-nothing, linear and U-shaped halves,
    # custom weights 3 (registration) : 1 (consulting).
    expect = {"first_touch": ("1000.00", "0.00"), "last_touch": ("0.00", "1000.00"),
              "linear": ("500.00", "500.00"), "position_based": ("500.00", "500.00"),
              "custom_weights": ("750.00", "250.00")}
    for model, (a, b) in expect.items():
        assert credits[str(source)]["credits"][model]["amount"]["amount"] == a, model
        assert credits[str(si)]["credits"][model]["amount"]["amount"] == b, model
    # Time decay from the end of the close day (15 Oct), half-life 7 days: the touches are
    # 10 days apart, so the SI's share is 1 / (1 + 2^(-10/7)) = 0.729134...
    assert credits[str(si)]["credits"]["time_decay"]["amount"]["amount"] == "729.13"
    for model in explained["models"]:
        total = sum(int(p["credits"][model]["amount"]["amount"].replace(".", ""))
                    for p in explained["partners"])
        assert total == 100000, model
    events = await _events(client, deal.deal_id)
    assert [e["data"]["version"] for e in events] == list(range(1, len(events) + 1))
    assert events[-1]["data"]["basis"] == "won"


async def test_replaying_every_event_changes_nothing(client, apply, vendor, kit):
    T0, DealStory, partner_created = kit.T0, kit.DealStory, kit.partner_created
    a, b = uuid.uuid4(), uuid.uuid4()
    deals = [DealStory(a, amount="999.99"), DealStory(b, amount="12345.67", currency="USD"),
             DealStory(a, amount="10.00")]
    stream = [partner_created(a), partner_created(b)]
    for i, deal in enumerate(deals):
        stream += [deal.registered(T0 + dt.timedelta(hours=i)), deal.approved()]
    stream += [deals[0].won(), deals[1].lost()]
    await apply(*stream)
    await client.post("/v1/touchpoints", headers=vendor, json={
        "partner_id": str(b), "customer_domain": deals[2].customer.domain, "kind": "referral",
        "occurred_at": T0.isoformat(), "evidence": {"description": "Introduced the CIO"}})
    before = [await _results(client, d.deal_id) for d in deals]
    published = [len(await _events(client, d.deal_id)) for d in deals]
    await apply(*stream)  # every event again, as after a broker loss
    await apply(*stream[::-1])  # and out of order
    assert [await _results(client, d.deal_id) for d in deals] == before
    assert [len(await _events(client, d.deal_id)) for d in deals] == published
    touches = (await client.connection.execute(text(
        "SELECT count(*) FROM touchpoints WHERE deal_id = ANY(:d)"),
        {"d": [d.deal_id for d in deals]})).scalar_one()
    assert touches == 3


async def test_a_new_rules_version_keeps_the_history(client, apply, vendor, kit):
    DealStory = kit.DealStory
    source = uuid.uuid4()
    deal = DealStory(source)
    await apply(deal.registered())  # not approved (yet): an influence by the current rules
    v1 = await _results(client, deal.deal_id)
    assert {r[3] for r in v1} == {"influenced"}
    current = await client.get("/v1/attribution-rules/current", headers=vendor)
    etag, earlier = current.headers["ETag"], current.json()["version"]
    stale = await client.post("/v1/attribution-rules", headers={**vendor, "If-Match": '"99"'},
                              json={"rules": {"sourcing": {"requires_approval": False}}})
    assert stale.status_code == 412
    published = await client.post("/v1/attribution-rules", headers={**vendor, "If-Match": etag},
                                  json={"rules": {"sourcing": {"requires_approval": False}},
                                        "notes": "Any registration sources"})
    assert published.status_code == 201, published.text
    version = published.json()["version"]
    assert (await _results(client, deal.deal_id)) == v1  # nothing rewritten silently
    response = await client.post(f"/v1/attributed-deals/{deal.deal_id}/recompute",
                                 headers=vendor)
    assert response.status_code == 200, response.text
    assert response.json()["rules_version"] == version
    assert response.json()["rules_versions"] == [earlier, version]
    old = (await client.get(
        f"/v1/attributed-deals/{deal.deal_id}/explanation?rules_version={earlier}",
        headers=vendor)).json()
    assert old["partners"][0]["role"] == "influenced"
    assert response.json()["partners"][0]["role"] == "sourced"


async def test_earlier_rules_versions_say_how_they_computed_the_data_driven_models(
        client, vendor):
    first = (await client.get("/v1/attribution-rules/1", headers=vendor)).json()["rules"]
    assert first["markov_chain"] == "deal" and first["shapley_game"] == "deal"
    assert not {"shapley_exact_up_to", "shapley_samples", "shapley_seed"} & set(first)
    second = (await client.get("/v1/attribution-rules/2", headers=vendor)).json()
    assert second["published_by"] == "migration"
    assert second["rules"]["markov_chain"] == "full"
    assert second["rules"]["shapley_game"] == "history"
    methods = ("markov_chain", "shapley_game")
    assert {k: v for k, v in second["rules"].items() if k not in methods} == \
        {k: v for k, v in first.items() if k not in methods}


async def test_markov_and_shapley_learn_from_the_history(client, apply, vendor, kit):
    T0, DealStory = kit.T0, kit.DealStory
    a, b = uuid.uuid4(), uuid.uuid4()
    # History (customer touches by b on a's deals): a then b, won; a alone, lost.
    won, lost = DealStory(a), DealStory(a)
    await apply(won.registered(), won.approved())
    await client.post("/v1/touchpoints", headers=vendor, json={
        "partner_id": str(b), "deal_id": str(won.deal_id), "kind": "co_sell",
        "occurred_at": (T0 + dt.timedelta(days=2)).isoformat(),
        "evidence": {"description": "Joint demo"}})
    # The data-driven models learn from the deals closed before the computation.
    await apply(lost.registered(), lost.lost(), won.won())
    explained = (await client.get(f"/v1/attributed-deals/{won.deal_id}/explanation",
                                  headers=vendor)).json()
    markov = explained["models"]["markov"]
    # Journeys: a -> b -> conv; a -> null. P(conv) = 1/2 * ... start->a 1, a: b 1/2, null 1/2;
    # b: conv 1 -> P = 1/2. Removing either leaves nothing: both effects 1, an even split.
    assert markov["conversion_probability"] == "1/2"
    assert set(markov["removal_effects"].values()) == {"1/1"}
    shapley = explained["models"]["shapley"]
    assert shapley["exact"] is True and shapley["wins_explained"] == "1/1"
    assert set(shapley["values"].values()) == {"1/2"}


async def test_kpis_per_partner_in_the_base_currency(client, apply, vendor, kit):
    T0, DealStory, partner_created = kit.T0, kit.DealStory, kit.partner_created
    a = uuid.uuid4()
    won, open_deal = DealStory(a, amount="100.00", currency="USD"), DealStory(a)
    await apply(partner_created(a, at=T0 - dt.timedelta(days=10)), won.registered(),
                won.approved(), won.won(), open_deal.registered(), open_deal.approved())
    await apply(kit.rate_set("USD", "EUR", "0.9", dt.date(2026, 1, 1)))
    page = (await client.get(f"/v1/attribution-kpis?from=2026-09-01&to=2026-12-01"
                             f"&partner_id={a}", headers=vendor)).json()
    [row] = page["items"]
    assert row["sourced_revenue"] == {"amount": "90.00", "currency": "EUR"}
    assert row["sourced_pipeline"] == {"amount": "48000.00", "currency": "EUR"}
    assert row["registrations"] == 2 and row["registrations_won"] == 1
    assert row["win_rate"] == "1.0000"
    assert row["time_to_first_deal_days"] == (dt.date(2026, 10, 15)
                                              - (T0 - dt.timedelta(days=10)).date()).days
    assert set(row["deal_ids"]) == {str(won.deal_id), str(open_deal.deal_id)}
    assert row["fx_rates_used"] == [{"currency": "USD", "rate": "0.9000000000",
                                     "valid_on": "2026-01-01"}]
    assert row["partner_type"] == "si" and row["partner_tier"] == "Gold"
