"""Issuing, reading and revoking API keys.

A key is ``prm_`` + 32 random bytes (URL-safe base64). Only its SHA-256 digest is stored. A fast,
unsalted hash is the right tool here, unlike for passwords: slow salted hashes (bcrypt, argon2)
exist to make guessing low-entropy human secrets expensive, but a 256-bit random key cannot be
guessed, so there is nothing to slow down; and an unsalted digest can be looked up by index in
one query on every request, which a salted hash cannot.
"""

import datetime as dt
import secrets
import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from prm_contracts import ApiKeyIssuedV1, ApiKeyRevokedV1
from prm_events.outbox import publish
from prm_gateway.api_keys import repository
from prm_gateway.api_keys.models import ApiKey
from prm_gateway.api_keys.schemas import ApiKeyCreate
from prm_gateway.config import EVENT_SOURCE
from prm_gateway.declaration import API_KEYS_READ, API_KEYS_WRITE
from prm_platform.credentials import KEY_PREFIX, looks_like_key, secret_hash
from prm_platform.ids import new_id
from prm_platform.pagination import PageRequest
from prm_platform.problems import Forbidden, NotFound
from prm_platform.security import ADMIN, Principal, PrincipalKind

__all__ = ["KEY_PREFIX", "looks_like_key", "secret_hash"]  # for the gateway's own lookups

_SECRET_BYTES = 32
_DISPLAY_CHARS = 12


def principal_of(key: ApiKey) -> Principal:
    return Principal(subject=str(key.id), kind=PrincipalKind(key.kind),
                     partner_id=key.partner_id, scopes=frozenset(key.scopes))


async def issue(session: AsyncSession, *, name: str, kind: str, scopes: list[str],
                partner_id: uuid.UUID | None = None, expires_at: dt.datetime | None = None,
                created_by: str | None = None) -> tuple[ApiKey, str]:
    """Create a key without authorisation checks (the caller did them); returns it and its
    secret, which exists nowhere else from then on."""
    secret = KEY_PREFIX + secrets.token_urlsafe(_SECRET_BYTES)
    key = ApiKey(id=new_id(), name=name, kind=kind, partner_id=partner_id,
                 scopes=sorted({str(s) for s in scopes}), prefix=secret[:_DISPLAY_CHARS],
                 secret_hash=secret_hash(secret), created_by=created_by,
                 created_at=dt.datetime.now(dt.UTC), expires_at=expires_at)
    repository.add(session, key)
    await session.flush()
    # Services check keys themselves, against a directory fed by these events.
    await publish(session, ApiKeyIssuedV1(
        key_id=key.id, secret_hash=key.secret_hash, kind=key.kind, partner_id=key.partner_id,
        scopes=key.scopes, expires_at=key.expires_at), source=EVENT_SOURCE, aggregate_id=key.id,
        partner_id=key.partner_id)
    return key, secret


def _require(caller: Principal, scope: str) -> None:
    caller.require(scope)
    caller.ensure_vendor()


def _ensure_no_more_power(caller: Principal, scopes: list[str], doing: str) -> None:
    """A key may not create or revoke a key that can do more than itself: otherwise a key
    holding only api_keys:write could mint itself an admin key, or lock the admins out."""
    if caller.has_scope(ADMIN):
        return
    if missing := set(scopes) - caller.scopes:
        raise Forbidden(f"a key can {doing} only keys whose scopes it holds itself; "
                        f"lacking {sorted(missing)}")


async def create(session: AsyncSession, caller: Principal, data: ApiKeyCreate
                 ) -> tuple[ApiKey, str]:
    _require(caller, API_KEYS_WRITE)
    scopes = [str(scope) for scope in data.scopes or ()]  # always set once validated
    _ensure_no_more_power(caller, scopes, "create")
    return await issue(session, name=data.name, kind=data.kind, scopes=scopes,
                       partner_id=data.partner_id, expires_at=data.expires_at,
                       created_by=caller.subject)


async def get(session: AsyncSession, caller: Principal, key_id: uuid.UUID,
              *, for_update: bool = False) -> ApiKey:
    _require(caller, API_KEYS_READ)
    key = await repository.get(session, key_id, for_update=for_update)
    if key is None:
        raise NotFound("API key not found")
    return key


async def list_page(session: AsyncSession, caller: Principal, page: PageRequest,
                    partner_id: uuid.UUID | None) -> list[ApiKey]:
    _require(caller, API_KEYS_READ)
    return await repository.list_page(session, page, partner_id=partner_id)


async def revoke(session: AsyncSession, caller: Principal, key_id: uuid.UUID) -> ApiKey:
    """Revoking is final; revoking a revoked key changes nothing."""
    _require(caller, API_KEYS_WRITE)
    key = await get(session, caller, key_id, for_update=True)
    _ensure_no_more_power(caller, key.scopes, "revoke")
    if key.revoked_at is None:
        key.revoked_at = dt.datetime.now(dt.UTC)
        await session.flush()
        await publish(session, ApiKeyRevokedV1(key_id=key.id, revoked_at=key.revoked_at),
                      source=EVENT_SOURCE, aggregate_id=key.id, partner_id=key.partner_id)
    return key


async def find_valid(session: AsyncSession, key: str) -> ApiKey | None:
    """The stored key for a presented secret, if it exists and is neither revoked nor expired."""
    if not looks_like_key(key):
        return None
    found = await repository.by_secret_hash(session, secret_hash(key))
    if found is None or found.revoked_at is not None or found.expired(dt.datetime.now(dt.UTC)):
        return None
    return found
