"""Object-level authorisation (OWASP API1): a partner key of org B reaches none of org A's
touchpoints, credits or KPIs, route by route. Every route must have its case here."""

import datetime as dt
import uuid
from dataclasses import dataclass

import pytest

from prm_contracts import CampaignLaunchedV1
from prm_events.envelope import CloudEvent
from prm_platform.declaration import PARTNER_ROLES
from prm_platform.ids import new_id
from prm_stack.testing import (
    as_role_user,
    by_role,
    check_refused,
    guarded_routes,
    role_route_id,
    signing_in,
)


@dataclass
class Org:
    partner_id: uuid.UUID
    headers: dict[str, str]
    deal_id: uuid.UUID
    touch_id: str
    request_id: uuid.UUID
    campaign_id: uuid.UUID
    launch_id: uuid.UUID


@pytest.fixture
async def orgs(client, apply, as_partner, kit) -> tuple[Org, Org]:
    """Two orgs, each with a registered, approved deal, a co-selling touch, an MDF
    activity of its own and a launch of a campaign of its own funded by it."""
    found = []
    for _ in range(2):
        partner_id = uuid.uuid4()
        deal = kit.DealStory(partner_id)
        activity = kit.MdfStory(partner_id, activity_type=f"event-{partner_id.hex[:6]}")
        campaign_id, launch_id = uuid.uuid4(), uuid.uuid4()
        launched = CampaignLaunchedV1(
            launch_id=launch_id, campaign_id=campaign_id, campaign_name="Security week",
            campaign_version=1, partner_id=partner_id, ref="ref", language="en",
            mdf_request_id=activity.request_id, launched_at=kit.T0)
        await apply(kit.partner_created(partner_id), deal.registered(), deal.approved(),
                    activity.submitted(), activity.approved(), activity.claim_approved("10.00"),
                    CloudEvent(id=new_id(), source="/prm/deals", type=launched.event_type,
                               subject=str(campaign_id), time=kit.T0,
                               data=launched.model_dump(mode="json")))
        headers = as_partner(partner_id)
        touch = await client.post("/v1/touchpoints", headers=headers, json={
            "deal_id": str(deal.deal_id), "kind": "co_sell",
            "occurred_at": (kit.T0 + dt.timedelta(days=3)).isoformat(),
            "evidence": {"description": "Joint call"}})
        assert touch.status_code == 201, touch.text
        found.append(Org(partner_id, headers, deal.deal_id, touch.json()["id"],
                         activity.request_id, campaign_id, launch_id))
    return found[0], found[1]


async def record_for_another_org(client, a: Org, b: Org) -> None:
    body = {"kind": "consulting", "occurred_at": "2026-09-03T10:00:00Z",
            "evidence": {"description": "mine"}}
    posing = await client.post("/v1/touchpoints", headers=b.headers,
                               json={**body, "partner_id": str(a.partner_id),
                                     "customer_domain": "globex.example"})
    assert posing.status_code == 403
    on_a_deal = await client.post("/v1/touchpoints", headers=b.headers,
                                  json={**body, "deal_id": str(a.deal_id)})
    assert on_a_deal.status_code == 404  # A's deal does not exist for B
    with_a_activity = await client.post("/v1/touchpoints", headers=b.headers, json={
        **body, "deal_id": str(b.deal_id), "mdf_request_id": str(a.request_id)})
    assert with_a_activity.status_code == 404  # nor A's MDF activity


async def list_another_orgs_touches(client, a: Org, b: Org) -> None:
    for query in ("", f"?partner_id={a.partner_id}", f"?deal_id={a.deal_id}"):
        seen = (await client.get(f"/v1/touchpoints{query}", headers=b.headers)).json()
        assert {t["partner_id"] for t in seen["items"]} <= {str(b.partner_id)}
    own = (await client.get("/v1/touchpoints", headers=a.headers)).json()["items"]
    assert a.touch_id in {t["id"] for t in own}


async def read_another_orgs_touch(client, a: Org, b: Org) -> None:
    hidden = await client.get(f"/v1/touchpoints/{a.touch_id}", headers=b.headers)
    assert hidden.status_code == 404 and hidden.json()["type"] == "/problems/not-found"
    assert (await client.get(f"/v1/touchpoints/{a.touch_id}", headers=a.headers)
            ).status_code == 200


async def explain_another_orgs_deal(client, a: Org, b: Org) -> None:
    url = f"/v1/attributed-deals/{a.deal_id}/explanation"
    hidden = await client.get(url, headers=b.headers)
    assert hidden.status_code == 404 and hidden.json()["type"] == "/problems/not-found"
    own = (await client.get(url, headers=a.headers)).json()
    assert {p["partner_id"] for p in own["partners"]} == {str(a.partner_id)}


async def list_another_orgs_credits(client, a: Org, b: Org) -> None:
    for query in ("", f"?partner_id={a.partner_id}"):
        seen = (await client.get(f"/v1/attributed-deals{query}", headers=b.headers)).json()
        assert str(a.deal_id) not in {d["deal_id"] for d in seen["items"]}
        assert {c["partner_id"] for d in seen["items"] for c in d["credits"]} \
            <= {str(b.partner_id)}
    own = (await client.get("/v1/attributed-deals", headers=a.headers)).json()["items"]
    assert str(a.deal_id) in {d["deal_id"] for d in own}


async def another_orgs_kpis(client, a: Org, b: Org) -> None:
    for query in ("", f"&partner_id={a.partner_id}"):
        seen = (await client.get(f"/v1/attribution-kpis?from=2026-01-01&to=2027-01-01{query}",
                                 headers=b.headers)).json()
        assert {r["partner_id"] for r in seen["items"]} <= {str(b.partner_id)}
        assert str(a.deal_id) not in {d for r in seen["items"] for d in r["deal_ids"]}


async def another_orgs_mdf_activities(client, a: Org, b: Org) -> None:
    period = "from=2026-09-01&to=2026-10-01"
    for query in ("", f"&partner_id={a.partner_id}"):
        seen = (await client.get(f"/v1/attribution-kpis/mdf-activities?{period}{query}",
                                 headers=b.headers)).json()
        assert {r["partner_id"] for r in seen["items"]} <= {str(b.partner_id)}
    own = (await client.get(f"/v1/attribution-kpis/mdf-activities?{period}",
                            headers=a.headers)).json()["items"]
    assert [r["request_id"] for r in own] == [str(a.request_id)]


async def another_orgs_campaigns(client, a: Org, b: Org) -> None:
    query = f"from=2026-09-01&to=2026-10-01&campaign_id={a.campaign_id},{b.campaign_id}"
    for headers, org in ((b.headers, b), (a.headers, a)):
        seen = (await client.get(f"/v1/attribution-kpis/campaigns?{query}",
                                 headers=headers)).json()["items"]
        assert [r["campaign_id"] for r in seen] == [str(org.campaign_id)]
        assert seen[0]["launch_ids"] == [str(org.launch_id)]
        assert seen[0]["cost"]["amount"] == "10.00"  # its own request's claim only


async def another_orgs_mdf_activity_types(client, a: Org, b: Org) -> None:
    seen = (await client.get("/v1/attribution-kpis/mdf-activity-types?from=2026-09-01"
                             "&to=2026-10-01", headers=b.headers)).json()["items"]
    assert {r for t in seen for r in t["request_ids"]} == {str(b.request_id)}
    assert [t["cost"]["amount"] for t in seen] == ["10.00"]


def vendor_only(method: str, path: str, body: dict | None = None):
    """A route that changes what credits everyone (rules, rates, recomputation): partner keys
    are refused even with the write scope."""
    async def case(client, a: Org, b: Org) -> None:
        url = path.format(deal_id=a.deal_id)
        response = await client.request(method, url, json=body, headers=b.headers)
        assert response.status_code == 403, response.text
        assert response.json()["type"] == "/problems/forbidden"
    return case


def programme_wide(path: str):
    """Published rules and FX rates belong to no org: every partner may read them."""
    async def case(client, a: Org, b: Org) -> None:
        assert (await client.get(path, headers=b.headers)).status_code == 200
    return case


CASES = {
    ("POST", "/v1/touchpoints"): record_for_another_org,
    ("GET", "/v1/touchpoints"): list_another_orgs_touches,
    ("GET", "/v1/touchpoints/{touchpoint_id}"): read_another_orgs_touch,
    ("GET", "/v1/attributed-deals"): list_another_orgs_credits,
    ("GET", "/v1/attributed-deals/{deal_id}/explanation"): explain_another_orgs_deal,
    ("POST", "/v1/attributed-deals/{deal_id}/recompute"): vendor_only(
        "POST", "/v1/attributed-deals/{deal_id}/recompute"),
    ("POST", "/v1/attribution-rules"): vendor_only("POST", "/v1/attribution-rules",
                                                   {"rules": {}}),
    ("GET", "/v1/attribution-rules"): programme_wide("/v1/attribution-rules"),
    ("GET", "/v1/attribution-rules/current"): programme_wide("/v1/attribution-rules/current"),
    ("GET", "/v1/attribution-rules/{version}"): programme_wide("/v1/attribution-rules/1"),
    ("GET", "/v1/attribution-kpis"): another_orgs_kpis,
    ("GET", "/v1/attribution-kpis/programme"): vendor_only(
        "GET", "/v1/attribution-kpis/programme?from=2026-01-01&to=2027-01-01"),
    ("GET", "/v1/attribution-kpis/mdf-activities"): another_orgs_mdf_activities,
    ("GET", "/v1/attribution-kpis/mdf-activity-types"): another_orgs_mdf_activity_types,
    ("GET", "/v1/attribution-kpis/campaigns"): another_orgs_campaigns,
    ("POST", "/v1/attribution-vendor-figures"): vendor_only(
        "POST", "/v1/attribution-vendor-figures",
        {"kind": "total_pipeline", "period_from": "2026-01-01", "period_to": "2026-02-01",
         "amount": {"amount": "1.00", "currency": "EUR"}}),
    ("GET", "/v1/attribution-vendor-figures"): vendor_only(
        "GET", "/v1/attribution-vendor-figures"),
}
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
    """As for a partner key: nothing of another org's touchpoints, credits or KPIs."""
    a, b = (as_role_user(org, prm_issuer, role) for org in orgs)
    with signing_in(app, prm_issuer):
        await CASES[route](client, a, b)


@pytest.mark.parametrize(("role", "route"), REFUSED, ids=role_route_id)
async def test_partner_users_are_refused_the_other_routes(app, client, prm_issuer,
                                                          role, route):
    partner_id = uuid.uuid4()
    with signing_in(app, prm_issuer):
        await check_refused(client, app, *route, prm_issuer.headers(role, partner_id=partner_id),
                            partner_id=str(partner_id))
