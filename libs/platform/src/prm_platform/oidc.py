"""End users of portals: OIDC bearer tokens (JWTs) from the vendor's identity provider.

A token is accepted when it is signed (RS256 or ES256 only: never ``none``, never an HMAC that a
public key could be abused as) by a key of the issuer's JWKS, for the configured audience and
issuer, and within its lifetime (with a little clock leeway). Keys are cached; an unknown ``kid``
refetches the JWKS (key rotation), at most once per ``refetch_interval``.

Claims map to a principal. The roles (the ``roles`` claim by default: a list, or a string of
space-separated names) give the scopes, through the role -> scopes map the services declare
(``prm_platform.declaration``), as configuration overrides it:

* a token carrying the partner claim (``prm_partner_id`` by default) is a **partner user**,
  bound to that org, under the same object-level rules as partner keys. Only its partner roles
  count (``partner_admin``, ``partner_sales``, ...), and of their scopes only those a partner
  may hold. No partner role, no scope (fail closed), unless ``partner_default_role`` names the
  role such a user gets;
* any other is **vendor staff**: only vendor roles count (a partner role of a token without the
  partner claim gives nothing); no known role, no scope.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
import jwt

from prm_platform.problems import ServiceUnavailable, Unauthenticated
from prm_platform.security import USER_PREFIX, Principal, PrincipalKind

ALGORITHMS = ("RS256", "ES256")
LEEWAY_SECONDS = 30


@dataclass
class OidcSettings:
    issuer: str
    jwks_url: str
    audience: str
    roles_claim: str = "roles"
    # Vendor staff's roles -> scopes.
    role_scopes: Mapping[str, Collection[str]] = field(default_factory=dict)
    partner_claim: str = "prm_partner_id"
    # Partner users' roles -> scopes, and the scopes a partner user may hold at most.
    partner_role_scopes: Mapping[str, Collection[str]] = field(default_factory=dict)
    partner_grantable: Collection[str] = ()
    # The role a partner user whose token names no partner role gets (None: no scope at all).
    partner_default_role: str | None = None
    cache_seconds: float = 3600.0
    refetch_interval: float = 30.0


class OidcVerifier:
    def __init__(self, settings: OidcSettings, http: httpx.AsyncClient | None = None) -> None:
        self.settings = settings
        self._http = http
        self._keys: dict[str, Any] = {}
        self._fetched = 0.0
        self._lock = asyncio.Lock()

    async def _fetch(self) -> None:
        http = self._http or httpx.AsyncClient(timeout=5, trust_env=False)
        try:
            response = await http.get(self.settings.jwks_url)
            response.raise_for_status()
            keys = {}
            for jwk in response.json().get("keys", []):
                if jwk.get("use", "sig") != "sig" or "kid" not in jwk:
                    continue
                try:
                    keys[jwk["kid"]] = jwt.PyJWK(jwk)
                except (jwt.PyJWKError, jwt.InvalidKeyError):
                    continue  # a key type we do not use
            self._keys = keys
        except (httpx.HTTPError, ValueError) as exc:
            raise ServiceUnavailable(f"the identity provider's keys cannot be read: {exc!r}",
                                     headers={"Retry-After": "5"}) from None
        finally:
            self._fetched = time.monotonic()
            if self._http is None:
                await http.aclose()

    async def _key(self, kid: str) -> Any:
        age = time.monotonic() - self._fetched
        if kid not in self._keys or age > self.settings.cache_seconds:
            async with self._lock:
                age = time.monotonic() - self._fetched
                stale = age > self.settings.cache_seconds
                if stale or (kid not in self._keys and age > self.settings.refetch_interval):
                    await self._fetch()
        if kid not in self._keys:
            raise Unauthenticated("the token is signed by a key the issuer does not publish")
        return self._keys[kid]

    async def principal(self, token: str) -> Principal:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise Unauthenticated("the bearer token is not a valid JWT") from None
        if header.get("alg") not in ALGORITHMS:
            raise Unauthenticated(f"tokens must be signed with {' or '.join(ALGORITHMS)}")
        key = await self._key(str(header.get("kid", "")))
        if key.algorithm_name != header["alg"]:
            raise Unauthenticated("the token's algorithm does not match its key")
        try:
            claims = jwt.decode(token, key.key, algorithms=[header["alg"]],
                                audience=self.settings.audience, issuer=self.settings.issuer,
                                leeway=LEEWAY_SECONDS,
                                options={"require": ["exp", "iat", "iss", "aud", "sub"]})
        except jwt.PyJWTError as exc:
            raise Unauthenticated(f"the bearer token is not accepted: {exc}") from None
        return self._map(claims)

    def _roles(self, claims: Mapping[str, Any]) -> list[str]:
        roles = claims.get(self.settings.roles_claim) or []
        if isinstance(roles, str):
            roles = roles.split()
        if not isinstance(roles, list):
            return []
        return [role for role in roles if isinstance(role, str)]

    def _map(self, claims: Mapping[str, Any]) -> Principal:
        subject = f"{USER_PREFIX}{claims['sub']}"
        roles = self._roles(claims)
        identity = {name: value[:200] for name in ("name", "email", "locale")
                    if isinstance(value := claims.get(name), str)}
        partner = claims.get(self.settings.partner_claim)
        if partner is not None:
            try:
                partner_id = uuid.UUID(str(partner))
            except ValueError:
                raise Unauthenticated("the token's partner claim is not a partner id") from None
            known = [role for role in roles if role in self.settings.partner_role_scopes]
            if not known and self.settings.partner_default_role is not None:
                known = [self.settings.partner_default_role]
            scopes = {scope for role in known
                      for scope in self.settings.partner_role_scopes.get(role, ())}
            return Principal(subject=subject, kind=PrincipalKind.partner, partner_id=partner_id,
                             scopes=frozenset(scopes) & frozenset(self.settings.partner_grantable),
                             roles=frozenset(known), **identity)
        known = [role for role in roles if role in self.settings.role_scopes]
        scopes = {scope for role in known for scope in self.settings.role_scopes[role]}
        return Principal(subject=subject, kind=PrincipalKind.vendor, scopes=frozenset(scopes),
                         roles=frozenset(known), **identity)
