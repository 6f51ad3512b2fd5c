"""Rate limits: token buckets, ``per_minute`` requests in a burst, refilled evenly over a minute.

``SharedRateLimiter`` holds across replicas: each subject's bucket is a row of the service's
``rate_buckets`` table (UNLOGGED), and a replica leases a few tokens from it at a time with one
statement (an upsert that refills the bucket for the time elapsed, takes up to ``lease`` tokens
and hands back the unspent ones of this replica's expired lease). So the database is asked once
per ``lease`` requests of a busy subject at a replica (once per request of a subject slower than
a lease per ``hold``), and the limit is one limit whatever the replica count:

- leased tokens are gone from the shared bucket; a replica spends them within ``hold`` seconds
  or gives them back;
- the shared bucket holds at most ``per_minute`` less what it refills in ``hold`` (the time it
  takes to refill a lease, at least a quarter of a second), so that tokens spent up to ``hold``
  seconds after they were leased still keep every window to the token bucket's bound: at most
  ``per_minute + per_minute * T / 60`` requests in any ``T`` seconds, across replicas;
- what a replica knows locally (its lease, and that a bucket is empty until some instant) is in
  a bounded cache: a flood of new subjects evicts it, which costs the evicted subject one more
  round trip, never its punishment (the row keeps it).

Small limits (under 200 a minute: failed authentications, intake keys) lease one token at a
time: every request asks the database, and the limit is exact. With ``lease`` > 1, a subject may
see a 429 at one replica while up to ``lease - 1`` tokens sit unspent at another for less than
``hold`` seconds (``hold`` is under a second at the default 6,000 a minute).

The database unreachable, nothing is granted: a 503 with ``Retry-After``, never a pass (a
local fallback would multiply the limit by the replica count again).

``RateLimiter`` is a bucket in this process's memory, for budgets of one process (how often it
asks the key owner about unknown keys).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from cachetools import LRUCache
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from prm_platform.db import rows_affected
from prm_platform.problems import ProblemError, ServiceUnavailable
from prm_platform.scheduler import Job

log = logging.getLogger("prm.ratelimits")

# Connections whose every statement commits by itself (``prm_platform.http.autocommit_connection``
# on the service's engine; tests swap in one that rolls back, as for single-statement writes).
Connect = Callable[[], contextlib.AbstractAsyncContextManager[AsyncConnection]]

# Subjects whose lease and emptiness a process remembers, per limiter.
LOCAL_SUBJECTS = 50_000
# The largest lease, and the share of the limit one lease may be.
MAX_LEASE = 50
LEASE_SHARE = 100
# The least time leased tokens are kept for (the limit's burst is smaller by what a bucket
# refills in it: a quarter of a second's worth, a 240th of the limit).
MIN_HOLD = 0.25
# Longer subjects are stored as their digest (the column's bound).
_MAX_SUBJECT = 200
PURGE_BATCH = 10_000
# A bucket is full again at most a minute after its last use; forgotten within minutes.
PURGE_INTERVAL = dt.timedelta(minutes=5)


class RateLimited(ProblemError):
    status, slug = 429, "rate-limited"


@dataclass
class Quota:
    limit: int
    remaining: int
    reset: int  # seconds until the bucket is full again

    def headers(self) -> dict[str, str]:
        return {"RateLimit-Limit": str(self.limit), "RateLimit-Remaining": str(self.remaining),
                "RateLimit-Reset": str(self.reset)}


def _refused(limit: int, what: str, retry_after: float, quota: Quota) -> RateLimited:
    return RateLimited(f"rate limit of {limit} {what} per minute reached",
                       headers={"Retry-After": str(max(1, math.ceil(retry_after))),
                                **quota.headers()})


class RateLimiter:
    """A token bucket per subject in this process's memory (at most ``size`` subjects, the least
    recently seen forgotten first). With N replicas the effective limit is N times higher: for
    budgets of one process only."""

    def __init__(self, per_minute: int, what: str = "requests", *, size: int = 1_000) -> None:
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0
        self.what = what
        self._buckets: LRUCache[str, tuple[float, float]] = LRUCache(size)

    def take(self, subject: str) -> Quota:
        """Spend one request of ``subject``'s budget, or raise RateLimited."""
        now = time.monotonic()
        tokens, last = self._buckets.get(subject, (self.capacity, now))
        tokens = min(self.capacity, tokens + (now - last) * self.rate)
        if tokens < 1:
            self._buckets[subject] = (tokens, now)  # recently seen: the last to be forgotten
            raise _refused(int(self.capacity), self.what, (1 - tokens) / self.rate,
                           Quota(int(self.capacity), 0,
                                 math.ceil((self.capacity - tokens) / self.rate)))
        self._buckets[subject] = (tokens - 1, now)
        return Quota(int(self.capacity), math.floor(tokens - 1),
                     math.ceil((self.capacity - tokens + 1) / self.rate))


@dataclass
class _Lease:
    """What this process knows of one subject's shared bucket."""

    left: int = 0  # tokens leased and not spent yet
    until: float = 0.0  # when they must be given back
    level: float = 0.0  # the shared bucket's tokens after the last lease
    seen: float = 0.0  # when that was
    empty_until: float = 0.0  # the shared bucket has no token before then


def _lease_sql() -> str:
    capacity, rate = "CAST(:capacity AS float8)", "CAST(:rate AS float8)"
    want, now = "CAST(:want AS integer)", "statement_timestamp()"
    # The bucket as it is now: refilled for the time since it was last leased from (never
    # backwards: a statement that started before another replica's update waited for its
    # lock), plus what this replica gives back, at most the capacity.
    refilled = (f"LEAST({capacity}, b.tokens + CAST(:returned AS integer) + {rate} * "
                f"GREATEST(0, EXTRACT(EPOCH FROM {now} - b.updated_at)))")
    taken = f"LEAST({want}, FLOOR({refilled}))"
    since = f"GREATEST(b.updated_at, {now})"
    return f"""
        INSERT INTO rate_buckets AS b (limiter, subject, tokens, granted, updated_at, full_at)
        VALUES (:limiter, :subject, {capacity} - {want}, {want}, {now},
                {now} + make_interval(secs => {want} / {rate}))
        ON CONFLICT (limiter, subject) DO UPDATE SET
            tokens = {refilled} - {taken},
            granted = {taken},
            updated_at = {since},
            full_at = {since} + make_interval(secs => ({capacity} - {refilled} + {taken})
                                                      / {rate})
        RETURNING granted, tokens
    """


_LEASE = text(_lease_sql())
_PURGE = text(
    "DELETE FROM rate_buckets WHERE ctid = ANY(ARRAY(SELECT ctid FROM rate_buckets "
    "WHERE full_at < now() LIMIT :batch))"
)


async def purge_full_buckets(session: AsyncSession) -> int:
    """Forget buckets that are full again (a missing row is a full bucket): the scheduled job
    of every service's worker."""
    result = await session.execute(_PURGE, {"batch": PURGE_BATCH})
    return rows_affected(result)


def purge_job() -> Job:
    return Job("purge-full-rate-buckets", PURGE_INTERVAL, purge_full_buckets, batch=PURGE_BATCH)


class SharedRateLimiter:
    """A token bucket per subject shared by every replica of the service (see the module)."""

    def __init__(self, name: str, per_minute: int, connect: Connect, what: str = "requests",
                 *, size: int = LOCAL_SUBJECTS) -> None:
        self.name = name
        self.limit = per_minute
        self.rate = per_minute / 60.0
        self.lease = max(1, min(MAX_LEASE, per_minute // LEASE_SHARE))
        # How long leased tokens may wait to be spent: the time the bucket takes to refill
        # them, but at least MIN_HOLD (at thousands a second that time is microseconds, and a
        # replica would ask the database on every request). The shared bucket's capacity
        # leaves out what it refills in that time, so that every window keeps the bound.
        self.hold = max((self.lease - 1) / self.rate, MIN_HOLD) if self.lease > 1 else 0.0
        self.capacity = float(per_minute) - self.rate * self.hold
        self.connect = connect
        self.what = what
        self._leases: LRUCache[str, _Lease] = LRUCache(size)

    def _level(self, lease: _Lease, now: float) -> float:
        return min(self.capacity, lease.level + (now - lease.seen) * self.rate)

    def _quota(self, lease: _Lease, now: float) -> Quota:
        level = self._level(lease, now)
        return Quota(self.limit, min(self.limit, math.floor(level) + lease.left),
                     math.ceil((self.capacity - level) / self.rate))

    def _refusal(self, lease: _Lease, now: float) -> RateLimited:
        level = self._level(lease, now)
        return _refused(self.limit, self.what, (1 - level) / self.rate,
                        Quota(self.limit, 0, math.ceil((self.capacity - level) / self.rate)))

    def check(self, subject: str) -> None:
        """Raise RateLimited if this process knows ``subject``'s budget to be spent (no
        database round trip; a subject it knows nothing of passes)."""
        lease = self._leases.get(subject)
        now = time.monotonic()
        if lease is not None and lease.left == 0 and now < lease.empty_until:
            raise self._refusal(lease, now)

    async def take(self, subject: str) -> Quota:
        """Spend one request of ``subject``'s budget, or raise RateLimited (503 if the shared
        buckets cannot be reached)."""
        if len(subject) > _MAX_SUBJECT:
            subject = "sha256:" + hashlib.sha256(subject.encode()).hexdigest()
        now = time.monotonic()
        lease = self._leases.get(subject)
        if lease is not None:
            if lease.left > 0 and now < lease.until:
                lease.left -= 1
                return self._quota(lease, now)
            if now < lease.empty_until:
                raise self._refusal(lease, now)
        returned = 0
        if lease is not None:  # expired: its unspent tokens go back with this lease
            returned, lease.left = lease.left, 0
        granted, level = await self._lease_from_bucket(subject, returned)
        now = time.monotonic()
        lease = self._leases.get(subject) or _Lease()
        self._leases[subject] = lease
        lease.level, lease.seen = level, now
        if not (lease.left > 0 and now < lease.until):
            lease.left, lease.until = 0, now + self.hold
        # Tokens another request of this subject leased meanwhile keep their earlier deadline.
        lease.left += granted
        if lease.left == 0:
            lease.empty_until = now + (1 - level) / self.rate
            raise self._refusal(lease, now)
        lease.left -= 1
        return self._quota(lease, now)

    async def _lease_from_bucket(self, subject: str, returned: int) -> tuple[int, float]:
        try:
            async with self.connect() as connection:
                row = (await connection.execute(_LEASE, {
                    "limiter": self.name, "subject": subject, "capacity": self.capacity,
                    "rate": self.rate, "want": self.lease, "returned": returned})).one()
        except (OSError, TimeoutError, SQLAlchemyError) as exc:
            log.warning("rate limit %s unavailable: %s", self.name, type(exc).__name__)
            raise ServiceUnavailable("rate limits cannot be checked right now; retry",
                                     headers={"Retry-After": "1"}) from None
        return int(row.granted), float(row.tokens)
