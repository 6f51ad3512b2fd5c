"""The ledger's API: client ids, two-phase transfers, reversals, FX conversions, problems."""

import uuid

from sqlalchemy import text


async def funded_accounts(client, vendor, currency="EUR", amount="1000.00"):
    budget = (await client.post("/v1/mdf/budgets", headers=vendor, json={
        "programme": f"l-{uuid.uuid4().hex[:10]}", "period": "2025",
        "amount": {"amount": amount, "currency": currency}})).json()
    pool = budget["pool_account_id"]
    external = (await client.get(f"/v1/ledger/accounts?kind=external&currency={currency}",
                                 headers=vendor)).json()["items"][0]["id"]
    return pool, external


async def test_client_ids_two_phase_and_reversal(client, vendor):
    pool, external = await funded_accounts(client, vendor)
    body = {"id": str(uuid.uuid4()), "debit_account_id": pool, "credit_account_id": external,
            "amount": {"amount": "300.00", "currency": "EUR"}, "pending": True,
            "timeout_seconds": 3600}
    made = await client.post("/v1/ledger/transfers", json=body, headers=vendor)
    assert made.status_code == 201, made.text
    again = await client.post("/v1/ledger/transfers", json=body, headers=vendor)
    assert again.status_code == 200 and again.json()["id"] == body["id"]
    other = await client.post("/v1/ledger/transfers", headers=vendor, json={
        **body, "amount": {"amount": "300.01", "currency": "EUR"}})
    assert other.status_code == 409 and other.json()["type"] == "/problems/transfer-id-reused"
    pool_now = (await client.get(f"/v1/ledger/accounts/{pool}", headers=vendor)).json()
    assert pool_now["balances"]["available"]["amount"] == "700.00"

    stale = await client.post(f"/v1/ledger/transfers/{body['id']}/post",
                              headers={**vendor, "If-Match": '"7"'})
    assert stale.status_code == 412
    posted = await client.post(f"/v1/ledger/transfers/{body['id']}/post", headers=vendor,
                               json={"amount": {"amount": "120.00", "currency": "EUR"}})
    assert posted.status_code == 200, posted.text
    assert posted.json()["posted_amount"]["amount"] == "120.00"
    twice = await client.post(f"/v1/ledger/transfers/{body['id']}/void", headers=vendor)
    assert twice.status_code == 409 and twice.json()["type"] == "/problems/invalid-transition"
    pool_now = (await client.get(f"/v1/ledger/accounts/{pool}", headers=vendor)).json()
    assert pool_now["balances"]["available"]["amount"] == "880.00"

    reversal = {"id": str(uuid.uuid4()), "debit_account_id": external,
                "credit_account_id": pool, "amount": {"amount": "120.00", "currency": "EUR"},
                "reverses_id": body["id"]}
    assert (await client.post("/v1/ledger/transfers", json=reversal, headers=vendor)
            ).status_code == 201
    too_much = await client.post("/v1/ledger/transfers", headers=vendor, json={
        **reversal, "id": str(uuid.uuid4()), "amount": {"amount": "0.01", "currency": "EUR"}})
    assert too_much.status_code == 409
    overdraw = await client.post("/v1/ledger/transfers", headers=vendor, json={
        "id": str(uuid.uuid4()), "debit_account_id": pool, "credit_account_id": external,
        "amount": {"amount": "1000.01", "currency": "EUR"}})
    assert overdraw.status_code == 409
    assert overdraw.json()["type"] == "/problems/insufficient-funds"
    entries = await client.get(f"/v1/ledger/accounts/{pool}/entries?limit=2", headers=vendor)
    page = entries.json()
    assert len(page["items"]) == 2 and page["next_cursor"]
    rest = (await client.get(f"/v1/ledger/accounts/{pool}/entries?cursor={page['next_cursor']}",
                             headers=vendor)).json()
    assert [e["phase"] for e in page["items"] + rest["items"]] == [
        "posted", "pending", "posted", "released", "posted"]


async def test_cross_currency_is_two_linked_transfers(client, vendor):
    pool, _ = await funded_accounts(client, vendor, "EUR", "1000.00")
    yen_pool, _ = await funded_accounts(client, vendor, "JPY", "1")
    missing = await client.post("/v1/ledger/conversions", headers=vendor, json={
        "id": str(uuid.uuid4()), "source_account_id": pool, "destination_account_id": yen_pool,
        "amount": {"amount": "10.00", "currency": "EUR"}, "business_date": "1999-01-04"})
    assert missing.status_code == 422 and missing.json()["type"] == "/problems/fx-rate-missing"
    for day, rate in (("1999-01-05", "100"), ("1999-02-01", "162.355")):
        response = await client.post("/v1/ledger/fx-rates", headers=vendor, json={
            "base": "EUR", "quote": "JPY", "rate": rate, "effective_on": day})
        assert response.status_code in (201, 409), response.text
    body = {"id": str(uuid.uuid4()), "source_account_id": pool,
            "destination_account_id": yen_pool,
            "amount": {"amount": "10.01", "currency": "EUR"}, "business_date": "1999-02-03"}
    made = await client.post("/v1/ledger/conversions", headers=vendor, json=body)
    assert made.status_code == 201, made.text
    conversion = made.json()
    # 10.01 EUR x 162.355 = 1625.17... JPY: rounded once, to whole yen.
    assert conversion["destination_amount"] == {"amount": "1625", "currency": "JPY"}
    assert conversion["rate_date"] == "1999-02-01"
    assert (await client.post("/v1/ledger/conversions", headers=vendor, json=body)
            ).status_code == 200
    legs = [(await client.get(f"/v1/ledger/transfers/{t}", headers=vendor)).json()
            for t in conversion["transfer_ids"]]
    assert [leg["conversion_id"] for leg in legs] == [conversion["id"]] * 2
    assert legs[0]["amount"] == {"amount": "10.01", "currency": "EUR"}
    assert legs[1]["amount"] == {"amount": "1625", "currency": "JPY"}
    yen = (await client.get(f"/v1/ledger/accounts/{yen_pool}", headers=vendor)).json()
    assert yen["balances"]["available"]["amount"] == "1626"
    unbalanced = (await client.connection.execute(text(
        "SELECT currency FROM ledger_accounts GROUP BY currency "
        "HAVING sum(debits_posted) <> sum(credits_posted)"))).all()
    assert unbalanced == []
