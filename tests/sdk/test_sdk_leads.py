"""Leads through the Python SDK (prm_sdk) against the running stack: every lead operation is
called by its path like any other resource (the SDK has no per-resource wrappers), with the
SDK's Idempotency-Keys, pagination, ETags and problems. A vendor key sets a routing rule (its
versions, a change under If-Match, a dry run), the intake key submits a lead and the same
lead again in bulk, a vendor integration sends a batch with a bad item, the partner's key caps
its capacity, sees its offers, declines one (the vendor assigns it back by hand), accepts
another under a stale and a fresh ETag, and converts it to a registration."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from prm_sdk import AsyncPrmClient, PrmClient, ProblemError, is_problem
from prm_stack.testing import eventually

pytestmark = pytest.mark.stack

COUNTRY = "IS"  # no other test's partners serve it


def once_allowed(call: Callable[[], Any], waiting: tuple[int, ...] = (401, 403)
                 ) -> Callable[[], Any]:
    """``call``'s result, or None while the key has not reached the service (401/403), or
    whatever else ``waiting`` names has not arrived yet."""
    def attempt() -> Any:
        try:
            return call()
        except ProblemError as error:
            if error.status in waiting:
                return None
            raise
    return attempt


def lead(tag: str, name: str, sku: str, **extra: Any) -> dict[str, Any]:
    return {"company": {"name": f"{name} {tag}", "domain": f"{name.lower()}-{tag}.example",
                        "country": COUNTRY},
            "product": sku, "size": "small",
            "estimated_amount": {"amount": "9000.00", "currency": "EUR"}, **extra}


def test_leads_through_the_python_sdk(prm_stack_processes) -> None:
    url = prm_stack_processes.gateway_url
    tag = uuid.uuid4().hex[:8]
    sku = f"SKU-{tag}".upper()
    with PrmClient(url, api_key=prm_stack_processes.admin_key) as admin:
        eventually(once_allowed(lambda: admin.get("/v1/leads", {"limit": 1})),
                   "the admin key reaching the deals service", timeout=60)
        partner = admin.post("/v1/partners", {
            "name": f"Reykjavik Systems {tag}", "type": "reseller", "country": "NO",
            "countries_served": ["NO", COUNTRY]}).data
        partner_id = partner["id"]
        admin.post("/v1/partners/{partner_id}/activate", path_params={"partner_id": partner_id})

        def key(name: str, scopes: list[str], **kind: Any) -> str:
            body = {"name": name, "scopes": scopes, "kind": "vendor", **kind}
            return str(admin.post("/v1/api-keys", body).data["key"])

        vendor_key = key("lead routing", ["leads:read", "leads:write"])
        intake_key = key("web forms", ["lead_intake:write"])
        partner_key = key("partner crm", ["leads:read", "leads:write", "deals:read",
                                          "deals:write"], kind="partner", partner_id=partner_id)

    with PrmClient(url, api_key=vendor_key) as vendor, \
            PrmClient(url, api_key=intake_key) as intake, \
            PrmClient(url, api_key=partner_key) as mine:
        # Routing rules: create, read, change under If-Match (a new version), list, versions.
        created = eventually(once_allowed(lambda: vendor.post("/v1/lead-routing-rules", {
            "name": f"Iceland {tag}", "position": 0,
            "conditions": {"countries": [COUNTRY], "products": [sku]},
            "respond_within_hours": 24})), "the vendor key reaching the deals service")
        assert created.status_code == 201 and created.etag
        rule_id = {"path_params": {"rule_id": created.data["id"]}}
        read = vendor.get("/v1/lead-routing-rules/{rule_id}", **rule_id)
        assert vendor.get("/v1/lead-routing-rules/{rule_id}", if_none_match=read.etag,
                          **rule_id).not_modified
        changed = vendor.patch("/v1/lead-routing-rules/{rule_id}",
                               {"capacity": {"max_open": 5}}, if_match=read.etag, **rule_id)
        assert changed.data["version"] == 2 and changed.data["capacity"]["max_open"] == 5
        with pytest.raises(ProblemError) as stale:
            vendor.patch("/v1/lead-routing-rules/{rule_id}", {"enabled": False},
                         if_match=read.etag, **rule_id)
        assert is_problem(stale.value, "precondition-failed")
        assert created.data["id"] in [r["id"] for r in vendor.paginate(
            "/v1/lead-routing-rules", {"limit": 1})]
        versions = list(vendor.paginate("/v1/lead-routing-rules/{rule_id}/versions",
                                        **rule_id))
        assert [v["version"] for v in versions] == [1, 2]

        # The partner caps itself (its own org), under If-Match.
        capacity = eventually(once_allowed(lambda: mine.get(
            "/v1/lead-capacity/{partner_id}", path_params={"partner_id": partner_id}),
            waiting=(401, 403, 404)),
            "the partner key and the partner reaching the deals service")
        capped = mine.put("/v1/lead-capacity/{partner_id}", {"max_open": 10},
                          path_params={"partner_id": partner_id}, if_match=capacity.etag)
        assert (capped.data["max_open"], capped.data["paused"]) == (10, False)

        # The dry run offers it the lead once the directory knows the partner, active.
        first = lead(tag, "Geysir", sku, external_id=f"form-{tag}")
        eventually(lambda: vendor.post("/v1/lead-routing-rules/dry-run", first).data[
            "partner_id"] == partner_id, "the partner reaching the deals directory", timeout=90)

        # The intake key submits it; the same lead in bulk again changes nothing.
        submitted = eventually(once_allowed(lambda: intake.post("/v1/lead-intake", first)),
                               "the intake key reaching the deals service")
        assert submitted.status_code == 201 and set(submitted.data) == {
            "id", "external_id", "received_at"}  # nothing of where it went
        lead_id = submitted.data["id"]
        again = intake.post("/v1/lead-intake/batch", {"items": [first]}).data
        assert (again["unchanged"], again["items"][0]["lead_id"]) == (1, lead_id)
        with pytest.raises(ProblemError) as forbidden:
            intake.get("/v1/leads/{lead_id}", path_params={"lead_id": lead_id})
        assert forbidden.value.status == 403

        # A vendor integration's batch: one good lead, one bad, each with its outcome.
        batch = vendor.post("/v1/lead-batches", {"items": [
            lead(tag, "Hekla", sku), {"company": {"name": "No domain"}}]}).data
        assert (batch["created"], batch["errors"]) == (1, 1)
        assert batch["items"][1]["problem"]["status"] == 422
        second_id = batch["items"][0]["lead_id"]

        # The partner's key sees both offered, page by page; the vendor sees why.
        offered = [item["id"] for item in mine.paginate("/v1/leads", {
            "status": ["offered"], "product": [sku], "limit": 1})]
        assert sorted(offered) == sorted([lead_id, second_id])
        [offer] = mine.paginate("/v1/leads/{lead_id}/assignments",
                                path_params={"lead_id": lead_id})
        assert (offer["partner_id"], offer["outcome"], offer["explanation"]) == (
            partner_id, "pending", None)
        [why] = vendor.paginate("/v1/leads/{lead_id}/assignments",
                                path_params={"lead_id": lead_id})
        assert why["explanation"]["rule_id"] == created.data["id"]
        ranked = vendor.get("/v1/leads/{lead_id}/recommendations",
                            path_params={"lead_id": lead_id}).data["items"]
        assert partner_id in [r["partner_id"] for r in ranked]

        # Declined: nobody else in the pool, so the vendor's queue; assigned back by hand.
        second = {"path_params": {"lead_id": second_id}}
        declined = mine.post("/v1/leads/{lead_id}/decline", {"reason": "no_capacity"},
                             if_match=mine.get("/v1/leads/{lead_id}", **second).etag,
                             **second)
        assert (declined.data["status"], declined.data["partner_id"]) == ("queued", None)
        assigned = vendor.post("/v1/leads/{lead_id}/assign", {"partner_id": partner_id},
                               if_match=declined.etag, **second)
        assert (assigned.data["status"], assigned.data["partner_id"]) == ("offered", partner_id)

        # Accepted under its ETag (a stale one is refused), then converted.
        path = {"path_params": {"lead_id": lead_id}}
        etag = mine.get("/v1/leads/{lead_id}", **path).etag
        accepted = mine.post("/v1/leads/{lead_id}/accept", if_match=etag, **path)
        assert accepted.data["status"] == "accepted"
        with pytest.raises(ProblemError) as late:
            mine.post("/v1/leads/{lead_id}/accept", if_match=etag, **path)
        assert late.value.status == 412
        close = dt.date.today() + dt.timedelta(days=45)
        converted = mine.post("/v1/leads/{lead_id}/convert", {"expected_close_date": close},
                              if_match=accepted.etag, **path)
        assert converted.status_code == 201 and converted.location == (
            f"/v1/deals/{converted.data['id']}")
        assert converted.data["source_lead_id"] == lead_id
        assert converted.data["amount"] == {"amount": "9000.00", "currency": "EUR"}

        # The rule deleted under If-Match; its versions stay readable.
        latest = vendor.get("/v1/lead-routing-rules/{rule_id}", **rule_id)
        assert vendor.delete("/v1/lead-routing-rules/{rule_id}", if_match=latest.etag,
                             **rule_id).status_code == 204
        assert len(list(vendor.paginate("/v1/lead-routing-rules/{rule_id}/versions",
                                        **rule_id))) >= 2


async def test_leads_through_the_async_sdk(prm_stack_processes) -> None:
    """The asyncio client pages through the vendor's leads the same way."""
    async with AsyncPrmClient(prm_stack_processes.gateway_url,
                              api_key=prm_stack_processes.admin_key) as admin:
        tag = uuid.uuid4().hex[:8]
        received = await admin.post("/v1/leads", {**lead(tag, "Vik", f"A-{tag}"), "route": False})
        assert received.status_code == 201 and received.data["status"] == "new"
        found = [item["id"] async for item in admin.paginate("/v1/leads", {
            "status": ["new"], "product": [f"A-{tag}"]})]
        assert found == [received.data["id"]]
