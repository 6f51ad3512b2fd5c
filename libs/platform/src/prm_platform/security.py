"""The authenticated principal and object-level authorisation helpers.

A service learns who calls in one of two ways: its own edge checks the caller's API key
(``prm_platform.credentials``), or the gateway did and forwards the principal in the
``X-PRM-Principal`` header: a short-lived JWT signed with the shared internal secret. Nothing
else is trusted: a bad signature or an expired token is a 401, and a tenant id sent by a client
in a body or query is never used to widen access.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from enum import StrEnum

import jwt
from fastapi import Request
from pydantic import BaseModel, Field
from starlette.datastructures import Headers

from prm_platform import cause
from prm_platform.declaration import ADMIN_SCOPE
from prm_platform.problems import Forbidden, NotFound, Unauthenticated, this_request_id

PRINCIPAL_HEADER = "x-prm-principal"
_ISSUER = "prm-gateway"
_AUDIENCE = "prm-services"
_ALGORITHM = "HS256"
TOKEN_TTL_SECONDS = 60
# The subject of a portal user (an OIDC token) is its ``sub`` claim under this prefix.
USER_PREFIX = "user:"
# Clock skew tolerated between the host that signs and the one that verifies.
CLOCK_LEEWAY_SECONDS = 5


class PrincipalKind(StrEnum):
    """Whom a credential acts for: the vendor (its staff and integrations) or one partner
    org."""

    vendor = "vendor"
    partner = "partner"


# Scopes are plain strings declared by the services that own them (``deals:write``; see
# ``prm_platform.declaration``). ``admin`` is the platform's own and implies every other scope.
ADMIN = ADMIN_SCOPE


class Principal(BaseModel):
    subject: str = Field(description="Id of the API key (or user) that made the call.")
    kind: PrincipalKind
    partner_id: uuid.UUID | None = None
    scopes: frozenset[str] = frozenset()
    # A portal user's (OIDC) roles and the identity claims a screen shows; none for API keys.
    roles: frozenset[str] = frozenset()
    name: str | None = None
    email: str | None = None
    locale: str | None = None

    @property
    def actor(self) -> str:
        """Who the events of this principal's requests name: ``user:<sub>`` or ``key:<id>``."""
        return self.subject if self.is_user else cause.KEY_PREFIX + self.subject

    @property
    def is_user(self) -> bool:
        """A person signed in through the identity provider, not an API key."""
        return self.subject.startswith(USER_PREFIX)

    def has_scope(self, scope: str) -> bool:
        return ADMIN in self.scopes or scope in self.scopes

    def require(self, scope: str) -> None:
        if not self.has_scope(scope):
            # The scope is named on its own too, for a portal to say which role would do.
            raise Forbidden(f"these credentials lack the {scope} scope", missing_scope=scope)

    @property
    def is_partner(self) -> bool:
        return self.kind is PrincipalKind.partner

    def can_see_partner(self, partner_id: uuid.UUID) -> bool:
        return not self.is_partner or self.partner_id == partner_id

    def ensure_visible(self, partner_id: uuid.UUID, what: str) -> None:
        """Object-level check. Another org's record is reported as absent, not forbidden, so a
        partner key cannot probe which ids exist."""
        if not self.can_see_partner(partner_id):
            raise NotFound(f"{what} not found")

    def ensure_vendor(self) -> None:
        if self.is_partner:
            raise Forbidden("only vendor keys may do this")


def sign_principal(principal: Principal, secret: str, *, ttl: int = TOKEN_TTL_SECONDS) -> str:
    now = int(time.time())
    claims = {
        "iss": _ISSUER,
        "aud": _AUDIENCE,
        "iat": now,
        "exp": now + ttl,
        "sub": principal.subject,
        "kind": principal.kind.value,
        "partner_id": str(principal.partner_id) if principal.partner_id else None,
        "scopes": sorted(principal.scopes),
    }
    if principal.is_user:
        claims.update(roles=sorted(principal.roles), name=principal.name,
                      email=principal.email, locale=principal.locale)
    return jwt.encode(claims, secret, algorithm=_ALGORITHM)


def verify_principal(token: str, secret: str, *, max_ttl: int = TOKEN_TTL_SECONDS) -> Principal:
    try:
        claims = jwt.decode(
            token, secret, algorithms=[_ALGORITHM], audience=_AUDIENCE, issuer=_ISSUER,
            leeway=CLOCK_LEEWAY_SECONDS,
            options={"require": ["exp", "iat", "sub", "aud", "iss"]},
        )
        # A correctly signed token that lives longer than any gateway issues is refused: a
        # leaked one must not stay usable for years.
        if not 0 < claims["exp"] - claims["iat"] <= max_ttl:
            raise Unauthenticated("the internal principal's lifetime is out of bounds")
        if claims["iat"] > time.time() + CLOCK_LEEWAY_SECONDS:
            raise Unauthenticated("the internal principal was issued in the future")
        return Principal(
            subject=claims["sub"],
            kind=PrincipalKind(claims["kind"]),
            partner_id=uuid.UUID(claims["partner_id"]) if claims.get("partner_id") else None,
            scopes=frozenset(claims.get("scopes") or ()),
            roles=frozenset(claims.get("roles") or ()),
            name=claims.get("name"), email=claims.get("email"), locale=claims.get("locale"),
        )
    except (jwt.PyJWTError, KeyError, ValueError):
        raise Unauthenticated("the internal principal is missing or invalid") from None


def vouched_principal(secret: str) -> Callable[[Headers], Principal | None]:
    """The edge's ``Vouched`` check of a service: the gateway's signed principal, if sent."""
    def vouched(headers: Headers) -> Principal | None:
        token = headers.get(PRINCIPAL_HEADER)
        return None if token is None else verify_principal(token, secret)
    return vouched


def authenticate(request: Request) -> Principal:
    """Verify the forwarded principal once per request and keep it on the request state."""
    principal = getattr(request.state, "principal", None)
    if principal is None:
        token = request.headers.get(PRINCIPAL_HEADER)
        if not token:
            raise Unauthenticated("requests must come through the gateway with credentials")
        principal = verify_principal(token, request.app.state.internal_secret)
        request.state.principal = principal
        # The events this request publishes name its caller and its request id (the edge
        # did so already when it put the principal on the request).
        cause.set_current(cause.Cause(principal.actor, this_request_id()))
    return principal


async def current_principal(request: Request) -> Principal:
    """FastAPI dependency (async: a sync one would cost a threadpool hop per request)."""
    return authenticate(request)
