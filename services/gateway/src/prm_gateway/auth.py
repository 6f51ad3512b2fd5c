"""Authentication and rate limiting for everything under ``/v1``.

The middleware turns ``Authorization: Bearer <API key>`` into a ``Principal`` on the request
state, where ``prm_platform.security.authenticate`` (used by ServiceRoute) and the proxy find it.
It answers 401 and 429 itself, before any route runs.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import time
from dataclasses import dataclass

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from prm_gateway.api_keys import repository, service
from prm_platform.problems import ProblemError, ServiceUnavailable, Unauthenticated
from prm_platform.security import Principal

log = logging.getLogger("prm.gateway.auth")

PROTECTED_PREFIX = "/v1"
LAST_USED_RESOLUTION = dt.timedelta(minutes=1)
_MAX_CACHED = 10_000


class RateLimited(ProblemError):
    status, slug = 429, "rate-limited"


@dataclass(frozen=True)
class _Entry:
    principal: Principal
    expires_at: dt.datetime | None
    loaded: float


class KeyCache:
    """Valid keys by secret hash, each trusted for ``ttl`` seconds after it was read.

    Keeps the hot path free of database round trips. The price is bounded staleness: a key
    revoked through another gateway replica (or in the database) still works here for at most
    ``ttl`` seconds; one revoked through this replica stops at once. Expiry is checked on every
    request. Unknown keys are not cached, so random guesses cannot fill memory.
    """

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._entries: dict[str, _Entry] = {}

    async def principal(self, key: str, sessionmaker: async_sessionmaker[AsyncSession]
                        ) -> Principal:
        digest = service.secret_hash(key)
        entry = self._entries.get(digest)
        if entry is None or time.monotonic() - entry.loaded >= self.ttl:
            entry = await self._load(key, digest, sessionmaker)
        if entry is None or (entry.expires_at is not None
                             and entry.expires_at <= dt.datetime.now(dt.UTC)):
            raise Unauthenticated("the API key is unknown, revoked or expired")
        return entry.principal

    def forget(self, digest: str) -> None:
        self._entries.pop(digest, None)

    async def _load(self, key: str, digest: str,
                    sessionmaker: async_sessionmaker[AsyncSession]) -> _Entry | None:
        self._entries.pop(digest, None)
        try:
            async with sessionmaker() as session:
                found = await service.find_valid(session, key)
                if found is None:
                    return None
                now = dt.datetime.now(dt.UTC)
                # The cache makes this run at most once per ttl; the timestamp check at most
                # once a minute, so recording use costs almost nothing.
                if found.last_used_at is None or found.last_used_at < now - LAST_USED_RESOLUTION:
                    await repository.touch(session, found.id, now, LAST_USED_RESOLUTION)
                    await session.commit()
        except (OSError, TimeoutError, SQLAlchemyError):
            log.exception("API key lookup failed")
            raise ServiceUnavailable("credentials cannot be checked right now; retry",
                                     headers={"Retry-After": "1"}) from None
        entry = _Entry(service.principal_of(found), found.expires_at, time.monotonic())
        if len(self._entries) >= _MAX_CACHED:
            self._entries.clear()  # simpler than LRU, and only costs a few re-reads
        self._entries[digest] = entry
        return entry


class RateLimiter:
    """A token bucket per API key, in this process's memory: each key may send
    ``per_minute`` requests in a burst, refilled evenly over a minute. With N gateway replicas
    the effective limit is N times higher; a shared limiter (e.g. Redis) would fix that."""

    def __init__(self, per_minute: int) -> None:
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0
        self._buckets: dict[str, tuple[float, float]] = {}

    def take(self, subject: str) -> None:
        now = time.monotonic()
        tokens, last = self._buckets.get(subject, (self.capacity, now))
        tokens = min(self.capacity, tokens + (now - last) * self.rate)
        if tokens < 1:
            self._buckets[subject] = (tokens, now)
            retry_after = math.ceil((1 - tokens) / self.rate)
            raise RateLimited(f"rate limit of {int(self.capacity)} requests per minute reached",
                              headers={"Retry-After": str(retry_after)})
        self._buckets[subject] = (tokens - 1, now)


def bearer_token(headers: Headers) -> str:
    scheme, _, token = headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("send an API key as 'Authorization: Bearer <key>'")
    return token.strip()


class ApiKeyAuthentication:
    """Pure ASGI middleware, so it refuses a request before its body is even read."""

    def __init__(self, app: ASGIApp, keys: KeyCache, limiter: RateLimiter) -> None:
        self.app = app
        self.keys = keys
        self.limiter = limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or not (
            path == PROTECTED_PREFIX or path.startswith(PROTECTED_PREFIX + "/")
        ):
            await self.app(scope, receive, send)
            return
        try:
            token = bearer_token(Headers(scope=scope))
            principal = await self.keys.principal(token, scope["app"].state.sessionmaker)
            self.limiter.take(principal.subject)
        except ProblemError as exc:
            await exc.response(instance=path)(scope, receive, send)
            return
        scope.setdefault("state", {})["principal"] = principal
        await self.app(scope, receive, send)
