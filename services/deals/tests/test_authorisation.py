"""Object-level authorisation (OWASP API1): a partner key of org B reaches none of org A's
records, route by route. Every route of the app must have its case here, so that a new endpoint
without one fails this file."""

import datetime as dt
import functools
import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from sqlalchemy import text

from prm_platform.declaration import PARTNER_ROLES
from prm_stack.testing import (
    as_role_user,
    by_role,
    check_refused,
    guarded_routes,
    partner_headers,
    role_route_id,
    signing_in,
    vendor_headers,
)

NEW = {
    "customer": {"name": "Globex Corporation", "domain": "globex.example", "country": "FR"},
    "amount": {"amount": "48000.00", "currency": "EUR"},
    # Within the accepted window (today to ten years ahead) whenever the suite runs.
    "expected_close_date": (dt.date.today() + dt.timedelta(days=365)).isoformat(),
}


@dataclass
class Org:
    partner_id: str
    headers: dict[str, str]
    deal: dict
    scoped: Callable[..., dict[str, str]]  # the org's headers with other scopes


@pytest.fixture
async def orgs(client, list_partner, as_partner) -> tuple[Org, Org]:
    """Two active orgs with full deal scopes, each with one deal of its own."""
    found = []
    for _ in range(2):
        partner_id = await list_partner("active")
        headers = as_partner(partner_id)
        response = await client.post("/v1/deals", json=NEW, headers=headers)
        assert response.status_code == 201, response.text
        found.append(Org(str(partner_id), headers, response.json(),
                         functools.partial(as_partner, partner_id)))
    return found[0], found[1]


async def register_for_another_org(client, a: Org, b: Org) -> None:
    stolen = await client.post("/v1/deals", json={**NEW, "partner_id": a.partner_id},
                               headers=b.headers)
    assert stolen.status_code == 403
    assert stolen.json()["type"] == "/problems/forbidden"
    owned = await client.post("/v1/deals", json={**NEW, "partner_id": a.partner_id},
                              headers=a.headers)
    assert owned.status_code == 201
    count = (await client.connection.execute(
        text("SELECT count(*) FROM deals WHERE partner_id = :p"), {"p": a.partner_id}
    )).scalar_one()
    assert count == 2  # A's own two; nothing from B


async def list_another_orgs_deals(client, a: Org, b: Org) -> None:
    for query in ("", f"?partner_id={a.partner_id}"):
        seen = (await client.get(f"/v1/deals{query}", headers=b.headers)).json()["items"]
        assert a.deal["id"] not in {d["id"] for d in seen}
        assert {d["partner_id"] for d in seen} <= {b.partner_id}
    own = (await client.get("/v1/deals", headers=a.headers)).json()["items"]
    assert [d["id"] for d in own] == [a.deal["id"]]


async def read_another_orgs_deal(client, a: Org, b: Org) -> None:
    url = f"/v1/deals/{a.deal['id']}"
    hidden = await client.get(url, headers=b.headers)
    assert hidden.status_code == 404  # not 403: B must not learn that the id exists
    assert hidden.json()["type"] == "/problems/not-found"
    assert (await client.get(url, headers=a.headers)).status_code == 200


async def check_as_another_org(client, a: Org, b: Org) -> None:
    body = {"customer": NEW["customer"]}
    posing = await client.post("/v1/deals/conflict-check",
                               json={**body, "partner_id": a.partner_id}, headers=b.headers)
    assert posing.status_code == 403
    seen = (await client.post("/v1/deals/conflict-check", json=body, headers=b.headers)).json()
    others = [c for c in seen["conflicts"] if not c["same_partner"]]
    assert others, "A's registration of the customer is a conflict for B"
    for conflict in others:  # ... but B learns nothing of A's record
        assert conflict["id"] is None and conflict["partner_id"] is None
        assert conflict["customer_name"] is None
    own = (await client.post("/v1/deals/conflict-check", json=body, headers=a.headers)).json()
    assert a.deal["id"] in {c["id"] for c in own["conflicts"] if c["same_partner"]}


ACCOUNT_SCOPES = ("direct_accounts:read", "direct_accounts:write")


def vendor_only(method: str, path: str, body: dict | None = None):
    """A route of the vendor's direct accounts: a partner key is refused even with the scopes
    (partners never see the vendor's named accounts), and reads nothing."""
    async def case(client, a: Org, b: Org) -> None:
        url = path.format(account_id="0193c1d0-1b2c-7e3f-8a9b-0c1d2e3f4a5b",
                          rule_id="0193c1d0-1b2c-7e3f-8a9b-0c1d2e3f4a5b")
        headers = b.scoped(("deals:read", "deals:write", *ACCOUNT_SCOPES))
        response = await client.request(method, url, json=body, headers=headers)
        assert response.status_code == 403, response.text
        assert response.json()["type"] == "/problems/forbidden"
    return case


_ACCOUNT = {"external_id": "bola-1", "name": "Vendor Named Account Ltd"}


def on_another_orgs_deal(method: str, suffix: str, body: dict | None = None, refused=404):
    """A route under one deal: B reaching A's deal gets the 404 of an unknown deal (or, on a
    vendor-only route, the 403 every partner key gets), and A's deal is unchanged."""
    async def case(client, a: Org, b: Org) -> None:
        url = f"/v1/deals/{a.deal['id']}{suffix}"
        added = None
        if "{collaborator_id}" in url:
            added = await client.post(f"/v1/deals/{a.deal['id']}/collaborators",
                                      headers=a.headers, json={
                                          "side": "partner", "name": "A's Engineer",
                                          "email": "eng@a.example"})
            assert added.status_code == 201, added.text
            url = url.format(collaborator_id=added.json()["id"])
        response = await client.request(method, url, json=body, headers=b.headers)
        assert response.status_code == refused, response.text
        assert response.json()["type"] == {404: "/problems/not-found",
                                           403: "/problems/forbidden"}[refused]
        seen = await client.get(f"/v1/deals/{a.deal['id']}", headers=a.headers)
        assert seen.json()["version"] == a.deal["version"]
        people = await client.get(f"/v1/deals/{a.deal['id']}/collaborators", headers=a.headers)
        emails = [p["email"] for p in people.json()["items"]]
        assert emails == (["eng@a.example"] if added else [])
    return case

async def push_for_another_org(client, a: Org, b: Org) -> None:
    response = await client.post("/v1/deal-batches", headers=b.headers, json={
        "registrations": [{**NEW, "partner_id": a.partner_id}]})
    [refused] = response.json()["items"]
    assert refused["outcome"] == "error" and refused["problem"]["status"] == 403
    count = (await client.connection.execute(
        text("SELECT count(*) FROM deals WHERE partner_id = :p"), {"p": a.partner_id}
    )).scalar_one()
    assert count == 1  # A's own; nothing from B


_RULE = {"name": "Partners approve themselves", "outcome": "approve"}

LEAD_SCOPES = ("leads:read", "leads:write", "deals:read", "deals:write")
_LEAD = {"company": {"name": "Hooli GmbH", "domain": "hooli.example", "country": "DE"},
         "route": False}
_SOME_ID = "0193c1d0-1b2c-7e3f-8a9b-0c1d2e3f4a5b"


async def _own_lead(client, org: Org) -> dict:
    """A lead the org passed on itself (it sees it as its source), not routed."""
    made = await client.post("/v1/leads", json=_LEAD, headers=org.scoped(LEAD_SCOPES))
    assert made.status_code == 201, made.text
    return made.json()


def on_another_orgs_lead(method: str, suffix: str, body: dict | None = None, refused=404):
    """A route under one lead: B reaching A's lead gets the 404 of an unknown lead (or, on a
    vendor-only route, the 403 every partner gets), and A's lead is unchanged."""
    async def case(client, a: Org, b: Org) -> None:
        lead = await _own_lead(client, a)
        response = await client.request(method, f"/v1/leads/{lead['id']}{suffix}", json=body,
                                        headers=b.scoped(LEAD_SCOPES))
        assert response.status_code == refused, response.text
        seen = await client.get(f"/v1/leads/{lead['id']}", headers=a.scoped(LEAD_SCOPES))
        assert seen.json()["version"] == lead["version"]
    return case


def vendor_only_leads(method: str, path: str, body: dict | None = None):
    """Lead routing's set-up, the intake key's routes: refused to any partner, whatever its
    scopes."""
    async def case(client, a: Org, b: Org) -> None:
        response = await client.request(
            method, path.format(rule_id=_SOME_ID), json=body,
            headers=b.scoped((*LEAD_SCOPES, "lead_intake:write")))
        assert response.status_code == 403, response.text
        assert response.json()["type"] == "/problems/forbidden"
    return case


async def pass_on_a_lead_for_another_org(client, a: Org, b: Org) -> None:
    posing = await client.post("/v1/leads", json={**_LEAD, "source_partner_id": a.partner_id},
                               headers=b.scoped(LEAD_SCOPES))
    assert posing.status_code == 403
    batch = await client.post("/v1/lead-batches", headers=b.scoped(LEAD_SCOPES), json={
        "items": [{**_LEAD, "source_partner_id": a.partner_id}]})
    [refused] = batch.json()["items"]
    assert refused["outcome"] == "error" and refused["problem"]["status"] == 403
    seen = (await client.get("/v1/leads", headers=a.scoped(LEAD_SCOPES))).json()["items"]
    assert seen == []


async def list_another_orgs_leads(client, a: Org, b: Org) -> None:
    lead = await _own_lead(client, a)
    for query in ("", f"?partner_id={a.partner_id}"):
        seen = (await client.get(f"/v1/leads{query}", headers=b.scoped(LEAD_SCOPES))).json()
        assert lead["id"] not in {x["id"] for x in seen["items"]}
    own = (await client.get("/v1/leads", headers=a.scoped(LEAD_SCOPES))).json()["items"]
    assert [x["id"] for x in own] == [lead["id"]]


async def another_orgs_lead_capacity(client, a: Org, b: Org) -> None:
    url = f"/v1/lead-capacity/{a.partner_id}"
    assert (await client.get(url, headers=b.scoped(LEAD_SCOPES))).status_code == 404
    paused = await client.put(url, json={"paused": True}, headers=b.scoped(LEAD_SCOPES))
    assert paused.status_code == 404
    own = (await client.get(url, headers=a.scoped(LEAD_SCOPES))).json()
    assert own["paused"] is False

MAPPING_SCOPES = ("account_mapping:read", "account_mapping:write")
_MAPPED = {"crm_id": "A-1", "population": "customers", "name": "Globex Corporation",
           "domain": "globex.example", "country": "FR"}


def _mapping_key(org: Org) -> dict[str, str]:
    """The org's integration key for account mapping (whatever user a case plays)."""
    return partner_headers(os.environ["PRM_INTERNAL_SECRET"], org.partner_id, MAPPING_SCOPES)


async def _mapping(client, org: Org) -> dict:
    """The org's account uploaded and its side of the mapping partnership opted in."""
    headers = _mapping_key(org)
    uploaded = await client.post("/v1/mapped-accounts", headers=headers,
                                 json={"items": [_MAPPED]})
    assert uploaded.status_code == 200, uploaded.text
    opted = await client.put(f"/v1/mapping-partnerships/{org.partner_id}", headers=headers,
                             json={"sharing": {"customers": "all"}})
    assert opted.status_code == 200, opted.text
    return opted.json()


async def upload_accounts_for_oneself_only(client, a: Org, b: Org) -> None:
    """An upload is always the caller's own populations: B's lands in B's, never A's."""
    await _mapping(client, a)
    mine = await client.post("/v1/mapped-accounts", headers=b.scoped(MAPPING_SCOPES),
                             json={"items": [{**_MAPPED, "name": "Initech"}]})
    assert mine.status_code == 200, mine.text
    seen = (await client.get("/v1/mapped-accounts", headers=_mapping_key(a))).json()
    assert [x["name"] for x in seen["items"]] == ["Globex Corporation"]


async def list_another_orgs_accounts(client, a: Org, b: Org) -> None:
    await _mapping(client, a)
    seen = (await client.get("/v1/mapped-accounts", headers=b.scoped(MAPPING_SCOPES))).json()
    assert seen["items"] == []


def on_another_orgs_mapping(method: str, suffix: str, body: dict | None = None):
    """A route under A's mapping partnership: B gets the 404 of an unknown partnership, and
    A's partnership is unchanged."""
    async def case(client, a: Org, b: Org) -> None:
        before = await _mapping(client, a)
        response = await client.request(
            method, f"/v1/mapping-partnerships/{a.partner_id}{suffix}", json=body,
            headers=b.scoped(MAPPING_SCOPES))
        assert response.status_code == 404, response.text
        after = await client.get(f"/v1/mapping-partnerships/{a.partner_id}",
                                 headers=_mapping_key(a))
        assert after.json() == before
    return case


MARKETPLACE_SCOPES = ("marketplace:read", "marketplace:write", "marketplace_events:write",
                      "deals:read", "deals:write")


async def _own_offer(client, org: Org) -> dict:
    """A private offer the vendor made for the org's deal."""
    vendor = vendor_headers(os.environ["PRM_INTERNAL_SECRET"],
                            ("marketplace:read", "marketplace:write"))
    made = await client.post("/v1/marketplace-offers", headers=vendor, json={
        "deal_id": org.deal["id"], "marketplace": "aws", "kind": "aws_cppo",
        "external_offer_id": f"offer-{org.deal['id']}",
        "wholesale_price": {"amount": "40000.00", "currency": "EUR"},
        "partner_markup": {"amount": "8000.00", "currency": "EUR"}, "duration_months": 12})
    assert made.status_code == 201, made.text
    return made.json()


def on_another_orgs_offer(method: str, suffix: str, body: dict | None = None, refused=404):
    """A route under one offer: B reaching A's offer gets the 404 of an unknown offer (or, on
    a vendor-only route, the 403 every partner gets), and A's offer is unchanged."""
    async def case(client, a: Org, b: Org) -> None:
        offer = await _own_offer(client, a)
        response = await client.request(method, f"/v1/marketplace-offers/{offer['id']}{suffix}",
                                        json=body, headers=b.scoped(MARKETPLACE_SCOPES))
        assert response.status_code == refused, response.text
        assert response.json()["type"] == {404: "/problems/not-found",
                                           403: "/problems/forbidden"}[refused]
        seen = await client.get(f"/v1/marketplace-offers/{offer['id']}",
                                headers=a.scoped(MARKETPLACE_SCOPES))
        assert seen.status_code == 200 and seen.json()["version"] == offer["version"]
    return case


async def list_another_orgs_offers(client, a: Org, b: Org) -> None:
    offer = await _own_offer(client, a)
    for query in ("", f"?partner_id={a.partner_id}", f"?deal_id={a.deal['id']}"):
        seen = (await client.get(f"/v1/marketplace-offers{query}",
                                 headers=b.scoped(MARKETPLACE_SCOPES))).json()
        assert offer["id"] not in {x["id"] for x in seen["items"]}
    own = (await client.get("/v1/marketplace-offers", headers=a.scoped(MARKETPLACE_SCOPES))
           ).json()["items"]
    assert [x["id"] for x in own] == [offer["id"]]


async def make_an_offer_for_another_org(client, a: Org, b: Org) -> None:
    """Offers are the vendor's to make: refused to any partner, for its deal or another's."""
    for deal in (a.deal, b.deal):
        response = await client.post("/v1/marketplace-offers", headers=b.scoped(
            MARKETPLACE_SCOPES), json={
            "deal_id": deal["id"], "marketplace": "aws", "kind": "aws_cppo",
            "wholesale_price": {"amount": "1.00", "currency": "EUR"},
            "partner_markup": {"amount": "1.00", "currency": "EUR"}})
        assert response.status_code == 403, response.text
    count = (await client.connection.execute(text(
        "SELECT count(*) FROM marketplace_offers WHERE partner_id = :p"), {"p": a.partner_id}
    )).scalar_one()
    assert count == 0


async def deliver_marketplace_events_as_a_partner(client, a: Org, b: Org) -> None:
    """The marketplace intake is the vendor integration's: refused to any partner."""
    offer = await _own_offer(client, a)
    response = await client.post("/v1/marketplace-events", headers=b.scoped(
        MARKETPLACE_SCOPES), json={
        "source": "aws", "id": "evt-bola", "detail-type": "Agreement Status Changed",
        "detail": {"offerId": offer["external_offer_id"], "status": "ACTIVE"}})
    assert response.status_code == 403, response.text
    seen = await client.get(f"/v1/marketplace-offers/{offer['id']}",
                            headers=a.scoped(MARKETPLACE_SCOPES))
    assert seen.json()["status"] == "draft"


CAMPAIGN_SCOPES = ("campaigns:read", "campaigns:write", "campaign_launches:read",
                   "campaign_launches:write", "campaign_engagement:read",
                   "campaign_engagement:write", "campaign_intake:write")
_CAMPAIGN = {"name": "BOLA campaign", "default_language": "en", "links": {
    "trial": "https://vendor.example/trial"}, "assets": [{
        "key": "invite", "kind": "email", "language": "en", "subject": "{{ partner.name }}",
        "html": "<a href=\"{{ links.trial }}\">{{ partner.name }}</a>"}]}


def _campaign_vendor() -> dict[str, str]:
    return vendor_headers(os.environ["PRM_INTERNAL_SECRET"], CAMPAIGN_SCOPES)


def _campaign_key(org: Org) -> dict[str, str]:
    """The org's own integration key for campaigns (its role users may lack the scopes)."""
    return partner_headers(os.environ["PRM_INTERNAL_SECRET"], uuid.UUID(org.partner_id),
                           CAMPAIGN_SCOPES)


async def _campaign(client, *, publish: bool = True) -> dict:
    made = await client.post("/v1/campaigns", headers=_campaign_vendor(), json=_CAMPAIGN)
    assert made.status_code == 201, made.text
    if not publish:
        return made.json()
    done = await client.post(f"/v1/campaigns/{made.json()['id']}/publish", headers={
        **_campaign_vendor(), "If-Match": made.headers["ETag"]})
    assert done.status_code == 200, done.text
    return done.json()


async def _own_launch(client, org: Org) -> dict:
    """A launch of the org's, with its brand profile and one engagement."""
    campaign = await _campaign(client)
    key = _campaign_key(org)
    branded = await client.put(f"/v1/brand-profiles/{org.partner_id}", json={
        "name": f"Org {org.partner_id[:8]}"}, headers={**key, "If-Match": '"0"'})
    assert branded.status_code == 200, branded.text
    launched = await client.post("/v1/campaign-launches", headers=key,
                                 json={"campaign_id": campaign["id"]})
    assert launched.status_code == 201, launched.text
    launch = launched.json()
    engaged = await client.post("/v1/campaign-engagements", headers=key, json={
        "launch_id": launch["id"], "external_id": "bola-open", "kind": "open",
        "occurred_at": "2026-12-01T10:00:00Z"})
    assert engaged.status_code == 201, engaged.text
    return launch


def vendor_only_campaign(method: str, suffix: str, body: dict | None = None):
    """The library is the vendor's to build: a partner is refused, even with every scope, and
    the campaign is unchanged."""
    async def case(client, a: Org, b: Org) -> None:
        campaign = await _campaign(client, publish=False)
        url = "/v1/campaigns" + (f"/{campaign['id']}{suffix}" if suffix is not None else "")
        response = await client.request(method, url, json=body, headers=b.scoped(
            CAMPAIGN_SCOPES))
        assert response.status_code == 403, response.text
        seen = await client.get(f"/v1/campaigns/{campaign['id']}", headers=_campaign_vendor())
        assert seen.json()["version"] == campaign["version"]
    return case


def on_a_draft_campaign(suffix: str):
    """A draft was never published: to a partner it does not exist."""
    async def case(client, a: Org, b: Org) -> None:
        draft = await _campaign(client, publish=False)
        response = await client.get(f"/v1/campaigns/{draft['id']}{suffix}",
                                    headers=b.scoped(CAMPAIGN_SCOPES))
        assert response.status_code == 404, response.text
    return case


async def list_draft_campaigns(client, a: Org, b: Org) -> None:
    draft = await _campaign(client, publish=False)
    seen = (await client.get("/v1/campaigns?status=draft", headers=b.scoped(CAMPAIGN_SCOPES))
            ).json()["items"]
    assert draft["id"] not in {c["id"] for c in seen}


def on_another_orgs_brand(method: str, body: dict | None = None):
    async def case(client, a: Org, b: Org) -> None:
        await _own_launch(client, a)
        before = (await client.get(f"/v1/brand-profiles/{a.partner_id}",
                                   headers=_campaign_key(a))).json()
        response = await client.request(method, f"/v1/brand-profiles/{a.partner_id}",
                                        json=body, headers={**b.scoped(CAMPAIGN_SCOPES),
                                                            "If-Match": '"1"'})
        assert response.status_code == 404, response.text
        after = await client.get(f"/v1/brand-profiles/{a.partner_id}", headers=_campaign_key(a))
        assert after.json() == before
    return case


async def launch_for_another_org(client, a: Org, b: Org) -> None:
    campaign = await _campaign(client)
    response = await client.post("/v1/campaign-launches", headers=b.scoped(CAMPAIGN_SCOPES),
                                 json={"campaign_id": campaign["id"],
                                       "partner_id": a.partner_id})
    assert response.status_code == 403, response.text
    count = (await client.connection.execute(text(
        "SELECT count(*) FROM campaign_launches WHERE partner_id = :p"), {"p": a.partner_id}
    )).scalar_one()
    assert count == 0


async def list_another_orgs_launches(client, a: Org, b: Org) -> None:
    launch = await _own_launch(client, a)
    for query in ("", f"?partner_id={a.partner_id}", f"?campaign_id={launch['campaign_id']}"):
        seen = (await client.get(f"/v1/campaign-launches{query}",
                                 headers=b.scoped(CAMPAIGN_SCOPES))).json()["items"]
        assert launch["id"] not in {x["id"] for x in seen}


def on_another_orgs_launch(suffix: str):
    async def case(client, a: Org, b: Org) -> None:
        launch = await _own_launch(client, a)
        url = f"/v1/campaign-launches/{launch['id']}{suffix}"
        response = await client.get(url, headers=b.scoped(CAMPAIGN_SCOPES))
        assert response.status_code == 404, response.text
        assert (await client.get(url, headers=_campaign_key(a))).status_code == 200
    return case


async def report_on_another_orgs_launch(client, a: Org, b: Org) -> None:
    launch = await _own_launch(client, a)
    for named in ({"launch_id": launch["id"]}, {"ref": launch["ref"]}):
        response = await client.post("/v1/campaign-engagements", headers=b.scoped(
            CAMPAIGN_SCOPES), json={**named, "external_id": "bola-click", "kind": "click",
                                    "occurred_at": "2026-12-01T10:00:00Z"})
        assert response.status_code == 404, response.text
    count = (await client.connection.execute(text(
        "SELECT count(*) FROM campaign_engagements WHERE launch_id = :l"), {"l": launch["id"]}
    )).scalar_one()
    assert count == 1


async def list_another_orgs_engagement(client, a: Org, b: Org) -> None:
    launch = await _own_launch(client, a)
    for query in ("", f"?launch_id={launch['id']}", f"?partner_id={a.partner_id}"):
        seen = (await client.get(f"/v1/campaign-engagements{query}",
                                 headers=b.scoped(CAMPAIGN_SCOPES))).json()["items"]
        assert {x["partner_id"] for x in seen} <= {b.partner_id}


async def deliver_campaign_engagement_as_a_partner(client, a: Org, b: Org) -> None:
    """The intake is the marketing tools' (a vendor key): refused to any partner."""
    launch = await _own_launch(client, a)
    response = await client.post("/v1/campaign-intake", headers=b.scoped(CAMPAIGN_SCOPES),
                                 json={"events": [{"ref": launch["ref"], "external_id": "x",
                                                   "kind": "click",
                                                   "occurred_at": "2026-12-01T10:00:00Z"}]})
    assert response.status_code == 403, response.text


CASES = {
    ("POST", "/v1/engagement-rules"): vendor_only("POST", "/v1/engagement-rules", _RULE),
    ("GET", "/v1/engagement-rules"): vendor_only("GET", "/v1/engagement-rules"),
    ("POST", "/v1/engagement-rules/dry-run"): vendor_only(
        "POST", "/v1/engagement-rules/dry-run", {"registration": NEW}),
    ("GET", "/v1/engagement-rules/{rule_id}"): vendor_only(
        "GET", "/v1/engagement-rules/{rule_id}"),
    ("PATCH", "/v1/engagement-rules/{rule_id}"): vendor_only(
        "PATCH", "/v1/engagement-rules/{rule_id}", {"enabled": False}),
    ("DELETE", "/v1/engagement-rules/{rule_id}"): vendor_only(
        "DELETE", "/v1/engagement-rules/{rule_id}"),
    ("GET", "/v1/engagement-rules/{rule_id}/versions"): vendor_only(
        "GET", "/v1/engagement-rules/{rule_id}/versions"),
    ("POST", "/v1/deal-batches"): push_for_another_org,
    ("PATCH", "/v1/deals/{deal_id}"): on_another_orgs_deal("PATCH", "", {"notes": "sneaky"}),
    ("POST", "/v1/deals/{deal_id}/approve"): on_another_orgs_deal("POST", "/approve"),
    ("POST", "/v1/deals/{deal_id}/reject"): on_another_orgs_deal("POST", "/reject",
                                                                 {"reason": "no"}),
    ("POST", "/v1/deals/{deal_id}/win"): on_another_orgs_deal("POST", "/win"),
    ("POST", "/v1/deals/{deal_id}/lose"): on_another_orgs_deal("POST", "/lose"),
    ("POST", "/v1/deals/{deal_id}/reverse-win"): on_another_orgs_deal(
        "POST", "/reverse-win", {"reason": "refunded"}),
    ("POST", "/v1/deals/{deal_id}/extend"): on_another_orgs_deal("POST", "/extend"),
    ("POST", "/v1/deals/{deal_id}/resolve-conflict"): on_another_orgs_deal(
        "POST", "/resolve-conflict", refused=403),
    ("POST", "/v1/deals/{deal_id}/assign"): on_another_orgs_deal(
        "POST", "/assign", {"account_executive": "me"}, refused=403),
    ("GET", "/v1/deals/{deal_id}/activities"): on_another_orgs_deal("GET", "/activities"),
    ("POST", "/v1/deals/{deal_id}/notes"): on_another_orgs_deal("POST", "/notes",
                                                                {"text": "sneaky"}),
    ("GET", "/v1/deals/{deal_id}/collaborators"): on_another_orgs_deal("GET", "/collaborators"),
    ("POST", "/v1/deals/{deal_id}/collaborators"): on_another_orgs_deal(
        "POST", "/collaborators", {"side": "partner", "name": "B", "email": "b@b.example"}),
    ("DELETE", "/v1/deals/{deal_id}/collaborators/{collaborator_id}"): on_another_orgs_deal(
        "DELETE", "/collaborators/{collaborator_id}"),
    ("POST", "/v1/direct-accounts"): vendor_only("POST", "/v1/direct-accounts", _ACCOUNT),
    ("POST", "/v1/direct-accounts/import"): vendor_only(
        "POST", "/v1/direct-accounts/import", {"accounts": [_ACCOUNT]}),
    ("GET", "/v1/direct-accounts"): vendor_only("GET", "/v1/direct-accounts"),
    ("GET", "/v1/direct-accounts/{account_id}"): vendor_only(
        "GET", "/v1/direct-accounts/{account_id}"),
    ("PATCH", "/v1/direct-accounts/{account_id}"): vendor_only(
        "PATCH", "/v1/direct-accounts/{account_id}", {"owner": "me"}),
    ("DELETE", "/v1/direct-accounts/{account_id}"): vendor_only(
        "DELETE", "/v1/direct-accounts/{account_id}"),
    ("POST", "/v1/deals/conflict-check"): check_as_another_org,
    ("POST", "/v1/deals"): register_for_another_org,
    ("GET", "/v1/deals"): list_another_orgs_deals,
    ("GET", "/v1/deals/{deal_id}"): read_another_orgs_deal,
    ("POST", "/v1/leads"): pass_on_a_lead_for_another_org,
    ("POST", "/v1/lead-batches"): pass_on_a_lead_for_another_org,
    ("GET", "/v1/leads"): list_another_orgs_leads,
    ("GET", "/v1/leads/{lead_id}"): on_another_orgs_lead("GET", ""),
    ("GET", "/v1/leads/{lead_id}/assignments"): on_another_orgs_lead("GET", "/assignments"),
    ("GET", "/v1/leads/{lead_id}/recommendations"): on_another_orgs_lead(
        "GET", "/recommendations", refused=403),
    ("POST", "/v1/leads/{lead_id}/accept"): on_another_orgs_lead("POST", "/accept"),
    ("POST", "/v1/leads/{lead_id}/decline"): on_another_orgs_lead(
        "POST", "/decline", {"reason": "other"}),
    ("POST", "/v1/leads/{lead_id}/assign"): on_another_orgs_lead(
        "POST", "/assign", {"partner_id": _SOME_ID}, refused=403),
    ("POST", "/v1/leads/{lead_id}/convert"): on_another_orgs_lead(
        "POST", "/convert", {"expected_close_date": "2030-01-31"}),
    ("POST", "/v1/lead-intake"): vendor_only_leads("POST", "/v1/lead-intake", _LEAD),
    ("POST", "/v1/lead-intake/batch"): vendor_only_leads(
        "POST", "/v1/lead-intake/batch", {"items": [_LEAD]}),
    ("POST", "/v1/lead-routing-rules"): vendor_only_leads(
        "POST", "/v1/lead-routing-rules", {"name": "Mine"}),
    ("GET", "/v1/lead-routing-rules"): vendor_only_leads("GET", "/v1/lead-routing-rules"),
    ("POST", "/v1/lead-routing-rules/dry-run"): vendor_only_leads(
        "POST", "/v1/lead-routing-rules/dry-run", _LEAD),
    ("GET", "/v1/lead-routing-rules/{rule_id}"): vendor_only_leads(
        "GET", "/v1/lead-routing-rules/{rule_id}"),
    ("PATCH", "/v1/lead-routing-rules/{rule_id}"): vendor_only_leads(
        "PATCH", "/v1/lead-routing-rules/{rule_id}", {"enabled": False}),
    ("DELETE", "/v1/lead-routing-rules/{rule_id}"): vendor_only_leads(
        "DELETE", "/v1/lead-routing-rules/{rule_id}"),
    ("GET", "/v1/lead-routing-rules/{rule_id}/versions"): vendor_only_leads(
        "GET", "/v1/lead-routing-rules/{rule_id}/versions"),
    ("GET", "/v1/lead-capacity/{partner_id}"): another_orgs_lead_capacity,
    ("PUT", "/v1/lead-capacity/{partner_id}"): another_orgs_lead_capacity,
    ("POST", "/v1/mapped-accounts"): upload_accounts_for_oneself_only,
    ("GET", "/v1/mapped-accounts"): list_another_orgs_accounts,
    ("GET", "/v1/mapping-partnerships/{partner_id}"): on_another_orgs_mapping("GET", ""),
    ("PUT", "/v1/mapping-partnerships/{partner_id}"): on_another_orgs_mapping(
        "PUT", "", {"sharing": {"customers": "all"}}),
    ("POST", "/v1/mapping-partnerships/{partner_id}/opt-out"): on_another_orgs_mapping(
        "POST", "/opt-out"),
    ("GET", "/v1/mapping-partnerships/{partner_id}/matrix"): on_another_orgs_mapping(
        "GET", "/matrix"),
    ("GET", "/v1/mapping-partnerships/{partner_id}/overlaps"): on_another_orgs_mapping(
        "GET", "/overlaps"),
    ("GET", "/v1/mapping-partnerships/{partner_id}/accounts"): on_another_orgs_mapping(
        "GET", "/accounts"),
    ("POST", "/v1/mapping-partnerships/{partner_id}/overlaps/{overlap_id}/co-sell"):
        on_another_orgs_mapping("POST", f"/overlaps/{uuid.uuid4()}/co-sell",
                                {"kind": "registration"}),
    ("POST", "/v1/marketplace-offers"): make_an_offer_for_another_org,
    ("GET", "/v1/marketplace-offers"): list_another_orgs_offers,
    ("GET", "/v1/marketplace-offers/{offer_id}"): on_another_orgs_offer("GET", ""),
    ("GET", "/v1/marketplace-offers/{offer_id}/history"): on_another_orgs_offer(
        "GET", "/history"),
    ("PATCH", "/v1/marketplace-offers/{offer_id}"): on_another_orgs_offer(
        "PATCH", "", {"duration_months": 6}, refused=403),
    ("POST", "/v1/marketplace-offers/{offer_id}/publish"): on_another_orgs_offer(
        "POST", "/publish", refused=403),
    ("POST", "/v1/marketplace-offers/{offer_id}/cancel"): on_another_orgs_offer(
        "POST", "/cancel", refused=403),
    ("POST", "/v1/marketplace-events"): deliver_marketplace_events_as_a_partner,
    ("POST", "/v1/campaigns"): vendor_only_campaign("POST", None, _CAMPAIGN),
    ("GET", "/v1/campaigns"): list_draft_campaigns,
    ("GET", "/v1/campaigns/{campaign_id}"): on_a_draft_campaign(""),
    ("GET", "/v1/campaigns/{campaign_id}/versions"): on_a_draft_campaign("/versions"),
    ("PATCH", "/v1/campaigns/{campaign_id}"): vendor_only_campaign(
        "PATCH", "", {"name": "Taken over"}),
    ("POST", "/v1/campaigns/{campaign_id}/publish"): vendor_only_campaign("POST", "/publish"),
    ("POST", "/v1/campaigns/{campaign_id}/retire"): vendor_only_campaign("POST", "/retire"),
    ("GET", "/v1/brand-profiles/{partner_id}"): on_another_orgs_brand("GET"),
    ("PUT", "/v1/brand-profiles/{partner_id}"): on_another_orgs_brand(
        "PUT", {"name": "Hijacked"}),
    ("POST", "/v1/campaign-launches"): launch_for_another_org,
    ("GET", "/v1/campaign-launches"): list_another_orgs_launches,
    ("GET", "/v1/campaign-launches/{launch_id}"): on_another_orgs_launch(""),
    ("GET", "/v1/campaign-launches/{launch_id}/assets/{asset_key}/pdf"):
        on_another_orgs_launch("/assets/invite/pdf"),
    ("POST", "/v1/campaign-engagements"): report_on_another_orgs_launch,
    ("GET", "/v1/campaign-engagements"): list_another_orgs_engagement,
    ("POST", "/v1/campaign-intake"): deliver_campaign_engagement_as_a_partner,
}


# Routes that serve no partner data and need no principal.
PUBLIC = {("GET", "/healthz"), ("GET", "/readyz")}


def test_every_route_has_a_case(app):
    assert guarded_routes(app, PUBLIC) == set(CASES), \
        "add a BOLA case for each new route (and drop stale ones)"


@pytest.mark.parametrize("route", sorted(CASES), ids=" ".join)
async def test_another_orgs_records_are_out_of_reach(client, orgs, route):
    await CASES[route](client, *orgs)


# Partner users signed in by OIDC, one per partner role, on every route: those the role's
# scopes cover (as the contract lists them) and the others.
REACHED, REFUSED = by_role(CASES, PARTNER_ROLES)


@pytest.mark.parametrize(("role", "route"), REACHED, ids=role_route_id)
async def test_partner_users_reach_their_roles_routes(app, client, orgs, prm_issuer, role,
                                                      route):
    """As for a partner key: nothing of another org. Its sales and administrator users
    register and work its deals; its finance user reads them."""
    a, b = (as_role_user(org, prm_issuer, role) for org in orgs)
    with signing_in(app, prm_issuer):
        await CASES[route](client, a, b)


@pytest.mark.parametrize(("role", "route"), REFUSED, ids=role_route_id)
async def test_partner_users_are_refused_the_other_routes(app, client, orgs, prm_issuer, role,
                                                          route):
    """Even on the org's own deal."""
    _, b = orgs
    with signing_in(app, prm_issuer):
        await check_refused(client, app, *route,
                            prm_issuer.headers(role, partner_id=b.partner_id),
                            partner_id=b.partner_id, deal_id=b.deal["id"])
