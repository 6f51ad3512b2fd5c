"""Rate limits shared by replicas, against the real PostgreSQL: two limiters (two replicas, each
with its own engine) enforce one limit together, a flood of new addresses does not free an
address being punished, and an unreachable database refuses rather than lets through."""

import asyncio
import functools
import time

import pytest
from sqlalchemy import event, text

from prm_platform.db import make_engine
from prm_platform.http import autocommit_connection
from prm_platform.problems import ServiceUnavailable
from prm_platform.ratelimits import MIN_HOLD, RateLimited, RateLimiter, SharedRateLimiter
from prm_stack.testing import scratch_schema


def replica(engine, name: str, per_minute: int, **options) -> SharedRateLimiter:
    return SharedRateLimiter(name, per_minute, functools.partial(autocommit_connection, engine),
                             **options)


async def spend(limiter: SharedRateLimiter, subject: str, times: int) -> int:
    """How many of ``times`` requests ``limiter`` lets through."""
    granted = 0
    for _ in range(times):
        try:
            await limiter.take(subject)
        except RateLimited:
            continue
        granted += 1
    return granted


def statements(engine) -> list[str]:
    """Every statement ``engine`` sends from now on, counted honestly at the driver."""
    sent: list[str] = []
    event.listen(engine.sync_engine, "before_cursor_execute",
                 lambda conn, cursor, statement, *rest: sent.append(statement))
    return sent


@pytest.mark.parametrize("per_minute", [120, 6000, 30_000])
async def test_two_replicas_enforce_one_limit(prm_infra, per_minute):
    """Both replicas serve one key at once, as fast as they can, until neither lets anything
    through: together they let through the limit (plus what the bucket refilled meanwhile),
    not twice the limit. At 6,000 a minute the replicas lease tokens in batches, and ask the
    database only about once per batch."""
    async with scratch_schema(prm_infra) as (engine, schema):
        engines = [make_engine(prm_infra.database_url, schema, pool_size=2) for _ in range(2)]
        try:
            sent = [statements(e) for e in engines]
            replicas = [replica(e, "requests", per_minute) for e in engines]
            started = time.monotonic()
            granted = await asyncio.gather(*(spend(r, "key-1", per_minute) for r in replicas))
            refilled = per_minute / 60 * (time.monotonic() - started)
            total = sum(granted)
            assert total <= per_minute + refilled, granted
            assert total >= per_minute - 2 * replicas[0].lease, granted
            assert all(granted), "both replicas served the key"
            # Both spent: whichever is asked, the refusal comes and says so, and all told the two
            # never let through more than the limit plus what the bucket refilled since the
            # start (at 6,000 a minute, one every 10 ms; the refill since the bucket's last write
            # inside the burst counts too, so the bound runs from the start, not from here).
            for limiter in replicas:
                more = 0
                for _ in range(per_minute):
                    try:
                        await limiter.take("key-1")
                    except RateLimited as refused:
                        assert int(refused.headers["Retry-After"]) >= 1
                        assert refused.headers["RateLimit-Remaining"] == "0"
                        break
                    more += 1
                else:
                    pytest.fail("the spent key was never refused")
                total += more
                assert total <= per_minute + per_minute / 60 * (time.monotonic() - started) + 1, (
                    total)
            # Another key has its own budget.
            assert (await replicas[1].take("key-2")).remaining >= 0
            # About once a batch while the bucket lasts; once it is spent, each replica asks at
            # most about once for every token the bucket refills (a slow machine stretches the
            # run, and the refill with it).
            asked = sum(len(s) for s in sent)
            refilled = per_minute / 60 * (time.monotonic() - started)
            assert asked <= 2 * per_minute / replicas[0].lease + 2 * refilled + 10, (
                asked, refilled)
        finally:
            for e in engines:
                await e.dispose()


@pytest.mark.parametrize("per_minute", [1, 120, 6000, 30_000, 600_000, 100_000_000])
def test_a_lease_is_kept_long_enough_and_the_burst_leaves_room_for_it(per_minute):
    """Leased tokens are kept until the bucket refilled them, and at least a quarter of a
    second; the shared bucket's capacity leaves out what it refills meanwhile, so tokens
    spent late never take a window past the limit."""
    limiter = SharedRateLimiter("requests", per_minute, connect=None)  # type: ignore[arg-type]
    assert limiter.hold >= (limiter.lease - 1) / limiter.rate
    assert limiter.hold >= MIN_HOLD or limiter.lease == 1
    assert limiter.capacity + limiter.rate * limiter.hold == pytest.approx(per_minute)
    assert limiter.capacity >= limiter.lease


async def test_a_busy_key_under_a_high_limit_asks_once_a_lease(prm_infra):
    """At 600,000 a minute the bucket refills a lease of 50 in 5 ms: kept only that long, a
    key sending every 20 ms made every request a database round trip. Kept a quarter of a
    second, 20 such requests ask two or three times."""
    async with scratch_schema(prm_infra) as (engine, _):
        sent = statements(engine)
        limiter = replica(engine, "requests", 600_000)
        for _ in range(20):
            await limiter.take("busy-key")
            await asyncio.sleep(0.02)
        assert 1 <= len(sent) <= 3, sent


async def test_the_headers_count_down_across_replicas(prm_infra):
    async with scratch_schema(prm_infra) as (engine, schema):
        other = make_engine(prm_infra.database_url, schema, pool_size=2)
        try:
            first, second = replica(engine, "requests", 3), replica(other, "requests", 3)
            seen = [(await limiter.take("key")).remaining for limiter in (first, second, first)]
            assert seen == [2, 1, 0]
            with pytest.raises(RateLimited):
                await second.take("key")
        finally:
            await other.dispose()


async def test_a_flood_of_addresses_does_not_free_a_punished_one(prm_infra):
    """The process remembers at most ``size`` addresses; a flood of new ones evicts what it
    knew of the punished address, but the shared bucket still holds its punishment."""
    async with scratch_schema(prm_infra) as (engine, _):
        failures = replica(engine, "failed-auth", 5, size=100)
        assert await spend(failures, "203.0.113.7", 10) == 5
        for n in range(1_000):
            await failures.take(f"198.51.{n // 250}.{n % 250}")
        assert "203.0.113.7" not in failures._leases
        with pytest.raises(RateLimited):
            await failures.take("203.0.113.7")
        # And a new replica (no memory at all) refuses it too.
        with pytest.raises(RateLimited):
            await replica(engine, "failed-auth", 5).take("203.0.113.7")


async def test_a_flood_of_subjects_in_one_process_keeps_the_punished_one(prm_infra):
    """The in-process limiter (budgets of one process) forgets the least recently seen
    subject first: one that keeps being refused stays remembered."""
    limiter = RateLimiter(2, "lookups", size=1_000)
    for _ in range(2):
        limiter.take("punished")
    for n in range(20_000):
        if n % 500 == 0:
            with pytest.raises(RateLimited):
                limiter.take("punished")
        limiter.take(f"subject-{n}")
    with pytest.raises(RateLimited):
        limiter.take("punished")


async def test_an_unreachable_database_refuses(prm_infra):
    """Nothing is let through without the shared bucket: 503 with Retry-After, not a pass."""
    unreachable = make_engine("postgresql+asyncpg://nobody@127.0.0.1:1/none", "public")
    try:
        with pytest.raises(ServiceUnavailable) as refused:
            await replica(unreachable, "requests", 6000).take("key")
        assert refused.value.status == 503 and refused.value.headers["Retry-After"] == "1"
    finally:
        await unreachable.dispose()


async def test_unused_leased_tokens_go_back(prm_infra):
    """A replica that leased a batch and saw its key go quiet gives the rest back with its next
    lease: what it did not spend is not lost to the key."""
    async with scratch_schema(prm_infra) as (engine, _):
        limiter = replica(engine, "requests", 6000)
        started = time.monotonic()
        await limiter.take("key")
        lease = limiter._leases["key"]
        assert lease.left == limiter.lease - 1
        lease.until = time.monotonic() - 1  # its deadline passed
        await limiter.take("key")
        refilled = limiter.rate * (time.monotonic() - started)
        async with engine.connect() as connection:
            tokens = (await connection.execute(text(
                "SELECT tokens FROM rate_buckets WHERE subject = 'key'"))).scalar_one()
        # Out of the shared bucket: the second lease and the one token spent of the first (the
        # rest given back); without the return it would be two whole leases.
        taken = limiter.capacity - tokens
        assert limiter.lease + 1 - refilled - 0.01 <= taken <= limiter.lease + 1.01, taken
