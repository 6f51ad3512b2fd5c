"""FX rates: create/replace by (pair, day), list and filter, bad input as problems, and the
conversion of won deals to the base currency with the rate recorded (JPY 0 decimals, KWD 3,
rounded half-even), a deal without a rate counted once one is added."""

import datetime as dt
import uuid

import pytest
from sqlalchemy import text

from prm_contracts import Amount, Customer, DealWonV1
from prm_events.envelope import new_event
from prm_partners.tiers.handlers import HANDLERS

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


async def put_rate(client, vendor, pair, day, rate, **headers):
    return await client.put(f"/v1/fx-rates/{pair}/{day}", json={"rate": rate},
                            headers={**vendor, **headers})


async def test_create_replace_list(client, vendor, as_partner):
    created = await put_rate(client, vendor, "USD/EUR", DAY, "0.921350")
    assert created.status_code == 201, created.text
    assert created.headers["Location"] == f"/v1/fx-rates/USD/EUR/{DAY}"
    assert created.json()["rate"] == "0.92135" and created.json()["version"] == 1
    stale = await put_rate(client, vendor, "USD/EUR", DAY, "0.93", **{"If-Match": '"9"'})
    assert stale.status_code == 412
    replaced = await put_rate(client, vendor, "USD/EUR", DAY, "0.93", **{"If-Match": '"1"'})
    assert replaced.status_code == 200 and replaced.json()["version"] == 2
    assert replaced.headers["ETag"] == '"2"'
    same = await put_rate(client, vendor, "USD/EUR", DAY, "0.930000")
    assert same.status_code == 200 and same.json()["version"] == 2  # nothing changed
    await put_rate(client, vendor, "JPY/EUR", DAY, "0.0061")
    await put_rate(client, vendor, "KWD/EUR", DAY, "3.0285")
    usd = (await client.get("/v1/fx-rates?from_currency=USD", headers=vendor)).json()
    assert [(r["from_currency"], r["rate"]) for r in usd["items"]] == [("USD", "0.93")]
    to_eur = (await client.get("/v1/fx-rates?to_currency=EUR&limit=2", headers=vendor)).json()
    assert len(to_eur["items"]) == 2 and to_eur["next_cursor"]
    rest = (await client.get(f"/v1/fx-rates?to_currency=EUR&limit=2&cursor="
                             f"{to_eur['next_cursor']}", headers=vendor)).json()
    assert len(rest["items"]) == 1 and rest["next_cursor"] is None
    one = await client.get(f"/v1/fx-rates/KWD/EUR/{DAY}", headers=vendor)
    assert one.status_code == 200 and one.json()["rate"] == "3.0285"
    partner = (await client.post("/v1/partners", json={
        "name": "P", "type": "reseller", "country": "GB"}, headers=vendor)).json()
    key = as_partner(partner["id"])
    assert (await client.get("/v1/fx-rates", headers=key)).status_code == 200
    assert (await put_rate(client, key, "USD/EUR", DAY, "2")).status_code == 403
    assert (await client.delete(f"/v1/fx-rates/KWD/EUR/{DAY}", headers=vendor)
            ).status_code == 204
    assert (await client.get(f"/v1/fx-rates/KWD/EUR/{DAY}", headers=vendor)
            ).status_code == 404


@pytest.mark.parametrize(("path", "body", "field"), [
    ("ZZZ/EUR/2026-01-01", {"rate": "1.1"}, "from_currency"),
    ("USD/eur/2026-01-01", {"rate": "1.1"}, "to_currency"),
    ("XXX/EUR/2026-01-01", {"rate": "1.1"}, "from_currency"),  # no minor unit
    ("USD/EUR/2026-02-30", {"rate": "1.1"}, "effective_on"),
    ("USD/EUR/20260101", {"rate": "1.1"}, "effective_on"),
    ("USD/EUR/2026-01-01", {"rate": "-1.1"}, "rate"),
    ("USD/EUR/2026-01-01", {"rate": "0"}, "rate"),
    ("USD/EUR/2026-01-01", {"rate": "1e3"}, "rate"),
    ("USD/EUR/2026-01-01", {"rate": 1.1}, "rate"),  # never a float
    ("USD/EUR/2026-01-01", {"rate": "1.0000000000001"}, "rate"),  # 13 decimals
    ("USD/EUR/2026-01-01", {"rate": "1234567890123"}, "rate"),  # 13 digits
    ("USD/USD/2026-01-01", {"rate": "1"}, "to_currency"),
])
async def test_bad_rates_are_problems(client, vendor, path, body, field):
    response = await client.put(f"/v1/fx-rates/{path}", json=body, headers=vendor)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert any(e["field"].endswith(field) for e in response.json()["errors"]), response.json()


async def test_bad_filters_are_problems(client, vendor):
    response = await client.get("/v1/fx-rates?from_currency=EURO", headers=vendor)
    assert response.status_code == 422
    response = await client.get("/v1/fx-rates?cursor=nope", headers=vendor)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "cursor"


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
    await put_rate(client, vendor, "JPY/EUR", older, "0.0050")
    await put_rate(client, vendor, "JPY/EUR", (closed - dt.timedelta(days=1)).isoformat(),
                   "0.0061235")
    await put_rate(client, vendor, "JPY/EUR", (closed + dt.timedelta(days=1)).isoformat(),
                   "0.0099")  # after the deal closed: not used
    await put_rate(client, vendor, "KWD/EUR", older, "3.0285")
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
    await put_rate(client, vendor, "KWD/JPY", closed.isoformat(), "500")
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
    await put_rate(client, vendor, "USD/EUR", (closed + dt.timedelta(days=1)).isoformat(),
                   "0.9")
    assert (await fact(client, deal)).base_amount is None
    # one effective on or before does; the partner is evaluated at once and promoted
    added = await put_rate(client, vendor, "USD/EUR", (closed - dt.timedelta(days=2)
                                                       ).isoformat(), "0.5")
    assert added.status_code == 201
    got = await fact(client, deal)
    assert str(got.base_amount) == "1000.0000" and str(got.fx_rate.normalize()) == "0.5"
    partner = (await client.get(f"/v1/partners/{pid}", headers=vendor)).json()
    assert partner["tier"] == "Silver"
    promoted = (await client.get(f"/v1/partners/{pid}/tier-history", headers=vendor)
                ).json()["items"][-1]
    assert promoted["criteria"]["rates_used"][0]["rate"] == "0.5"
    assert promoted["criteria"]["revenue"] == {"amount": "1000.00", "currency": "EUR"}
    # a lower replacement converts it again; the demotion waits for the grace period
    await put_rate(client, vendor, "USD/EUR", (closed - dt.timedelta(days=2)).isoformat(),
                   "0.4")
    assert str((await fact(client, deal)).base_amount) == "800.0000"
    view = (await client.get(f"/v1/partners/{pid}/tier", headers=vendor)).json()
    assert view["tier"] == "Silver" and view["pending_demotion"]["to_tier"] == "Registered"


async def test_a_new_base_currency_converts_every_deal_again(client, vendor, db):
    pid = await setup_programme(client, vendor)
    closed = TODAY - dt.timedelta(days=5)
    deal = await deliver(db, pid, "1000.00", "EUR", closed)
    assert str((await fact(client, deal)).base_amount) == "1000.0000"
    await put_rate(client, vendor, "EUR/USD", closed.isoformat(), "1.1")
    response = await client.put("/v1/tiers/programme", json={
        "base_currency": "USD", "demotion_grace_days": 30}, headers=vendor)
    assert response.status_code == 200
    got = await fact(client, deal)
    assert (str(got.base_amount), got.base_currency) == ("1100.0000", "USD")
    view = (await client.get(f"/v1/partners/{pid}/tier", headers=vendor)).json()
    assert view["criteria"]["revenue"] == {"amount": "1100.00", "currency": "USD"}
