"""Rebate programmes end to end: tier and volume rates, product families, accrual on won deals
as ledger transfers, replays of the deals topic, FX, reversal and the period true-up."""

import datetime as dt
import uuid

from sqlalchemy import text

from .rebate_helpers import deliver, project_tier, won


def name() -> str:
    return f"rebate-{uuid.uuid4().hex[:12]}"


async def programme(client, vendor, basis, rules, **extra):
    body = {"name": name(), "currency": "EUR", "basis": basis, "starts_on": "2025-01-01",
            "ends_on": "2025-12-31", "rules": rules, **extra}
    response = await client.post("/v1/rebates/programmes", headers=vendor, json=body)
    assert response.status_code == 201, response.text
    return response.json()


async def partner_with_tier(app, list_partner, tier):
    partner_id = await list_partner()
    async with app.state.sessionmaker() as session:
        await project_tier(session, partner_id, tier)
        await session.commit()
    return partner_id


async def send(app, deal):
    async with app.state.sessionmaker() as session:
        await deliver(session, deal)
        await session.commit()


async def accruals(client, vendor, programme_id, **query):
    params = {"programme_id": programme_id, **query}
    response = await client.get("/v1/rebates/accruals", headers=vendor, params=params)
    assert response.status_code == 200, response.text
    return response.json()["items"]


async def payable(client, vendor, partner_id) -> int:
    """The partner's payable balances in EUR cents."""
    items = (await client.get("/v1/ledger/accounts", headers=vendor, params={
        "partner_id": str(partner_id), "kind": "payable"})).json()["items"]
    return sum(int(a["balances"]["posted"]["amount"].replace(".", "")) for a in items)


async def test_tier_rates_accrue_once_on_won_deals(app, client, vendor, as_partner,
                                                   list_partner):
    prog = await programme(client, vendor, "tier", [
        {"tier": "Gold", "deal_type": "renewal", "rate": "1"},
        {"tier": "Gold", "rate": "3"}, {"rate": "0.5"}])
    gold = await partner_with_tier(app, list_partner, "Gold")
    silver = await partner_with_tier(app, list_partner, "Silver")
    deal = won(gold, "48000.00")
    await send(app, deal)
    await send(app, won(gold, "10000.00", deal_type="renewal"))
    await send(app, won(silver, "10000.00"))

    [first] = await accruals(client, vendor, prog["id"], deal_id=str(deal.deal_id))
    assert first["amount"] == {"amount": "1440.00", "currency": "EUR"}
    assert first["rate"] == "3" and first["rule_index"] == 1 and first["tier"] == "Gold"
    assert first["rule"]["tier"] == "Gold" and first["status"] == "accrued"
    assert {a["amount"]["amount"] for a in await accruals(
        client, vendor, prog["id"], partner_id=str(gold))} == {"1440.00", "100.00"}
    [low] = await accruals(client, vendor, prog["id"], partner_id=str(silver))
    assert low["amount"]["amount"] == "50.00" and low["rate"] == "0.5"
    assert await payable(client, vendor, gold) == 154000

    # Replaying the deals topic changes nothing: no accrual, no transfer, no event.
    count = text("SELECT count(*) FROM outbox WHERE event_type = 'prm.rebate.accrued.v1' "
                 "AND envelope->>'partnerid' = CAST(:p AS varchar)")
    events = (await client.connection.execute(count, {"p": str(gold)})).scalar_one()
    assert events == 2
    for _ in range(2):
        await send(app, deal)
    assert len(await accruals(client, vendor, prog["id"], partner_id=str(gold))) == 2
    assert await payable(client, vendor, gold) == 154000
    assert (await client.connection.execute(count, {"p": str(gold)})).scalar_one() == events

    # A partner sees its own accruals only.
    own = (await client.get("/v1/rebates/accruals", headers=as_partner(silver))).json()
    assert {a["partner_id"] for a in own["items"]} == {str(silver)}
    hidden = await client.get(f"/v1/rebates/accruals/{first['id']}",
                              headers=as_partner(silver))
    assert hidden.status_code == 404


async def test_deals_outside_the_programme_dates_do_not_accrue(app, client, vendor,
                                                                list_partner):
    prog = await programme(client, vendor, "tier", [{"rate": "2"}])
    partner = await partner_with_tier(app, list_partner, None)
    await send(app, won(partner, "100.00", closed_on=dt.date(2026, 1, 1)))
    assert await accruals(client, vendor, prog["id"], partner_id=str(partner)) == []


async def test_product_family_and_fx(app, client, vendor, list_partner):
    prog = await programme(client, vendor, "tier", [{"sku_prefix": "FW-", "rate": "10"}])
    partner = await partner_with_tier(app, list_partner, "Gold")
    rate = await client.post("/v1/ledger/fx-rates", headers=vendor, json={
        "base": "EUR", "quote": "USD", "rate": "1.25", "effective_on": "2025-01-01"})
    assert rate.status_code == 201, rate.text
    deal = won(partner, "1500.00", "USD", products=(("FW-100", 2, "500.00"),
                                                    ("SUP-1", 1, "500.00")))
    await send(app, deal)
    [accrual] = await accruals(client, vendor, prog["id"], partner_id=str(partner))
    # 1500 USD = 1200 EUR; the firewall lines 1000 USD = 800 EUR; 10 % of those.
    assert accrual["deal_amount"]["amount"] == "1200.00"
    assert accrual["base_amount"]["amount"] == "800.00"
    assert accrual["amount"] == {"amount": "80.00", "currency": "EUR"}
    await send(app, won(partner, "100.00", products=(("SUP-1", 1, "100.00"),)))
    none = await accruals(client, vendor, prog["id"], status="no_rebate",
                          partner_id=str(partner))
    assert len(none) == 1 and none[0]["rule"] is None and none[0]["transfer_id"] is None


async def test_volume_bands_reversal_and_true_up(app, client, vendor, list_partner):
    prog = await programme(client, vendor, "volume", [
        {"min_volume": {"amount": "100000.00", "currency": "EUR"}, "rate": "2"},
        {"rate": "1"}], trailing_days=365)
    partner = await partner_with_tier(app, list_partner, None)
    await send(app, won(partner, "60000.00", closed_on=dt.date(2025, 2, 1)))
    await send(app, won(partner, "50000.00", closed_on=dt.date(2025, 3, 1)))
    extra = won(partner, "1000.00", closed_on=dt.date(2025, 3, 2))
    await send(app, extra)
    rows = await accruals(client, vendor, prog["id"], partner_id=str(partner))
    assert [a["amount"]["amount"] for a in rows] == ["600.00", "1000.00", "20.00"]
    assert rows[1]["volume"]["amount"] == "110000.00" and rows[1]["rate"] == "2"

    # The last deal is undone: reversed once, with If-Match.
    accrual = rows[2]
    url = f"/v1/rebates/accruals/{accrual['id']}/reverse"
    stale = await client.post(url, headers={**vendor, "If-Match": '"9"'},
                              json={"reason": "cancelled"})
    assert stale.status_code == 412
    reversed_ = await client.post(url, headers={**vendor, "If-Match": '"1"'},
                                  json={"reason": "cancelled"})
    assert reversed_.status_code == 200, reversed_.text
    assert reversed_.json()["status"] == "reversed"
    assert reversed_.json()["reversal_transfer_id"]
    again = await client.post(url, headers=vendor, json={"reason": "cancelled"})
    assert again.status_code == 409
    assert await payable(client, vendor, partner) == 160000

    # Q1 ends at 110000: both deals earn 2 %; the first accrued 1 %, so 600.00 more.
    body = {"partner_id": str(partner), "period_from": "2025-01-01",
            "period_to": "2025-03-31"}
    made = await client.post(f"/v1/rebates/programmes/{prog['id']}/true-ups",
                             headers=vendor, json=body)
    assert made.status_code == 201, made.text
    true_up = made.json()
    assert true_up["kind"] == "true_up" and true_up["amount"]["amount"] == "600.00"
    assert true_up["volume"]["amount"] == "110000.00" and true_up["rate"] == "2"
    repeated = await client.post(f"/v1/rebates/programmes/{prog['id']}/true-ups",
                                 headers=vendor, json=body)
    assert repeated.status_code == 200 and repeated.json()["id"] == true_up["id"]
    assert await payable(client, vendor, partner) == 220000

    unfinished = await client.post(f"/v1/rebates/programmes/{prog['id']}/true-ups",
                                   headers=vendor, json={**body, "period_to": "2999-01-01"})
    assert unfinished.status_code == 422


async def test_programme_validation_and_reads(client, vendor):
    bad = await client.post("/v1/rebates/programmes", headers=vendor, json={
        "name": name(), "currency": "EUR", "basis": "tier", "starts_on": "2025-01-01",
        "rules": [{"rate": 2.5}]})
    assert bad.status_code == 422
    mixed = await client.post("/v1/rebates/programmes", headers=vendor, json={
        "name": name(), "currency": "EUR", "basis": "tier", "starts_on": "2025-01-01",
        "rules": [{"rate": "2", "min_volume": {"amount": "1.00", "currency": "EUR"}}]})
    assert mixed.status_code == 422
    prog = await programme(client, vendor, "tier", [{"rate": "2.5"}])
    got = await client.get(f"/v1/rebates/programmes/{prog['id']}", headers=vendor)
    assert got.status_code == 200 and got.headers["ETag"] == '"1"'
    assert got.json()["rules"][0]["rate"] == "2.5"
    duplicate = await client.post("/v1/rebates/programmes", headers=vendor, json={
        "name": prog["name"], "currency": "EUR", "basis": "tier", "starts_on": "2025-01-01",
        "rules": [{"rate": "1"}]})
    assert duplicate.status_code == 409
    listed = (await client.get("/v1/rebates/programmes?limit=200", headers=vendor)).json()
    assert prog["id"] in {p["id"] for p in listed["items"]} or listed["next_cursor"]
