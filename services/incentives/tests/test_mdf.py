"""Market development funds end to end through the API: budget -> allocation -> request ->
approval -> claim with a proof file -> partial approval -> payable; expiries; minor units."""

import base64
import datetime as dt
import hashlib
import uuid

from sqlalchemy import text

from prm_incentives.config import Settings
from prm_incentives.ledger.service import expire_due
from prm_incentives.mdf.service import expire_requests


def unique_programme() -> str:
    return f"p-{uuid.uuid4().hex[:12]}"


PDF = b"%PDF-1.4\n% proof of a webinar\n"


async def make_budget(client, vendor, amount="10000.00", currency="EUR", auto=None):
    body = {"programme": unique_programme(), "period": "2025-H1",
            "amount": {"amount": amount, "currency": currency}}
    if auto:
        body["auto_approve_below"] = {"amount": auto, "currency": currency}
    response = await client.post("/v1/mdf/budgets", json=body, headers=vendor)
    assert response.status_code == 201, response.text
    return response.json()


async def allocate(client, vendor, budget, partner_id, amount):
    response = await client.post("/v1/mdf/allocations", headers=vendor, json={
        "budget_id": budget["id"], "partner_id": str(partner_id),
        "amount": {"amount": amount, "currency": budget["amount"]["currency"]}})
    assert response.status_code == 201, response.text
    return response.json()


def request_body(allocation, cost, currency="EUR", **extra):
    today = dt.date.today()
    return {"allocation_id": allocation["id"], "activity_type": "webinar",
            "title": "Zero-trust webinar", "start_date": today.isoformat(),
            "end_date": (today + dt.timedelta(days=10)).isoformat(),
            "planned_cost": {"amount": cost, "currency": currency},
            "expected_outcomes": "40 qualified leads", **extra}


async def test_budget_to_payable(client, vendor, as_partner, list_partner):
    partner = await list_partner()
    partner_headers = as_partner(partner)
    budget = await make_budget(client, vendor, "10000.00")
    assert budget["unallocated"] == {"amount": "10000.00", "currency": "EUR"}
    allocation = await allocate(client, vendor, budget, partner, "4000.00")

    submitted = await client.post("/v1/mdf/requests", headers=partner_headers,
                                  json=request_body(allocation, "2500.00"))
    assert submitted.status_code == 201, submitted.text
    fund_request = submitted.json()
    assert fund_request["status"] == "submitted"
    seen = (await client.get(f"/v1/mdf/allocations/{allocation['id']}",
                             headers=partner_headers)).json()
    assert seen["available"]["amount"] == "1500.00"
    assert seen["reserved"]["amount"] == "2500.00"

    approved = await client.post(f"/v1/mdf/requests/{fund_request['id']}/approve",
                                 headers={**vendor, "If-Match": submitted.headers["ETag"]})
    assert approved.status_code == 200, approved.text
    assert approved.json()["status"] == "approved"

    claimed = await client.post("/v1/mdf/claims", headers=partner_headers, json={
        "request_id": fund_request["id"], "amount": {"amount": "2300.00", "currency": "EUR"},
        "description": "Three sessions, 44 leads.",
        "proofs": [{"filename": "invoice.pdf", "content_type": "application/pdf",
                    "content_base64": base64.b64encode(PDF).decode()}]})
    assert claimed.status_code == 201, claimed.text
    claim = claimed.json()
    [proof] = claim["proofs"]
    assert proof["sha256"] == hashlib.sha256(PDF).hexdigest() and proof["size"] == len(PDF)
    download = await client.get(f"/v1/mdf/claims/{claim['id']}/proofs/{proof['id']}",
                                headers=partner_headers)
    assert download.status_code == 200
    assert download.content == PDF and download.headers["content-type"] == "application/pdf"

    partial = await client.post(f"/v1/mdf/claims/{claim['id']}/approve", headers=vendor, json={
        "amount": {"amount": "2000.00", "currency": "EUR"}, "reason": "Catering excluded"})
    assert partial.status_code == 200, partial.text
    assert partial.json()["approved_amount"]["amount"] == "2000.00"

    final = (await client.get(f"/v1/mdf/allocations/{allocation['id']}",
                              headers=partner_headers)).json()
    # 2500 reserved: 2000 posted and payable, 500 released back to the allocation.
    assert final["available"]["amount"] == "2000.00"
    assert final["reserved"]["amount"] == "0.00"
    assert final["payable"]["amount"] == "2000.00"
    request_now = (await client.get(f"/v1/mdf/requests/{fund_request['id']}",
                                    headers=partner_headers)).json()
    assert request_now["status"] == "completed"
    events = (await client.connection.execute(text(
        "SELECT event_type FROM outbox WHERE key = :k ORDER BY seq"),
        {"k": fund_request["id"]})).scalars().all()
    assert events == ["prm.mdf.request.submitted.v1", "prm.mdf.request.approved.v1",
                      "prm.mdf.claim.submitted.v1", "prm.mdf.claim.approved.v1"]
    # The reservation's ledger history: reserved, then posted in part and released.
    reservation = (await client.get(f"/v1/ledger/transfers/{fund_request['reservation_id']}",
                                    headers=vendor)).json()
    assert reservation["status"] == "posted"
    assert reservation["posted_amount"]["amount"] == "2000.00"
    entries = (await client.get(
        f"/v1/ledger/accounts/{final['allocation_account_id']}/entries",
        headers=vendor)).json()["items"]
    assert [(e["side"], e["phase"], e["amount"]["amount"]) for e in entries] == [
        ("credit", "posted", "4000.00"), ("debit", "pending", "2500.00"),
        ("debit", "posted", "2000.00"), ("debit", "released", "500.00")]


async def test_overspending_an_allocation_is_refused(client, vendor, as_partner, list_partner):
    partner = await list_partner()
    budget = await make_budget(client, vendor, "1000.00")
    allocation = await allocate(client, vendor, budget, partner, "1000.00")
    ok = await client.post("/v1/mdf/requests", headers=as_partner(partner),
                           json=request_body(allocation, "600.00"))
    assert ok.status_code == 201
    refused = await client.post("/v1/mdf/requests", headers=as_partner(partner),
                                json=request_body(allocation, "400.01"))
    assert refused.status_code == 409
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["type"] == "/problems/insufficient-funds"
    too_much = await client.post("/v1/mdf/allocations", headers=vendor, json={
        "budget_id": budget["id"], "partner_id": str(await list_partner()),
        "amount": {"amount": "0.01", "currency": "EUR"}})
    assert too_much.json()["type"] == "/problems/insufficient-funds"


async def test_auto_approval_reject_and_changes(client, vendor, as_partner, list_partner):
    partner = await list_partner()
    headers = as_partner(partner)
    budget = await make_budget(client, vendor, "5000.00", auto="500.00")
    allocation = await allocate(client, vendor, budget, partner, "5000.00")
    small = (await client.post("/v1/mdf/requests", headers=headers,
                               json=request_body(allocation, "499.99"))).json()
    assert small["status"] == "approved" and small["approved_by"] == "rule"
    large = (await client.post("/v1/mdf/requests", headers=headers,
                               json=request_body(allocation, "3000.00"))).json()
    assert large["status"] == "submitted"
    forbidden = await client.post(f"/v1/mdf/requests/{large['id']}/approve", headers=headers)
    assert forbidden.status_code == 403  # partners never approve
    asked = await client.post(f"/v1/mdf/requests/{large['id']}/request-changes",
                              headers=vendor, json={"reason": "Lower the cost"})
    assert asked.json()["status"] == "changes_requested"
    stale = await client.patch(f"/v1/mdf/requests/{large['id']}",
                               headers={**headers, "If-Match": '"1"'},
                               json={"planned_cost": {"amount": "2000.00", "currency": "EUR"}})
    assert stale.status_code == 412
    revised = await client.patch(f"/v1/mdf/requests/{large['id']}",
                                 headers={**headers, "If-Match": asked.headers["ETag"]},
                                 json={"planned_cost": {"amount": "2000.00",
                                                        "currency": "EUR"}})
    assert revised.status_code == 200, revised.text
    assert revised.json()["status"] == "submitted"
    seen = (await client.get(f"/v1/mdf/allocations/{allocation['id']}", headers=headers)).json()
    assert seen["available"]["amount"] == "2500.01"  # 5000 - 499.99 - 2000
    rejected = await client.post(f"/v1/mdf/requests/{large['id']}/reject", headers=vendor,
                                 json={"reason": "Out of scope"})
    assert rejected.json()["status"] == "rejected"
    again = await client.post(f"/v1/mdf/requests/{large['id']}/reject", headers=vendor,
                              json={"reason": "twice"})
    assert again.status_code == 409 and again.json()["type"] == "/problems/invalid-transition"
    seen = (await client.get(f"/v1/mdf/allocations/{allocation['id']}", headers=headers)).json()
    assert seen["available"]["amount"] == "4500.01"
    sent = (await client.connection.execute(text(
        "SELECT event_type, envelope FROM outbox WHERE key = :k ORDER BY seq"),
        {"k": large["id"]})).all()
    back = [e.envelope["data"] for e in sent
            if e.event_type == "prm.mdf.request.changes_requested.v1"]
    assert len(back) == 1 and back[0]["reason"] == "Lower the cost"
    assert back[0]["status"] == "changes_requested" and back[0]["version"] == 2
    assert [e.event_type for e in sent][-1] == "prm.mdf.request.rejected.v1"


async def test_rejected_claim_releases_the_funds(client, vendor, as_partner, list_partner):
    partner = await list_partner()
    headers = as_partner(partner)
    budget = await make_budget(client, vendor, "100.00", auto="1000.00")
    allocation = await allocate(client, vendor, budget, partner, "100.00")
    fund_request = (await client.post("/v1/mdf/requests", headers=headers,
                                      json=request_body(allocation, "80.00"))).json()
    claim = (await client.post("/v1/mdf/claims", headers=headers, json={
        "request_id": fund_request["id"], "amount": {"amount": "80.00", "currency": "EUR"},
        "description": "done", "proofs": [{"filename": "a.txt", "content_type": "text/plain",
                                            "content_base64": "aGVsbG8="}]})).json()
    second = await client.post("/v1/mdf/claims", headers=headers, json={
        "request_id": fund_request["id"], "amount": {"amount": "1.00", "currency": "EUR"},
        "description": "again", "proofs": [{"filename": "a.txt", "content_type": "text/plain",
                                             "content_base64": "aGVsbG8="}]})
    assert second.status_code == 409
    rejected = await client.post(f"/v1/mdf/claims/{claim['id']}/reject", headers=vendor,
                                 json={"reason": "No attendee list"})
    assert rejected.json()["status"] == "rejected"
    seen = (await client.get(f"/v1/mdf/allocations/{allocation['id']}", headers=headers)).json()
    assert seen["available"]["amount"] == "100.00" and seen["payable"]["amount"] == "0.00"


async def test_expiry_releases_funds_once(client, vendor, as_partner, list_partner):
    partner = await list_partner()
    headers = as_partner(partner)
    budget = await make_budget(client, vendor, "900.00")
    allocation = await allocate(client, vendor, budget, partner, "900.00")
    undecided = (await client.post("/v1/mdf/requests", headers=headers,
                                   json=request_body(allocation, "300.00"))).json()
    unclaimed = (await client.post("/v1/mdf/requests", headers=headers,
                                   json=request_body(allocation, "200.00"))).json()
    await client.post(f"/v1/mdf/requests/{unclaimed['id']}/approve", headers=vendor)
    connection = client.connection
    await connection.execute(text(
        "UPDATE mdf_requests SET decision_due_at = now() - interval '1 minute' WHERE id = :id"),
        {"id": undecided["id"]})
    await connection.execute(text(
        "UPDATE mdf_requests SET claim_due_on = CAST(now() AS date) - 1 WHERE id = :id"),
        {"id": unclaimed["id"]})
    from sqlalchemy.ext.asyncio import AsyncSession
    session = AsyncSession(bind=connection, join_transaction_mode="create_savepoint")
    assert await expire_requests(session) == 2
    assert await expire_requests(session) == 0  # exactly once
    await session.flush()
    for request_id in (undecided["id"], unclaimed["id"]):
        seen = (await client.get(f"/v1/mdf/requests/{request_id}", headers=headers)).json()
        assert seen["status"] == "expired"
    seen = (await client.get(f"/v1/mdf/allocations/{allocation['id']}", headers=headers)).json()
    assert seen["available"]["amount"] == "900.00" and seen["reserved"]["amount"] == "0.00"
    assert await expire_due(session) == 0
    assert Settings().claim_window_days >= 1


async def test_jpy_and_kwd_minor_units(client, vendor, as_partner, list_partner):
    partner = await list_partner()
    yen = await make_budget(client, vendor, "1000000", "JPY")
    assert yen["amount"] == {"amount": "1000000", "currency": "JPY"}
    fractional = await client.post("/v1/mdf/allocations", headers=vendor, json={
        "budget_id": yen["id"], "partner_id": str(partner),
        "amount": {"amount": "10.5", "currency": "JPY"}})
    assert fractional.status_code == 422
    assert fractional.json()["type"] == "/problems/validation-error"
    allocation = await allocate(client, vendor, yen, partner, "250000")
    pool = (await client.get(f"/v1/ledger/accounts/{yen['pool_account_id']}",
                             headers=vendor)).json()
    assert pool["balances"]["available"] == {"amount": "750000", "currency": "JPY"}
    dinar = await make_budget(client, vendor, "1234.567", "KWD")
    assert dinar["amount"]["amount"] == "1234.567"
    allocation = await allocate(client, vendor, dinar, partner, "0.001")
    assert allocation["available"] == {"amount": "0.001", "currency": "KWD"}
    minor = (await client.connection.execute(text(
        "SELECT credits_posted FROM ledger_accounts WHERE id = :id"),
        {"id": allocation["allocation_account_id"]})).scalar_one()
    assert minor == 1  # one fils, as an integer


async def test_bad_input_is_problem_json(client, vendor, as_partner, list_partner):
    partner = await list_partner()
    budget = await make_budget(client, vendor, "100.00")
    allocation = await allocate(client, vendor, budget, partner, "100.00")
    cases = [
        ("/v1/mdf/requests", request_body(allocation, "-1.00")),
        ("/v1/mdf/requests", request_body(allocation, "1.00", "USD")),
        ("/v1/mdf/requests", {**request_body(allocation, "1.00"), "end_date": "2000-01-01"}),
        ("/v1/mdf/budgets", {"programme": "x", "period": "2025",
                             "amount": {"amount": 12.5, "currency": "EUR"}}),
        ("/v1/mdf/claims", {"request_id": allocation["id"],
                            "amount": {"amount": "1.00", "currency": "EUR"},
                            "description": "x",
                            "proofs": [{"filename": "x.exe",
                                        "content_type": "application/x-msdownload",
                                        "content_base64": "aGVsbG8="}]}),
        ("/v1/mdf/claims", {"request_id": allocation["id"],
                            "amount": {"amount": "1.00", "currency": "EUR"},
                            "description": "x",
                            "proofs": [{"filename": "x.pdf", "content_type": "application/pdf",
                                        "content_base64": "not base64!"}]}),
    ]
    for path, body in cases:
        response = await client.post(path, json=body, headers=as_partner(partner)
                                     if "budgets" not in path else vendor)
        assert response.status_code == 422, (path, body, response.text)
        assert response.headers["content-type"] == "application/problem+json"
    huge = base64.b64encode(b"x" * (300 * 1024)).decode()
    too_big = await client.post("/v1/mdf/claims", headers=as_partner(partner), json={
        "request_id": allocation["id"], "amount": {"amount": "1.00", "currency": "EUR"},
        "description": "x", "proofs": [{"filename": "x.pdf", "content_type": "application/pdf",
                                        "content_base64": huge}]})
    assert too_big.status_code in (413, 422)
    assert too_big.headers["content-type"] == "application/problem+json"
    inactive = await list_partner("suspended")
    refused = await client.post("/v1/mdf/allocations", headers=vendor, json={
        "budget_id": budget["id"], "partner_id": str(inactive),
        "amount": {"amount": "1.00", "currency": "EUR"}})
    assert refused.status_code == 422
    assert refused.json()["type"] == "/problems/funds-partner-not-eligible"
