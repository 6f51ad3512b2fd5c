"""A service checks API keys itself, against a local directory of keys and partner standing.

OIDC tokens of portal users are checked here too when ``PRM_OIDC_*`` is set
(``prm_platform.oidc``). The key owner (the gateway's ``/v1/api-keys``) announces every key it
issues or revokes on ``prm.api-keys`` (the SHA-256 digest of the secret, never the secret);
the partners service announces every partner's status on ``prm.partners``. Each service's
worker keeps both in its own schema (``prm_events.credentials``), and ``KeyDirectory`` answers
the edge middleware (``prm_platform.edge``) from there, with a short cache, so the request path
needs no other process: a client may call a service without going through the gateway.

Delays, all bounded: a key its directory does not hold yet (used the instant it was created)
is asked of the key owner once (``key_owner_url``, the gateway's internal lookup) and then
cached; a revocation or a partner's suspension takes effect within the event delay plus
``key_cache_seconds`` / ``standing_cache_seconds``; an unknown key is remembered as unknown for
``NEGATIVE_SECONDS`` only.

``KeyCache`` is the one cache of API keys, the gateway's (over the keys it owns) and every
service's (over its directory): bounded, with unknown keys apart from known ones, so that a
flood of made-up keys evicts only other made-up keys and never a key in use.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import httpx
from cachetools import TTLCache
from sqlalchemy import TIMESTAMP, Column, ColumnElement, Integer, String, Table, select
from sqlalchemy.dialects.postgresql import ARRAY, UUID
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import QueryableAttribute

from prm_platform import telemetry
from prm_platform.db import new_metadata
from prm_platform.oidc import OidcVerifier
from prm_platform.problems import Forbidden, ServiceUnavailable, Unauthenticated
from prm_platform.ratelimits import RateLimited, RateLimiter
from prm_platform.security import PRINCIPAL_HEADER, Principal, PrincipalKind, sign_principal

log = logging.getLogger("prm.credentials")

KEY_PREFIX = "prm_"
# The key owner's internal lookup by digest (served by the gateway).
LOOKUP_PATH = "/internal/api-keys"
MAX_KEY_LENGTH = 100
NEGATIVE_SECONDS = 0.25
# Keys asked of the owner per process and minute (each one a key used the instant it was made).
OWNER_ASKS_PER_MINUTE = 1200
# Bounds of the caches, per process: keys in use, unknown (or revoked) keys, partner orgs.
MAX_KNOWN_KEYS = 20_000
MAX_UNKNOWN_KEYS = 20_000
MAX_PARTNERS = 20_000
# Partner statuses whose keys and users are refused, reads included (an applicant has no
# keys yet; "terminated" is the name offboarded had before).
BARRED = frozenset({"applicant", "suspended", "offboarded", "terminated"})

# Not among the platform tables every service has: only services that check keys themselves
# include this metadata (their Alembic env.py) and create the tables (a migration).
credential_metadata = new_metadata()

credential_keys = Table(
    "credential_keys",
    credential_metadata,
    Column("key_id", UUID(as_uuid=True), primary_key=True),
    Column("secret_hash", String(64), nullable=False, unique=True),
    Column("kind", String(10), nullable=False),
    Column("partner_id", UUID(as_uuid=True)),
    Column("scopes", ARRAY(String(40)), nullable=False),
    Column("expires_at", TIMESTAMP(timezone=True)),
    Column("revoked_at", TIMESTAMP(timezone=True)),
)

credential_partners = Table(
    "credential_partners",
    credential_metadata,
    Column("partner_id", UUID(as_uuid=True), primary_key=True),
    Column("status", String(40), nullable=False),
    Column("version", Integer, nullable=False),
)


class PartnerInactive(Forbidden):
    slug = "partner-inactive"


def secret_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def looks_like_key(key: str) -> bool:
    """Cheap check before any lookup: garbage never reaches the database."""
    return key.startswith(KEY_PREFIX) and len(key) <= MAX_KEY_LENGTH and key.isascii()


def credentials_unavailable(what: str) -> ServiceUnavailable:
    """The problem for a lookup of ``what`` that failed (logged with its exception)."""
    log.exception("%s failed", what)
    return ServiceUnavailable("credentials cannot be checked right now; retry",
                              headers={"Retry-After": "1"})


@dataclass(frozen=True)
class KeyEntry:
    principal: Principal | None  # None: no such key, or revoked
    expires_at: dt.datetime | None = None


UNKNOWN = KeyEntry(None)

# Reads one key by the digest of its secret (from the database that knows it); raises
# ServiceUnavailable when it cannot.
KeyLoader = Callable[[str], Awaitable[KeyEntry]]


class KeyCache:
    """API keys by the digest of their secret, each read trusted for ``ttl`` seconds, unknown
    (and revoked) keys for ``negative_ttl``: a stream of guesses costs no database work, and a
    key created meanwhile is found after at most that delay.

    Known and unknown keys are two bounded caches, each forgetting its least recently used
    entry first: made-up keys only ever compete with each other, so however many arrive, a
    key in use stays cached. Expiry is checked on every request.
    """

    def __init__(self, load: KeyLoader, *, ttl: float, negative_ttl: float,
                 size: int = MAX_KNOWN_KEYS, negative_size: int = MAX_UNKNOWN_KEYS) -> None:
        self.load = load
        self.known: TTLCache[str, KeyEntry] = TTLCache(size, ttl)
        self.unknown: TTLCache[str, KeyEntry] = TTLCache(negative_size, negative_ttl)

    def cached(self, digest: str) -> KeyEntry | None:
        return self.known.get(digest) or self.unknown.get(digest)

    def remember(self, digest: str, entry: KeyEntry) -> None:
        self.forget(digest)
        (self.unknown if entry.principal is None else self.known)[digest] = entry

    def forget(self, digest: str) -> None:
        """Drop a key at once (revoked through this process)."""
        self.known.pop(digest, None)
        self.unknown.pop(digest, None)

    async def principal(self, key: str) -> Principal:
        refused = Unauthenticated("the API key is unknown, revoked or expired")
        if not looks_like_key(key):
            raise refused
        digest = secret_hash(key)
        entry = self.cached(digest)
        if entry is None:
            entry = await self.load(digest)
            self.remember(digest, entry)
        if entry.principal is None or (entry.expires_at is not None
                                       and entry.expires_at <= dt.datetime.now(dt.UTC)):
            raise refused
        return entry.principal


class Standings:
    """The lifecycle status of partner orgs as a service's worker keeps it from the partners'
    events (in ``status_column``, keyed by ``id_column``), each read trusted for ``ttl``
    seconds: a suspension reaches every replica within the event delay plus ``ttl``."""

    def __init__(self, ttl: float, status_column: ColumnElement[str] | QueryableAttribute[str],
                 id_column: ColumnElement[uuid.UUID] | QueryableAttribute[uuid.UUID]) -> None:
        self.ttl = ttl
        self.status_column = status_column
        self.id_column = id_column
        # Only partner ids of valid principals get here: no flood can fill it.
        self._cache: TTLCache[uuid.UUID, tuple[str | None]] = TTLCache(MAX_PARTNERS, ttl)

    async def status(self, partner_id: uuid.UUID,
                     sessionmaker: async_sessionmaker[AsyncSession]) -> str | None:
        cached = self._cache.get(partner_id)
        if cached is not None:
            return cached[0]
        try:
            async with sessionmaker() as session:
                status = (await session.execute(
                    select(self.status_column).where(self.id_column == partner_id)
                )).scalar_one_or_none()
        except (OSError, TimeoutError, SQLAlchemyError):
            raise credentials_unavailable("partner standing lookup") from None
        self._cache[partner_id] = (status,)
        return status

    async def ensure_active(self, principal: Principal,
                            sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        """Refuse a partner principal whose org is suspended or offboarded."""
        if not principal.is_partner or principal.partner_id is None:
            return
        status = await self.status(principal.partner_id, sessionmaker)
        if status in BARRED:
            raise PartnerInactive(
                f"partner {principal.partner_id} is {status}: its keys and users are "
                "refused until it is active again", partner_status=status)


class KeyDirectory:
    """The edge's ``Authenticate`` for a service: an API key looked up in ``credential_keys``,
    then its partner's standing in ``credential_partners``, each read cached for a few
    seconds."""

    def __init__(self, sessions: Callable[[], async_sessionmaker[AsyncSession]], *,
                 key_ttl: float, standing_ttl: float, owner_url: str | None = None,
                 internal_secret: str = "",
                 oidc: Callable[[], OidcVerifier | None] = lambda: None) -> None:
        self.sessions = sessions  # read per lookup: tests swap the app's sessionmaker
        self.oidc = oidc
        self.owner_url = owner_url
        self.internal_secret = internal_secret
        self._http: httpx.AsyncClient | None = None
        self.keys = KeyCache(self._load, ttl=key_ttl, negative_ttl=NEGATIVE_SECONDS)
        self.standings = Standings(standing_ttl, credential_partners.c.status,
                                   credential_partners.c.partner_id)
        self._owner_asks = RateLimiter(OWNER_ASKS_PER_MINUTE, "key owner lookups")

    async def __call__(self, credential: str) -> Principal:
        """An API key (``prm_...``) or, if OIDC is configured, a portal user's token."""
        verifier = None if credential.startswith(KEY_PREFIX) else self.oidc()
        if verifier is not None:
            principal = await verifier.principal(credential)
        else:
            principal = await self.keys.principal(credential)
        await self.standings.ensure_active(principal, self.sessions())
        return principal

    async def _load(self, digest: str) -> KeyEntry:
        try:
            async with self.sessions()() as session:
                row = (await session.execute(
                    select(credential_keys).where(credential_keys.c.secret_hash == digest)
                )).first()
        except (OSError, TimeoutError, SQLAlchemyError):
            raise credentials_unavailable("API key lookup") from None
        if row is None:  # not announced here yet, perhaps only just created: ask its owner
            return await self._ask_owner(digest)
        if row.revoked_at is not None:
            return UNKNOWN
        return KeyEntry(Principal(subject=str(row.key_id), kind=PrincipalKind(row.kind),
                                  partner_id=row.partner_id, scopes=frozenset(row.scopes)),
                        row.expires_at)

    async def _ask_owner(self, digest: str) -> KeyEntry:
        unknown = UNKNOWN
        if not self.owner_url:
            return unknown
        try:
            # A flood of made-up keys must not become a flood of calls to the key owner (the
            # edge lets every credential reach this lookup, so a valid key is never refused).
            self._owner_asks.take("*")
        except RateLimited:
            return unknown
        if self._http is None:
            self._http = httpx.AsyncClient(base_url=self.owner_url, timeout=2, trust_env=False)
            telemetry.trace_client(self._http)  # the ask joins the request's trace
        me = Principal(subject="key-directory", kind=PrincipalKind.vendor)
        try:
            answer = await self._http.get(
                f"{LOOKUP_PATH}/{digest}",
                headers={PRINCIPAL_HEADER: sign_principal(me, self.internal_secret)})
        except httpx.HTTPError as exc:
            log.warning("key owner lookup failed: %s", exc)
            return unknown
        if answer.status_code != 200:
            return unknown
        found = answer.json()
        if found["revoked"]:
            return unknown
        expires_at = dt.datetime.fromisoformat(found["expires_at"]) if found["expires_at"] \
            else None
        partner_id = uuid.UUID(found["partner_id"]) if found["partner_id"] else None
        return KeyEntry(Principal(subject=found["key_id"], kind=PrincipalKind(found["kind"]),
                                  partner_id=partner_id, scopes=frozenset(found["scopes"])),
                        expires_at)
