"""Attribution through the edge, every service and worker running as processes: deals are
registered, approved and won in the deals service by two resellers, a systems integrator's
influence is recorded through ``/v1/touchpoints``, and the credits and KPIs read back from the
attribution service (which learnt the deals over Kafka) match values computed by hand, to the
minor unit.
"""

import datetime as dt
import functools
import uuid
from typing import Any

import httpx
import pytest

from prm_stack.testing import eventually

pytestmark = pytest.mark.stack


def ok(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code in (200, 201), response.text
    return response.json()


def partner(api, admin, type_: str) -> tuple[str, dict[str, str]]:
    created = ok(api.post("/v1/partners", headers=admin, json={
        "name": f"{type_.title()} {uuid.uuid4().hex[:8]}", "type": type_, "country": "DE"}))
    ok(api.post(f"/v1/partners/{created['id']}/activate", headers=admin))
    key = ok(api.post("/v1/api-keys", headers=admin, json={
        "name": "crm", "kind": "partner", "partner_id": created["id"],
        "scopes": ["deals:read", "deals:write", "attribution:read", "attribution:write"]}))
    return created["id"], {"Authorization": f"Bearer {key['key']}"}


def register(api, headers, name: str, amount: str, currency: str) -> str:
    """Registers once the partner's standing reached the deals service (same key, retried)."""
    idempotency = str(uuid.uuid4())
    body = {"customer": {"name": name, "domain": f"{name.lower().replace(' ', '-')}.example",
                         "country": "DE"},
            "amount": {"amount": amount, "currency": currency},
            "expected_close_date": (dt.date.today() + dt.timedelta(days=90)).isoformat()}
    response = eventually(lambda: (r := api.post(
        "/v1/deals", headers={**headers, "Idempotency-Key": idempotency}, json=body)
    ).status_code != 422 and r, "the partner becoming eligible")
    deal = ok(response)
    assert deal["status"] == "submitted", deal
    return deal["id"]


def explanation(api, admin, deal_id: str, touches: int, basis: str) -> dict[str, Any]:
    def read() -> dict[str, Any] | None:
        answer = api.get(f"/v1/attributed-deals/{deal_id}/explanation", headers=admin)
        if answer.status_code != 200:
            return None
        found = answer.json()
        return found if (len(found["touches"]) == touches and found["basis"] == basis) \
            else None
    return eventually(read, f"the attribution of {deal_id} ({touches} touches, {basis})")


def credits(explained: dict[str, Any], model: str) -> dict[str, str]:
    return {p["partner_id"]: p["credits"][model]["amount"]["amount"]
            for p in explained["partners"]}


def test_credits_and_kpis_of_deals_won_through_the_deals_service(api, admin):
    tag = uuid.uuid4().hex[:6]
    r1, r1_key = partner(api, admin, "reseller")
    r2, r2_key = partner(api, admin, "reseller")
    si, _ = partner(api, admin, "si")
    # CHF, which no other test uses: the rate below is the only one of its currency.
    # Recorded at the incentives ledger, the one owner of FX rates; the attribution service
    # learns it over Kafka.
    ok(api.post("/v1/ledger/fx-rates", headers=admin, json={
        "base": "CHF", "quote": "EUR", "rate": "1.05", "effective_on": "2001-01-01"}))

    d1 = register(api, r1_key, f"Zeta{tag} Robotics", "10000.00", "EUR")
    d2 = register(api, r2_key, f"Omicron{tag} Foods", "2000.00", "CHF")
    d3 = register(api, r1_key, f"Kappa{tag} Mining", "3000.00", "EUR")
    for deal in (d1, d2, d3):
        ok(api.post(f"/v1/deals/{deal}/approve", headers=admin, json={}))
    # The registrations reached the attribution service as sourcing touches (all three: a
    # touch for a deal it has not learnt yet is a 404).
    for deal in (d1, d2, d3):
        explanation(api, admin, deal, 1, "pipeline")
    now = dt.datetime.now(dt.UTC)
    # The SI's workshop on R1's deal and its implementation plan on R2's, after the
    # registrations (so the registration is the first touch, the SI's the last).
    ok(api.post("/v1/touchpoints", headers=admin, json={
        "partner_id": si, "deal_id": d1, "kind": "consulting", "occurred_at": now.isoformat(),
        "evidence": {"description": "Architecture workshop", "reference": f"WS-{tag}"}}))
    ok(api.post("/v1/touchpoints", headers=admin, json={
        "partner_id": si, "deal_id": d2, "kind": "implementation",
        "occurred_at": now.isoformat(), "evidence": {"description": "Implementation plan"}}))
    # A partner key records its own touch on its own deal; not on another org's.
    ok(api.post("/v1/touchpoints", headers=r1_key, json={
        "deal_id": d3, "kind": "marketing", "occurred_at": now.isoformat(),
        "evidence": {"description": "Joint webinar"}}))
    refused = api.post("/v1/touchpoints", headers=r1_key, json={
        "deal_id": d2, "kind": "co_sell", "occurred_at": now.isoformat(),
        "evidence": {"description": "Not mine"}})
    assert refused.status_code == 404, refused.text

    ok(api.post(f"/v1/deals/{d1}/win", headers=r1_key, json={}))
    ok(api.post(f"/v1/deals/{d2}/win", headers=admin, json={}))
    one = explanation(api, admin, d1, 2, "won")
    two = explanation(api, admin, d2, 2, "won")

    assert [t["kind"] for t in one["touches"]] == ["registration", "consulting"]
    assert {p["partner_id"]: p["role"] for p in one["partners"]} == {r1: "sourced",
                                                                    si: "influenced"}
    # 10000.00 EUR over two touches (registration first, the SI's workshop last).
    assert credits(one, "first_touch") == {r1: "10000.00", si: "0.00"}
    assert credits(one, "last_touch") == {r1: "0.00", si: "10000.00"}
    assert credits(one, "linear") == {r1: "5000.00", si: "5000.00"}
    assert credits(one, "position_based") == {r1: "5000.00", si: "5000.00"}
    # W-shaped: the registration is the first touch and the creation (60%), the SI's the last
    # (30%): 2/3 and 1/3 of 1000000 minor units, the one left over to the larger remainder.
    assert credits(one, "w_shaped") == {r1: "6666.67", si: "3333.33"}
    # Custom weights 3 (registration) : 1 (consulting).
    assert credits(one, "custom_weights") == {r1: "7500.00", si: "2500.00"}
    for model in one["models"]:  # every model credits exactly the amount
        assert sum(int(v.replace(".", "")) for v in credits(one, model).values()) == 1000000
    assert credits(two, "linear") == {r2: "1000.00", si: "1000.00"}
    assert credits(two, "custom_weights") == {r2: "1500.00", si: "500.00"}
    assert two["amount"] == {"amount": "2000.00", "currency": "CHF"}

    # The reseller's own key sees its own credit, not the SI's.
    own = ok(api.get(f"/v1/attributed-deals/{d1}/explanation", headers=r1_key))
    assert [p["partner_id"] for p in own["partners"]] == [r1]
    assert api.get(f"/v1/attributed-deals/{d2}/explanation",
                   headers=r1_key).status_code == 404

    today = dt.date.today()
    start, end = today - dt.timedelta(days=1), today + dt.timedelta(days=2)
    ok(api.post("/v1/attribution-vendor-figures", headers=admin, json={
        "kind": "total_pipeline", "period_from": start.isoformat(),
        "period_to": end.isoformat(), "amount": {"amount": "30000.00", "currency": "EUR"}}))

    # The partners' own events (name, type, joining) reach the attribution service's
    # directory by their own consumer, independently of the deals' events waited for above.
    def named(partner_id: str) -> str | None:
        [row] = ok(api.get("/v1/attribution-kpis", headers=admin, params={
            "from": start.isoformat(), "to": end.isoformat(), "model": "linear",
            "partner_id": partner_id}))["items"]
        return row["partner_name"]

    for partner_id in (r1, r2, si):
        eventually(functools.partial(named, partner_id),
                   "the partner's events reaching the attribution directory", timeout=90)

    def kpis(partner_id: str, model: str, headers=admin) -> dict[str, Any]:
        [row] = ok(api.get("/v1/attribution-kpis", headers=headers, params={
            "from": start.isoformat(), "to": end.isoformat(), "model": model,
            "partner_id": partner_id}))["items"]
        return row

    eur = lambda amount: {"amount": amount, "currency": "EUR"}  # noqa: E731
    reseller = kpis(r1, "linear")
    assert reseller["sourced_revenue"] == eur("5000.00")
    assert reseller["influenced_revenue"] == eur("0.00")
    # The open deal: R1's registration and its own webinar, all R1's.
    assert reseller["sourced_pipeline"] == eur("3000.00")
    assert reseller["pipeline_contribution"] == "0.1000"  # 3000 of the vendor's 30000
    assert (reseller["registrations"], reseller["registrations_won"],
            reseller["registrations_decided"], reseller["win_rate"]) == (2, 1, 1, "1.0000")
    assert reseller["time_to_first_deal_days"] is not None
    assert set(reseller["deal_ids"]) == {d1, d3}
    assert reseller["programme_cost"] == eur("0.00") and reseller["ropi"] is None
    # The SI: half of each won deal; 1000.00 CHF at 1.05 is 1050.00 EUR.
    integrator = eventually(lambda: (row := kpis(si, "linear"))["fx_rates_used"] and row,
                            "the ledger's CHF rate reaching the attribution service")
    assert integrator["influenced_revenue"] == eur("6050.00")
    assert integrator["sourced_revenue"] == eur("0.00")
    assert integrator["registrations"] == 0 and integrator["win_rate"] is None
    assert set(integrator["deal_ids"]) == {d1, d2}
    assert integrator["fx_rates_used"] == [{"currency": "CHF", "rate": "1.0500000000",
                                            "valid_on": "2001-01-01"}]
    # Custom weights: 2500.00 + 500.00 CHF (525.00 EUR).
    assert kpis(si, "custom_weights")["influenced_revenue"] == eur("3025.00")
    assert kpis(r2, "custom_weights")["sourced_revenue"] == eur("1575.00")
    # A partner key reads its own row only, whatever it asks for.
    assert kpis(r1, "linear", r1_key)["sourced_revenue"] == eur("5000.00")
    others = ok(api.get("/v1/attribution-kpis", headers=r1_key, params={
        "from": start.isoformat(), "to": end.isoformat(), "partner_id": si}))["items"]
    assert others == []
    assert api.get("/v1/attribution-kpis/programme", headers=r1_key, params={
        "from": start.isoformat(), "to": end.isoformat()}).status_code == 403
