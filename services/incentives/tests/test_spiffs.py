"""SPIFFs: time-boxed bonuses accrued on won deals of given products or deal types, fixed or
a percentage, cut to the partner's cap and to the SPIFF's funded pool; replays; reversal and
its event."""

import datetime as dt
import uuid

from sqlalchemy import text

from .rebate_helpers import deliver, won


async def make_spiff(client, vendor, **terms):
    body = {"name": f"spiff-{uuid.uuid4().hex[:12]}", "starts_on": "2025-04-01",
            "ends_on": "2025-06-30", "fund": {"amount": "1000.00", "currency": "EUR"}, **terms}
    response = await client.post("/v1/spiffs", headers=vendor, json=body)
    assert response.status_code == 201, response.text
    return response.json()


async def send(app, deal):
    async with app.state.sessionmaker() as session:
        await deliver(session, deal)
        await session.commit()


async def spiff_accruals(client, headers, **query):
    response = await client.get("/v1/spiffs/accruals", headers=headers, params=query)
    assert response.status_code == 200, response.text
    return response.json()["items"]


_MAY = dt.date(2025, 5, 2)


async def test_fixed_bonus_on_products_with_caps(app, client, vendor, as_partner,
                                                 list_partner):
    spiff = await make_spiff(client, vendor, fixed_amount={"amount": "300.00",
                                                           "currency": "EUR"},
                             sku_prefixes=["FW-"], deal_types=["new"],
                             partner_cap={"amount": "500.00", "currency": "EUR"})
    assert spiff["remaining"] == {"amount": "1000.00", "currency": "EUR"}
    one, two, three = [await list_partner() for _ in range(3)]
    firewall = (("FW-1", 1, "100.00"),)
    deal = won(one, "100.00", closed_on=_MAY, products=firewall)
    await send(app, deal)
    await send(app, deal)  # a replay: nothing more
    await send(app, won(one, "100.00", closed_on=_MAY, products=firewall))
    await send(app, won(one, "100.00", closed_on=_MAY, products=firewall))
    await send(app, won(one, "100.00", closed_on=_MAY, products=(("SUP-1", 1, "100.00"),)))
    await send(app, won(one, "100.00", closed_on=_MAY, products=firewall,
                        deal_type="renewal"))
    await send(app, won(one, "100.00", closed_on=dt.date(2025, 7, 1), products=firewall))
    rows = await spiff_accruals(client, vendor, spiff_id=spiff["id"], partner_id=str(one))
    assert [(r["amount"]["amount"], r["capped_by"], r["status"]) for r in rows] == [
        ("300.00", None, "accrued"), ("200.00", "partner", "accrued"),
        ("0.00", "partner", "capped")]
    await send(app, won(two, "100.00", closed_on=_MAY, products=firewall))
    await send(app, won(three, "100.00", closed_on=_MAY, products=firewall))
    last = await spiff_accruals(client, vendor, spiff_id=spiff["id"], partner_id=str(three))
    assert last[0]["amount"]["amount"] == "200.00" and last[0]["capped_by"] == "spiff"
    assert last[0]["bonus"]["amount"] == "300.00"
    seen = (await client.get(f"/v1/spiffs/{spiff['id']}", headers=vendor)).json()
    assert seen["remaining"]["amount"] == "0.00"

    # Partners see their own; the vendor reverses one and the pool has it back.
    mine = await spiff_accruals(client, as_partner(two))
    assert {r["partner_id"] for r in mine} == {str(two)}
    accrual = rows[0]
    reversed_ = await client.post(f"/v1/spiffs/accruals/{accrual['id']}/reverse",
                                  headers={**vendor, "If-Match": '"1"'},
                                  json={"reason": "cancelled"})
    assert reversed_.status_code == 200, reversed_.text
    assert reversed_.json()["status"] == "reversed"
    seen = (await client.get(f"/v1/spiffs/{spiff['id']}", headers=vendor)).json()
    assert seen["remaining"]["amount"] == "300.00"
    [event] = (await client.connection.execute(text(
        "SELECT envelope->'data' FROM outbox WHERE event_type = 'prm.spiff.reversed.v1' "
        "AND envelope->>'partnerid' = CAST(:p AS varchar)"), {"p": str(one)})).scalars()
    assert event == {"accrual_id": accrual["id"], "spiff_id": spiff["id"],
                     "partner_id": str(one), "deal_id": str(deal.deal_id),
                     "amount": {"amount": "300.00", "currency": "EUR"},
                     "reason": "cancelled", "version": 2}
    again = await client.post(f"/v1/spiffs/accruals/{accrual['id']}/reverse",
                              headers=vendor, json={"reason": "cancelled"})
    assert again.status_code == 409


async def test_percentage_of_product_lines(app, client, vendor, list_partner):
    spiff = await make_spiff(client, vendor, rate="5", sku_prefixes=["FW-"])
    partner = await list_partner()
    await send(app, won(partner, "3000.00", closed_on=_MAY,
                        products=(("FW-1", 2, "1000.00"), ("SUP-1", 1, "1000.00"))))
    [row] = await spiff_accruals(client, vendor, spiff_id=spiff["id"])
    assert row["base_amount"]["amount"] == "2000.00"
    assert row["amount"] == {"amount": "100.00", "currency": "EUR"}


async def test_spiff_validation(client, vendor):
    for terms in ({"rate": 5}, {"rate": "5", "fixed_amount": {"amount": "1.00",
                                                               "currency": "EUR"}},
                  {}, {"rate": "5", "ends_on": "2025-01-01"},
                  {"rate": "5", "partner_cap": {"amount": "1.00", "currency": "USD"}}):
        body = {"name": "x", "starts_on": "2025-04-01", "ends_on": "2025-06-30",
                "fund": {"amount": "1000.00", "currency": "EUR"}, **terms}
        response = await client.post("/v1/spiffs", headers=vendor, json=body)
        assert response.status_code == 422, (terms, response.text)
    spiff = await make_spiff(client, vendor, rate="2")
    again = await client.post("/v1/spiffs", headers=vendor, json={
        "name": spiff["name"], "starts_on": "2025-04-01", "ends_on": "2025-06-30",
        "rate": "1", "fund": {"amount": "1.00", "currency": "EUR"}})
    assert again.status_code == 409
    listed = await client.get("/v1/spiffs", headers=vendor, params={"limit": 1})
    assert listed.status_code == 200 and len(listed.json()["items"]) == 1
