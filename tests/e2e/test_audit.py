"""The audit trail through the gateway, every service and worker running as processes.

A vendor key of finance approves a partner's MDF claim, and a vendor key of the channel team
gives the partner its tier: the trail, filtered by the claim and by the partner, answers who
did each (the key's id, the request id it came with), from the events those services published
over Kafka; a partner's key reads none of it. Then an entry is altered in the database, as a
superuser could, and a verification finds it.
"""

import asyncio
import datetime as dt
import uuid
from typing import Any

import asyncpg
import httpx
import pytest

from prm_stack.testing import eventually

pytestmark = pytest.mark.stack

PDF = b"%PDF-1.4\n% attendance list of the webinar\n"


def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def key(api, admin, name: str, scopes: list[str], partner_id: str | None = None
        ) -> tuple[str, dict[str, str]]:
    """A new API key: its id and the headers that use it."""
    body: dict[str, Any] = {"name": name, "kind": "partner" if partner_id else "vendor",
                            "scopes": scopes}
    if partner_id:
        body["partner_id"] = partner_id
    created = ok(api.post("/v1/api-keys", headers=admin, json=body), 201)
    return created["id"], {"Authorization": f"Bearer {created['key']}"}


async def as_superuser(database_url: str, statement: str, *arguments: Any) -> None:
    """Run SQL past the trail's trigger, as a database superuser could."""
    connection = await asyncpg.connect(database_url.replace("postgresql+asyncpg://",
                                                            "postgresql://", 1))
    try:
        async with connection.transaction():
            await connection.execute("SET LOCAL session_replication_role = replica")
            await connection.execute(statement, *arguments)
    finally:
        await connection.close()


def trail(api, headers, **params: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = ok(api.get("/v1/audit-entries", headers=headers, params={
            **params, "limit": 200, **({"cursor": cursor} if cursor else {})}))
        found += page["items"]
        if not (cursor := page["next_cursor"]):
            return found


def test_who_approved_the_claim_and_who_changed_the_tier(api, admin, prm_stack_processes):
    today = dt.datetime.now(dt.UTC).date()
    finance_id, finance = key(api, admin, "finance desk", ["incentives:read",
                                                             "incentives:write"])
    channel_id, channel = key(api, admin, "channel team", [
        "partners:read", "partners:write", "programme:read", "programme:write"])
    auditor_id, auditor = key(api, admin, "auditor", ["audit:read"])

    partner = ok(api.post("/v1/partners", headers=channel, json={
        "name": f"Audit Trail Systems {uuid.uuid4().hex[:6]}", "type": "reseller",
        "country": "DE"}), 201)
    partner_id = partner["id"]
    ok(api.post(f"/v1/partners/{partner_id}/activate", headers=channel))
    _, own = key(api, admin, "partner system", ["incentives:read", "incentives:write"],
                 partner_id)

    # MDF: budget, allocation, request (the partner's), approved, claimed, the claim approved
    # by the finance key.
    budget = ok(api.post("/v1/mdf/budgets", headers=finance, json={
        "programme": f"audit-{uuid.uuid4().hex[:12]}", "period": f"{today.year}-H2",
        "amount": {"amount": "5000.00", "currency": "EUR"}}), 201)
    allocation = eventually(lambda: (r := api.post("/v1/mdf/allocations", headers=finance, json={
        "budget_id": budget["id"], "partner_id": partner_id,
        "amount": {"amount": "2000.00", "currency": "EUR"}})).status_code == 201 and r.json(),
        "the partner reaching the incentives service")
    request = ok(api.post("/v1/mdf/requests", headers=own, json={
        "allocation_id": allocation["id"], "activity_type": "webinar", "title": "Webinar",
        "start_date": today.isoformat(), "end_date": (today + dt.timedelta(days=5)).isoformat(),
        "planned_cost": {"amount": "1000.00", "currency": "EUR"},
        "expected_outcomes": "100 registrations"}), 201)
    ok(api.post(f"/v1/mdf/requests/{request['id']}/approve", headers=finance,
                json={"reason": "Fits the plan"}))
    proof = ok(api.post("/v1/mdf/proofs", headers=own,
                        files={"file": ("invoice.pdf", PDF, "application/pdf")}), 201)
    claim = ok(api.post("/v1/mdf/claims", headers=own, json={
        "request_id": request["id"], "amount": {"amount": "900.00", "currency": "EUR"},
        "description": "One session held.", "proof_ids": [proof["id"]]}), 201)
    approving = api.post(f"/v1/mdf/claims/{claim['id']}/approve", json={}, headers={
        **finance, "X-Request-Id": f"approve-{claim['id'][:8]}"})
    assert ok(approving)["status"] == "approved"

    # The tier: one the programme gives every active partner, applied at once by the channel
    # team's evaluation.
    tier = ok(api.post("/v1/tiers", headers=channel, json={
        "name": f"Audited {uuid.uuid4().hex[:6]}", "rank": 900}), 201)
    eventually(lambda: ok(api.post(f"/v1/partners/{partner_id}/tier/evaluate", headers={
        **channel, "X-Request-Id": f"tier-{partner_id[:8]}"}))["tier"] == tier["name"],
        "the partner's tier")

    approved = eventually(lambda: [e for e in trail(api, auditor, record=claim["id"])
                                   if e["type"] == "prm.mdf.claim.approved.v1"],
                          "the claim's approval reaching the audit trail")
    assert [(e["actor"], e["request_id"], e["service"]) for e in approved] == [
        (f"key:{finance_id}", f"approve-{claim['id'][:8]}", "incentives")]
    submitted = [e for e in trail(api, auditor, record=claim["id"])
                 if e["type"] == "prm.mdf.claim.submitted.v1"]
    assert [e["actor"] for e in submitted] != [f"key:{finance_id}"]  # the partner's key

    changed = eventually(lambda: trail(api, auditor, record=partner_id,
                                       type="prm.partner.tier_changed.v1"),
                         "the tier change reaching the audit trail")
    assert [(e["actor"], e["request_id"], e["data"]["tier"]) for e in changed] == [
        (f"key:{channel_id}", f"tier-{partner_id[:8]}", tier["name"])]
    # Everything the channel key did to the partner, and nothing of the finance key's.
    done = trail(api, auditor, actor=f"key:{channel_id}", partner_id=partner_id)
    assert {"prm.partner.created.v1", "prm.partner.status_changed.v1",
            "prm.partner.tier_changed.v1"} <= {e["type"] for e in done}

    refused = api.get("/v1/audit-entries", headers=own, params={"partner_id": partner_id})
    assert refused.status_code == 403

    intact = ok(api.post("/v1/audit-verifications", headers=auditor, json={}))
    assert {c["service"]: c["status"] for c in intact["chains"]}["incentives"] == "intact"

    # A superuser changes who approved the claim: the verification finds that entry.
    [entry] = approved
    asyncio.run(as_superuser(prm_stack_processes.info["database_url"],
                             "UPDATE audit.audit_entries SET actor = $1 WHERE id = $2",
                             f"key:{auditor_id}", uuid.UUID(entry["id"])))
    found = ok(api.post("/v1/audit-verifications", headers=auditor,
                        json={"service": "incentives"}))
    [incentives] = found["chains"]
    assert incentives["status"] == "broken"
    assert incentives["problem"]["finding"] == "altered"
    assert (incentives["problem"]["seq"], incentives["problem"]["entry_id"]) == (
        entry["seq"], entry["id"])
