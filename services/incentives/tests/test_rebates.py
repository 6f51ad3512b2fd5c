"""Rebate programmes end to end: tier and volume rates, product families, accrual on won deals
as ledger transfers, replays of the deals topic, FX, reversal (and its event), the period
true-up both ways and the job that trues up every partner of an ended programme once."""

import datetime as dt
import uuid

from sqlalchemy import text

from prm_incentives.config import Settings
from prm_incentives.rebates.service import true_up_ended
from prm_incentives.worker import spec

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


async def events(client, event_type, partner_id):
    """The payloads of ``event_type`` the service put in its outbox for the partner."""
    rows = await client.connection.execute(text(
        "SELECT envelope->'data' FROM outbox WHERE event_type = :type "
        "AND envelope->>'partnerid' = CAST(:p AS varchar) ORDER BY created_at, event_id"),
        {"type": event_type, "p": str(partner_id)})
    return [row[0] for row in rows]


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
    [event] = await events(client, "prm.rebate.reversed.v1", partner)
    assert event == {
        "accrual_id": accrual["id"], "programme_id": prog["id"], "partner_id": str(partner),
        "deal_id": str(extra.deal_id), "kind": "deal",
        "amount": {"amount": "20.00", "currency": "EUR"}, "reason": "cancelled", "version": 2}

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


_Q1 = {"starts_on": "2025-01-01", "ends_on": "2025-03-31"}


async def test_ended_programmes_are_trued_up_once_both_ways(app, client, vendor, list_partner):
    prog = await programme(client, vendor, "volume", [
        {"min_volume": {"amount": "100000.00", "currency": "EUR"}, "rate": "2"},
        {"rate": "1"}], trailing_days=365, **_Q1)
    up, down, held_back = [await partner_with_tier(app, list_partner, None) for _ in range(3)]
    for partner in (up, down, held_back):
        await send(app, won(partner, "60000.00", closed_on=dt.date(2025, 2, 1)))
        await send(app, won(partner, "50000.00", closed_on=dt.date(2025, 3, 1)))
    await send(app, won(held_back, "1000.00", closed_on=dt.date(2025, 3, 2)))
    # 600.00 at 1 %, then 1000.00 at 2 % (110000.00 reached); the last one 20.00 at 2 %.
    for partner in (down, held_back):  # their first deal undone: the period ends at 1 %
        first = (await accruals(client, vendor, prog["id"], partner_id=str(partner)))[0]
        undone = await client.post(f"/v1/rebates/accruals/{first['id']}/reverse",
                                   headers=vendor, json={"reason": "cancelled"})
        assert undone.status_code == 200, undone.text
    # Held back's 50000.00 deal is in a payout batch: the true-up cannot take it back.
    batch = await client.post("/v1/payouts/batches", headers=vendor, json={
        "partner_id": str(held_back), "currency": "EUR", "period_from": "2025-03-01",
        "period_to": "2025-03-01"})
    assert batch.status_code == 201, batch.text

    async def run(today):
        async with app.state.sessionmaker() as session:
            done = await true_up_ended(session, 1000, today=today, delay_days=7)
            await session.commit()
        return done

    async def true_ups(partner):
        rows = await accruals(client, vendor, prog["id"], partner_id=str(partner))
        return [a for a in rows if a["kind"] == "true_up"]

    assert await run(dt.date(2025, 4, 6)) >= 0  # a week after the end has not passed yet
    assert [await true_ups(p) for p in (up, down, held_back)] == [[], [], []]
    job = next(j for j in spec(Settings(true_up_delay_days=7)).jobs
               if j.name == "true-up-rebate-periods")
    async with app.state.sessionmaker() as session:  # as the worker's scheduler runs it
        assert await job.run(session) >= 3
        await session.commit()
    [raised] = await true_ups(up)
    # 110000.00 in the period: both deals at 2 % = 2200.00; 1600.00 accrued.
    assert (raised["status"], raised["amount"]["amount"]) == ("accrued", "600.00")
    assert (raised["period_from"], raised["period_to"]) == ("2025-01-01", "2025-03-31")
    assert await payable(client, vendor, up) == 220000
    [lowered] = await true_ups(down)
    # 50000.00 in the period: 1 % = 500.00 due; it held 1000.00, so 500.00 goes back.
    assert (lowered["status"], lowered["amount"]["amount"]) == ("clawback", "500.00")
    assert lowered["transfer_id"] is None
    assert await payable(client, vendor, down) == 50000
    event = (await events(client, "prm.rebate.reversed.v1", down))[-1]
    assert event["accrual_id"] == lowered["id"] and event["kind"] == "true_up"
    assert event["amount"] == {"amount": "500.00", "currency": "EUR"}
    [short] = await true_ups(held_back)
    # 51000.00: 510.00 due of 1020.00 held; only the unbatched 20.00 can go back.
    assert (short["status"], short["amount"]["amount"]) == ("clawback", "20.00")
    assert "490.00 EUR could not be taken back" in short["reason"]
    assert await payable(client, vendor, held_back) == 100000

    # Run again (or on request): nothing changes.
    before = [await payable(client, vendor, p) for p in (up, down, held_back)]
    await run(dt.date(2025, 5, 1))
    again = await client.post(f"/v1/rebates/programmes/{prog['id']}/true-ups",
                              headers=vendor, json={"partner_id": str(down),
                                                    "period_from": "2025-01-01",
                                                    "period_to": "2025-03-31"})
    assert again.status_code == 200 and again.json()["id"] == lowered["id"]
    assert [await payable(client, vendor, p) for p in (up, down, held_back)] == before
    assert [len(await true_ups(p)) for p in (up, down, held_back)] == [1, 1, 1]

    # The deal the clawback took from is undone later: only what is left goes back.
    rest = (await accruals(client, vendor, prog["id"], partner_id=str(down)))[1]
    assert rest["kind"] == "deal" and rest["status"] == "accrued"
    undone = await client.post(f"/v1/rebates/accruals/{rest['id']}/reverse", headers=vendor,
                               json={"reason": "cancelled"})
    assert undone.status_code == 200, undone.text
    assert await payable(client, vendor, down) == 0
    assert (await events(client, "prm.rebate.reversed.v1", down))[-1]["amount"] == {
        "amount": "500.00", "currency": "EUR"}


async def test_an_earlier_true_up_within_the_period_counts(app, client, vendor, list_partner):
    prog = await programme(client, vendor, "volume", [
        {"min_volume": {"amount": "100000.00", "currency": "EUR"}, "rate": "2"},
        {"rate": "1"}], trailing_days=30, **_Q1)
    partner = await partner_with_tier(app, list_partner, None)
    await send(app, won(partner, "60000.00", closed_on=dt.date(2025, 1, 10)))
    await send(app, won(partner, "50000.00", closed_on=dt.date(2025, 1, 20)))
    await send(app, won(partner, "60000.00", closed_on=dt.date(2025, 3, 10)))
    # At accrual: 600.00, 1000.00 (110000.00 within 30 days), 600.00 (alone within 30 days).
    january = await client.post(f"/v1/rebates/programmes/{prog['id']}/true-ups",
                                headers=vendor, json={"partner_id": str(partner),
                                                      "period_from": "2025-01-01",
                                                      "period_to": "2025-01-31"})
    assert january.json()["amount"]["amount"] == "600.00"
    async with app.state.sessionmaker() as session:
        await true_up_ended(session, 1000, today=dt.date(2025, 6, 1))
        await session.commit()
    quarter = [a for a in await accruals(client, vendor, prog["id"], partner_id=str(partner))
               if a["kind"] == "true_up" and a["period_to"] == "2025-03-31"]
    # 170000.00 in the quarter: 3400.00 due; held 2200.00 + January's 600.00.
    assert [(a["status"], a["amount"]["amount"]) for a in quarter] == [("accrued", "600.00")]
    assert await payable(client, vendor, partner) == 340000
