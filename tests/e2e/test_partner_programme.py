"""The partner programme through the edge, every service and worker running as processes: a
prospect applies with the public intake key, is approved, onboards through a plan whose tasks
complete from the programme's own events, and is activated by its completion; its first deal,
registered in the deals service, comes back over Kafka as its time to first deal.
"""

import datetime as dt
import uuid
from typing import Any

import httpx
import pytest

from prm_stack.testing import eventually

pytestmark = pytest.mark.stack


def created(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code in (200, 201), response.text
    return response.json()


def test_applicant_to_active_through_its_onboarding_plan(api, admin):
    tag = uuid.uuid4().hex[:8]
    agreement, certification = f"reseller-{tag}", f"SEC-{tag}".upper()
    created(api.post("/v1/agreements", headers=admin, json={
        "code": agreement, "title": "Reseller Agreement", "required": True}))
    agreement_id = api.get("/v1/agreements", headers=admin, params={"limit": 100}).json()
    found = next(a for a in agreement_id["items"] if a["code"] == agreement)
    created(api.post(f"/v1/agreements/{found['id']}/versions", headers=admin, json={
        "effective_on": (dt.date.today() - dt.timedelta(days=1)).isoformat(),
        "term_months": 12}))
    created(api.post("/v1/certification-types", headers=admin, json={
        "code": certification, "name": "Security Fundamentals", "validity_months": 24,
        "required": True}))
    created(api.post("/v1/onboarding-templates", headers=admin, json={
        "name": f"MSSP onboarding {tag}", "partner_types": ["mssp"], "activates_partner": True,
        "tasks": [
            {"key": "sign", "title": "Sign the reseller agreement", "kind": "agreement_signed",
             "params": {"agreement": agreement}, "due_in_days": 14},
            {"key": "certify", "title": "Earn Security Fundamentals",
             "kind": "certification_earned", "params": {"certification": certification},
             "due_in_days": 30}]}))

    # a prospect applies through the public intake key, and a channel manager approves it
    intake = api.post("/v1/api-keys", headers=admin, json={
        "name": "website form", "kind": "vendor", "scopes": ["partner_applications:write"]})
    intake_key = {"Authorization": f"Bearer {created(intake)['key']}"}
    application = eventually(lambda: (r := api.post(
        "/v1/partner-applications", headers=intake_key, json={
            "company_name": f"Northwind Security {tag}", "type": "mssp", "country": "GB",
            "website_domain": f"northwind-{tag}.example",
            "contact": {"name": "Priya Shah", "email": f"priya@northwind-{tag}.example"}})
        ).status_code == 201 and r.json(), "the intake key reaching the partners service")
    assert application["fit"] is None  # the form learns nothing of the vendor's rating
    approved = created(api.post(f"/v1/partner-applications/{application['id']}/approve",
                                headers=admin, json={"reason": "UK SOC coverage"}))
    partner_id = approved["partner_id"]
    partner = created(api.get(f"/v1/partners/{partner_id}", headers=admin))
    assert partner["status"] == "onboarding"

    # entering onboarding started its plan (from prm.partner.created.v1, through the broker)
    def plan() -> dict[str, Any] | None:
        answer = api.get(f"/v1/partners/{partner_id}/onboarding", headers=admin)
        return answer.json() if answer.status_code == 200 else None

    started = eventually(plan, "the onboarding plan")
    assert [t["status"] for t in started["tasks"]] == ["open", "open"]

    # the agreement signed and the certification earned complete the tasks, by their events
    created(api.post(f"/v1/partners/{partner_id}/agreements", headers=admin, json={
        "agreement": agreement, "signed_on": dt.date.today().isoformat(),
        "signer_name": "Priya Shah"}))
    created(api.post(f"/v1/partners/{partner_id}/certifications", headers=admin, json={
        "code": certification, "earned_on": dt.date.today().isoformat(), "source": "lms",
        "lms_record_id": f"enrol-{tag}"}))
    done = eventually(lambda: (p := plan()) and p["completed_at"] and p,
                      "the plan's completion")
    assert [t["status"] for t in done["tasks"]] == ["done", "done"]
    active = eventually(lambda: (p := api.get(f"/v1/partners/{partner_id}", headers=admin)
                                 .json())["status"] == "active" and p,
                        "the activation by the completed plan")
    assert active["status_reason"] == "onboarding plan completed"
    compliance = created(api.get(f"/v1/partners/{partner_id}/compliance", headers=admin))
    assert [g for g in compliance["gaps"] if g["code"] in (agreement, certification)] == []

    # its first deal, registered in the deals service, is its time to first deal
    key = created(api.post("/v1/api-keys", headers=admin, json={
        "name": "northwind crm", "kind": "partner", "partner_id": partner_id}))
    own = {"Authorization": f"Bearer {key['key']}"}
    eventually(lambda: api.post("/v1/deals", headers=own, json={
        "customer": {"name": f"Initech {tag}", "domain": f"initech-{tag}.example",
                     "country": "GB"},
        "amount": {"amount": "42000.00", "currency": "GBP"},
        "expected_close_date": (dt.date.today() + dt.timedelta(days=60)).isoformat()}
    ).status_code == 201, "the partner's first registration")
    activity = eventually(lambda: (a := api.get(f"/v1/partners/{partner_id}/activity",
                                                headers=own).json())
                          .get("time_to_first_deal") is not None and a,
                          "the time to first deal")
    assert activity["first_deal"] is not None
    assert activity["time_to_first_deal"]["seconds"] >= 0
