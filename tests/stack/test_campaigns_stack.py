"""Through-channel marketing through the whole stack, every service and worker running as
processes, through the edge with real API keys: the vendor publishes a campaign for Gold
partners in English and German; tiers come from the partners service (a certification makes
Gold) and reach the deals service over the broker. A Silver partner's launch is refused with
its tier named; a Gold partner is told what its brand profile lacks, completes it and launches
in German, paid by an MDF fund request of its own that the vendor approved in the incentives
service. The marketing tool's key (the intake's scope and nothing else) delivers a click
and a form fill, signed: the form fill is a lead, and the attribution worker makes a
``marketing`` touch of each. The partner registers a deal for that company, the vendor approves
it, it is won; with the fund request's claim approved, the campaign's ROI equals what a hand
computes from the figures.

The stack is the delivering modules' own (``shared_delivering_stack`` in conftest.py): the deals
service needs the intake's signing secret (``PRM_DEALS_CAMPAIGN_SECRET``), which the session's
shared stack does not set.
"""

from __future__ import annotations

import datetime as dt
import json
import time
import uuid
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

import httpx
import pytest

from prm_deals.declaration import (
    CAMPAIGN_INTAKE,
    CAMPAIGN_LAUNCHES_READ,
    CAMPAIGN_LAUNCHES_WRITE,
    CAMPAIGNS_READ,
)
from prm_platform.signatures import signature_header
from prm_stack.launch import RunningStack
from prm_stack.testing import eventually

from .delivering import CAMPAIGN_SECRET, new_key, ok

pytestmark = pytest.mark.stack

SECRET = CAMPAIGN_SECRET
PDF_PROOF = b"%PDF-1.4\n% the agency's invoice for the German email send\n"

INVITE_EN = {"key": "invite", "kind": "email", "language": "en",
             "subject": "{{ partner.name }} invites you: zero-trust in a day",
             "html": "<h1>{{ partner.name }}</h1><p>{{ partner.value_proposition }}</p>"
                     "<a href=\"{{ links.trial }}\">Start your trial</a>"}
INVITE_DE = {**INVITE_EN, "language": "de",
             "subject": "{{ partner.name }} lädt Sie ein: Zero Trust an einem Tag",
             "html": "<h1>{{ partner.name }}</h1><p>{{ partner.value_proposition }}</p>"
                     "<a href=\"{{ links.trial }}\">Jetzt testen</a>"}
POST_EN = {"key": "post", "kind": "social_post", "language": "en",
           "text": "{{ partner.tagline }}: try it {{ links.trial }}"}
POST_DE = {**POST_EN, "language": "de",
           "text": "{{ partner.tagline }}: jetzt testen {{ links.trial }}"}


@pytest.fixture(scope="module")
def stack(shared_delivering_stack: RunningStack) -> RunningStack:
    """The services a campaign passes through: the library and launches (deals), tiers
    (partners), the fund request and claim (incentives), the touches and ROI (attribution)."""
    return shared_delivering_stack


def signed(body: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
    raw = json.dumps(body).encode()
    return raw, {"Content-Type": "application/json",
                 "Campaign-Signature": signature_header(SECRET.encode(), int(time.time()), raw)}


def eur(amount: str) -> dict[str, str]:
    return {"amount": amount, "currency": "EUR"}


def test_a_campaign_from_publication_to_its_mdf_roi(stack: RunningStack,
                                                    api: httpx.Client) -> None:
    admin = {"Authorization": f"Bearer {stack.admin_key}"}
    eventually(lambda: api.get("/v1/campaigns", headers=admin).status_code == 200,
               "the admin key reaching the deals service", timeout=60)
    tag = uuid.uuid4().hex[:8]
    today = dt.datetime.now(dt.UTC).date()

    # The tiers: Gold holds one active certification, Silver needs nothing.
    ok(api.post("/v1/tiers", headers=admin, json={"name": "Silver", "rank": 10}), 201)
    ok(api.post("/v1/tiers", headers=admin, json={
        "name": "Gold", "rank": 20, "min_active_certifications": 1}), 201)
    ok(api.post("/v1/certification-types", headers=admin, json={
        "code": f"ZT-{tag}", "name": "Zero-trust specialist", "validity_months": 24}), 201)

    def partner(name: str, certified: bool) -> tuple[str, dict[str, str]]:
        made = ok(api.post("/v1/partners", headers=admin, json={
            "name": f"{name} {tag}", "type": "reseller", "country": "DE"}), 201)
        ok(api.post(f"/v1/partners/{made['id']}/activate", headers=admin))
        if certified:
            ok(api.post(f"/v1/partners/{made['id']}/certifications", headers=admin, json={
                "code": f"ZT-{tag}", "earned_on": today.isoformat()}), 201)
        key = new_key(api, admin, "partner marketing", [
            CAMPAIGNS_READ, CAMPAIGN_LAUNCHES_READ, CAMPAIGN_LAUNCHES_WRITE, "deals:read",
            "deals:write",
            "incentives:read", "incentives:write"], made["id"])
        return made["id"], key

    gold_id, gold = partner("Nordlicht Security", certified=True)
    silver_id, silver = partner("Elbe Networks", certified=False)
    assert ok(api.post(f"/v1/partners/{gold_id}/tier/evaluate", headers=admin))["tier"] == "Gold"
    assert ok(api.post(f"/v1/partners/{silver_id}/tier/evaluate",
                       headers=admin))["tier"] == "Silver"

    # The vendor's campaign, for Gold partners, in English and German, published.
    made = api.post("/v1/campaigns", headers=admin, json={
        "name": f"Zero-trust in a day {tag}", "description": "Demand generation for Gold",
        "audience": {"tiers": ["Gold"]},
        "links": {"trial": "https://www.vendor.example/trial?plan=pro"},
        "default_language": "en", "assets": [INVITE_EN, INVITE_DE, POST_EN, POST_DE]})
    ok(made, 201)
    campaign = ok(api.post(f"/v1/campaigns/{made.json()['id']}/publish", headers={
        **admin, "If-Match": made.headers["etag"]}))
    campaign_id = campaign["id"]
    assert (campaign["status"], campaign["published_version"]) == ("published", 1)
    assert campaign["languages"] == ["de", "en"]
    assert campaign["brand_fields"] == ["name", "tagline", "value_proposition"]

    # Each partner sees it with its availability once its tier reached the deals service.
    def availability(key: dict[str, str], expected: str) -> dict[str, Any] | None:
        seen = api.get(f"/v1/campaigns/{campaign_id}", headers=key)
        if seen.status_code != 200:
            return None
        found: dict[str, Any] = seen.json()["availability"]
        return found if expected in json.dumps(found) else None

    eventually(lambda: availability(gold, '"available": true'),
               "the Gold tier reaching the deals service", timeout=90)
    eventually(lambda: availability(silver, "Silver"),
               "the Silver tier reaching the deals service", timeout=90)

    # The Silver partner's launch is refused, its tier named.
    refused = api.post("/v1/campaign-launches", headers=silver,
                       json={"campaign_id": campaign_id, "language": "de"})
    assert refused.status_code == 403, refused.text
    assert refused.json()["type"].endswith("/problems/campaign-not-available")
    assert refused.json()["unavailable_because"] == ["tier Silver is not one of Gold"]

    # The Gold partner's brand profile lacks what the templates use: told so.
    profile = ok(api.put(f"/v1/brand-profiles/{gold_id}", headers={**gold, "If-Match": '"0"'},
                         json={"name": "Nordlicht Security GmbH",
                               "website": "https://nordlicht.example"}))
    assert profile["version"] == 1
    incomplete = api.post("/v1/campaign-launches", headers=gold,
                          json={"campaign_id": campaign_id, "language": "de"})
    assert incomplete.status_code == 422, incomplete.text
    assert incomplete.json()["type"].endswith("/problems/brand-profile-incomplete")
    assert incomplete.json()["missing"] == ["tagline", "value_proposition"]
    completed = ok(api.put(f"/v1/brand-profiles/{gold_id}", headers={**gold, "If-Match": '"1"'},
                           json={"name": "Nordlicht Security GmbH",
                                 "website": "https://nordlicht.example",
                                 "value_proposition": "Zero Trust für den Mittelstand",
                                 "tagline": "Sicher ab Werk"}))
    assert "tagline" in completed["filled"] and "value_proposition" in completed["filled"]

    # Its MDF fund request, approved by the vendor in the incentives service.
    budget = ok(api.post("/v1/mdf/budgets", headers=admin, json={
        "programme": f"campaigns-{tag}", "period": f"{today.year}-H2",
        "amount": eur("20000.00")}), 201)
    allocation = eventually(lambda: (r := api.post("/v1/mdf/allocations", headers=admin, json={
        "budget_id": budget["id"], "partner_id": gold_id, "amount": eur("5000.00")})
    ).status_code == 201 and r.json(), "the partner reaching the incentives service",
        timeout=90)
    submitted = api.post("/v1/mdf/requests", headers=gold, json={
        "allocation_id": allocation["id"], "activity_type": "digital_campaign",
        "title": "Zero Trust an einem Tag: E-Mail und Social", "start_date": today.isoformat(),
        "end_date": (today + dt.timedelta(days=30)).isoformat(),
        "planned_cost": eur("2000.00"), "expected_outcomes": "20 qualified leads"})
    request = ok(submitted, 201)
    ok(api.post(f"/v1/mdf/requests/{request['id']}/approve", headers={
        **admin, "If-Match": submitted.headers["etag"]}, json={"reason": "Fits the plan"}))

    # The launch in German, paid by that request (known to the deals service over the
    # broker: until then the request is a 404 to the partner).
    launch = eventually(lambda: (r := api.post("/v1/campaign-launches", headers=gold, json={
        "campaign_id": campaign_id, "language": "de", "mdf_request_id": request["id"]})
    ).status_code == 201 and r.json(), "the fund request reaching the deals service",
        timeout=90)
    assert (launch["language"], launch["partner_id"], launch["mdf_request_id"]) == (
        "de", gold_id, request["id"])
    invite, post = launch["assets"]
    assert (invite["language"], post["language"]) == ("de", "de")
    assert invite["subject"] == "Nordlicht Security GmbH lädt Sie ein: Zero Trust an einem Tag"
    assert f"prm_ref={launch['ref']}" in invite["html"] and "plan=pro" in invite["html"]
    assert post["text"].startswith("Sicher ab Werk: jetzt testen https://www.vendor.example/")
    printed = api.get(invite["pdf"], headers=gold)
    assert printed.status_code == 200, printed.text
    assert printed.headers["content-type"] == "application/pdf"
    assert printed.content.startswith(b"%PDF")
    assert api.get(f"/v1/campaign-launches/{launch['id']}", headers=silver).status_code == 404

    # The marketing tool's signed delivery: a click, then a form fill, by one company.
    company = {"domain": f"fabrikam-{tag}.example", "name": f"Fabrikam {tag} GmbH",
               "country": "DE"}
    now = dt.datetime.now(dt.UTC)
    click = {"ref": launch["ref"], "external_id": f"click-{tag}", "kind": "click",
             "occurred_at": (now - dt.timedelta(minutes=5)).isoformat(), "asset": "invite",
             "link": "trial", "company": {"domain": company["domain"]}}
    fill = {"ref": launch["ref"], "external_id": f"fill-{tag}", "kind": "form_fill",
            "occurred_at": now.isoformat(), "asset": "invite", "company": company,
            "contact": {"name": "Dana Wu", "email": f"dana@fabrikam-{tag}.example"}}
    tool = new_key(api, admin, "marketing automation", [CAMPAIGN_INTAKE])
    raw, signature = signed({"events": [click, fill]})
    delivered = ok(api.post("/v1/campaign-intake", content=raw, headers={**tool, **signature}))
    assert [i["outcome"] for i in delivered["items"]] == ["recorded", "recorded"]
    lead_id = delivered["items"][1]["engagement"]["lead_id"]
    assert lead_id is not None
    # The tool's key may do nothing else; a forged delivery is refused.
    assert api.get(f"/v1/campaign-launches/{launch['id']}", headers=tool).status_code == 403
    forged = api.post("/v1/campaign-intake", content=raw.replace(b"click", b"clack"),
                      headers={**tool, **signature})
    assert forged.status_code == 403 and forged.json()["type"].endswith("/invalid-signature")

    # The form fill is the partner's lead, its contact kept there.
    lead = ok(api.get(f"/v1/leads/{lead_id}", headers=admin))
    assert (lead["source"], lead["source_partner_id"]) == ("partner", gold_id)
    assert lead["company"]["domain"] == company["domain"]
    assert lead["contact"]["email"] == fill["contact"]["email"]
    counted = ok(api.get(f"/v1/campaign-launches/{launch['id']}", headers=gold))
    assert counted["engagement"] == {"open": 0, "click": 1, "form_fill": 1, "conversion": 0}

    # The attribution worker makes a marketing touch of each engagement with a domain.
    def touches() -> list[dict[str, Any]] | None:
        found = api.get("/v1/touchpoints", headers=admin, params={"campaign_id": campaign_id})
        if found.status_code != 200:
            return None
        items: list[dict[str, Any]] = found.json()["items"]
        return items if len(items) == 2 else None

    touched = eventually(touches, "the campaign's touches in attribution", timeout=90)
    assert {(t["kind"], t["partner_id"], t["customer_domain"], t["launch_id"])
            for t in touched} == {("marketing", gold_id, company["domain"], launch["id"])}
    assert {t["mdf_request_id"] for t in touched} == {request["id"]}

    # The partner registers a deal for that company; the vendor approves it; it is won.
    deal = ok(api.post("/v1/deals", headers={**gold, "Idempotency-Key": f"deal-{tag}"}, json={
        "customer": {"name": company["name"], "domain": company["domain"], "country": "DE"},
        "amount": eur("10000.00"),
        "expected_close_date": (today + dt.timedelta(days=30)).isoformat()}), 201)
    ok(api.post(f"/v1/deals/{deal['id']}/approve", headers=admin, json={}))
    assert ok(api.post(f"/v1/deals/{deal['id']}/win", headers=gold, json={}))["status"] == "won"

    # The fund request's claim, with its proof, approved in part: the campaign's cost.
    proof = ok(api.post("/v1/mdf/proofs", headers=gold, files={
        "file": ("invoice.pdf", PDF_PROOF, "application/pdf")}), 201)
    claim = ok(api.post("/v1/mdf/claims", headers=gold, json={
        "request_id": request["id"], "amount": eur("1800.00"),
        "description": "German email send and social posts; 1 form fill so far.",
        "proof_ids": [proof["id"]]}), 201)
    ok(api.post(f"/v1/mdf/claims/{claim['id']}/approve", headers=admin, json={
        "amount": eur("1500.00"), "reason": "The agency's fee is capped at 1,500.00."}))

    # By hand, linear model (the default). The partner is the deal's only partner: its credit
    # is the whole 10,000.00. Its touches on the deal are its registration and the campaign's
    # click and form fill, 2 of 3, so the campaign's return is 10,000.00 x 2/3 = 6,666.666...,
    # shown 6,666.67; its cost the approved claim, 1,500.00; ROI (6,666.666... - 1,500.00) /
    # 1,500.00 = 3.444444... -> 3.4444.
    credit, campaign_touches, partner_touches = Decimal("10000.00"), 2, 3
    exact_return = credit * campaign_touches / partner_touches
    cost = Decimal("1500.00")
    expected_return = exact_return.quantize(Decimal("0.01"), ROUND_HALF_EVEN)
    expected_roi = ((exact_return - cost) / cost).quantize(Decimal("0.0001"), ROUND_HALF_EVEN)
    assert (str(expected_return), str(expected_roi)) == ("6666.67", "3.4444")

    period = {"from": (today - dt.timedelta(days=1)).isoformat(),
              "to": (today + dt.timedelta(days=2)).isoformat()}

    def roi() -> dict[str, Any] | None:
        found = api.get("/v1/attribution-kpis/campaigns", headers=admin,
                        params={**period, "campaign_id": campaign_id})
        if found.status_code != 200 or not found.json()["items"]:
            return None
        [row] = found.json()["items"]
        return row if row["won_deals"] == 1 and row["cost"] == eur("1500.00") else None

    row = eventually(roi, "the won deal and the approved claim in the campaign's ROI",
                     timeout=90)
    assert row["campaign_id"] == campaign_id
    assert (row["launches"], row["partners"], row["touches"], row["won_deals"]) == (1, 1, 2, 1)
    assert row["launch_ids"] == [launch["id"]] and row["request_ids"] == [request["id"]]
    assert row["deal_ids"] == [deal["id"]]
    assert row["cost"] == eur(str(cost))
    assert row["revenue"] == eur(str(expected_return))
    assert row["roi"] == str(expected_roi)
