"""FX rates: the projection of the incentives ledger's rates (``prm.fx.rate_set.v1``; the
ledger owns them), broken rate events refused, and the conversion of won deals to the base
currency with the rate recorded (JPY 0 decimals, KWD 3, rounded half-even), a deal without a
rate counted once one is set."""

import datetime as dt
import uuid

import pytest
from sqlalchemy import text

from prm_contracts import Amount, Customer, DealWonV1, FxRateSetV1
from prm_events.envelope import new_event
from prm_partners.tiers.handlers import FX_HANDLERS, HANDLERS

TODAY = dt.datetime.now(dt.UTC).date()
DAY = (TODAY - dt.timedelta(days=60)).isoformat()


@pytest.fixture
def db(app, client):
    return app.state.sessionmaker


async def deliver(db, partner_id, amount, currency, closed_on, deal_id=None):
    deal_id = deal_id or uuid.uuid4()
    payload = DealWonV1(deal_id=deal_id, partner_id=partner_id, status="won", version=3,
                        customer=Customer(name="Globex", domain="globex.example",
                                          country="KW"),
                        amount=Amount(amount=amount, currency=currency), closed_on=closed_on,
                        deal_type="new", products=[])
    event = new_event(payload, source="/prm/deals", subject=str(deal_id),
                      partner_id=partner_id)
    async with db() as session:
        await HANDLERS[event.type](session, event)
        await session.commit()
    return deal_id


async def fact(client, deal_id):
    return (await client.connection.execute(text(
        "SELECT amount, currency, base_amount, base_currency, fx_rate, fx_rate_on "
        "FROM tier_deal_facts WHERE deal_id = :d"), {"d": deal_id})).one()


async def set_rate(db, pair, day, rate, rate_id=None):
    """The incentives ledger's ``prm.fx.rate_set.v1``, as the worker's subscription applies it."""
    base, quote = pair.split("/")
    rate_id = rate_id or uuid.uuid4()
    payload = FxRateSetV1(rate_id=rate_id, base=base, quote=quote, rate=rate,
                          effective_on=day, recorded_at=dt.datetime.now(dt.UTC))
    event = new_event(payload, source="/prm/incentives", subject=str(rate_id))
    async with db() as session:
        await FX_HANDLERS[event.type](session, event)
        await session.commit()
    return rate_id


async def rates(client, pair):
    base, quote = pair.split("/")
    return [tuple(r) for r in await client.connection.execute(text(
        "SELECT effective_on::text, rate::text, version FROM fx_rates "
        "WHERE from_currency = :base AND to_currency = :quote ORDER BY effective_on"),
        {"base": base, "quote": quote})]


async def test_the_projection_keeps_the_ledgers_rates(client, vendor, db):
    first = await set_rate(db, "USD/EUR", DAY, "0.92135")
    assert await rates(client, "USD/EUR") == [(DAY, "0.921350000000", 1)]
    await set_rate(db, "USD/EUR", DAY, "0.92135", rate_id=first)  # a redelivery: no change
    assert await rates(client, "USD/EUR") == [(DAY, "0.921350000000", 1)]
    # A rate entered here before the ledger owned them gives way to the ledger's.
    await set_rate(db, "USD/EUR", DAY, "0.93")
    assert await rates(client, "USD/EUR") == [(DAY, "0.930000000000", 2)]
    # The write API is the ledger's alone; the tiers list the rates they used.
    assert (await client.get("/v1/fx-rates", headers=vendor)).status_code == 404
    assert (await client.put(f"/v1/fx-rates/USD/EUR/{DAY}", json={"rate": "1"},
                             headers=vendor)).status_code in (404, 405)


@pytest.mark.parametrize(("pair", "rate"), [
    ("USD/EUR", "0"), ("USD/EUR", "-1.5"), ("USD/EUR", "NaN"), ("USD/EUR", "Infinity"),
    ("USD/EUR", "one"), ("XXX/EUR", "1.5"), ("USD/ZZZ", "1.5"), ("EUR/EUR", "1"),
])
async def test_a_broken_rate_event_is_refused(client, db, pair, rate):
    """Refused (retried, then dead-lettered), never kept: no deal is converted with it."""
    with pytest.raises(ValueError):
        await set_rate(db, pair, DAY, rate)
    assert await rates(client, pair) == []


async def setup_programme(client, vendor, base="EUR"):
    response = await client.put("/v1/tiers/programme", json={
        "base_currency": base, "demotion_grace_days": 30}, headers=vendor)
    assert response.status_code == 200
    await client.post("/v1/tiers", json={"name": "Registered", "rank": 0}, headers=vendor)
    await client.post("/v1/tiers", json={
        "name": "Silver", "rank": 10,
        "min_revenue": {"amount": "1000.00" if base == "EUR" else "1000", "currency": base}},
        headers=vendor)
    partner = (await client.post("/v1/partners", json={
        "name": "FX Co", "type": "reseller", "country": "KW"}, headers=vendor)).json()
    await client.post(f"/v1/partners/{partner['id']}/activate", headers=vendor)
    return uuid.UUID(partner["id"])


async def test_conversion_records_the_rate_used(client, vendor, db):
    pid = await setup_programme(client, vendor)
    closed = TODAY - dt.timedelta(days=10)
    older = (closed - dt.timedelta(days=30)).isoformat()
    await set_rate(db, "JPY/EUR", older, "0.0050")
    await set_rate(db, "JPY/EUR", (closed - dt.timedelta(days=1)).isoformat(),
                   "0.0061235")
    await set_rate(db, "JPY/EUR", (closed + dt.timedelta(days=1)).isoformat(),
                   "0.0099")  # after the deal closed: not used
    await set_rate(db, "KWD/EUR", older, "3.0285")
    jpy = await deliver(db, pid, "100000", "JPY", closed)
    kwd = await deliver(db, pid, "10.125", "KWD", closed)
    got = await fact(client, jpy)
    assert (str(got.base_amount), got.base_currency, str(got.fx_rate.normalize()),
            got.fx_rate_on) \
        == ("612.3500", "EUR", "0.0061235", closed - dt.timedelta(days=1))
    got = await fact(client, kwd)
    # 10.125 * 3.0285 = 30.6635625 -> 30.66 (EUR has 2 decimals)
    assert str(got.base_amount) == "30.6600" and str(got.amount) == "10.1250"
    view = (await client.get(f"/v1/partners/{pid}/tier", headers=vendor)).json()
    assert view["criteria"]["revenue"] == {"amount": "643.01", "currency": "EUR"}
    assert view["criteria"]["rates_used"] == [
        {"currency": "JPY", "rate": "0.0061235",
         "effective_on": (closed - dt.timedelta(days=1)).isoformat(), "deals": 1,
         "amount": "100000", "base_amount": "612.35"},
        {"currency": "KWD", "rate": "3.0285", "effective_on": older, "deals": 1,
         "amount": "10.125", "base_amount": "30.66"}]


async def test_half_even_into_a_base_without_decimals(client, vendor, db):
    pid = await setup_programme(client, vendor, base="JPY")
    closed = TODAY - dt.timedelta(days=3)
    await set_rate(db, "KWD/JPY", closed.isoformat(), "500")
    # 0.001 KWD * 500 = 0.5 JPY -> 0 (half to even); 0.003 * 500 = 1.5 -> 2
    low = await deliver(db, pid, "0.001", "KWD", closed)
    high = await deliver(db, pid, "0.003", "KWD", closed)
    assert str((await fact(client, low)).base_amount) == "0.0000"
    assert str((await fact(client, high)).base_amount) == "2.0000"
    view = (await client.get(f"/v1/partners/{pid}/tier", headers=vendor)).json()
    assert view["criteria"]["revenue"] == {"amount": "2", "currency": "JPY"}


async def test_a_deal_without_a_rate_counts_once_one_is_added(client, vendor, db):
    pid = await setup_programme(client, vendor)
    closed = TODAY - dt.timedelta(days=5)
    deal = await deliver(db, pid, "2000.00", "USD", closed)
    assert (await fact(client, deal)).base_amount is None
    view = (await client.get(f"/v1/partners/{pid}/tier", headers=vendor)).json()
    assert view["tier"] == "Registered" and view["qualifying_tier"] == "Registered"
    assert view["criteria"]["won_deals"] == 1
    assert view["criteria"]["revenue"]["amount"] == "0.00"
    assert view["criteria"]["unconverted"] == [{"currency": "USD", "deals": 1,
                                                "amount": "2000.00"}]
    # a rate from after the deal closed does not convert it
    await set_rate(db, "USD/EUR", (closed + dt.timedelta(days=1)).isoformat(), "0.9")
    assert (await fact(client, deal)).base_amount is None
    # one effective on or before does; the partner is evaluated at once and promoted
    await set_rate(db, "USD/EUR", (closed - dt.timedelta(days=2)).isoformat(), "0.5")
    got = await fact(client, deal)
    assert str(got.base_amount) == "1000.0000" and str(got.fx_rate.normalize()) == "0.5"
    partner = (await client.get(f"/v1/partners/{pid}", headers=vendor)).json()
    assert partner["tier"] == "Silver"
    promoted = (await client.get(f"/v1/partners/{pid}/tier-history", headers=vendor)
                ).json()["items"][-1]
    assert promoted["criteria"]["rates_used"][0]["rate"] == "0.5"
    assert promoted["criteria"]["revenue"] == {"amount": "1000.00", "currency": "EUR"}
    # a newer, lower rate converts it again; the demotion waits for the grace period
    await set_rate(db, "USD/EUR", (closed - dt.timedelta(days=1)).isoformat(), "0.4")
    assert str((await fact(client, deal)).base_amount) == "800.0000"
    view = (await client.get(f"/v1/partners/{pid}/tier", headers=vendor)).json()
    assert view["tier"] == "Silver" and view["pending_demotion"]["to_tier"] == "Registered"


async def test_a_new_base_currency_converts_every_deal_again(client, vendor, db):
    pid = await setup_programme(client, vendor)
    closed = TODAY - dt.timedelta(days=5)
    deal = await deliver(db, pid, "1000.00", "EUR", closed)
    assert str((await fact(client, deal)).base_amount) == "1000.0000"
    await set_rate(db, "EUR/USD", closed.isoformat(), "1.1")
    response = await client.put("/v1/tiers/programme", json={
        "base_currency": "USD", "demotion_grace_days": 30}, headers=vendor)
    assert response.status_code == 200
    got = await fact(client, deal)
    assert (str(got.base_amount), got.base_currency) == ("1100.0000", "USD")
    view = (await client.get(f"/v1/partners/{pid}/tier", headers=vendor)).json()
    assert view["criteria"]["revenue"] == {"amount": "1100.00", "currency": "USD"}
