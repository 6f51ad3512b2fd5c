"""Roles through the gateway: users of the identity provider, signed in by OIDC, one per vendor
and partner role, walk every operation of the contract. Each reaches exactly the operations
whose scopes (as the contract lists them) its role holds; every other is a 403."""

import pytest

from prm_platform.declaration import PARTNER_ROLES, VENDOR_ROLES, is_partner_role
from prm_stack.testing import missing_scope, role_scopes, sample_request

from .helpers import assert_problem, issue_key, known_partner

_METHODS = ("get", "put", "post", "patch", "delete")


@pytest.fixture
async def oidc_gateway(start_gateway, prm_issuer):
    return await start_gateway(oidc_issuer=prm_issuer.url, oidc_jwks_url=prm_issuer.jwks_url,
                               oidc_audience="prm-portal")


def streams(operation) -> bool:
    """An operation whose answer is a server-sent events stream: it stays open for minutes, so
    a walk that reads every answer whole cannot take it (the in-process upstream answers only
    when the stream ends). Its refusals are checked on their own below."""
    return "text/event-stream" in operation["responses"].get("200", {}).get("content", {})


def operations(contract):
    for path, item in contract["paths"].items():
        for method, operation in item.items():
            if method in _METHODS and not streams(operation):
                yield method, path, operation


async def test_a_stream_is_refused_to_credentials_without_its_scope(oidc_gateway, prm_issuer):
    contract = (await oidc_gateway.get("/openapi.json")).json()
    streamed = [(method, path) for path, item in contract["paths"].items()
                for method, operation in item.items()
                if method in _METHODS and streams(operation)]
    assert streamed == [("get", "/v1/notifications/stream")]
    key = await issue_key(oidc_gateway, scopes=["deals:read"])
    assert_problem(await oidc_gateway.get("/v1/notifications/stream", headers=key),
                   403, "forbidden")
    assert_problem(await oidc_gateway.get("/v1/notifications/stream"), 401, "unauthenticated")


@pytest.mark.parametrize("role", VENDOR_ROLES + PARTNER_ROLES)
async def test_each_role_reaches_exactly_the_operations_its_scopes_cover(oidc_gateway,
                                                                         prm_issuer, role):
    contract = (await oidc_gateway.get("/openapi.json")).json()
    own = await known_partner(oidc_gateway) if is_partner_role(role) else None
    user = prm_issuer.headers(role, partner_id=own)
    held = role_scopes(role)
    wrong, reached = [], 0
    for method, path, operation in operations(contract):
        needed = set(operation["security"][1]["Oidc"])
        assert needed == set(operation["security"][0]["ApiKey"])
        request = sample_request(contract, method, path, **({"partner_id": own} if own else {}))
        response = await request.send(oidc_gateway, user)
        where = f"{method.upper()} {path} ({', '.join(sorted(needed))})"
        if "admin" in held or needed <= held:
            reached += 1
            # Past every scope check: what the record, the body or the caller's kind decides.
            if missing_scope(response) or response.status_code == 401 \
                    or response.status_code >= 500:
                wrong.append(f"{where}: {response.status_code} {response.text[:200]}")
        elif response.status_code != 403 or \
                response.json()["type"] != "/problems/forbidden":
            wrong.append(f"{where}: {response.status_code}, not refused")
    assert not wrong, "\n".join(wrong)
    assert reached, f"{role} reaches nothing"


async def test_vendor_roles_reach_their_screens(oidc_gateway, prm_issuer):
    admin = await issue_key(oidc_gateway)
    partner = (await oidc_gateway.post("/v1/partners", headers=admin, json={
        "name": "Screens GmbH", "type": "msp", "country": "DE"})).json()
    contacts = f"/v1/partners/{partner['id']}/contacts"
    screens = {
        # Finance reads and runs the incentives, reads partners and deals, changes neither.
        "finance": ({"/v1/mdf/budgets", "/v1/mdf/claims", "/v1/payouts/batches",
                     "/v1/spiffs", "/v1/ledger/accounts", "/v1/partners", "/v1/deals"},
                    {contacts, "/v1/direct-accounts", "/v1/api-keys"}),
        "marketing": ({"/v1/mdf/budgets", "/v1/mdf/requests", "/v1/partners"},
                      {"/v1/deals", "/v1/ledger/accounts", contacts}),
        "channel_manager": ({"/v1/partners", contacts, "/v1/deals", "/v1/direct-accounts",
                             "/v1/partner-applications", "/v1/mdf/requests"},
                            {"/v1/ledger/accounts", "/v1/api-keys", "/v1/webhook-endpoints"}),
        "read_only": ({"/v1/partners", contacts, "/v1/deals", "/v1/mdf/budgets",
                       "/v1/ledger/accounts", "/v1/api-keys", "/v1/webhook-endpoints"}, set()),
    }
    for role, (reached, refused) in screens.items():
        user = prm_issuer.headers(role)
        for path in reached:
            answer = await oidc_gateway.get(path, headers=user)
            assert answer.status_code == 200, (role, path, answer.text)
        for path in refused:
            assert_problem(await oidc_gateway.get(path, headers=user), 403, "forbidden")
    # Reading is all read_only does; finance registers no partner.
    for role in ("read_only", "finance", "marketing"):
        assert_problem(await oidc_gateway.post("/v1/partners", headers=prm_issuer.headers(role),
                                               json={"name": "No", "type": "msp",
                                                     "country": "DE"}), 403, "forbidden")


async def test_a_partner_admin_user_manages_its_orgs_keys(oidc_gateway, prm_issuer):
    own, other = await known_partner(oidc_gateway), await known_partner(oidc_gateway)
    boss = prm_issuer.headers("partner_admin", partner_id=own)
    created = await oidc_gateway.post("/v1/api-keys", headers=boss, json={
        "name": "Our PSA", "kind": "partner", "partner_id": own,
        "scopes": ["deals:read", "deals:write"]})
    assert created.status_code == 201, created.text
    key = created.json()
    assert key["created_by"] == f"user:partner_admin-{own}"
    listed = (await oidc_gateway.get("/v1/api-keys", headers=boss)).json()["items"]
    assert [k["id"] for k in listed] == [key["id"]]
    # Never for another org, never a vendor key.
    for body in ({"kind": "partner", "partner_id": other, "scopes": ["deals:read"]},
                 {"kind": "vendor", "scopes": ["deals:read"]}):
        assert_problem(await oidc_gateway.post("/v1/api-keys", headers=boss,
                                               json={"name": "x", **body}), 403, "forbidden")
    # The org's other users manage no keys.
    for role in ("partner_sales", "partner_finance", "partner_marketing"):
        user = prm_issuer.headers(role, partner_id=own)
        assert_problem(await oidc_gateway.get("/v1/api-keys", headers=user), 403, "forbidden")
        assert_problem(await oidc_gateway.post(f"/v1/api-keys/{key['id']}/revoke",
                                               headers=user), 403, "forbidden")
    # Another org's administrator does not even see it.
    theirs = prm_issuer.headers("partner_admin", partner_id=other)
    assert_problem(await oidc_gateway.post(f"/v1/api-keys/{key['id']}/revoke", headers=theirs),
                   404, "not-found")
    revoked = await oidc_gateway.post(f"/v1/api-keys/{key['id']}/revoke", headers=boss)
    assert revoked.status_code == 200 and revoked.json()["status"] == "revoked"
