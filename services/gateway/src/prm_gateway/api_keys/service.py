"""Issuing, reading and revoking API keys.

A key is ``prm_`` + 32 random bytes (URL-safe base64). Only its SHA-256 digest is stored. A fast,
unsalted hash is the right tool here, unlike for passwords: slow salted hashes (bcrypt, argon2)
exist to make guessing low-entropy human secrets expensive, but a 256-bit random key cannot be
guessed, so there is nothing to slow down; and an unsalted digest can be looked up by index in
one query on every request, which a salted hash cannot.
"""

import asyncio
import datetime as dt
import secrets
import time
import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from prm_contracts import ApiKeyIssuedV1, ApiKeyRevokedV1
from prm_events.outbox import publish
from prm_gateway.api_keys import repository
from prm_gateway.api_keys.listing import KEYS
from prm_gateway.api_keys.models import ApiKey
from prm_gateway.api_keys.schemas import ApiKeyCreate
from prm_gateway.config import EVENT_SOURCE
from prm_gateway.declaration import API_KEYS_READ, API_KEYS_WRITE
from prm_gateway.standing import repository as standing
from prm_platform.credentials import KEY_PREFIX, looks_like_key, secret_hash
from prm_platform.ids import new_id
from prm_platform.listing import ListQuery
from prm_platform.problems import Forbidden, NotFound, Unprocessable
from prm_platform.security import ADMIN, Principal, PrincipalKind

__all__ = ["KEY_PREFIX", "looks_like_key", "secret_hash"]  # for the gateway's own lookups

_SECRET_BYTES = 32
_DISPLAY_CHARS = 12
# A partner in one of these statuses gets no new key ("terminated": offboarded's former name).
# A suspended partner may: its keys work again once it is reactivated.
_NO_NEW_KEYS = frozenset({"offboarded", "terminated"})
_STANDING_POLL_SECONDS = 0.1


class KeyPartnerNotEligible(Unprocessable):
    slug = "key-partner-not-eligible"


def principal_of(key: ApiKey) -> Principal:
    return Principal(subject=str(key.id), kind=PrincipalKind(key.kind),
                     partner_id=key.partner_id, scopes=frozenset(key.scopes))


async def issue(session: AsyncSession, *, name: str, kind: str, scopes: list[str],
                partner_id: uuid.UUID | None = None, expires_at: dt.datetime | None = None,
                created_by: str | None = None) -> tuple[ApiKey, str]:
    """Create a key without authorisation checks (the caller did them); returns it and its
    secret, which exists nowhere else from then on."""
    secret = KEY_PREFIX + secrets.token_urlsafe(_SECRET_BYTES)
    now = dt.datetime.now(dt.UTC)
    key = ApiKey(id=new_id(), name=name, kind=kind, partner_id=partner_id,
                 scopes=sorted({str(s) for s in scopes}), prefix=secret[:_DISPLAY_CHARS],
                 secret_hash=secret_hash(secret), created_by=created_by,
                 created_at=now, updated_at=now, expires_at=expires_at)
    repository.add(session, key)
    await session.flush()
    # Services check keys themselves, against a directory fed by these events.
    await publish(session, ApiKeyIssuedV1(
        key_id=key.id, secret_hash=key.secret_hash, kind=key.kind, partner_id=key.partner_id,
        scopes=key.scopes, expires_at=key.expires_at), source=EVENT_SOURCE, aggregate_id=key.id,
        partner_id=key.partner_id)
    return key, secret


def _require(caller: Principal, scope: str) -> None:
    """The vendor's credentials manage every key; a partner's (its administrator's, by the
    declared roles) only its own org's partner keys: ``_ensure_own``."""
    caller.require(scope)


def _ensure_own(caller: Principal, key: ApiKey) -> None:
    """Another org's key, or a vendor key, is absent for a partner principal (a 404, as for
    every other record): it cannot probe which ids exist."""
    if caller.is_partner and key.partner_id != caller.partner_id:
        raise NotFound("API key not found")


def _ensure_no_more_power(caller: Principal, scopes: list[str], doing: str) -> None:
    """A key (or user) may not create or revoke a key that can do more than itself: otherwise
    a key holding only api_keys:write could mint itself an admin key, or lock the admins out;
    a partner's administrator gives its org's keys at most its own scopes."""
    if caller.has_scope(ADMIN):
        return
    if missing := set(scopes) - caller.scopes:
        raise Forbidden(f"a key can {doing} only keys whose scopes it holds itself; "
                        f"lacking {sorted(missing)}")


async def ensure_partner_keyable(session: AsyncSession, partner_id: uuid.UUID,
                                 wait: float) -> None:
    """Refuse a key for a partner this gateway does not know, or one that is offboarded.

    The gateway knows partners from their events (``prm_gateway.standing``): one created a
    moment ago may not have arrived yet, so an unknown partner is looked for again for up to
    ``wait`` seconds before it is refused."""
    deadline = time.monotonic() + wait
    status = await standing.status_of(session, partner_id)
    while status is None and time.monotonic() < deadline:
        await asyncio.sleep(_STANDING_POLL_SECONDS)
        status = await standing.status_of(session, partner_id)
    if status is None:
        raise KeyPartnerNotEligible(
            f"partner {partner_id} is not known: check the id; a partner created a moment "
            "ago is known within seconds, retry then", errors=[
                {"location": "body", "field": "partner_id", "message": "unknown partner"}])
    if status in _NO_NEW_KEYS:
        raise KeyPartnerNotEligible(
            f"partner {partner_id} is {status}: it gets no new keys", partner_status=status,
            errors=[{"location": "body", "field": "partner_id",
                     "message": f"partner is {status}"}])


async def create(session: AsyncSession, caller: Principal, data: ApiKeyCreate, *,
                 partner_wait: float = 0.0) -> tuple[ApiKey, str]:
    _require(caller, API_KEYS_WRITE)
    if caller.is_partner and (data.kind != "partner" or data.partner_id != caller.partner_id):
        raise Forbidden("a partner's credentials create keys of their own org only: "
                        f"kind partner, partner_id {caller.partner_id}")
    scopes = [str(scope) for scope in data.scopes or ()]  # always set once validated
    _ensure_no_more_power(caller, scopes, "create")
    if data.kind == "partner" and data.partner_id is not None:
        await ensure_partner_keyable(session, data.partner_id, partner_wait)
    return await issue(session, name=data.name, kind=data.kind, scopes=scopes,
                       partner_id=data.partner_id, expires_at=data.expires_at,
                       created_by=caller.subject)


async def get(session: AsyncSession, caller: Principal, key_id: uuid.UUID,
              *, for_update: bool = False) -> ApiKey:
    _require(caller, API_KEYS_READ)
    key = await repository.get(session, key_id, for_update=for_update)
    if key is None:
        raise NotFound("API key not found")
    _ensure_own(caller, key)
    return key


async def list_page(session: AsyncSession, caller: Principal, query: ListQuery
                    ) -> tuple[list[ApiKey], str | None, int | None]:
    _require(caller, API_KEYS_READ)
    visible = select(ApiKey)
    if caller.is_partner:  # its own org's keys, whichever org the query names
        visible = visible.where(ApiKey.partner_id == caller.partner_id)
    return await KEYS.page(session, visible, query)


async def revoke(session: AsyncSession, caller: Principal, key_id: uuid.UUID) -> ApiKey:
    """Revoking is final; revoking a revoked key changes nothing."""
    _require(caller, API_KEYS_WRITE)
    key = await get(session, caller, key_id, for_update=True)
    _ensure_no_more_power(caller, key.scopes, "revoke")
    if key.revoked_at is None:
        key.revoked_at = key.updated_at = dt.datetime.now(dt.UTC)
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
