"""End users of portals: OIDC bearer tokens (JWTs) from the vendor's identity provider.

A token is accepted when it is signed (RS256 or ES256 only: never ``none``, never an HMAC that a
public key could be abused as) by a key of the issuer's JWKS, for the configured audience and
issuer, and within its lifetime (with a little clock leeway). Keys are cached; an unknown ``kid``
refetches the JWKS (key rotation), at most once per ``refetch_interval``.

Claims map to a principal:

* a token carrying the partner claim (``prm_partner_id`` by default) is a **partner user**,
  bound to that org, with the partner scopes, under the same object-level rules as partner keys;
* any other is **vendor staff**, whose scopes come from their roles (the ``roles`` claim by
  default) through the configured role -> scopes map; no known role, no scope.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
import jwt

from prm_platform.problems import ServiceUnavailable, Unauthenticated
from prm_platform.security import Principal, PrincipalKind

ALGORITHMS = ("RS256", "ES256")
LEEWAY_SECONDS = 30


@dataclass
class OidcSettings:
    issuer: str
    jwks_url: str
    audience: str
    roles_claim: str = "roles"
    role_scopes: Mapping[str, Sequence[str]] = field(default_factory=dict)
    partner_claim: str = "prm_partner_id"
    partner_scopes: Sequence[str] = ()
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

    def _map(self, claims: Mapping[str, Any]) -> Principal:
        subject = f"user:{claims['sub']}"
        partner = claims.get(self.settings.partner_claim)
        if partner is not None:
            try:
                partner_id = uuid.UUID(str(partner))
            except ValueError:
                raise Unauthenticated("the token's partner claim is not a partner id") from None
            return Principal(subject=subject, kind=PrincipalKind.partner, partner_id=partner_id,
                             scopes=frozenset(self.settings.partner_scopes))
        roles = claims.get(self.settings.roles_claim) or []
        if isinstance(roles, str):
            roles = roles.split()
        scopes = {scope for role in roles if isinstance(role, str)
                  for scope in self.settings.role_scopes.get(role, ())}
        return Principal(subject=subject, kind=PrincipalKind.vendor, scopes=frozenset(scopes))
