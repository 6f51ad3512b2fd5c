"""Who am I: the caller as the services see it, and its org's card from the read model."""

from __future__ import annotations

import uuid
from enum import StrEnum
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field
from sqlalchemy import text

from prm_platform.http import Caller, ServiceRoute, Session
from prm_platform.problems import problem_responses
from prm_platform.security import PrincipalKind
from prm_portal.declaration import PORTAL_READ

router = APIRouter(prefix="/v1/me", tags=["me"], route_class=ServiceRoute,
                   responses=problem_responses(400, 401, 403, 422))


class CredentialKind(StrEnum):
    """How the caller signed in: an API `key`, or a portal `user` (an OIDC token)."""

    key = "key"
    user = "user"


class OrgCard(BaseModel):
    id: uuid.UUID
    name: str
    status: str
    tier: str | None


class Me(BaseModel):
    model_config = {"json_schema_extra": {"examples": [{
        "subject": "user:8c1e0a52", "kind": "partner", "credential": "user",
        "partner_id": "0191f3a4-0000-7000-8000-000000000001",
        "partner": {"id": "0191f3a4-0000-7000-8000-000000000001", "name": "Acme Cloud GmbH",
                    "status": "active", "tier": "Gold"},
        "roles": ["partner_sales"], "scopes": ["deals:read", "deals:write", "portal:read"],
        "name": "Jana Novak", "email": "jana@acme.example", "locale": "de-DE"}]}}

    subject: str = Field(description="The API key's id, or `user:` and the token's subject")
    kind: PrincipalKind = Field(description="vendor staff (or integration), or a partner's")
    credential: CredentialKind
    partner_id: uuid.UUID | None
    partner: OrgCard | None = Field(description="The caller's partner org as the read model "
                                    "holds it (null for the vendor, or before its first "
                                    "event arrived)")
    roles: list[str] = Field(description="A user's roles that count here (none for keys)")
    scopes: list[str]
    name: str | None = Field(description="A user's name, from the identity provider")
    email: str | None
    locale: str | None = Field(description="A user's preferred locale (BCP 47)")


@router.get("", summary="Who am I",
            description="The caller: vendor or partner, key or user, its org, roles and "
            "scopes, and a user's name, e-mail and locale from the identity provider. A "
            "portal's first call after signing in.")
async def me(session: Session, caller: Caller) -> Me:
    caller.require(PORTAL_READ)
    card: Any = None
    if caller.partner_id is not None:
        card = (await session.execute(text(
            "SELECT partner_id AS id, name, status, tier FROM partner_cards "
            "WHERE partner_id = :id"), {"id": caller.partner_id})).mappings().first()
    return Me(subject=caller.subject, kind=caller.kind,
              credential=CredentialKind.user if caller.is_user else CredentialKind.key,
              partner_id=caller.partner_id, partner=OrgCard(**card) if card else None,
              roles=sorted(caller.roles), scopes=sorted(caller.scopes), name=caller.name,
              email=caller.email, locale=caller.locale)
