"""Money that must be more than zero is refused as a validation problem naming the field
(never the 500 of a CHECK constraint), wherever the service takes an amount: ledger transfers
(alone, in batches, pending), posts of pending transfers, conversions, MDF budgets,
allocations, fund requests and their revisions, claims and their approval, and SPIFFs. In a
batch, a zero item alone is refused, with the single route's problem; the others are decided
as usual."""

import base64
import datetime as dt
import uuid

import pytest

from .test_ledger_api import funded_accounts
from .test_mdf import allocate, make_budget, request_body

_PROOF = {"filename": "p.pdf", "content_type": "application/pdf",
          "content_base64": base64.b64encode(b"%PDF-1.4").decode()}
ZEROS = ("0", "0.00", "0.0000")


def eur(amount: str) -> dict[str, str]:
    return {"amount": amount, "currency": "EUR"}


def assert_refused(response, field: str) -> dict:
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["type"] == "/problems/validation-error", problem
    assert field in {error["field"] for error in problem["errors"]}, problem
    return problem


def transfer(pool: str, external: str, amount: str, **extra) -> dict:
    return {"id": str(uuid.uuid4()), "debit_account_id": pool, "credit_account_id": external,
            "amount": eur(amount), **extra}


@pytest.mark.parametrize("amount", ZEROS)
async def test_a_zero_transfer_is_a_validation_problem(client, vendor, amount):
    pool, external = await funded_accounts(client, vendor)
    for extra in ({}, {"pending": True}, {"pending": True, "timeout_seconds": 60}):
        refused = await client.post("/v1/ledger/transfers", headers=vendor,
                                    json=transfer(pool, external, amount, **extra))
        assert_refused(refused, "amount")
    yen = await client.post("/v1/ledger/transfers", headers=vendor, json={
        **transfer(pool, external, "0"), "amount": {"amount": "0", "currency": "JPY"}})
    assert_refused(yen, "amount")
    seen = (await client.get(f"/v1/ledger/accounts/{pool}", headers=vendor)).json()
    assert seen["balances"]["available"]["amount"] == "1000.00"


async def test_a_zero_item_of_a_batch_is_refused_alone(client, vendor):
    pool, external = await funded_accounts(client, vendor)
    single = await client.post("/v1/ledger/transfers", headers=vendor,
                               json=transfer(pool, external, "0.00"))
    expected = assert_refused(single, "amount")
    items = [transfer(pool, external, "10.00"), transfer(pool, external, "0.00"),
             transfer(pool, external, "5.00", pending=True),
             transfer(pool, external, "0", pending=True)]
    answered = await client.post("/v1/ledger/transfer-batches", headers=vendor,
                                 json={"transfers": items})
    assert answered.status_code == 200, answered.text
    result = answered.json()
    assert [i["outcome"] for i in result["items"]] == ["created", "refused", "created",
                                                        "refused"]
    assert (result["created"], result["refused"]) == (2, 2)
    for index in (1, 3):
        problem = result["items"][index]["problem"]
        # The single route's problem, its fields named from the batch's root.
        assert (problem["type"], problem["title"], problem["status"]) == (
            expected["type"], expected["title"], expected["status"])
        assert problem["errors"] == [{**error, "field": f"transfers.{index}.{error['field']}"}
                                     for error in expected["errors"]]
    seen = (await client.get(f"/v1/ledger/accounts/{pool}", headers=vendor)).json()
    assert seen["balances"]["available"]["amount"] == "985.00"


async def test_zero_posts_and_conversions(client, vendor):
    pool, external = await funded_accounts(client, vendor)
    pending = transfer(pool, external, "10.00", pending=True)
    assert (await client.post("/v1/ledger/transfers", headers=vendor, json=pending)
            ).status_code == 201
    refused = await client.post(f"/v1/ledger/transfers/{pending['id']}/post", headers=vendor,
                                json={"amount": eur("0.00")})
    assert_refused(refused, "amount")
    too_much = await client.post(f"/v1/ledger/transfers/{pending['id']}/post",
                                 headers=vendor, json={"amount": eur("10.01")})
    assert_refused(too_much, "amount")
    still = (await client.get(f"/v1/ledger/transfers/{pending['id']}", headers=vendor)).json()
    assert still["status"] == "pending"

    yen_pool, _ = await funded_accounts(client, vendor, "JPY", "1000")
    conversion = await client.post("/v1/ledger/conversions", headers=vendor, json={
        "id": str(uuid.uuid4()), "source_account_id": pool,
        "destination_account_id": yen_pool, "amount": eur("0.00"),
        "business_date": "2025-01-06"})
    assert_refused(conversion, "amount")


async def test_zero_mdf_amounts(client, vendor, as_partner, list_partner):
    def budget_body(**money) -> dict:
        return {"programme": f"z-{uuid.uuid4().hex[:10]}", "period": "2025",
                "amount": eur("100.00"), **money}
    assert_refused(await client.post("/v1/mdf/budgets", headers=vendor,
                                     json=budget_body(amount=eur("0.00"))), "amount")
    assert_refused(await client.post("/v1/mdf/budgets", headers=vendor, json=budget_body(
        auto_approve_below=eur("0"))), "auto_approve_below")

    partner = await list_partner()
    own = as_partner(partner)
    budget = await make_budget(client, vendor, "1000.00")
    assert_refused(await client.post("/v1/mdf/allocations", headers=vendor, json={
        "budget_id": budget["id"], "partner_id": str(partner), "amount": eur("0.00")}),
        "amount")
    allocation = await allocate(client, vendor, budget, partner, "500.00")
    assert_refused(await client.post("/v1/mdf/requests", headers=own,
                                     json=request_body(allocation, "0.00")), "planned_cost")

    made = (await client.post("/v1/mdf/requests", headers=own,
                              json=request_body(allocation, "100.00"))).json()
    url = f"/v1/mdf/requests/{made['id']}"
    sent_back = await client.post(f"{url}/request-changes", headers=vendor,
                                  json={"reason": "cheaper"})
    assert sent_back.status_code == 200, sent_back.text
    assert_refused(await client.patch(url, headers=own, json={"planned_cost": eur("0.00")}),
                   "planned_cost")
    revised = await client.patch(url, headers=own, json={"title": "Cheaper"})
    assert revised.status_code == 200, revised.text
    assert (await client.post(f"{url}/approve", headers=vendor)).status_code == 200

    assert_refused(await client.post("/v1/mdf/claims", headers=own, json={
        "request_id": made["id"], "amount": eur("0.00"), "description": "done",
        "proofs": [_PROOF]}), "amount")
    claim = await client.post("/v1/mdf/claims", headers=own, json={
        "request_id": made["id"], "amount": eur("80.00"), "description": "done",
        "proofs": [_PROOF]})
    assert claim.status_code == 201, claim.text
    approve = f"/v1/mdf/claims/{claim.json()['id']}/approve"
    assert_refused(await client.post(approve, headers=vendor, json={"amount": eur("0.00")}),
                   "amount")
    assert_refused(await client.post(approve, headers=vendor, json={"amount": eur("80.01")}),
                   "amount")
    seen = (await client.get(f"/v1/mdf/allocations/{allocation['id']}", headers=own)).json()
    assert seen["reserved"]["amount"] == "100.00" and seen["payable"]["amount"] == "0.00"


@pytest.mark.parametrize("field", ["fund", "fixed_amount", "partner_cap"])
async def test_zero_spiff_amounts(client, vendor, field):
    body = {"name": f"z-{uuid.uuid4().hex[:10]}", "starts_on": "2025-01-01",
            "ends_on": "2025-12-31", "fixed_amount": eur("10.00"), "fund": eur("100.00"),
            "partner_cap": eur("50.00"), field: eur("0.00")}
    assert_refused(await client.post("/v1/spiffs", headers=vendor, json=body), field)


async def test_negative_amounts_are_refused_as_well(client, vendor):
    pool, external = await funded_accounts(client, vendor)
    refused = await client.post("/v1/ledger/transfers", headers=vendor,
                                json=transfer(pool, external, "-1.00"))
    assert_refused(refused, "amount.amount")
    assert dt.date.today()  # the pattern of a decimal string refuses any sign
