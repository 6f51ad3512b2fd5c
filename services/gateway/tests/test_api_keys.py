import asyncio
import datetime as dt
import hashlib
import uuid

from sqlalchemy import text

from prm_gateway.api_keys import service
from prm_gateway.config import Settings
from prm_gateway.main import create_app
from prm_stack.testing import committing_client

from .helpers import MAX_BODY, assert_problem, issue_key, known_partner


async def create_key(client, headers, **body):
    body = {"name": "integration", "scopes": ["partners:read"], **body}
    response = await client.post("/v1/api-keys", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def test_created_key_works_and_its_secret_is_shown_once(gateway, admin):
    response = await gateway.post("/v1/api-keys", headers=admin, json={
        "name": "CRM sync", "scopes": ["partners:read", "deals:read"]})
    assert response.status_code == 201
    created = response.json()
    key = created["key"]
    assert key.startswith("prm_") and len(key) >= 4 + 43
    assert created["prefix"] == key[:12] and created["status"] == "active"
    assert created["scopes"] == ["deals:read", "partners:read"]
    assert response.headers["location"] == f"/v1/api-keys/{created['id']}"

    assert (await gateway.get("/v1/partners", headers=bearer(key))).status_code == 200
    one = (await gateway.get(f"/v1/api-keys/{created['id']}", headers=admin)).json()
    listed = (await gateway.get("/v1/api-keys", headers=admin)).json()
    assert "key" not in one and one["last_used_at"] is not None
    assert created["id"] in [k["id"] for k in listed["items"]]
    assert all("key" not in k for k in listed["items"])
    assert key not in str(listed) + str(one)

    stored = (await gateway.connection.execute(
        text("SELECT * FROM api_keys WHERE id = :id"), {"id": created["id"]})).mappings().one()
    assert stored["secret_hash"] == hashlib.sha256(key.encode()).hexdigest()
    assert key not in str(dict(stored))


async def test_idempotent_create_never_stores_the_secret(gateway, admin):
    headers = {**admin, "Idempotency-Key": "create-key-1"}
    body = {"name": "retrying client", "scopes": ["deals:read"]}
    first = await gateway.post("/v1/api-keys", json=body, headers=headers)
    again = await gateway.post("/v1/api-keys", json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]
    assert first.json()["key"].startswith("prm_") and again.json()["key"] is None
    stored = (await gateway.connection.execute(
        text("SELECT body FROM idempotency_keys WHERE key = 'create-key-1'"))).scalar_one()
    assert first.json()["key"].encode() not in stored


async def test_revoked_key_is_refused_at_once(gateway, admin):
    created = await create_key(gateway, admin)
    assert (await gateway.get("/v1/partners", headers=bearer(created["key"]))).status_code == 200
    revoked = await gateway.post(f"/v1/api-keys/{created['id']}/revoke", headers=admin)
    assert revoked.status_code == 200
    assert revoked.json()["status"] == "revoked" and revoked.json()["revoked_at"]
    refused = await gateway.get("/v1/partners", headers=bearer(created["key"]))
    assert_problem(refused, 401, "unauthenticated")
    assert refused.headers["www-authenticate"].startswith("Bearer")
    again = await gateway.post(f"/v1/api-keys/{created['id']}/revoke", headers=admin)
    assert again.status_code == 200 and again.json()["revoked_at"] == revoked.json()["revoked_at"]


async def test_revocation_elsewhere_takes_effect_within_the_cache_time(start_gateway):
    gateway = await start_gateway(key_cache_seconds=0.2)
    headers = await issue_key(gateway, scopes=["partners:read"])
    assert (await gateway.get("/v1/partners", headers=headers)).status_code == 200
    digest = hashlib.sha256(headers["Authorization"].removeprefix("Bearer ").encode()).hexdigest()
    await gateway.connection.execute(
        text("UPDATE api_keys SET revoked_at = now() WHERE secret_hash = :h"), {"h": digest})
    await asyncio.sleep(0.3)
    assert_problem(await gateway.get("/v1/partners", headers=headers), 401, "unauthenticated")


async def test_expired_key_is_refused(gateway, admin):
    expires = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1)
    created = await create_key(gateway, admin, expires_at=expires.isoformat())
    assert (await gateway.get("/v1/partners", headers=bearer(created["key"]))).status_code == 200
    await asyncio.sleep(max(0.0, (expires - dt.datetime.now(dt.UTC)).total_seconds()) + 0.1)
    assert_problem(await gateway.get("/v1/partners", headers=bearer(created["key"])),
                   401, "unauthenticated")
    listed = (await gateway.get(f"/v1/api-keys/{created['id']}", headers=admin)).json()
    assert listed["status"] == "expired"


async def test_missing_or_bad_credentials_are_401(gateway, admin):
    for headers in ({}, {"Authorization": "Basic dXNlcjpwYXNz"}, {"Authorization": "Bearer "},
                    bearer("prm_" + "x" * 43), bearer("not-a-key")):
        for path in ("/v1/partners", "/v1/api-keys", "/v1/nothing-here"):
            response = await gateway.get(path, headers=headers)
            body = assert_problem(response, 401, "unauthenticated")
            assert response.headers["www-authenticate"] == 'Bearer realm="prm"'
            assert body["instance"] == path


async def test_unknown_routes_and_methods_are_problems(gateway, admin):
    assert_problem(await gateway.get("/v1/nothing-here", headers=admin), 404, "not-found")
    assert_problem(await gateway.get("/nothing-here"), 404, "not-found")
    assert_problem(await gateway.delete("/v1/api-keys", headers=admin), 405,
                   "method-not-allowed")


async def test_scopes_are_enforced(gateway, admin):
    reader = await issue_key(gateway, scopes=["api_keys:read", "deals:read"])
    assert_problem(await gateway.post("/v1/api-keys", headers=reader,
                                      json={"name": "x", "scopes": ["deals:read"]}),
                   403, "forbidden")
    assert_problem(await gateway.get("/v1/partners", headers=reader), 403, "forbidden")
    assert (await gateway.get("/v1/api-keys", headers=reader)).status_code == 200

    # A key manager cannot mint a key stronger than itself.
    manager = await issue_key(gateway, scopes=["api_keys:write", "partners:read"])
    assert_problem(await gateway.post("/v1/api-keys", headers=manager,
                                      json={"name": "x", "scopes": ["admin"]}), 403, "forbidden")
    assert (await gateway.post("/v1/api-keys", headers=manager,
                               json={"name": "x", "scopes": ["partners:read"]})).status_code == 201


async def test_key_shapes_are_validated(gateway, admin):
    partner = "0193c1c2-7e1a-7d2b-9a51-6f3f1c2d4e5f"
    past = (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)).isoformat()
    for body in ({"name": "x"},  # vendor keys need scopes
                 {"name": "x", "kind": "partner"},  # partner keys need their partner
                 {"name": "x", "kind": "partner", "partner_id": partner, "scopes": ["admin"]},
                 {"name": "x", "scopes": ["deals:read"], "partner_id": partner},
                 {"name": "x", "scopes": ["everything"]},
                 {"name": "x", "scopes": ["deals:read"], "expires_at": past},
                 {"name": "x", "scopes": ["deals:read"], "expires_at": "2099-01-01T00:00:00"}):
        response = await gateway.post("/v1/api-keys", json=body, headers=admin)
        assert_problem(response, 422, "validation-error")
    await known_partner(gateway, partner)
    created = await create_key(gateway, admin, kind="partner", partner_id=partner, scopes=None)
    from prm_platform.declaration import services

    defaults = sorted(scope.name for declaration in services() for scope in declaration.scopes
                      if scope.partner_default)
    assert {"deals:read", "deals:write", "partners:read"} <= set(defaults)
    assert created["scopes"] == defaults
    assert created["partner_id"] == partner


async def test_partner_keys_without_the_key_scopes_cannot_manage_keys(gateway):
    partner = await issue_key(gateway, kind="partner", scopes=["partners:read"],
                              partner_id="0193c1c2-7e1a-7d2b-9a51-6f3f1c2d4e5f")
    assert_problem(await gateway.get("/v1/api-keys", headers=partner), 403, "forbidden")


async def test_a_partners_administrator_manages_its_own_orgs_keys(gateway, admin):
    """A partner principal holding the api_keys scopes (its administrator's key here; a
    partner_admin user in test_roles) creates, lists and revokes its own org's partner keys,
    never another org's or the vendor's, and never one with scopes it lacks."""
    own, other = await known_partner(gateway), await known_partner(gateway)
    power = ["api_keys:read", "api_keys:write", "deals:read", "deals:write"]
    boss = await create_key(gateway, admin, kind="partner", partner_id=own, scopes=power)
    as_boss = bearer(boss["key"])

    made = await create_key(gateway, as_boss, kind="partner", partner_id=own,
                            scopes=["deals:read"])
    assert made["partner_id"] == own and made["created_by"] == boss["id"]
    assert (await gateway.get("/v1/deals", headers=bearer(made["key"]))).status_code == 200
    for body in ({"kind": "partner", "partner_id": other, "scopes": ["deals:read"]},
                 {"kind": "vendor", "scopes": ["deals:read"]},
                 {"kind": "partner", "partner_id": own, "scopes": ["incentives:read"]},
                 {"kind": "partner", "partner_id": own}):  # the defaults hold partners:read
        refused = await gateway.post("/v1/api-keys", headers=as_boss,
                                     json={"name": "x", **body})
        assert_problem(refused, 403, "forbidden")

    theirs = await create_key(gateway, admin, kind="partner", partner_id=other,
                              scopes=["deals:read"])
    vendors = await create_key(gateway, admin, scopes=["deals:read"])
    listed = (await gateway.get("/v1/api-keys", headers=as_boss)).json()
    assert {k["id"] for k in listed["items"]} == {boss["id"], made["id"]}
    # Asking for another org's keys narrows its own list to nothing (as every list does).
    listed = (await gateway.get("/v1/api-keys", headers=as_boss,
                                params={"partner_id": other})).json()
    assert listed["items"] == []
    for key in (theirs, vendors):
        assert_problem(await gateway.get(f"/v1/api-keys/{key['id']}", headers=as_boss),
                       404, "not-found")
        assert_problem(await gateway.post(f"/v1/api-keys/{key['id']}/revoke",
                                          headers=as_boss), 404, "not-found")
        still = (await gateway.get(f"/v1/api-keys/{key['id']}", headers=admin)).json()
        assert still["status"] == "active"

    stronger = await create_key(gateway, admin, kind="partner", partner_id=own,
                                scopes=["incentives:read"])
    assert_problem(await gateway.post(f"/v1/api-keys/{stronger['id']}/revoke",
                                      headers=as_boss), 403, "forbidden")
    revoked = await gateway.post(f"/v1/api-keys/{made['id']}/revoke", headers=as_boss)
    assert revoked.status_code == 200 and revoked.json()["status"] == "revoked"
    assert_problem(await gateway.get("/v1/deals", headers=bearer(made["key"])), 401,
                   "unauthenticated")


async def test_rate_limit_per_key(start_gateway):
    gateway = await start_gateway(rate_limit_per_minute=2)
    first, second = await issue_key(gateway), await issue_key(gateway)
    for _ in range(2):
        assert (await gateway.get("/v1/api-keys", headers=first)).status_code == 200
    limited = await gateway.get("/v1/api-keys", headers=first)
    assert_problem(limited, 429, "rate-limited")
    assert int(limited.headers["retry-after"]) >= 1
    assert (await gateway.get("/v1/api-keys", headers=second)).status_code == 200


async def test_partner_keys_only_for_partners_the_gateway_knows(start_gateway):
    gateway = await start_gateway(key_partner_wait_seconds=0)
    admin = await issue_key(gateway)
    unknown = "0193c1c2-7e1a-7d2b-9a51-6f3f1c2d4e5f"
    body = {"name": "partner CRM", "kind": "partner", "scopes": ["deals:read"]}
    refused = await gateway.post("/v1/api-keys", headers=admin,
                                 json={**body, "partner_id": unknown})
    problem = assert_problem(refused, 422, "key-partner-not-eligible")
    assert problem["errors"][0]["field"] == "partner_id"
    assert (await gateway.get("/v1/api-keys", headers=admin,
                              params={"partner_id": unknown})).json()["items"] == []

    # Known, in any status but offboarded: a suspended partner's key works once reactivated.
    for status in ("onboarding", "active", "suspended"):
        partner = await known_partner(gateway, status=status)
        created = await create_key(gateway, admin, **body, partner_id=partner)
        assert created["partner_id"] == partner
    suspended = await gateway.get("/v1/deals", headers=bearer(created["key"]))
    assert_problem(suspended, 403, "partner-inactive")

    offboarded = await known_partner(gateway, status="offboarded")
    refused = await gateway.post("/v1/api-keys", headers=admin,
                                 json={**body, "partner_id": offboarded})
    problem = assert_problem(refused, 422, "key-partner-not-eligible")
    assert problem["partner_status"] == "offboarded"
    # Reinstated (offboarded -> onboarding, a newer version): keys again.
    await known_partner(gateway, offboarded, status="onboarding", version=2)
    await create_key(gateway, admin, **body, partner_id=offboarded)
    # Vendor keys name no partner and need none.
    await create_key(gateway, admin)


async def test_a_partner_known_a_moment_later_gets_its_key(engines, migrated):
    """A partner created a moment ago: its event reaches the gateway while the key request
    waits for it. Committed for real (the standing arrives from another connection), then
    deleted."""
    app = create_app(Settings(max_body_bytes=MAX_BODY, key_partner_wait_seconds=5))
    engine = engines["gateway"]
    partner = uuid.uuid4()
    async with app.state.sessionmaker() as session:
        admin, secret = await service.issue(session, name="standing admin", kind="vendor",
                                            scopes=["admin"])
        await session.commit()
    made = [admin.id]

    async def arrives() -> None:
        await asyncio.sleep(0.3)
        async with engine.begin() as connection:
            await connection.execute(text(
                "INSERT INTO partner_standing (partner_id, status, version, updated_at) "
                "VALUES (:id, 'active', 1, now())"), {"id": partner})
    try:
        async with committing_client(app) as client:
            started = asyncio.get_running_loop().time()
            response, _ = await asyncio.gather(
                client.post("/v1/api-keys", headers={"Authorization": f"Bearer {secret}"},
                            json={"name": "just created", "kind": "partner",
                                  "partner_id": str(partner)}),
                arrives())
            assert response.status_code == 201, response.text
            made.append(uuid.UUID(response.json()["id"]))
            assert asyncio.get_running_loop().time() - started < 5
    finally:
        async with engine.begin() as connection:
            ids = [str(key_id) for key_id in made]
            await connection.execute(text(
                "DELETE FROM outbox WHERE key = ANY(CAST(:ids AS text[]))"), {"ids": ids})
            await connection.execute(text(
                "DELETE FROM api_keys WHERE id = ANY(CAST(:ids AS uuid[]))"), {"ids": ids})
            await connection.execute(text(
                "DELETE FROM partner_standing WHERE partner_id = :id"), {"id": partner})
