"""Object-level authorisation (OWASP API1): a partner key of org B reaches none of org A's
records, route by route. Every route of the app must have its case here, so that a new endpoint
without one fails this file."""

import pytest
from sqlalchemy import text

from prm_stack.testing import guarded_routes


@pytest.fixture
async def orgs(client, vendor, as_partner):
    """Two active orgs; returns (a, b) as (partner json, partner-key headers)."""
    found = []
    for name in ("Org A", "Org B"):
        created = (await client.post("/v1/partners", json={
            "name": name, "type": "reseller", "country": "GB"}, headers=vendor)).json()
        created = (await client.post(f"/v1/partners/{created['id']}/activate",
                                     headers=vendor)).json()
        found.append((created, as_partner(created["id"])))
    return found


async def outbox_count(client, partner_id) -> int:
    return (await client.connection.execute(
        text("SELECT count(*) FROM outbox WHERE key = :k"), {"k": partner_id})).scalar_one()


async def create_partner(client, a, b):
    # no partner key may create organisations, its own or any other
    response = await client.post("/v1/partners", json={
        "name": "Sneaky", "type": "msp", "country": "GB"}, headers=b[1])
    assert response.status_code == 403
    assert response.json()["type"] == "/problems/forbidden"


async def list_partners(client, a, b):
    seen = (await client.get("/v1/partners", headers=b[1])).json()["items"]
    assert [p["id"] for p in seen] == [b[0]["id"]]
    filtered = (await client.get("/v1/partners?country=GB&status=active",
                                 headers=b[1])).json()["items"]
    assert a[0]["id"] not in {p["id"] for p in filtered}


async def get_partner(client, a, b):
    hidden = await client.get(f"/v1/partners/{a[0]['id']}", headers=b[1])
    assert hidden.status_code == 404  # not 403: B must not learn that the id exists
    assert (await client.get(f"/v1/partners/{b[0]['id']}", headers=b[1])).status_code == 200


async def update_partner(client, a, b):
    before = await outbox_count(client, a[0]["id"])
    hidden = await client.patch(f"/v1/partners/{a[0]['id']}", json={"name": "Taken"},
                                headers=b[1])
    assert hidden.status_code == 404
    assert await outbox_count(client, a[0]["id"]) == before
    own = await client.patch(f"/v1/partners/{b[0]['id']}", json={"name": "B renamed"},
                             headers=b[1])
    assert own.status_code == 200 and own.json()["name"] == "B renamed"
    # a partner may rename itself but not change what the vendor decides
    retype = await client.patch(f"/v1/partners/{b[0]['id']}", json={"type": "distributor"},
                                headers=b[1])
    assert retype.status_code == 403


def lifecycle_case(action):
    async def case(client, a, b):
        before = await outbox_count(client, a[0]["id"])
        other = await client.post(f"/v1/partners/{a[0]['id']}/{action}", headers=b[1])
        assert other.status_code == 404
        own = await client.post(f"/v1/partners/{b[0]['id']}/{action}", headers=b[1])
        assert own.status_code == 403  # lifecycle actions are the vendor's
        assert await outbox_count(client, a[0]["id"]) == before
    return case


CASES = {
    ("POST", "/v1/partners"): create_partner,
    ("GET", "/v1/partners"): list_partners,
    ("GET", "/v1/partners/{partner_id}"): get_partner,
    ("PATCH", "/v1/partners/{partner_id}"): update_partner,
    ("POST", "/v1/partners/{partner_id}/activate"): lifecycle_case("activate"),
    ("POST", "/v1/partners/{partner_id}/suspend"): lifecycle_case("suspend"),
    ("POST", "/v1/partners/{partner_id}/terminate"): lifecycle_case("terminate"),
}
PUBLIC = {("GET", "/healthz"), ("GET", "/readyz")}


def test_every_route_has_a_case(app):
    assert guarded_routes(app, PUBLIC) == set(CASES), \
        "add a BOLA case for each new route (and drop stale ones)"


@pytest.mark.parametrize("route", sorted(CASES), ids=" ".join)
async def test_another_orgs_records_are_out_of_reach(client, orgs, route):
    await CASES[route](client, *orgs)
