"""A lead through the whole stack, every service and worker running as processes, through the
edge with real API keys: a partner serving the lead's country is created and activated in the
partners service and learnt by the deals service's directory over the broker; a vendor key
sets a routing rule; a webhook endpoint subscribes to the leads' events; the marketing intake
key (``lead_intake:write`` and nothing else) submits the lead; the partner's own key sees it
offered, accepts it and converts it to a deal registration that keeps the lead as its source.
A real HTTP receiver gets every lead event signed (Standard Webhooks), and the attribution
service records the registration's sourcing touch on the deal.

The stack is the delivering modules' own (``shared_delivering_stack`` in conftest.py, with its own
broker): the webhooks service must deliver over plain HTTP to a loopback receiver, which the
session's shared stack refuses, as it should.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import httpx
import pytest

from prm_stack.launch import RunningStack
from prm_stack.testing import eventually

from .delivering import Receiver, new_key, ok

pytestmark = pytest.mark.stack

LEAD_EVENTS = ("prm.lead.received.v1", "prm.lead.assigned.v1", "prm.lead.accepted.v1",
               "prm.lead.converted.v1")
COUNTRY = "PT"  # the lead's: the partner's home is elsewhere, it serves PT


@pytest.fixture(scope="module")
def stack(shared_delivering_stack: RunningStack) -> RunningStack:
    """The services a lead's path touches, among those of the shared stack."""
    return shared_delivering_stack


def test_a_lead_from_intake_to_a_registration_with_its_events_and_attribution(
        stack: RunningStack, api: httpx.Client, receiver: Receiver) -> None:
    admin = {"Authorization": f"Bearer {stack.admin_key}"}
    eventually(lambda: api.get("/v1/leads", headers=admin).status_code == 200,
               "the admin key reaching the deals service", timeout=60)
    tag = uuid.uuid4().hex[:8]

    # The partner, serving the lead's country, active.
    partner = ok(api.post("/v1/partners", headers=admin, json={
        "name": f"Lisbon Cloud {tag}", "type": "reseller", "country": "ES",
        "countries_served": ["ES", COUNTRY]}), 201)
    partner_id = partner["id"]
    assert ok(api.post(f"/v1/partners/{partner_id}/activate", headers=admin))[
        "status"] == "active"

    # The routing: a vendor key that may read and write leads (and nothing else).
    routing = new_key(api, admin, "lead routing", ["leads:read", "leads:write"])
    rule_body = {"name": f"Iberia {tag}", "conditions": {"countries": [COUNTRY]},
                 "partners": {"serves_lead_country": True}, "respond_within_hours": 24}
    rule = eventually(lambda: (r := api.post("/v1/lead-routing-rules", headers=routing,
                                             json=rule_body)).status_code == 201 and r.json(),
                      "the routing key reaching the deals service")
    assert rule["enabled"] and rule["version"] == 1

    lead_body = {"external_id": f"form-{tag}",
                 "company": {"name": f"Tejo Logistics {tag}", "domain": f"tejo-{tag}.example",
                             "country": COUNTRY},
                 "industry": "logistics", "size": "medium", "language": "pt",
                 "contact": {"name": "Ana Costa", "email": f"ana@tejo-{tag}.example"},
                 "estimated_amount": {"amount": "18000.00", "currency": "EUR"}}

    # The deals service's directory knows the partner, active and serving PT: the dry run
    # (which writes nothing) offers it the lead.
    def routed_to_partner() -> dict[str, Any] | None:
        answer = ok(api.post("/v1/lead-routing-rules/dry-run", headers=routing,
                             json=lead_body))
        return answer if answer["partner_id"] == partner_id else None

    dry = eventually(routed_to_partner, "the partner reaching the deals directory", timeout=90)
    assert dry["status"] == "offered" and dry["explanation"]["rule_id"] == rule["id"]

    # The webhook endpoint, for every lead event.
    endpoint = ok(api.post("/v1/webhook-endpoints", headers=admin, json={
        "url": receiver.url, "description": "leads into the CRM",
        "event_types": ["prm.lead.*"]}), 201)
    assert endpoint["event_types"] == ["prm.lead.*"]
    receiver.secret = endpoint["secret"]

    # The marketing intake key: lead_intake:write only.
    intake = new_key(api, admin, "web forms", ["lead_intake:write"])
    submitted = eventually(lambda: (r := api.post(
        "/v1/lead-intake", headers={**intake, "Idempotency-Key": f"intake-{tag}"},
        json=lead_body)).status_code == 201 and r,
        "the intake key reaching the deals service")
    lead_id = submitted.json()["id"]
    assert "status" not in submitted.json()  # the intake key learns nothing of where it went
    lead = api.get(f"/v1/leads/{lead_id}", headers=routing).json()
    assert (lead["status"], lead["partner_id"], lead["source"], lead["flagged"]) == (
        "offered", partner_id, "vendor", False)
    # ... and nothing else: it may not read what it submitted.
    assert api.get(f"/v1/leads/{lead_id}", headers=intake).status_code == 403

    # The partner's own key sees it offered, with why (the reason, not the explanation).
    mine = new_key(api, admin, "partner crm", ["leads:read", "leads:write", "deals:read",
                                               "deals:write"], partner_id)
    offered = eventually(lambda: (r := api.get("/v1/leads", headers=mine, params={
        "status": "offered"})).status_code == 200 and r.json()["items"],
        "the partner key reaching the deals service")
    assert [item["id"] for item in offered] == [lead_id]
    [offer] = ok(api.get(f"/v1/leads/{lead_id}/assignments", headers=mine))["items"]
    assert (offer["partner_id"], offer["reason"], offer["outcome"], offer["explanation"]) == (
        partner_id, "routed", "pending", None)
    [explained] = ok(api.get(f"/v1/leads/{lead_id}/assignments", headers=routing))["items"]
    assert explained["explanation"]["rule_id"] == rule["id"]

    # It accepts it with the ETag it read, and converts it.
    read = api.get(f"/v1/leads/{lead_id}", headers=mine)
    ok(read)
    accepted = api.post(f"/v1/leads/{lead_id}/accept", headers={
        **mine, "If-Match": read.headers["etag"]})
    assert ok(accepted)["status"] == "accepted"
    stale = api.post(f"/v1/leads/{lead_id}/accept", headers={
        **mine, "If-Match": read.headers["etag"]})
    assert stale.status_code == 412, stale.text
    close = (dt.date.today() + dt.timedelta(days=60)).isoformat()
    converted = api.post(f"/v1/leads/{lead_id}/convert", headers={
        **mine, "If-Match": accepted.headers["etag"]}, json={
        "expected_close_date": close, "amount": {"amount": "21000.00", "currency": "EUR"}})
    deal = ok(converted, 201)
    deal_id = deal["id"]
    assert converted.headers["location"] == f"/v1/deals/{deal_id}"
    assert (deal["source_lead_id"], deal["partner_id"], deal["amount"],
            deal["expected_close_date"]) == (
        lead_id, partner_id, {"amount": "21000.00", "currency": "EUR"}, close)
    assert deal["customer"]["domain"] == f"tejo-{tag}.example"
    after = ok(api.get(f"/v1/leads/{lead_id}", headers=mine))
    assert (after["status"], after["deal_id"]) == ("converted", deal_id)
    assert ok(api.get(f"/v1/deals/{deal_id}", headers=mine))["source_lead_id"] == lead_id

    # Every lead event reached the receiver, signed (refused otherwise), once each.
    def delivered() -> list[str] | None:
        types = [p["type"] for p in receiver.of_lead(lead_id)]
        return types if set(LEAD_EVENTS) <= set(types) else None

    types = eventually(delivered, f"the lead's events at the receiver ({LEAD_EVENTS})",
                       timeout=60)
    assert receiver.refused == [] or all("before the endpoint's secret" in r
                                         for r in receiver.refused), receiver.refused
    assert sorted(types) == sorted(LEAD_EVENTS), types
    by_type = {p["type"]: p for p in receiver.of_lead(lead_id)}
    assert by_type["prm.lead.assigned.v1"]["data"]["partner_id"] == partner_id
    assert by_type["prm.lead.converted.v1"]["data"]["deal_id"] == deal_id
    assert len({p["webhook-id"] for p in receiver.of_lead(lead_id)}) == len(LEAD_EVENTS)

    # Attribution learnt the registration over the broker: the partner's sourcing touch.
    def touches() -> list[dict[str, Any]] | None:
        answer = api.get("/v1/touchpoints", headers=admin, params={"deal_id": deal_id})
        return answer.status_code == 200 and answer.json()["items"] or None

    [touch] = eventually(touches, "the registration's touch in attribution", timeout=60)
    assert (touch["kind"], touch["partner_id"], touch["deal_id"], touch["source"]) == (
        "registration", partner_id, deal_id, "event")
    explained_deal = eventually(lambda: (r := api.get(
        f"/v1/attributed-deals/{deal_id}/explanation", headers=admin)).status_code == 200
        and r.json(), "the deal's attribution")
    assert [t["kind"] for t in explained_deal["touches"]] == ["registration"]
    assert [p["partner_id"] for p in explained_deal["partners"]] == [partner_id]
