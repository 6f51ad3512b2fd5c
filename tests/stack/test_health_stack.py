"""Partner health through the whole stack, every service and worker running as processes,
through the edge with real API keys: a partner's deals, certifications and survey answers
flow in through their services' APIs and over the broker into the portal, whose worker scores
it; its score, pillars and band equal what a hand computes; a decline (a poor PSAT answer)
moves it into a worse band, and a real webhook receiver gets exactly one event for it.

The stack is the delivering modules' own (``shared_delivering_stack`` in conftest.py, with its own
broker): the webhooks service must deliver over plain HTTP to a loopback receiver, which the
session's shared stack refuses, as it should.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from typing import Any

import httpx
import pytest

from prm_stack.launch import RunningStack
from prm_stack.testing import eventually

from .delivering import Receiver, bearer, ok

pytestmark = pytest.mark.stack

BAND_EVENT = "prm.partner.health_band_changed.v1"
MODEL = {
    "currency": "EUR",
    "pillars": [
        {"key": "revenue", "name": "Revenue", "weight": 50, "measures": [
            {"measure": "revenue_won", "window": "90d", "target": "10000"}]},
        {"key": "enablement", "name": "Enablement", "weight": 30, "measures": [
            {"measure": "active_certifications", "window": "lifetime", "target": "4"}]},
        {"key": "satisfaction", "name": "Satisfaction", "weight": 20, "measures": [
            {"measure": "psat", "window": "90d", "target": "5", "floor": "1"}]},
    ],
    "bands": [{"name": "healthy", "min_score": "65"}, {"name": "watch", "min_score": "40"},
              {"name": "at_risk", "min_score": "0"}],
}


@pytest.fixture(scope="module")
def stack(shared_delivering_stack: RunningStack) -> RunningStack:
    """The services a partner's facts pass through (the shared stack scores every second)."""
    return shared_delivering_stack


def test_a_partners_health_from_its_events_and_one_webhook_for_one_decline(
        stack: RunningStack, api: httpx.Client, receiver: Receiver) -> None:
    admin = {"Authorization": f"Bearer {stack.admin_key}"}
    eventually(lambda: api.get("/v1/health-model", headers=admin).status_code == 200,
               "the admin key reaching the portal", timeout=60)
    tag = uuid.uuid4().hex[:8]
    today = dt.date.today()

    current = api.get("/v1/health-model", headers=admin)
    ok(api.put("/v1/health-model", headers={**admin, "If-Match": current.headers["etag"]},
               json=MODEL))
    endpoint = ok(api.post("/v1/webhook-endpoints", headers=admin, json={
        "url": receiver.url, "description": "partner health into the CRM",
        "event_types": [BAND_EVENT]}), 201)
    receiver.secret = endpoint["secret"]

    partner = ok(api.post("/v1/partners", headers=admin, json={
        "name": f"Harbour Systems {tag}", "type": "reseller", "country": "DE"}), 201)
    partner_id = partner["id"]
    ok(api.post(f"/v1/partners/{partner_id}/activate", headers=admin))
    crm = bearer(ok(api.post("/v1/api-keys", headers=admin, json={
        "name": "partner crm", "kind": "partner", "partner_id": partner_id,
        "scopes": ["deals:read", "deals:write"]}), 201))

    # A won deal of 7,000 EUR: revenue 7000 / 10000 -> 70 points.
    body = {"customer": {"name": f"Kiel Freight {tag}", "domain": f"kiel-{tag}.example",
                         "country": "DE"},
            "amount": {"amount": "7000.00", "currency": "EUR"},
            "expected_close_date": (today + dt.timedelta(days=30)).isoformat()}
    deal = eventually(lambda: (r := api.post("/v1/deals", headers={
        **crm, "Idempotency-Key": f"deal-{tag}"}, json=body)).status_code == 201 and r.json(),
        "the partner becoming eligible in the deals service", timeout=60)
    ok(api.post(f"/v1/deals/{deal['id']}/approve", headers=admin, json={}))
    ok(api.post(f"/v1/deals/{deal['id']}/win", headers=crm, json={}))

    # Two certifications of four: 50 points.
    for code in ("HLT-1", "HLT-2"):
        ok(api.post("/v1/certification-types", headers=admin, json={
            "code": f"{code}-{tag}", "name": code, "validity_months": 24}), 201)
        ok(api.post(f"/v1/partners/{partner_id}/certifications", headers=admin, json={
            "code": f"{code}-{tag}", "earned_on": today.isoformat()}), 201)
    # PSAT answers 4 and 5: mean 4.5 -> (4.5 - 1) / 4 -> 87.5 points.
    for score in (4, 5):
        ok(api.post("/v1/survey-responses", headers=admin, json={
            "partner_id": partner_id, "kind": "psat", "score": score}), 201)

    # (50 * 70 + 30 * 50 + 20 * 87.5) / 100 = 67.50: healthy.
    def scored(expected: str) -> dict[str, Any] | None:
        card = api.get(f"/v1/partner-health/{partner_id}", headers=admin)
        if card.status_code != 200 or card.json()["health"] is None:
            return None
        return card.json() if card.json()["health"]["score"] == expected else None

    card = eventually(lambda: scored("67.50"), "the partner scored from all its facts",
                      timeout=90)
    assert card["health"]["band"] == "healthy"
    pillars = {p["key"]: (p["score"], p["contribution"]) for p in card["pillars"]}
    assert pillars == {"revenue": ("70.00", "35.00"), "enablement": ("50.00", "15.00"),
                       "satisfaction": ("87.50", "17.50")}
    [won] = card["pillars"][0]["measures"][0]["evidence"]
    assert (won["kind"], won["ref_id"], won["value"]) == ("deal_won", deal["id"], "7000.00")
    assert card["satisfaction"]["psat"] == "4.50" and card["satisfaction"]["low_sample"]

    # A poor answer: PSAT mean (4 + 5 + 1) / 3 -> 58.33 points -> 61.67: watch.
    ok(api.post("/v1/survey-responses", headers=admin, json={
        "partner_id": partner_id, "kind": "psat", "score": 1}), 201)
    declined = eventually(lambda: scored("61.67"), "the decline scored", timeout=60)
    assert declined["health"]["band"] == "watch"

    # The partner rose through the bands while its facts arrived (each a `better` event);
    # the decline is the one `worse` crossing.
    def delivered() -> list[dict[str, Any]] | None:
        with receiver.lock:
            found = [p for p in receiver.received if p["data"]["partner_id"] == partner_id
                     and p["data"]["direction"] == "worse"]
        return found or None

    [event] = eventually(delivered, "the band crossing at the receiver", timeout=60)
    assert event["type"] == BAND_EVENT
    assert (event["data"]["band"], event["data"]["previous_band"], event["data"]["direction"],
            event["data"]["score"]) == ("watch", "healthy", "worse", "61.67")
    # The scoring job runs every second meanwhile: still one event for one crossing.
    time.sleep(3)
    assert len(delivered() or []) == 1
    # The channel managers were told in their notifications.
    told = eventually(lambda: (r := api.get("/v1/notifications", headers=admin, params={
        "kind": "partner.health_declined", "partner_id": partner_id})).status_code == 200
        and r.json()["items"], "the vendor's notification", timeout=30)
    assert len(told) == 1
