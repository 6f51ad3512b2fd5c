"""Who is calling: API keys (machine clients) and OIDC tokens (portal users), checked against
the standing of the caller's partner org. Plugged into the platform edge
(``prm_platform.edge``), which adds CORS and rate limits and puts the principal on the request.

Keys are cached by the platform's ``KeyCache``, the one every service uses over its key
directory; the gateway's loader reads the keys it owns. The price of the cache is bounded
staleness: a key revoked through another gateway replica (or in the database) still works here
for at most ``key_cache_seconds``; one revoked through this replica stops at once (the cache
forgets it). Unknown keys are remembered for ``UNKNOWN_KEY_SECONDS``: a key created meanwhile
is found after at most that delay, and only by someone who guessed it before it existed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from prm_gateway.api_keys import repository, service
from prm_platform.credentials import (
    UNKNOWN,
    KeyCache,
    KeyEntry,
    Standings,
    credentials_unavailable,
)
from prm_platform.oidc import OidcVerifier
from prm_platform.security import Principal

LAST_USED_RESOLUTION = dt.timedelta(minutes=1)
UNKNOWN_KEY_SECONDS = 2.0


class GatewayKeys:
    """The ``KeyCache`` loader of the gateway: a key it owns, by the digest of its secret, whose
    use it records at most once a minute (the cache makes this run at most once per ttl)."""

    def __init__(self, sessions: Callable[[], async_sessionmaker[AsyncSession]]) -> None:
        self.sessions = sessions  # read per lookup: tests swap the app's sessionmaker

    async def __call__(self, digest: str) -> KeyEntry:
        try:
            async with self.sessions()() as session:
                found = await repository.by_secret_hash(session, digest)
                now = dt.datetime.now(dt.UTC)
                if found is None or found.revoked_at is not None:
                    return UNKNOWN
                if found.last_used_at is None or found.last_used_at < now - LAST_USED_RESOLUTION:
                    await repository.touch(session, found.id, now, LAST_USED_RESOLUTION)
                    await session.commit()
        except (OSError, TimeoutError, SQLAlchemyError):
            raise credentials_unavailable("API key lookup") from None
        return KeyEntry(service.principal_of(found), found.expires_at)


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
            principal = await self.keys.principal(credential)
        else:
            principal = await self.oidc.principal(credential)
        await self.standings.ensure_active(principal, sessionmaker)
        return principal
