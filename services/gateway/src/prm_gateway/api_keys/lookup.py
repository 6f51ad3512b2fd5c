"""The key owner's answer to a service that meets a key its directory does not hold yet.

A key's announcement reaches every service's key directory within moments, but a client may use
a key the instant it was created: the service then asks here, by the key's digest, once per key
(``prm_platform.credentials.KeyDirectory``). Internal only: the caller must send a principal
signed with the internal secret (which the edge strips from every outside request).
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from prm_gateway.api_keys import repository
from prm_platform.credentials import LOOKUP_PATH
from prm_platform.problems import NotFound, Unauthenticated
from prm_platform.security import PRINCIPAL_HEADER, verify_principal

router = APIRouter(include_in_schema=False)


@router.get(LOOKUP_PATH + "/{digest}")
async def lookup_key(digest: str, request: Request) -> Response:
    token = request.headers.get(PRINCIPAL_HEADER)
    if token is None:
        raise Unauthenticated("internal lookups need a signed principal")
    verify_principal(token, request.app.state.internal_secret)
    if len(digest) != 64 or not digest.isalnum():
        raise NotFound("no such key")
    async with request.app.state.sessionmaker() as session:
        key = await repository.by_secret_hash(session, digest.lower())
    if key is None:
        raise NotFound("no such key")
    return JSONResponse({
        "key_id": str(key.id), "kind": key.kind,
        "partner_id": str(key.partner_id) if key.partner_id else None, "scopes": key.scopes,
        "expires_at": key.expires_at.isoformat() if key.expires_at else None,
        "revoked": key.revoked_at is not None})
