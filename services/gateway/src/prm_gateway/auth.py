"""Who is calling: API keys (machine clients) and OIDC tokens (portal users), checked against
the standing of the caller's partner org. Plugged into the platform edge
(``prm_platform.edge``), which adds CORS and rate limits and puts the principal on the request.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from dataclasses import dataclass

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from prm_gateway.api_keys import repository, service
from prm_platform.credentials import Standings
from prm_platform.oidc import OidcVerifier
from prm_platform.problems import ServiceUnavailable, Unauthenticated
from prm_platform.security import Principal

log = logging.getLogger("prm.gateway.auth")

LAST_USED_RESOLUTION = dt.timedelta(minutes=1)
_MAX_CACHED = 10_000


@dataclass(frozen=True)
class _Entry:
    principal: Principal | None  # None: no such key (a negative entry)
    expires_at: dt.datetime | None
    loaded: float


def _unavailable(what: str) -> ServiceUnavailable:
    log.exception("%s failed", what)
    return ServiceUnavailable("credentials cannot be checked right now; retry",
                              headers={"Retry-After": "1"})


class KeyCache:
    """Keys by secret hash, each trusted for ``ttl`` seconds after it was read.

    Keeps the hot path free of database round trips. The price is bounded staleness: a key
    revoked through another gateway replica (or in the database) still works here for at most
    ``ttl`` seconds; one revoked through this replica stops at once. Expiry is checked on every
    request. Unknown keys are remembered for ``negative_ttl`` seconds, so a stream of guesses
    costs no database work; a key created meanwhile is found after at most that delay, and only
    by someone who guessed it before it existed.
    """

    def __init__(self, ttl: float, negative_ttl: float = 2.0) -> None:
        self.ttl = ttl
        self.negative_ttl = negative_ttl
        self._entries: dict[str, _Entry] = {}

    async def principal(self, key: str, sessionmaker: async_sessionmaker[AsyncSession]
                        ) -> Principal:
        if not service.looks_like_key(key):
            raise Unauthenticated("the API key is unknown, revoked or expired")
        digest = service.secret_hash(key)
        entry = self._entries.get(digest)
        ttl = self.ttl if entry is None or entry.principal else self.negative_ttl
        if entry is None or time.monotonic() - entry.loaded >= ttl:
            entry = await self._load(key, digest, sessionmaker)
        if entry.principal is None or (entry.expires_at is not None
                                       and entry.expires_at <= dt.datetime.now(dt.UTC)):
            raise Unauthenticated("the API key is unknown, revoked or expired")
        return entry.principal

    def forget(self, digest: str) -> None:
        self._entries.pop(digest, None)

    async def _load(self, key: str, digest: str,
                    sessionmaker: async_sessionmaker[AsyncSession]) -> _Entry:
        self._entries.pop(digest, None)
        try:
            async with sessionmaker() as session:
                found = await service.find_valid(session, key)
                now = dt.datetime.now(dt.UTC)
                # The cache makes this run at most once per ttl; the timestamp check at most
                # once a minute, so recording use costs almost nothing.
                if found is not None and (found.last_used_at is None
                                          or found.last_used_at < now - LAST_USED_RESOLUTION):
                    await repository.touch(session, found.id, now, LAST_USED_RESOLUTION)
                    await session.commit()
        except (OSError, TimeoutError, SQLAlchemyError):
            raise _unavailable("API key lookup") from None
        if found is None:
            entry = _Entry(None, None, time.monotonic())
        else:
            entry = _Entry(service.principal_of(found), found.expires_at, time.monotonic())
        if len(self._entries) >= _MAX_CACHED:
            self._entries.clear()  # simpler than LRU, and only costs a few re-reads
        self._entries[digest] = entry
        return entry


class GatewayAuthentication:
    """The edge's ``Authenticate``: an API key (``prm_...``) or, if configured, an OIDC token;
    then the partner org's standing for partner principals."""

    def __init__(self, app, keys: KeyCache, standings: Standings,
                 oidc: OidcVerifier | None) -> None:
        self.app = app
        self.keys = keys
        self.standings = standings
        self.oidc = oidc

    async def __call__(self, credential: str) -> Principal:
        sessionmaker = self.app.state.sessionmaker
        if credential.startswith(service.KEY_PREFIX) or self.oidc is None:
            principal = await self.keys.principal(credential, sessionmaker)
        else:
            principal = await self.oidc.principal(credential)
        await self.standings.ensure_active(principal, sessionmaker)
        return principal
