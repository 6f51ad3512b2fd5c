"""Object-level authorisation (OWASP API1): a partner key of org B reaches none of org A's
records, route by route. Every route of the app must have its case, here or in the
``bola_<part>.py`` file of its part of the programme (each a ``CASES`` dict of the same shape),
so that a new endpoint without one fails this file.

A case is ``async def case(client, a, b, vendor)``: ``a`` and ``b`` are two active orgs as
(partner json, partner-key headers with every partner scope), ``vendor`` a vendor key's headers
with every scope."""

import importlib.util
from pathlib import Path

import pytest
from sqlalchemy import text

from prm_platform.declaration import PARTNER_ROLES
from prm_stack.testing import (
    by_role,
    check_refused,
    guarded_routes,
    role_route_id,
    signing_in,
)


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


async def create_partner(client, a, b, vendor):
    # no partner key may create organisations, its own or any other
    response = await client.post("/v1/partners", json={
        "name": "Sneaky", "type": "msp", "country": "GB"}, headers=b[1])
    assert response.status_code == 403
    assert response.json()["type"] == "/problems/forbidden"


async def list_partners(client, a, b, vendor):
    seen = (await client.get("/v1/partners", headers=b[1])).json()["items"]
    assert [p["id"] for p in seen] == [b[0]["id"]]
    filtered = (await client.get("/v1/partners?country=GB&status=active",
                                 headers=b[1])).json()["items"]
    assert a[0]["id"] not in {p["id"] for p in filtered}


async def get_partner(client, a, b, vendor):
    hidden = await client.get(f"/v1/partners/{a[0]['id']}", headers=b[1])
    assert hidden.status_code == 404  # not 403: B must not learn that the id exists
    assert (await client.get(f"/v1/partners/{b[0]['id']}", headers=b[1])).status_code == 200


async def update_partner(client, a, b, vendor):
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
    async def case(client, a, b, vendor):
        before = await outbox_count(client, a[0]["id"])
        other = await client.post(f"/v1/partners/{a[0]['id']}/{action}", headers=b[1],
                                  json={"reason": "because"})
        assert other.status_code == 404
        own = await client.post(f"/v1/partners/{b[0]['id']}/{action}", headers=b[1],
                                json={"reason": "because"})
        assert own.status_code == 403  # lifecycle actions are the vendor's
        assert await outbox_count(client, a[0]["id"]) == before
    return case


async def upsert_partner(client, a, b, vendor):
    # integrations of the vendor only: a partner key can neither create nor take over an org
    # by its CRM id
    await client.put("/v1/partners-by-external-id/crm-a", json={
        "name": "A", "type": "reseller", "country": "GB"}, headers=vendor)
    taken = await client.put("/v1/partners-by-external-id/crm-a", json={
        "name": "Taken", "type": "reseller", "country": "GB"}, headers=b[1])
    assert taken.status_code == 403
    new = await client.put("/v1/partners-by-external-id/crm-b", json={
        "name": "New", "type": "reseller", "country": "GB"}, headers=b[1])
    assert new.status_code == 403


async def distributor_reads_granted_resellers_only(client, a, b, vendor):
    """Two-tier: B becomes a distributor; A is its reseller. B reads A only once A granted
    access, and never writes it."""
    url_a, url_b = f"/v1/partners/{a[0]['id']}", f"/v1/partners/{b[0]['id']}"
    assert (await client.patch(url_b, json={"type": "distributor"}, headers=vendor)
            ).status_code == 200
    assert (await client.patch(url_a, json={"parent_id": b[0]["id"]}, headers=vendor)
            ).status_code == 200
    assert (await client.get(url_a, headers=b[1])).status_code == 404
    listed = (await client.get("/v1/partners", headers=b[1])).json()["items"]
    assert [p["id"] for p in listed] == [b[0]["id"]]
    assert (await client.patch(url_a, json={"parent_access": True}, headers=vendor)
            ).status_code == 200
    assert (await client.get(url_a, headers=b[1])).status_code == 200
    listed = (await client.get("/v1/partners", headers=b[1])).json()["items"]
    assert {p["id"] for p in listed} == {a[0]["id"], b[0]["id"]}
    # reading is all: no writes on the reseller's record
    assert (await client.patch(url_a, json={"name": "Mine"}, headers=b[1])).status_code == 404
    # and the reseller does not see its distributor's record
    assert (await client.get(url_b, headers=a[1])).status_code == 404


CASES = {
    ("POST", "/v1/partners"): create_partner,
    ("GET", "/v1/partners"): list_partners,
    ("GET", "/v1/partners/{partner_id}"): get_partner,
    ("PATCH", "/v1/partners/{partner_id}"): update_partner,
    ("PUT", "/v1/partners-by-external-id/{external_id}"): upsert_partner,
    **{("POST", f"/v1/partners/{{partner_id}}/{action}"): lifecycle_case(action)
       for action in ("start-onboarding", "activate", "suspend", "offboard", "reinstate")},
}


async def test_two_tier_access(client, orgs, vendor):
    await distributor_reads_granted_resellers_only(client, *orgs, vendor)
PUBLIC = {("GET", "/healthz"), ("GET", "/readyz")}


def _part_cases() -> dict:
    found = {}
    for path in sorted(Path(__file__).parent.glob("bola_*.py")):
        spec = importlib.util.spec_from_file_location(f"partners_{path.stem}", path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        if overlap := set(found) & set(module.CASES):
            raise AssertionError(f"{path.name}: cases defined twice: {sorted(overlap)}")
        found.update(module.CASES)
    return found


CASES.update(_part_cases())


def test_every_route_has_a_case(app):
    assert guarded_routes(app, PUBLIC) == set(CASES), \
        "add a BOLA case for each new route (and drop stale ones)"


@pytest.mark.parametrize("route", sorted(CASES), ids=" ".join)
async def test_another_orgs_records_are_out_of_reach(client, orgs, vendor, route):
    await CASES[route](client, *orgs, vendor)


# Partner users signed in by OIDC, one per partner role, on every route: those the role's
# scopes cover (as the contract lists them) and the others.
REACHED, REFUSED = by_role(CASES, PARTNER_ROLES)


@pytest.mark.parametrize(("role", "route"), REACHED, ids=role_route_id)
async def test_partner_users_reach_their_roles_routes(app, client, orgs, vendor, prm_issuer,
                                                      role, route):
    """As for a partner key: nothing of another org. Every role reads its own org and the
    programme; its administrator changes the org's details and manages its contacts."""
    a, b = ((org, prm_issuer.headers(role, partner_id=org["id"])) for org, _ in orgs)
    with signing_in(app, prm_issuer):
        await CASES[route](client, a, b, vendor)


@pytest.mark.parametrize(("role", "route"), REFUSED, ids=role_route_id)
async def test_partner_users_are_refused_the_other_routes(app, client, orgs, prm_issuer, role,
                                                          route):
    """Even on the org's own record."""
    _, (b, _) = orgs
    with signing_in(app, prm_issuer):
        await check_refused(client, app, *route, prm_issuer.headers(role, partner_id=b["id"]),
                            partner_id=b["id"])
