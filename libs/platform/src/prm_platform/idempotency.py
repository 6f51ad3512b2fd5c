"""The ``Idempotency-Key`` mechanism for POST requests (IETF httpapi-idempotency-key draft).

* same key, same request  -> the stored response, with ``Idempotent-Replayed: true``;
* same key, other request -> 422 ``idempotency-key-reused``;
* original still running  -> 409 ``idempotency-key-in-use``;
* keys are scoped to the caller (the API key that sent them) and kept for 24 hours.

Two ways to hold a key, with the same guarantees (the effect and the stored response commit
together, so a crash never leaves an effect without its stored response):

* a **single-statement write** (``prm_platform.http.single_statement``, the convention for new
  endpoints) stores the finished response in the very statement that makes the change
  (``store_cte``); a concurrent duplicate waits on the key's row, then replays it. Nothing is
  held between round trips, so there is no lease.
* any other endpoint claims the key in its own short transaction before the handler runs and
  stores the response in the handler's transaction. A request that fails releases its key so
  that the client may retry it; a claim whose process died is taken over once its lease ends.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import re
import uuid
from dataclasses import dataclass
from typing import Any

import orjson
from fastapi import Request, Response
from sqlalchemy import Row, delete, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, async_sessionmaker

from prm_platform import metrics
from prm_platform.db import rows_affected
from prm_platform.problems import Conflict, MalformedRequest, Unprocessable
from prm_platform.scheduler import Job
from prm_platform.tables import idempotency_keys

HEADER = "idempotency-key"
RETENTION_SECONDS = 24 * 3600
LEASE_SECONDS = 60
MAX_KEY_LENGTH = 255
# Printable ASCII (space inside only), as the contract declares it.
KEY_PATTERN = r"^[!-~]([ -~]{0,253}[!-~])?$"
_KEY = re.compile(KEY_PATTERN)
_REPLAYED_HEADERS = ("content-type", "location", "etag")


class IdempotencyKeyReused(Unprocessable):
    slug = "idempotency-key-reused"


class IdempotencyKeyInUse(Conflict):
    slug = "idempotency-key-in-use"


@dataclass(frozen=True)
class Claim:
    scope: str
    key: str
    # Who holds the claim. A request whose lease ran out may have lost the key to a retry: it
    # can then neither complete nor release it (both match on the owner).
    owner: uuid.UUID


_BOUNDARY = re.compile(r'(?:^|;)\s*boundary\s*=\s*(?:"([^"]+)"|([^\s;]+))', re.IGNORECASE)


def _multipart_boundary(content_type: str | None) -> bytes | None:
    media_type, _, parameters = (content_type or "").partition(";")
    if media_type.strip().lower() != "multipart/form-data":
        return None
    found = _BOUNDARY.search(parameters)
    return (found[1] or found[2]).encode("latin-1") if found else None


def _fingerprint(request: Request, body: bytes) -> str:
    digest = hashlib.sha256()
    digest.update(request.method.encode())
    digest.update(b" ")
    digest.update(request.url.path.encode())
    digest.update(b"?")
    digest.update(request.url.query.encode())
    digest.update(b"\n")
    boundary = _multipart_boundary(request.headers.get("content-type"))
    if boundary:
        # A client draws a new boundary for each multipart body, a retry's too: the same
        # parts between other boundaries are the same request. The parts are hashed with
        # their lengths, so that no two other bodies can run together into one.
        digest.update(b"multipart/form-data\n")
        for segment in body.split(b"--" + boundary):
            digest.update(len(segment).to_bytes(8, "big"))
            digest.update(segment)
        return digest.hexdigest()
    try:  # the same JSON document with other whitespace or key order is the same request
        digest.update(orjson.dumps(orjson.loads(body), option=orjson.OPT_SORT_KEYS))
    except (orjson.JSONDecodeError, orjson.JSONEncodeError):
        digest.update(body)
    return digest.hexdigest()


def _valid_key(key: str) -> str:
    if not _KEY.match(key):
        raise MalformedRequest(
            f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} printable ASCII characters"
        )
    return key


@dataclass(frozen=True)
class IdempotentRequest:
    """A POST that carries an Idempotency-Key: who sent it, the key, and what it asked."""

    scope: str
    key: str
    fingerprint: str


async def identify(request: Request, scope: str) -> IdempotentRequest | None:
    if request.method != "POST" or HEADER not in request.headers:
        return None
    key = _valid_key(request.headers[HEADER])
    return IdempotentRequest(scope, key, _fingerprint(request, await request.body()))


def store_cte(guard: str) -> str:
    """``stored AS (...)``: the CTE that records a single-statement write's response under its
    key, when ``guard`` (an SQL condition on the statement's other CTEs) holds. The change's
    own CTEs must proceed only ``WHERE {STORED}``."""
    return f"""stored AS (
        INSERT INTO idempotency_keys AS k (scope, key, fingerprint, state, status_code, headers,
                                           body, created_at, expires_at)
        SELECT CAST(:idem_scope AS varchar), CAST(:idem_key AS varchar),
               CAST(:idem_fingerprint AS varchar), 'completed', CAST(:idem_status AS integer),
               CAST(:idem_headers AS jsonb), CAST(:idem_body AS bytea), now(),
               now() + make_interval(secs => CAST(:idem_retention AS double precision))
        WHERE CAST(:idem_key AS varchar) IS NOT NULL AND ({guard})
        ON CONFLICT (scope, key) DO UPDATE
            SET owner = NULL, fingerprint = EXCLUDED.fingerprint, state = 'completed',
                locked_until = NULL, status_code = EXCLUDED.status_code,
                headers = EXCLUDED.headers, body = EXCLUDED.body,
                created_at = EXCLUDED.created_at, expires_at = EXCLUDED.expires_at
            WHERE k.expires_at < now()
        RETURNING 1
    )"""


# The change goes ahead without a key, or when this statement stored the response under it.
STORED = "(CAST(:idem_key AS varchar) IS NULL OR EXISTS (SELECT 1 FROM stored))"
# Whether the key holds a stored answer (not expired: ``store_cte`` takes an expired one over).
_HELD = text("""SELECT EXISTS (SELECT 1 FROM idempotency_keys
                                WHERE scope = :scope AND key = :key AND expires_at >= now())""")


async def held(connection: AsyncSession | AsyncConnection, request: IdempotentRequest) -> bool:
    """Whether ``request``'s key holds a stored answer. A write about to refuse asks, and
    replays that answer instead: a retry of a request that succeeded is answered by its stored
    response first, whatever the write's own checks now say (the external id taken by the very
    partner its first try made, say). Asked after the write's statement, it also sees a
    concurrent first try that committed meanwhile."""
    return bool((await connection.execute(_HELD, {
        "scope": request.scope, "key": request.key})).scalar())


def store_params(request: IdempotentRequest | None, response: Response) -> dict[str, object]:
    """Parameters of ``store_cte``: the response that the statement's success will have sent."""
    if request is None:
        return dict.fromkeys(("idem_scope", "idem_key", "idem_fingerprint", "idem_status",
                              "idem_headers", "idem_body", "idem_retention"))
    headers = {k: v for k, v in response.headers.items() if k in _REPLAYED_HEADERS}
    return {"idem_scope": request.scope, "idem_key": request.key,
            "idem_fingerprint": request.fingerprint, "idem_status": response.status_code,
            "idem_headers": orjson.dumps(headers).decode(), "idem_body": bytes(response.body),
            "idem_retention": RETENTION_SECONDS}


async def stored_response(session: AsyncSession | AsyncConnection,
                          request: IdempotentRequest) -> Response:
    """What a request whose key is already taken gets: the stored response (replayed), or the
    problem of a key reused for another request or still in progress."""
    existing = (await session.execute(
        select(idempotency_keys, func.extract(
            "epoch", idempotency_keys.c.locked_until - func.now()).label("lease_left"))
        .where(idempotency_keys.c.scope == request.scope,
               idempotency_keys.c.key == request.key)
    )).first()
    if existing is None:  # released or purged meanwhile: the client may retry
        raise IdempotencyKeyInUse("the request with this Idempotency-Key just finished; retry")
    return _outcome(existing, request.fingerprint)


def _outcome(existing: Row[Any], fingerprint: str) -> Response:
    if existing.fingerprint != fingerprint:
        raise IdempotencyKeyReused("this Idempotency-Key was used for a different request")
    if existing.state != "completed":
        # Until the original finishes, or its lease runs out if it died: then a retry takes over.
        wait = max(1, math.ceil(existing.lease_left or 0))
        raise IdempotencyKeyInUse("a request with this Idempotency-Key is still in progress",
                                  headers={"Retry-After": str(wait)})
    headers = dict(existing.headers or {})
    headers["idempotent-replayed"] = "true"
    if metrics.enabled():
        metrics.IDEMPOTENCY_REPLAYS.inc()
    return Response(content=existing.body, status_code=existing.status_code, headers=headers)


_CLAIM = text(
    """
    INSERT INTO idempotency_keys AS k
        (scope, key, owner, fingerprint, state, locked_until, created_at, expires_at)
    VALUES (:scope, :key, :owner, :fingerprint, 'in_progress',
            now() + make_interval(secs => :lease), now(),
            now() + make_interval(secs => :retention))
    ON CONFLICT (scope, key) DO UPDATE
        SET owner = EXCLUDED.owner, fingerprint = EXCLUDED.fingerprint, state = 'in_progress',
            locked_until = EXCLUDED.locked_until, created_at = EXCLUDED.created_at,
            expires_at = EXCLUDED.expires_at, status_code = NULL, headers = NULL, body = NULL
        WHERE k.expires_at < now()
           OR (k.state = 'in_progress' AND k.locked_until < now()
               AND k.fingerprint = EXCLUDED.fingerprint)
    RETURNING k.key
    """
)


async def claim(
    request: Request, sessionmaker: async_sessionmaker[AsyncSession], scope: str
) -> Claim | Response:
    """Claim the request's key, or return the stored response to replay."""
    key = _valid_key(request.headers[HEADER])
    fingerprint = _fingerprint(request, await request.body())
    owner = uuid.uuid4()
    params = {"scope": scope, "key": key, "owner": owner, "fingerprint": fingerprint,
              "lease": LEASE_SECONDS, "retention": RETENTION_SECONDS}
    async with sessionmaker() as session:
        claimed = (await session.execute(_CLAIM, params)).first()
        if claimed is None:
            return await stored_response(session, IdempotentRequest(scope, key, fingerprint))
        await session.commit()
    return Claim(scope=scope, key=key, owner=owner)


async def complete(session: AsyncSession, claimed: Claim, response: Response) -> None:
    """Store the response in the handler's own transaction. If the claim was taken over by a
    retry meanwhile (this request outlived its lease), raise instead: the caller's transaction
    then rolls back, and only the retry's effect will count."""
    headers = {k: v for k, v in response.headers.items() if k in _REPLAYED_HEADERS}
    stored = await session.execute(
        update(idempotency_keys)
        .where(idempotency_keys.c.scope == claimed.scope, idempotency_keys.c.key == claimed.key,
               idempotency_keys.c.owner == claimed.owner,
               idempotency_keys.c.state == "in_progress")
        .values(state="completed", locked_until=None, status_code=response.status_code,
                headers=headers, body=bytes(response.body))
    )
    if rows_affected(stored) != 1:
        raise IdempotencyKeyInUse("this request outlived its Idempotency-Key lease and a retry "
                                  "took the key over; its outcome is the retry's")


async def release(sessionmaker: async_sessionmaker[AsyncSession], claimed: Claim) -> None:
    async with sessionmaker() as session:
        await session.execute(
            delete(idempotency_keys).where(
                idempotency_keys.c.scope == claimed.scope, idempotency_keys.c.key == claimed.key,
                idempotency_keys.c.owner == claimed.owner,
                idempotency_keys.c.state == "in_progress",
            )
        )
        await session.commit()


PURGE_BATCH = 1000
PURGE_INTERVAL = dt.timedelta(hours=1)


async def purge_expired(session: AsyncSession, batch: int = PURGE_BATCH) -> int:
    result = await session.execute(
        text(
            "DELETE FROM idempotency_keys WHERE ctid IN (SELECT ctid FROM idempotency_keys "
            "WHERE expires_at < now() LIMIT :batch)"
        ),
        {"batch": batch},
    )
    return rows_affected(result)


def purge_job() -> Job:
    """The scheduled purge of expired keys (run by each service's worker)."""
    return Job("purge-idempotency-keys", PURGE_INTERVAL, purge_expired, batch=PURGE_BATCH)
