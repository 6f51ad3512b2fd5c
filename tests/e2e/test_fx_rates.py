"""One owner of the FX rates, every service and worker running as processes: a rate recorded
once at the incentives ledger (``POST /v1/ledger/fx-rates``) reaches, through the broker, the
partners' tiers and the attribution KPIs, which convert the same won deal with it to the same
minor unit. The contexts that only read rates have no endpoint to record one any more.
"""

import datetime as dt
import uuid
from typing import Any

import httpx
import pytest

from prm_stack.testing import eventually

pytestmark = pytest.mark.stack

# SEK, which no other test uses: this is the only rate of its currency the stack knows.
RATE = {"base": "SEK", "quote": "EUR", "rate": "0.0875", "effective_on": "2002-01-01"}


def ok(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code in (200, 201), response.text
    return response.json()


def test_a_rate_set_once_reaches_all_three_contexts(api, admin):
    created = ok(api.post("/v1/partners", headers=admin, json={
        "name": f"Nordic Reseller {uuid.uuid4().hex[:8]}", "type": "reseller",
        "country": "SE"}))
    partner_id = created["id"]
    ok(api.post(f"/v1/partners/{partner_id}/activate", headers=admin))

    rate = api.post("/v1/ledger/fx-rates", headers=admin, json=RATE)
    assert rate.status_code == 201, rate.text
    # The owner lists it; the two contexts that keep projections record none themselves.
    listed = ok(api.get("/v1/ledger/fx-rates", headers=admin, params={"base": "SEK"}))
    assert [(r["id"], r["quote"]) for r in listed["items"]] == [(rate.json()["id"], "EUR")]
    assert api.put("/v1/fx-rates/SEK/EUR/2002-01-01", headers=admin,
                   json={"rate": "1"}).status_code == 404
    assert api.post("/v1/attribution-fx-rates", headers=admin, json={
        "currency": "SEK", "rate": "1", "valid_on": "2002-01-01"}).status_code == 404

    # A deal of 12345.67 SEK, registered, approved and won through the deals service.
    tag = uuid.uuid4().hex[:6]
    idempotency = str(uuid.uuid4())
    body = {"partner_id": partner_id,
            "customer": {"name": f"Vasa{tag} Shipping", "domain": f"vasa-{tag}.example",
                         "country": "SE"},
            "amount": {"amount": "12345.67", "currency": "SEK"},
            "expected_close_date": (dt.date.today() + dt.timedelta(days=30)).isoformat()}
    registered = eventually(lambda: (r := api.post(
        "/v1/deals", headers={**admin, "Idempotency-Key": idempotency}, json=body)
    ).status_code != 422 and r, "the partner becoming eligible to register")
    deal_id = ok(registered)["id"]
    ok(api.post(f"/v1/deals/{deal_id}/approve", headers=admin, json={}))
    ok(api.post(f"/v1/deals/{deal_id}/win", headers=admin, json={}))

    # 12345.67 SEK x 0.0875 = 1080.2461... EUR: 1080.25 in both contexts, with the rate named.
    def tier_revenue() -> dict[str, Any] | None:
        criteria = ok(api.get(f"/v1/partners/{partner_id}/tier", headers=admin))["criteria"]
        return criteria if criteria["rates_used"] else None

    criteria = eventually(tier_revenue, "the rate and the won deal reaching the tiers",
                          timeout=90)
    assert criteria["revenue"] == {"amount": "1080.25", "currency": "EUR"}
    assert criteria["rates_used"] == [{
        "currency": "SEK", "rate": "0.0875", "effective_on": "2002-01-01", "deals": 1,
        "amount": "12345.67", "base_amount": "1080.25"}]

    today = dt.date.today()
    period = {"from": (today - dt.timedelta(days=1)).isoformat(),
              "to": (today + dt.timedelta(days=2)).isoformat(), "model": "linear",
              "partner_id": partner_id}

    def kpis() -> dict[str, Any] | None:
        items = ok(api.get("/v1/attribution-kpis", headers=admin, params=period))["items"]
        return items[0] if items and items[0]["fx_rates_used"] else None

    row = eventually(kpis, "the rate and the won deal reaching the attribution KPIs",
                     timeout=90)
    assert row["sourced_revenue"] == {"amount": "1080.25", "currency": "EUR"}
    assert row["fx_rates_used"] == [{"currency": "SEK", "rate": "0.0875000000",
                                     "valid_on": "2002-01-01"}]
