"""Object-level authorisation (OWASP API1): a partner key of org B reaches none of org A's
endpoints, messages or attempts, route by route. Every route must have its case here."""

import uuid
from dataclasses import dataclass

import pytest
from sqlalchemy import text

from prm_platform.declaration import PARTNER_ROLES
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
    endpoint: dict
    message_id: str


@pytest.fixture
async def orgs(client, as_partner, create_endpoint) -> tuple[Org, Org]:
    """Two orgs, each with an endpoint and a test message to it."""
    found = []
    for _ in range(2):
        partner = uuid.uuid4()
        headers = as_partner(partner)
        endpoint = await create_endpoint(client, headers, "https://hooks.example.com/in")
        ping = await client.post(f"/v1/webhook-endpoints/{endpoint['id']}/test",
                                 headers=headers)
        assert ping.status_code == 202, ping.text
        found.append(Org(partner, headers, endpoint, ping.json()["id"]))
    return found[0], found[1]


async def _unchanged(client, a: Org) -> None:
    seen = await client.get(f"/v1/webhook-endpoints/{a.endpoint['id']}", headers=a.headers)
    assert seen.status_code == 200 and seen.json()["version"] == a.endpoint["version"]
    count = (await client.connection.execute(text(
        "SELECT count(*) FROM webhook_deliveries WHERE endpoint_id = :e"),
        {"e": a.endpoint["id"]})).scalar_one()
    assert count == 1


def on_a_endpoint(method: str, suffix: str, body: dict | None = None):
    async def case(client, a: Org, b: Org) -> None:
        response = await client.request(method, f"/v1/webhook-endpoints/{a.endpoint['id']}"
                                        f"{suffix}", json=body,
                                        headers={**b.headers, "If-Match": '"1"'})
        assert response.status_code == 404, response.text
        assert response.json()["type"] == "/problems/not-found"
        await _unchanged(client, a)
    return case


def on_a_message(method: str, suffix: str, body=None):
    async def case(client, a: Org, b: Org) -> None:
        payload = body(a, b) if callable(body) else body
        response = await client.request(method, f"/v1/webhook-messages/{a.message_id}{suffix}",
                                        json=payload, headers=b.headers)
        assert response.status_code == 404, response.text
        await _unchanged(client, a)
    return case


async def create_for_another_org(client, a: Org, b: Org) -> None:
    posing = await client.post("/v1/webhook-endpoints", headers=b.headers, json={
        "url": "https://b.example.com/in", "partner_id": str(a.partner_id)})
    assert posing.status_code == 422
    own = await client.post("/v1/webhook-endpoints", headers=b.headers,
                            json={"url": "https://b.example.com/in"})
    assert own.json()["partner_id"] == str(b.partner_id)


async def list_endpoints(client, a: Org, b: Org) -> None:
    seen = (await client.get("/v1/webhook-endpoints", headers=b.headers)).json()["items"]
    assert [e["id"] for e in seen] == [b.endpoint["id"]]


async def list_messages(client, a: Org, b: Org) -> None:
    for query in ("", f"?endpoint_id={a.endpoint['id']}"):
        seen = (await client.get(f"/v1/webhook-messages{query}", headers=b.headers)).json()
        assert a.message_id not in {m["id"] for m in seen["items"]}
    own = (await client.get("/v1/webhook-messages", headers=a.headers)).json()["items"]
    assert [m["id"] for m in own] == [a.message_id]


CASES = {
    ("POST", "/v1/webhook-endpoints"): create_for_another_org,
    ("GET", "/v1/webhook-endpoints"): list_endpoints,
    ("GET", "/v1/webhook-endpoints/{endpoint_id}"): on_a_endpoint("GET", ""),
    ("PATCH", "/v1/webhook-endpoints/{endpoint_id}"): on_a_endpoint(
        "PATCH", "", {"url": "https://b.example.com/stolen"}),
    ("DELETE", "/v1/webhook-endpoints/{endpoint_id}"): on_a_endpoint("DELETE", ""),
    ("POST", "/v1/webhook-endpoints/{endpoint_id}/rotate-secret"): on_a_endpoint(
        "POST", "/rotate-secret", {"overlap_hours": 1}),
    ("POST", "/v1/webhook-endpoints/{endpoint_id}/test"): on_a_endpoint("POST", "/test"),
    ("POST", "/v1/webhook-endpoints/{endpoint_id}/recover"): on_a_endpoint(
        "POST", "/recover", {"since": "2020-01-01T00:00:00Z"}),
    ("GET", "/v1/webhook-endpoints/{endpoint_id}/stats"): on_a_endpoint("GET", "/stats"),
    ("GET", "/v1/webhook-endpoints/{endpoint_id}/attempts"): on_a_endpoint("GET", "/attempts"),
    ("GET", "/v1/webhook-messages"): list_messages,
    ("GET", "/v1/webhook-messages/{message_id}"): on_a_message("GET", ""),
    ("GET", "/v1/webhook-messages/{message_id}/attempts"): on_a_message("GET", "/attempts"),
    ("POST", "/v1/webhook-messages/{message_id}/resend"): on_a_message(
        "POST", "/resend", lambda a, b: {"endpoint_id": a.endpoint["id"]}),
}


async def resend_to_own_endpoint(client, a: Org, b: Org) -> None:
    """B names its own endpoint for A's message: still nothing (no such delivery)."""
    response = await client.post(f"/v1/webhook-messages/{a.message_id}/resend",
                                 headers=b.headers, json={"endpoint_id": b.endpoint["id"]})
    assert response.status_code == 404


PUBLIC = {("GET", "/healthz"), ("GET", "/readyz")}


def test_every_route_has_a_case(app):
    assert guarded_routes(app, PUBLIC) == set(CASES), \
        "add a BOLA case for each new route (and drop stale ones)"


@pytest.mark.parametrize("route", sorted(CASES), ids=" ".join)
async def test_another_orgs_records_are_out_of_reach(client, orgs, route):
    await CASES[route](client, *orgs)


async def test_resend_of_another_orgs_message_to_own_endpoint(client, orgs):
    await resend_to_own_endpoint(client, *orgs)


# Partner users signed in by OIDC, one per partner role, on every route: those the role's
# scopes cover (as the contract lists them) and the others.
REACHED, REFUSED = by_role(CASES, PARTNER_ROLES)


@pytest.mark.parametrize(("role", "route"), REACHED, ids=role_route_id)
async def test_partner_users_reach_their_roles_routes(app, client, orgs, prm_issuer, role,
                                                      route):
    """As for a partner key: nothing of another org's endpoints and messages (its
    administrator's alone)."""
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
