"""The platform edge in the gateway: CORS for browser front ends, rate-limit headers, the
failed-authentication limit per client address, one limit for two replicas, and OIDC tokens
from a real local issuer."""

import asyncio
import base64
import hashlib
import hmac
import json
import math
import secrets
import time
import uuid

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import text

from prm_gateway.api_keys import service
from prm_gateway.config import Settings
from prm_gateway.main import create_app
from prm_stack.testing import Issuer, committing_client, jwk_number

from .helpers import MAX_BODY, assert_problem, issue_key

PORTAL = "https://portal.example.com"


async def test_cors_preflight_needs_no_credentials(start_gateway):
    gateway = await start_gateway(cors_origins=[PORTAL])
    preflight = await gateway.options("/v1/partners", headers={
        "Origin": PORTAL, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type, idempotency-key"})
    assert preflight.status_code == 200, preflight.text
    assert preflight.headers["access-control-allow-origin"] == PORTAL
    assert "POST" in preflight.headers["access-control-allow-methods"]
    allowed = preflight.headers["access-control-allow-headers"].lower()
    assert {"authorization", "idempotency-key", "if-match"} <= set(allowed.split(", "))
    assert "access-control-allow-credentials" not in preflight.headers
    # Other origins get no CORS grant.
    stranger = await gateway.options("/v1/partners", headers={
        "Origin": "https://evil.example", "Access-Control-Request-Method": "GET"})
    assert "access-control-allow-origin" not in stranger.headers


async def test_cors_exposes_the_headers_front_ends_read(start_gateway):
    gateway = await start_gateway(cors_origins=[PORTAL])
    admin = await issue_key(gateway)
    response = await gateway.post("/v1/partners", headers={**admin, "Origin": PORTAL}, json={
        "name": "Acme", "type": "msp", "country": "DE"})
    assert response.status_code == 201
    exposed = {h.strip().lower() for h in
               response.headers["access-control-expose-headers"].split(",")}
    assert {"etag", "location", "idempotent-replayed", "retry-after", "x-request-id",
            "ratelimit-limit", "ratelimit-remaining", "ratelimit-reset"} <= exposed


async def test_no_origin_is_allowed_by_default(gateway):
    preflight = await gateway.options("/v1/partners", headers={
        "Origin": PORTAL, "Access-Control-Request-Method": "GET"})
    assert "access-control-allow-origin" not in preflight.headers


async def test_rate_limit_headers_and_429(start_gateway):
    gateway = await start_gateway(rate_limit_per_minute=3)
    admin = await issue_key(gateway)
    seen = []
    for _ in range(3):
        response = await gateway.get("/v1/partners", headers=admin)
        assert response.status_code == 200
        seen.append(int(response.headers["ratelimit-remaining"]))
        assert response.headers["ratelimit-limit"] == "3"
    assert seen == [2, 1, 0]
    limited = await gateway.get("/v1/partners", headers=admin)
    assert_problem(limited, 429, "rate-limited")
    assert int(limited.headers["retry-after"]) >= 1


async def test_failed_authentication_is_limited_per_client_address(start_gateway):
    gateway = await start_gateway(failed_auth_per_minute=5)
    admin = await issue_key(gateway)
    statuses = []
    for _ in range(40):
        guess = "prm_" + secrets.token_urlsafe(32)
        statuses.append((await gateway.get("/v1/partners",
                                           headers={"Authorization": f"Bearer {guess}"}
                                           )).status_code)
    assert statuses[:5] == [401] * 5 and set(statuses[5:]) == {429}
    # A valid key is never refused for what others sent from the same address (behind a
    # proxy every client may share one).
    assert (await gateway.get("/v1/partners", headers=admin)).status_code == 200


async def test_forged_addresses_escape_nothing(start_gateway):
    """Rotating X-Forwarded-For through a trusted hop gives each guess a fresh address, but
    the budget of failures of every address together still runs out."""
    gateway = await start_gateway(failed_auth_per_minute=5, failed_auth_per_minute_total=12)

    async def guess(forged: str) -> int:
        key = "prm_" + secrets.token_urlsafe(32)
        return (await gateway.get("/v1/partners", headers={
            "Authorization": f"Bearer {key}", "X-Forwarded-For": forged})).status_code

    statuses = [await guess(f"198.51.100.{i}") for i in range(30)]
    assert statuses[:12] == [401] * 12 and set(statuses[12:]) == {429}
    admin = await issue_key(gateway)
    assert (await gateway.get("/v1/partners", headers=admin)).status_code == 200


async def test_forwarded_addresses_from_an_untrusted_peer_are_ignored(start_gateway):
    """A test of its own: the budgets are shared by every gateway on the database (its
    replicas), so the one spent above would refuse this gateway's first failure too."""
    untrusting = await start_gateway(failed_auth_per_minute=5, trusted_proxies=[])
    statuses = []
    for i in range(10):
        key = "prm_" + secrets.token_urlsafe(32)
        statuses.append((await untrusting.get("/v1/partners", headers={
            "Authorization": f"Bearer {key}", "X-Forwarded-For": f"203.0.113.{i}"}
        )).status_code)
    assert statuses[:5] == [401] * 5 and set(statuses[5:]) == {429}


async def test_unknown_keys_are_remembered_briefly(gateway):
    guess = "prm_" + secrets.token_urlsafe(32)
    for _ in range(3):
        response = await gateway.get("/v1/partners", headers={"Authorization": f"Bearer {guess}"})
        assert_problem(response, 401, "unauthenticated")
    keys = gateway.app.state.keys
    assert len(keys.unknown) == 1 and len(keys.known) == 0


# -- OIDC, against a real issuer on a local port -----------------------------------------------

@pytest.fixture(scope="module")
def issuer():
    issuer = Issuer()  # prm_stack.testing: a real JWKS on a local port
    yield issuer
    issuer.server.shutdown()


@pytest.fixture
async def oidc_gateway(start_gateway, issuer):
    return await start_gateway(oidc_issuer=issuer.url, oidc_jwks_url=issuer.url + "/jwks",
                               oidc_audience="prm-portal")


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_vendor_staff_roles_map_to_scopes(oidc_gateway, issuer):
    for alg in ("RS256", "ES256"):
        manager = bearer(issuer.token(alg=alg, roles=["channel_manager"]))
        created = await oidc_gateway.post("/v1/partners", headers=manager, json={
            "name": "Via portal", "type": "msp", "country": "DE"})
        assert created.status_code == 201, created.text
    finance = bearer(issuer.token(roles=["finance"]))
    assert (await oidc_gateway.get("/v1/partners", headers=finance)).status_code == 200
    assert_problem(await oidc_gateway.post("/v1/partners", headers=finance, json={
        "name": "No", "type": "msp", "country": "DE"}), 403, "forbidden")
    nobody = bearer(issuer.token(roles=["intern"]))
    assert_problem(await oidc_gateway.get("/v1/partners", headers=nobody), 403, "forbidden")


async def test_partner_users_see_only_their_org(oidc_gateway, issuer):
    admin = await issue_key(oidc_gateway)
    own = (await oidc_gateway.post("/v1/partners", headers=admin, json={
        "name": "Own", "type": "msp", "country": "DE"})).json()
    other = (await oidc_gateway.post("/v1/partners", headers=admin, json={
        "name": "Other", "type": "msp", "country": "DE"})).json()
    user = bearer(issuer.token(prm_partner_id=own["id"], roles=["partner_sales"]))
    listed = (await oidc_gateway.get("/v1/partners", headers=user)).json()
    assert [p["id"] for p in listed["items"]] == [own["id"]]
    assert_problem(await oidc_gateway.get(f"/v1/partners/{other['id']}", headers=user),
                   404, "not-found")
    assert_problem(await oidc_gateway.get("/v1/api-keys", headers=user), 403, "forbidden")
    # A partner user whose token names no partner role holds nothing (fail closed), and a
    # vendor role on a partner user counts for nothing.
    for roles in ([], ["admin"], ["channel_manager"]):
        nobody = bearer(issuer.token(prm_partner_id=own["id"], roles=roles))
        assert_problem(await oidc_gateway.get("/v1/partners", headers=nobody), 403,
                       "forbidden")


def _unsigned(issuer) -> str:
    header = base64.urlsafe_b64encode(b'{"alg":"none","kid":"rsa-1"}').rstrip(b"=")
    claims = {"iss": issuer.url, "aud": "prm-portal", "sub": "x", "iat": int(time.time()),
              "exp": int(time.time()) + 300, "roles": ["admin"]}
    payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=")
    return (header + b"." + payload + b".").decode()


def _hs256_with_public_key(issuer) -> str:
    # The classic confusion attack: an HMAC keyed with the (public) RSA key.
    now = int(time.time())
    claims = {"iss": issuer.url, "aud": "prm-portal", "sub": "x", "iat": now, "exp": now + 60,
              "roles": ["admin"]}
    header = base64.urlsafe_b64encode(b'{"alg":"HS256","kid":"rsa-1","typ":"JWT"}').rstrip(b"=")
    payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=")
    public = json.dumps(issuer.jwks["keys"][0]).encode()
    signature = hmac.new(public, header + b"." + payload, hashlib.sha256).digest()
    return (header + b"." + payload + b"." +
            base64.urlsafe_b64encode(signature).rstrip(b"=")).decode()


@pytest.mark.parametrize("bad", ["expired", "wrong-audience", "wrong-issuer", "unknown-kid",
                                 "alg-none", "hs256-public-key", "garbage"])
async def test_bad_tokens_are_refused(oidc_gateway, issuer, bad):
    now = int(time.time())
    token = {
        "expired": lambda: issuer.token(iat=now - 3600, exp=now - 600, roles=["admin"]),
        "wrong-audience": lambda: issuer.token(aud="someone-else", roles=["admin"]),
        "wrong-issuer": lambda: issuer.token(iss="https://other.example", roles=["admin"]),
        "unknown-kid": lambda: issuer.token(kid="rotated-away", roles=["admin"]),
        "alg-none": lambda: _unsigned(issuer),
        "hs256-public-key": lambda: _hs256_with_public_key(issuer),
        "garbage": lambda: "not.a.token",
    }[bad]()
    assert_problem(await oidc_gateway.get("/v1/partners", headers=bearer(token)), 401,
                   "unauthenticated")


async def test_rotated_keys_are_fetched_once(oidc_gateway, issuer):
    good = bearer(issuer.token(roles=["finance"]))
    assert (await oidc_gateway.get("/v1/partners", headers=good)).status_code == 200
    before = issuer.fetches
    for _ in range(5):
        assert (await oidc_gateway.get("/v1/partners", headers=good)).status_code == 200
    assert issuer.fetches == before, "keys are cached"
    # A new key appears at the issuer: the first token signed with it triggers one refetch.
    new = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    numbers = new.public_key().public_numbers()
    issuer.jwks["keys"].append({"kty": "RSA", "kid": f"rsa-{uuid.uuid4().hex[:6]}",
                                "use": "sig", "alg": "RS256", "n": jwk_number(numbers.n),
                                "e": jwk_number(numbers.e)})
    kid = issuer.jwks["keys"][-1]["kid"]
    now = int(time.time())
    rotated = jwt.encode({"iss": issuer.url, "aud": "prm-portal", "sub": "u", "iat": now,
                          "exp": now + 60, "roles": ["finance"]}, new, algorithm="RS256",
                         headers={"kid": kid})
    verifier = oidc_gateway.app.state.oidc
    verifier._fetched -= 60  # past the refetch interval, as after half a minute
    assert (await oidc_gateway.get("/v1/partners", headers=bearer(rotated))).status_code == 200
    assert issuer.fetches == before + 1


async def test_two_gateway_replicas_enforce_one_limit(engines):
    """Two gateways (two replicas: each its own engine and memory) on one database, serving
    one key in turn, commit for real: together they let through the key's limit once, not
    once each."""
    limit = 10
    replicas = [create_app(Settings(max_body_bytes=MAX_BODY, rate_limit_per_minute=limit))
                for _ in range(2)]
    async with replicas[0].state.sessionmaker() as session:
        key, secret = await service.issue(session, name=f"replicas {uuid.uuid4().hex[:8]}",
                                          kind="vendor", scopes=["api_keys:read"])
        await session.commit()
    bearer = {"Authorization": f"Bearer {secret}"}
    try:
        async with committing_client(replicas[0]) as first, \
                committing_client(replicas[1]) as second:
            started = time.monotonic()
            answers = await asyncio.gather(*(
                client.get("/v1/api-keys", headers=bearer, params={"limit": 1})
                for _ in range(limit) for client in (first, second)))
            refilled = math.ceil(limit / 60 * (time.monotonic() - started))
            served = [a for a in answers if a.status_code == 200]
            refused = [a for a in answers if a.status_code == 429]
            assert len(served) + len(refused) == 2 * limit
            assert limit <= len(served) <= limit + refilled, len(served)
            assert_problem(refused[0], 429, "rate-limited")
            assert {a.headers["ratelimit-limit"] for a in answers} == {str(limit)}
    finally:
        async with engines["gateway"].begin() as connection:
            await connection.execute(text("DELETE FROM outbox WHERE key = :id"),
                                     {"id": str(key.id)})
            await connection.execute(text("DELETE FROM api_keys WHERE id = :id"), {"id": key.id})
            await connection.execute(text("DELETE FROM rate_buckets WHERE subject = :id"),
                                     {"id": str(key.id)})
