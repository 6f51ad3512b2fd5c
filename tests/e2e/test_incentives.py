"""Incentives through the gateway, every service and worker running as processes.

Market development funds from a budget to money paid: a partner's key requests funds from its
allocation, uploads proof files and claims the funds with them, the claim is approved in part,
batched, exported for the finance system and paid, and the ledger adds up. And a rebate on a
deal registered and won in the deals service in euros, accrued over Kafka by a programme whose
base currency is the US dollar, at the exchange rate recorded for the close date.
"""

import csv
import datetime as dt
import hashlib
import io
import os
import uuid
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

import httpx
import pytest

from prm_stack.testing import eventually

pytestmark = pytest.mark.stack

PDF = b"%PDF-1.4\n% attendance list and venue invoice of the webinar\n"


def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def active_partner(api, admin) -> str:
    partner = ok(api.post("/v1/partners", headers=admin, json={
        "name": f"Contoso Networks {uuid.uuid4().hex[:6]}", "type": "reseller",
        "country": "DE"}), 201)
    ok(api.post(f"/v1/partners/{partner['id']}/activate", headers=admin))
    return partner["id"]


def partner_key(api, admin, partner_id: str, scopes: list[str]) -> dict[str, str]:
    key = ok(api.post("/v1/api-keys", headers=admin, json={
        "name": "partner system", "kind": "partner", "partner_id": partner_id,
        "scopes": scopes}), 201)
    return {"Authorization": f"Bearer {key['key']}"}


def cents(money: dict[str, str]) -> int:
    return int(Decimal(money["amount"]).scaleb(2))


def balances(api, admin, **query: str) -> list[dict[str, Any]]:
    """Every ledger account matching ``query``, all pages."""
    accounts, cursor = [], None
    while True:
        page = ok(api.get("/v1/ledger/accounts", headers=admin,
                          params={**query, "limit": 200, **({"cursor": cursor} if cursor else {})}))
        accounts += page["items"]
        if not (cursor := page["next_cursor"]):
            return accounts


def test_mdf_from_budget_to_paid(api, admin):
    today = dt.datetime.now(dt.UTC).date()
    partner_id = active_partner(api, admin)
    own = partner_key(api, admin, partner_id, ["incentives:read", "incentives:write"])

    budget = ok(api.post("/v1/mdf/budgets", headers=admin, json={
        "programme": f"e2e-{uuid.uuid4().hex[:12]}", "period": f"{today.year}-H2",
        "amount": {"amount": "10000.00", "currency": "EUR"}}), 201)
    # The partner is known to the incentives service once its events arrived over Kafka.
    allocation = eventually(lambda: (r := api.post("/v1/mdf/allocations", headers=admin, json={
        "budget_id": budget["id"], "partner_id": partner_id,
        "amount": {"amount": "4000.00", "currency": "EUR"}})).status_code == 201 and r.json(),
        "the partner reaching the incentives service")

    submitted = api.post("/v1/mdf/requests", headers=own, json={
        "allocation_id": allocation["id"], "activity_type": "webinar",
        "title": "Zero-trust webinar series", "start_date": today.isoformat(),
        "end_date": (today + dt.timedelta(days=10)).isoformat(),
        "planned_cost": {"amount": "2500.00", "currency": "EUR"},
        "expected_outcomes": "300 registrations, 40 qualified leads"})
    request = ok(submitted, 201)
    assert request["status"] == "submitted" and request["partner_id"] == partner_id
    approved = ok(api.post(f"/v1/mdf/requests/{request['id']}/approve", headers={
        **admin, "If-Match": submitted.headers["etag"]}, json={"reason": "Fits the plan"}))
    assert approved["status"] == "approved"

    # The proof files are uploaded on their own (multipart/form-data, through the edge), one
    # of them of the largest size, and the claim names them.
    files = [("invoice.pdf", "application/pdf", PDF),
             ("booth.png", "image/png", b"\x89PNG\r\n\x1a\n" + os.urandom(256 * 1024 - 8))]
    uploads = [ok(api.post("/v1/mdf/proofs", headers=own,
                           files={"file": (name, content, media_type)}), 201)
               for name, media_type, content in files]
    claim = ok(api.post("/v1/mdf/claims", headers=own, json={
        "request_id": request["id"], "amount": {"amount": "2300.00", "currency": "EUR"},
        "description": "Three sessions held; 312 registrations, 44 qualified leads.",
        "proof_ids": [upload["id"] for upload in uploads]}), 201)
    assert [proof["id"] for proof in claim["proofs"]] == [upload["id"] for upload in uploads]
    for proof, (_, _, content) in zip(claim["proofs"], files, strict=True):
        assert proof["sha256"] == hashlib.sha256(content).hexdigest()
        download = api.get(f"/v1/mdf/claims/{claim['id']}/proofs/{proof['id']}", headers=own)
        assert download.status_code == 200 and download.content == content

    partial = ok(api.post(f"/v1/mdf/claims/{claim['id']}/approve", headers=admin, json={
        "amount": {"amount": "2000.00", "currency": "EUR"},
        "reason": "Catering is not eligible."}))
    assert partial["status"] == "approved"
    assert partial["approved_amount"] == {"amount": "2000.00", "currency": "EUR"}
    # The 2000.00 approved left the allocation; the rest of the 2500.00 reserved went back.
    seen = ok(api.get(f"/v1/mdf/allocations/{allocation['id']}", headers=own))
    assert seen["available"]["amount"] == "2000.00" and seen["reserved"]["amount"] == "0.00"

    batch = ok(api.post("/v1/payouts/batches", headers=admin, json={
        "partner_id": partner_id, "currency": "EUR",
        "period_from": (today - dt.timedelta(days=1)).isoformat(),
        "period_to": (today + dt.timedelta(days=1)).isoformat()}), 201)
    assert batch["total"] == {"amount": "2000.00", "currency": "EUR"} and batch["lines"] == 1
    url = f"/v1/payouts/batches/{batch['id']}"
    assert ok(api.post(f"{url}/approve", headers=admin))["status"] == "approved"

    # Reading the file changes nothing; the action marks the batch exported.
    preview = ok(api.get(f"{url}/export", headers=admin, params={"format": "json"}))
    assert preview["batch"]["status"] == "approved"
    exported = ok(api.post(f"{url}/export", headers=admin, params={"format": "json"}))
    assert exported["batch"]["id"] == batch["id"]
    assert exported["batch"]["status"] == "exported"
    assert exported["lines"] == preview["lines"]
    [line] = exported["lines"]
    assert (line["source"], line["source_id"]) == ("mdf_claim", claim["id"])
    assert line["amount"] == {"amount": "2000.00", "currency": "EUR"}
    as_csv = api.get(f"{url}/export", headers=admin, params={"format": "csv"})
    assert as_csv.status_code == 200, as_csv.text
    assert as_csv.headers["content-type"].startswith("text/csv")
    [row] = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert row == {"batch_id": batch["id"], "partner_id": partner_id, "currency": "EUR",
                   "period_from": batch["period_from"], "period_to": batch["period_to"],
                   "transfer_id": line["transfer_id"], "source": "mdf_claim",
                   "source_id": claim["id"], "earned_on": line["earned_on"],
                   "amount": "2000.00"}

    paid = ok(api.post(f"{url}/paid", headers=admin, json={
        "payment_reference": f"SEPA-{uuid.uuid4().hex[:10]}", "paid_on": today.isoformat()}))
    assert paid["status"] == "paid"

    mine = balances(api, admin, partner_id=partner_id, currency="EUR")
    by_kind: dict[str, int] = {}
    for account in mine:
        by_kind[account["kind"]] = by_kind.get(account["kind"], 0) + cents(
            account["balances"]["posted"])
    assert by_kind["payable"] == 0
    assert by_kind["paid"] == 200000
    every = balances(api, admin, currency="EUR")
    assert sum(cents(a["balances"]["debits_posted"]) for a in every) == sum(
        cents(a["balances"]["credits_posted"]) for a in every)


def test_rebate_on_a_deal_won_in_another_currency(api, admin):
    today = dt.datetime.now(dt.UTC).date()
    closed_on = today - dt.timedelta(days=1)
    partner_id = active_partner(api, admin)
    own = partner_key(api, admin, partner_id,
                      ["deals:read", "deals:write", "incentives:read"])
    ok(api.post("/v1/ledger/fx-rates", headers=admin, json={
        "base": "EUR", "quote": "USD", "rate": "1.0837",
        "effective_on": (closed_on - dt.timedelta(days=1)).isoformat()}), 201)
    programme = ok(api.post("/v1/rebates/programmes", headers=admin, json={
        "name": f"Americas reseller rebate {uuid.uuid4().hex[:8]}", "currency": "USD",
        "basis": "tier", "starts_on": (today - dt.timedelta(days=30)).isoformat(),
        "ends_on": (today + dt.timedelta(days=30)).isoformat(), "rules": [{"rate": "2.5"}]}),
        201)

    # Registered by the partner through the edge, once the deals service knows it is active.
    key = str(uuid.uuid4())
    registered = eventually(lambda: (r := api.post(
        "/v1/deals", headers={**own, "Idempotency-Key": key}, json={
            "customer": {"name": f"Fabrikam {key[:6]}", "domain": f"fabrikam-{key[:6]}.example",
                         "country": "DE"},
            "amount": {"amount": "12345.67", "currency": "EUR"},
            "expected_close_date": (today + dt.timedelta(days=30)).isoformat()})
        ).status_code == 201 and r.json(), "the partner reaching the deals service")
    ok(api.post(f"/v1/deals/{registered['id']}/approve", headers=admin))
    won = ok(api.post(f"/v1/deals/{registered['id']}/win", headers=own,
                      json={"closed_on": closed_on.isoformat()}))
    assert won["status"] == "won"

    def accrued() -> list[dict[str, Any]]:
        return ok(api.get("/v1/rebates/accruals", headers=admin, params={
            "deal_id": registered["id"]}))["items"]

    [accrual] = eventually(accrued, "the rebate accrual from prm.deal.won.v1")
    # By hand: 12345.67 EUR x 1.0837 = 13379.002579 USD, rounded half to even once to cents:
    # 13379.00; 2.5 % of 1337900 cents = 33447.5, half to even: 33448 cents = 334.48 USD.
    converted = (Decimal("12345.67") * Decimal("1.0837")).quantize(Decimal("0.01"),
                                                                    ROUND_HALF_EVEN)
    assert converted == Decimal("13379.00")
    rebate = (converted * 100 * Decimal("2.5") / 100).quantize(Decimal(1), ROUND_HALF_EVEN)
    assert rebate == 33448
    assert accrual["programme_id"] == programme["id"]
    assert accrual["partner_id"] == partner_id
    assert accrual["deal_amount"] == {"amount": "13379.00", "currency": "USD"}
    assert accrual["base_amount"] == {"amount": "13379.00", "currency": "USD"}
    assert (accrual["rate"], accrual["status"]) == ("2.5", "accrued")
    assert accrual["amount"] == {"amount": "334.48", "currency": "USD"}
    assert accrual["closed_on"] == closed_on.isoformat()

    # The partner sees it, and the money is payable to it on the ledger.
    mine = ok(api.get(f"/v1/rebates/accruals/{accrual['id']}", headers=own))
    assert mine["amount"] == accrual["amount"]
    payable = balances(api, admin, partner_id=partner_id, kind="payable", currency="USD")
    assert sum(cents(a["balances"]["posted"]) for a in payable) == 33448

    # The vendor reverses the win (the booking was cancelled): over Kafka the accrual is
    # reversed and the money leaves the partner's payable account again.
    reversed_deal = ok(api.post(f"/v1/deals/{registered['id']}/reverse-win", headers=admin,
                                json={"reason": "booking cancelled by the customer"}))
    assert reversed_deal["status"] == "win_reversed"

    def reversed_accrual() -> dict[str, Any] | None:
        found = ok(api.get(f"/v1/rebates/accruals/{accrual['id']}", headers=admin))
        return found if found["status"] == "reversed" else None

    eventually(reversed_accrual, "the accrual reversed from prm.deal.win_reversed.v1")
    payable = balances(api, admin, partner_id=partner_id, kind="payable", currency="USD")
    assert sum(cents(a["balances"]["posted"]) for a in payable) == 0
