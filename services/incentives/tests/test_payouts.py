"""Payouts end to end: rebate and SPIFF accruals and an approved MDF claim become payable, are
grouped into a batch, approved, exported (JSON, CSV), paid once by the finance system's
confirmation (payable -> paid on the ledger), and explained in the partner's statement."""

import csv
import datetime as dt
import io
import uuid

from .rebate_helpers import deliver, won
from .test_mdf import allocate, make_budget, request_body

_TODAY = dt.date.today().isoformat()
_PDF = {"filename": "p.pdf", "content_type": "application/pdf",
        "content_base64": "JVBERi0xLjQ="}


async def earn(app, client, vendor, partner, as_partner):
    """A rebate of 30.00 and a SPIFF of 25.00 on a deal of 1500.00, and an MDF claim of 90.00
    approved."""
    await client.post("/v1/rebates/programmes", headers=vendor, json={
        "name": f"pay-{uuid.uuid4().hex[:8]}", "currency": "EUR", "basis": "tier",
        "starts_on": "2025-01-01", "ends_on": "2025-12-31", "rules": [{"rate": "2"}]})
    await client.post("/v1/spiffs", headers=vendor, json={
        "name": f"pay-{uuid.uuid4().hex[:8]}", "starts_on": "2025-01-01",
        "ends_on": "2025-12-31", "fixed_amount": {"amount": "25.00", "currency": "EUR"},
        "fund": {"amount": "1000.00", "currency": "EUR"}})
    deal = won(partner, "1500.00")
    async with app.state.sessionmaker() as session:
        await deliver(session, deal)
        await session.commit()
    budget = await make_budget(client, vendor)
    allocation = await allocate(client, vendor, budget, partner, "500.00")
    request = (await client.post("/v1/mdf/requests", headers=as_partner(partner),
                                 json=request_body(allocation, "100.00"))).json()
    await client.post(f"/v1/mdf/requests/{request['id']}/approve", headers=vendor)
    claim = (await client.post("/v1/mdf/claims", headers=as_partner(partner), json={
        "request_id": request["id"], "amount": {"amount": "90.00", "currency": "EUR"},
        "description": "done", "proofs": [_PDF]})).json()
    approved = await client.post(f"/v1/mdf/claims/{claim['id']}/approve", headers=vendor)
    assert approved.status_code == 200, approved.text
    return deal, claim


async def balances(client, vendor, partner, kind):
    items = (await client.get("/v1/ledger/accounts", headers=vendor, params={
        "partner_id": str(partner), "kind": kind})).json()["items"]
    return sum(int(a["balances"]["posted"]["amount"].replace(".", "")) for a in items)


async def test_batch_to_paid_and_statement(app, client, vendor, as_partner, list_partner):
    partner = await list_partner()
    deal, claim = await earn(app, client, vendor, partner, as_partner)
    assert await balances(client, vendor, partner, "payable") == 14500

    made = await client.post("/v1/payouts/batches", headers=vendor, json={
        "partner_id": str(partner), "currency": "EUR", "period_from": "2025-01-01",
        "period_to": _TODAY})
    assert made.status_code == 201, made.text
    batch = made.json()
    assert batch["total"] == {"amount": "145.00", "currency": "EUR"} and batch["lines"] == 3
    assert batch["status"] == "draft"
    nothing = await client.post("/v1/payouts/batches", headers=vendor, json={
        "partner_id": str(partner), "currency": "EUR", "period_from": "2025-01-01",
        "period_to": _TODAY})
    assert nothing.status_code == 422
    url = f"/v1/payouts/batches/{batch['id']}"
    assert (await client.get(f"{url}/export", headers=vendor)).status_code == 409

    # A batched accrual is no longer reversed.
    [rebate] = (await client.get("/v1/rebates/accruals", headers=vendor, params={
        "deal_id": str(deal.deal_id)})).json()["items"]
    refused = await client.post(f"/v1/rebates/accruals/{rebate['id']}/reverse",
                                headers=vendor, json={"reason": "x"})
    assert refused.status_code == 409

    approved = await client.post(f"{url}/approve", headers={**vendor, "If-Match": '"1"'})
    assert approved.status_code == 200, approved.text
    assert approved.json()["status"] == "approved"
    # Reading the file changes nothing: the batch stays approved, at its version.
    preview = await client.get(f"{url}/export?format=json", headers=vendor)
    assert preview.status_code == 200, preview.text
    assert preview.json()["batch"]["status"] == "approved"
    assert preview.headers["etag"] == approved.headers["etag"] == '"2"'
    head = await client.head(f"{url}/export?format=csv", headers=vendor)
    assert head.status_code == 200 and head.content == b""
    assert (await client.get(url, headers=vendor)).json()["version"] == 2
    early = await client.post(f"{url}/paid", headers=vendor, json={
        "payment_reference": "R-EARLY", "paid_on": "2025-07-04"})
    assert early.status_code == 409  # not exported yet
    stale = await client.post(f"{url}/export", headers={**vendor, "If-Match": '"1"'})
    assert stale.status_code == 412
    exported = await client.post(f"{url}/export?format=json",
                                 headers={**vendor, "If-Match": '"2"'})
    assert exported.status_code == 200, exported.text
    assert exported.headers["etag"] == '"3"'
    body = exported.json()
    assert body["batch"]["status"] == "exported" and body["batch"]["version"] == 3
    assert sorted(line["source"] for line in body["lines"]) == ["mdf_claim", "rebate", "spiff"]
    assert sum(int(line["amount"]["amount"].replace(".", "")) for line in body["lines"]) \
        == 14500
    assert body["lines"] == preview.json()["lines"]
    # Once: the file is read again with the GET.
    again = await client.post(f"{url}/export", headers=vendor)
    assert again.status_code == 409
    assert (await client.get(f"{url}/export", headers=vendor)).json() == body
    as_csv = await client.get(f"{url}/export?format=csv", headers=vendor)
    assert as_csv.headers["content-type"].startswith("text/csv")
    assert as_csv.headers["etag"] == '"3"'
    rows = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert len(rows) == 3 and {r["amount"] for r in rows} == {"30.00", "25.00", "90.00"}

    payment = {"payment_reference": "SEPA-2025-07-000123", "paid_on": "2025-07-04"}
    paid = await client.post(f"{url}/paid", headers=vendor, json=payment)
    assert paid.status_code == 200, paid.text
    assert paid.json()["status"] == "paid"
    again = await client.post(f"{url}/paid", headers=vendor, json=payment)
    assert again.status_code == 200 and again.json()["version"] == paid.json()["version"]
    other = await client.post(f"{url}/paid", headers=vendor,
                              json={**payment, "payment_reference": "SEPA-OTHER"})
    assert other.status_code == 409
    assert await balances(client, vendor, partner, "payable") == 0
    assert await balances(client, vendor, partner, "paid") == 14500

    seen = await client.get(
        f"/v1/payouts/statement?partner_id={partner}&from=2025-01-01&to={_TODAY}",
        headers=as_partner(partner))
    assert seen.status_code == 200, seen.text
    statement = seen.json()
    assert statement["from"] == "2025-01-01"
    assert statement["totals"] == [{"currency": "EUR",
                                    "earned": {"amount": "145.00", "currency": "EUR"},
                                    "paid": {"amount": "145.00", "currency": "EUR"},
                                    "unpaid": {"amount": "0.00", "currency": "EUR"}}]
    by_source = {item["source"]: item for item in statement["items"]}
    assert "2 % of 1500.00 EUR" in by_source["rebate"]["why"]
    assert by_source["mdf_claim"]["source_id"] == claim["id"]
    assert {i["payment_reference"] for i in statement["items"]} == {"SEPA-2025-07-000123"}
    mine = (await client.get("/v1/payouts/batches", headers=as_partner(partner))).json()
    assert [b["id"] for b in mine["items"]] == [batch["id"]]


async def test_a_payment_reference_pays_one_batch(app, client, vendor, as_partner,
                                                 list_partner):
    ids = []
    for _ in range(2):
        partner = await list_partner()
        await earn(app, client, vendor, partner, as_partner)
        batch = (await client.post("/v1/payouts/batches", headers=vendor, json={
            "partner_id": str(partner), "currency": "EUR", "period_from": "2025-01-01",
            "period_to": _TODAY})).json()
        url = f"/v1/payouts/batches/{batch['id']}"
        await client.post(f"{url}/approve", headers=vendor)
        early = await client.post(f"{url}/paid", headers=vendor, json={
            "payment_reference": "R-1", "paid_on": "2025-07-04"})
        assert early.status_code == 409  # approved, not exported yet
        exported = await client.post(f"{url}/export?format=csv", headers=vendor)
        assert exported.status_code == 200, exported.text
        assert exported.headers["content-type"].startswith("text/csv")
        assert exported.text.startswith("batch_id,partner_id,")
        ids.append(url)
    payment = {"payment_reference": f"R-{uuid.uuid4().hex[:8]}", "paid_on": "2025-07-04"}
    assert (await client.post(f"{ids[0]}/paid", headers=vendor, json=payment)
            ).status_code == 200
    assert (await client.post(f"{ids[1]}/paid", headers=vendor, json=payment)
            ).status_code == 409
