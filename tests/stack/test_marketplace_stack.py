"""A cloud marketplace private offer through the whole stack, every service and worker running
as processes, through the edge with real API keys: a partner is created and activated in the
partners service and learnt by the deals service over the broker; it registers a deal, which
the vendor approves; the vendor makes an AWS channel partner private offer for it and
publishes it; the marketplace integration's key (``marketplace_events:write`` and nothing else)
delivers AWS's signed `Agreement Status Changed` event: the agreement is active, the deal is
won for the vendor's net, and the incentives service accrues the partner's rebate on that net
from ``prm.deal.won.v1``. The same event again changes nothing.

The stack is the delivering modules' own (``shared_delivering_stack`` in conftest.py): the deals
service needs the intake's signing secret (``PRM_DEALS_MARKETPLACE_SECRET``).
"""

from __future__ import annotations

import datetime as dt
import json
import time
import uuid
from typing import Any

import httpx
import pytest

from prm_platform.signatures import signature_header
from prm_stack.launch import RunningStack
from prm_stack.testing import eventually

from .delivering import MARKETPLACE_SECRET, new_key, ok

pytestmark = pytest.mark.stack

SECRET = MARKETPLACE_SECRET


@pytest.fixture(scope="module")
def stack(shared_delivering_stack: RunningStack) -> RunningStack:
    """The services an offer's acceptance touches, among those of the shared stack."""
    return shared_delivering_stack


def signed(body: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
    raw = json.dumps(body).encode()
    return raw, {"Content-Type": "application/json",
                 "Marketplace-Signature": signature_header(SECRET.encode(), int(time.time()),
                                                           raw)}


def test_an_accepted_offer_wins_the_deal_and_accrues_the_rebate_on_the_net(
        stack: RunningStack, api: httpx.Client) -> None:
    admin = {"Authorization": f"Bearer {stack.admin_key}"}
    eventually(lambda: api.get("/v1/marketplace-offers", headers=admin).status_code == 200,
               "the admin key reaching the deals service", timeout=60)
    tag = uuid.uuid4().hex[:8]
    today = dt.datetime.now(dt.UTC).date()

    # The rebate programme: 2 % of won deals, in USD.
    programme = ok(api.post("/v1/rebates/programmes", headers=admin, json={
        "name": f"Marketplace resale rebate {tag}", "currency": "USD", "basis": "tier",
        "starts_on": (today - dt.timedelta(days=30)).isoformat(),
        "ends_on": (today + dt.timedelta(days=30)).isoformat(), "rules": [{"rate": "2"}]}),
        201)

    # The partner, active; its key registers a deal, which the vendor approves.
    partner = ok(api.post("/v1/partners", headers=admin, json={
        "name": f"Cloud Resale {tag}", "type": "reseller", "country": "US"}), 201)
    partner_id = partner["id"]
    ok(api.post(f"/v1/partners/{partner_id}/activate", headers=admin))
    own = new_key(api, admin, "partner crm", ["deals:read", "deals:write", "marketplace:read",
                                              "incentives:read"], partner_id)
    key = f"deal-{tag}"
    deal = eventually(lambda: (r := api.post(
        "/v1/deals", headers={**own, "Idempotency-Key": key}, json={
            "customer": {"name": f"Vandelay {tag} Inc.", "domain": f"vandelay-{tag}.example",
                         "country": "US"},
            "amount": {"amount": "120000.00", "currency": "USD"},
            "expected_close_date": (today + dt.timedelta(days=45)).isoformat()})
        ).status_code == 201 and r.json(), "the partner reaching the deals service",
        timeout=90)
    ok(api.post(f"/v1/deals/{deal['id']}/approve", headers=admin))

    # The vendor's offer, published: 100,000 wholesale, 15,000 markup, AWS's 3 %.
    offer_id = f"offer-{tag}"
    offer = ok(api.post("/v1/marketplace-offers", headers={
        **admin, "Idempotency-Key": f"offer-{tag}"}, json={
        "deal_id": deal["id"], "marketplace": "aws", "kind": "aws_cppo",
        "external_offer_id": offer_id,
        "wholesale_price": {"amount": "100000.00", "currency": "USD"},
        "partner_markup": {"amount": "15000.00", "currency": "USD"},
        "marketplace_fee": {"percent": "3"}, "duration_months": 12}), 201)
    read = api.get(f"/v1/marketplace-offers/{offer['id']}", headers=admin)
    published = ok(api.post(f"/v1/marketplace-offers/{offer['id']}/publish", headers={
        **admin, "If-Match": read.headers["etag"]}))
    assert (published["status"], published["marketplace_status"]) == ("published", "RELEASED")
    assert published["money"]["vendor_net"] == {"amount": "97000.00", "currency": "USD"}

    # AWS's event, signed, through the edge with the integration's key.
    integration = new_key(api, admin, "aws marketplace", ["marketplace_events:write"])
    event = {"version": "0", "id": f"evt-{tag}", "source": "aws.marketplace",
             "detail-type": "Agreement Status Changed",
             "detail": {"offerId": offer_id, "agreementId": f"agmt-{tag}", "status": "ACTIVE"}}
    raw, headers = signed(event)
    answer = eventually(lambda: (r := api.post("/v1/marketplace-events", content=raw, headers={
        **integration, **headers})).status_code == 200 and r.json(),
        "the integration's key reaching the deals service")
    assert (answer["outcome"], answer["status"], answer["deal"]["outcome"]) == (
        "applied", "active", "won")
    won = ok(api.get(f"/v1/deals/{deal['id']}", headers=own))
    assert won["status"] == "won"
    # the integration's key may do nothing else
    assert api.get(f"/v1/marketplace-offers/{offer['id']}",
                   headers=integration).status_code == 403
    # a forged delivery is refused
    forged = api.post("/v1/marketplace-events", content=raw.replace(b"ACTIVE", b"EXPIRED"),
                      headers={**integration, **headers})
    assert forged.status_code == 403 and forged.json()["type"] == "/problems/invalid-signature"

    # The rebate accrues over the broker, on the vendor's net: 2 % of 97,000.00 = 1,940.00.
    def accrued() -> list[dict[str, Any]]:
        return ok(api.get("/v1/rebates/accruals", headers=admin, params={
            "deal_id": deal["id"]}))["items"]

    [accrual] = eventually(accrued, "the rebate accrual from prm.deal.won.v1", timeout=90)
    assert accrual["programme_id"] == programme["id"]
    assert accrual["partner_id"] == partner_id
    assert accrual["deal_amount"] == {"amount": "97000.00", "currency": "USD"}
    assert accrual["amount"] == {"amount": "1940.00", "currency": "USD"}

    # The same event again: the same answer, and nothing more accrues.
    replay = ok(api.post("/v1/marketplace-events", content=raw, headers={
        **integration, **signed(event)[1]}))
    assert replay == {**answer, "duplicate": True}
    time.sleep(2)
    assert len(accrued()) == 1
    mine = ok(api.get(f"/v1/marketplace-offers/{offer['id']}/history", headers=own))["items"]
    assert [(h["status"], h["source"]) for h in mine] == [
        ("draft", "api"), ("published", "api"), ("active", "event")]
