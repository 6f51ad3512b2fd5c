"""The ledger's API: client ids, two-phase transfers, reversals, FX conversions, problems,
and batches of transfers."""

import uuid

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from prm_incentives.ledger.schemas import MAX_BATCH
from prm_stack.testing import vendor_headers

from .conftest import PARTNER_SCOPES, VENDOR_SCOPES


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


async def test_a_recorded_rate_is_announced_once_to_every_context(client, vendor):
    """The ledger owns the FX rates: each is published as prm.fx.rate_set.v1 (the partners'
    tiers and the attribution KPIs keep projections of them) in the transaction that records
    it; a second rate for the pair and day is refused and announces nothing."""
    body = {"base": "CHF", "quote": "KWD", "rate": "0.3425000", "effective_on": "1998-03-02"}
    made = await client.post("/v1/ledger/fx-rates", headers=vendor, json=body)
    assert made.status_code == 201, made.text
    again = await client.post("/v1/ledger/fx-rates", headers=vendor,
                              json={**body, "rate": "0.35"})
    assert again.status_code == 409
    events = (await client.connection.execute(text(
        "SELECT topic, key, envelope FROM outbox WHERE event_type = 'prm.fx.rate_set.v1' "
        "AND envelope->'data'->>'effective_on' = '1998-03-02'"))).all()
    assert [(e.topic, e.key) for e in events] == [("prm.fx-rates", made.json()["id"])]
    data = events[0].envelope["data"]
    assert (data["rate_id"], data["base"], data["quote"], data["rate"],
            data["effective_on"]) == (made.json()["id"], "CHF", "KWD", "0.3425", "1998-03-02")


async def test_bad_rates_are_problems_naming_the_field(client, vendor):
    good = {"base": "USD", "quote": "EUR", "rate": "0.9", "effective_on": "1998-04-01"}
    for change, field in (({"base": "ZZZ"}, "base"), ({"quote": "eur"}, "quote"),
                          ({"base": "XXX"}, ""), ({"rate": "0"}, ""), ({"rate": "-1"}, "rate"),
                          ({"rate": "1e3"}, "rate"), ({"rate": 0.9}, "rate"),
                          ({"rate": "1.00000000001"}, "rate"), ({"quote": "USD"}, ""),
                          ({"effective_on": "1998-02-30"}, "effective_on")):
        response = await client.post("/v1/ledger/fx-rates", headers=vendor,
                                     json={**good, **change})
        assert response.status_code == 422, (change, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        assert any(e["field"].endswith(field) for e in response.json()["errors"]), change
    assert (await client.connection.execute(text(
        "SELECT count(*) FROM outbox WHERE event_type = 'prm.fx.rate_set.v1' "
        "AND envelope->'data'->>'effective_on' = '1998-04-01'"))).scalar_one() == 0


# --- batches ------------------------------------------------------------------------------------


def eur(amount: str) -> dict:
    return {"amount": amount, "currency": "EUR"}


def move(debit: str, credit: str, amount: str, **more) -> dict:
    return {"id": str(uuid.uuid4()), "debit_account_id": debit, "credit_account_id": credit,
            "amount": eur(amount), **more}


async def balances(client, vendor, account: str) -> dict:
    found = (await client.get(f"/v1/ledger/accounts/{account}", headers=vendor)).json()
    return {name: value["amount"] for name, value in found["balances"].items()}


async def test_a_batch_is_answered_item_by_item(client, vendor):
    pool, external = await funded_accounts(client, vendor)  # 1000.00 available
    yen_pool, _ = await funded_accounts(client, vendor, "JPY", "1")
    before = move(external, pool, "50.00")  # made on its own first: 1050.00 available
    assert (await client.post("/v1/ledger/transfers", json=before, headers=vendor)
            ).status_code == 201
    first = move(pool, external, "600.00", code="rebate", reference="Q1")
    missing = str(uuid.uuid4())
    transfers = [
        first,  # 0: created, 450.00 left
        move(pool, external, "500.00"),  # 1: more than is left
        move(pool, external, "300.00", pending=True, timeout_seconds=3600),  # 2: 150.00 left
        first,  # 3: the same transfer again
        {**first, "amount": eur("600.01")},  # 4: its id with other content
        move(missing, external, "1.00"),  # 5: no such account
        move(pool, yen_pool, "1.00"),  # 6: another currency
        {"id": str(uuid.uuid4()), "debit_account_id": pool, "credit_account_id": external},  # 7
        move(external, pool, "1.00", reverses_id=before["id"]),  # 8: a reversal
        before,  # 9: made before this batch
        move(pool, external, "150.00"),  # 10: exactly what is left
        move(pool, external, "0.01"),  # 11: nothing left
    ]
    response = await client.post("/v1/ledger/transfer-batches", headers=vendor,
                                 json={"transfers": transfers})
    assert response.status_code == 200, response.text
    result = response.json()
    items = result["items"]
    assert [(i["index"], i["outcome"]) for i in items] == [
        (0, "created"), (1, "refused"), (2, "created"), (3, "replayed"), (4, "refused"),
        (5, "refused"), (6, "refused"), (7, "refused"), (8, "refused"), (9, "replayed"),
        (10, "created"), (11, "refused")]
    assert (result["created"], result["replayed"], result["refused"]) == (3, 2, 7)

    problems = {i["index"]: i["problem"] for i in items if i["problem"]}
    assert {index: (p["type"], p["status"]) for index, p in problems.items()} == {
        1: ("/problems/insufficient-funds", 409), 4: ("/problems/transfer-id-reused", 409),
        5: ("/problems/validation-error", 422), 6: ("/problems/currency-mismatch", 422),
        7: ("/problems/validation-error", 422), 8: ("/problems/validation-error", 422),
        11: ("/problems/insufficient-funds", 409)}
    # Each problem names the fields at fault from the body's root, with the item's index.
    assert {index: {e["field"] for e in p["errors"]} for index, p in problems.items()} == {
        1: {"transfers.1.amount"}, 4: {"transfers.4.id"},
        5: {"transfers.5.debit_account_id"}, 6: {"transfers.6.amount.currency"},
        7: {"transfers.7.amount"}, 8: {"transfers.8.reverses_id"}, 11: {"transfers.11.amount"}}
    assert problems[1]["account_id"] == pool and problems[1]["available_minor"] == 45000
    assert problems[11]["available_minor"] == 0
    assert missing in problems[5]["detail"]
    assert all(p["title"] and p["detail"] for p in problems.values())

    made = items[0]["transfer"]
    assert made["id"] == first["id"] and made["status"] == "posted"
    assert (made["amount"], made["code"], made["reference"]) == (eur("600.00"), "rebate", "Q1")
    assert items[2]["transfer"]["status"] == "pending" and items[2]["transfer"]["expires_at"]
    assert items[3]["transfer"] == made
    assert items[9]["transfer"]["id"] == before["id"]
    stored = await client.get(f"/v1/ledger/transfers/{first['id']}", headers=vendor)
    assert stored.json() == made

    assert await balances(client, vendor, pool) == {
        "debits_posted": "750.00", "credits_posted": "1050.00", "debits_pending": "300.00",
        "credits_pending": "0.00", "posted": "300.00", "available": "0.00"}
    entries = (await client.get(f"/v1/ledger/accounts/{pool}/entries", headers=vendor)
               ).json()["items"]
    assert [(e["phase"], e["side"], e["amount"]["amount"]) for e in entries[-3:]] == [
        ("posted", "debit", "600.00"), ("pending", "debit", "300.00"),
        ("posted", "debit", "150.00")]
    refused_ids = [transfers[i]["id"] for i in (1, 5, 6, 7, 11)]
    assert (await client.connection.execute(text(
        "SELECT count(*) FROM ledger_transfers WHERE id = ANY(CAST(:ids AS uuid[]))"),
        {"ids": refused_ids})).scalar_one() == 0


async def test_the_same_batch_again_is_all_replayed(client, vendor):
    pool, external = await funded_accounts(client, vendor)
    body = {"transfers": [move(pool, external, "10.00"),
                          move(pool, external, "20.00", pending=True),
                          move(external, pool, "5.00")]}
    first = await client.post("/v1/ledger/transfer-batches", headers=vendor, json=body)
    assert first.status_code == 200 and first.json()["created"] == 3, first.text
    after_first = await balances(client, vendor, pool)
    assert after_first["available"] == "975.00"

    again = await client.post("/v1/ledger/transfer-batches", headers=vendor, json=body)
    assert again.status_code == 200, again.text
    replayed = again.json()
    assert (replayed["created"], replayed["replayed"], replayed["refused"]) == (0, 3, 0)
    assert [i["transfer"] for i in replayed["items"]] == [
        i["transfer"] for i in first.json()["items"]]
    assert await balances(client, vendor, pool) == after_first

    # With an Idempotency-Key, a retry is answered with the very bytes of the first answer.
    keyed = {**vendor, "Idempotency-Key": str(uuid.uuid4())}
    other = {"transfers": [move(pool, external, "1.00")]}
    made = await client.post("/v1/ledger/transfer-batches", headers=keyed, json=other)
    retried = await client.post("/v1/ledger/transfer-batches", headers=keyed, json=other)
    assert made.status_code == retried.status_code == 200
    assert retried.content == made.content and made.json()["created"] == 1
    assert retried.headers.get("idempotent-replayed") == "true"
    assert (await balances(client, vendor, pool))["available"] == "974.00"


async def test_a_batch_holds_at_most_a_thousand(client, vendor):
    pool, external = await funded_accounts(client, vendor, amount="10.00")
    full = [move(pool, external, "0.01") for _ in range(MAX_BATCH)]
    accepted = await client.post("/v1/ledger/transfer-batches", headers=vendor,
                                 json={"transfers": full})
    assert accepted.status_code == 200, accepted.text[:500]
    assert accepted.json()["created"] == MAX_BATCH == 1000
    assert (await balances(client, vendor, pool))["available"] == "0.00"
    for transfers in ([*full, move(pool, external, "0.01")], []):
        refused = await client.post("/v1/ledger/transfer-batches", headers=vendor,
                                    json={"transfers": transfers})
        assert refused.status_code == 422, refused.text[:300]
        assert refused.json()["type"] == "/problems/validation-error"
        assert [e["field"] for e in refused.json()["errors"]] == ["transfers"]


async def test_only_vendor_keys_with_ledger_write_send_batches(client, vendor, as_partner,
                                                               prm_infra):
    pool, external = await funded_accounts(client, vendor)
    body = {"transfers": [move(pool, external, "1.00")]}
    partner = as_partner(uuid.uuid4(), (*PARTNER_SCOPES, *VENDOR_SCOPES))
    reader = vendor_headers(prm_infra.internal_secret, ("ledger:read",))
    for headers in (partner, reader):
        response = await client.post("/v1/ledger/transfer-batches", headers=headers, json=body)
        assert response.status_code == 403, response.text
        assert response.json()["type"] == "/problems/forbidden"
    made = await client.get(f"/v1/ledger/transfers/{body['transfers'][0]['id']}",
                            headers=vendor)
    assert made.status_code == 404
    assert (await balances(client, vendor, pool))["available"] == "1000.00"


# A batch item: (id slot, debit, credit, amount in cents, pending); slots repeat, so that ids
# are sent again, with the same content or other.
batch_item = st.tuples(st.integers(0, 6), st.integers(0, 2), st.integers(0, 2),
                       st.integers(1, 600), st.booleans())


@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
@given(items=st.lists(batch_item, min_size=1, max_size=12))
async def test_a_batch_answers_as_its_transfers_sent_one_by_one(client, prm_infra, items):
    """The same transfers, as one batch on one set of accounts and one by one through
    ``POST /v1/ledger/transfers`` on a twin set: the same outcome per item, the same problem
    types, the same balances."""
    # Headers of each example's own: the forwarded principal lives 60 s, the test longer.
    vendor = vendor_headers(prm_infra.internal_secret, VENDOR_SCOPES)

    async def accounts() -> list[str]:
        first, external = await funded_accounts(client, vendor, amount="5.00")
        second, _ = await funded_accounts(client, vendor, amount="1.00")
        return [first, second, external]

    def bodies(names: list[str]) -> list[dict]:
        scope = uuid.uuid4()
        found = []
        for slot, debit, credit, cents, pending in items:
            if debit == credit:
                credit = (credit + 1) % 3
            found.append({"id": str(uuid.uuid5(scope, str(slot))),
                          "debit_account_id": names[debit], "credit_account_id": names[credit],
                          "amount": eur(f"{cents // 100}.{cents % 100:02d}"),
                          "pending": pending})
        return found

    batched, single = await accounts(), await accounts()
    response = await client.post("/v1/ledger/transfer-batches", headers=vendor,
                                 json={"transfers": bodies(batched)})
    assert response.status_code == 200, response.text
    outcomes = [(i["outcome"], (i["problem"] or {}).get("type"))
                for i in response.json()["items"]]
    expected = []
    for body in bodies(single):
        answer = await client.post("/v1/ledger/transfers", headers=vendor, json=body)
        status = answer.status_code
        expected.append(("created", None) if status == 201 else ("replayed", None)
                        if status == 200 else ("refused", answer.json()["type"]))
    assert outcomes == expected
    for mine, twin in zip(batched[:2], single[:2], strict=True):  # [2]: the one external
        assert await balances(client, vendor, mine) == await balances(client, vendor, twin)
