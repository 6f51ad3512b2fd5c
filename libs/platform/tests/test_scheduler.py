"""The scheduler against the real PostgreSQL: a tick runs once across replicas, a failed run
stays due, a job with more to do runs again at once."""

import asyncio
import datetime as dt

import pytest
from sqlalchemy import text

from prm_platform.db import make_engine, make_sessionmaker
from prm_platform.scheduler import Job, Scheduler, run_due
from prm_stack.testing import scratch_schema

RUNS = "CREATE TABLE runs (id serial PRIMARY KEY, job text NOT NULL)"
HOUR = dt.timedelta(hours=1)


async def record_run(session) -> int:
    await session.execute(text("INSERT INTO runs (job) VALUES ('tick')"))
    await asyncio.sleep(0.05)  # long enough for the other replicas to collide with it
    return 1


async def count(engine, sql="SELECT count(*) FROM runs") -> int:
    async with engine.connect() as connection:
        return (await connection.execute(text(sql))).scalar_one()


async def test_one_run_per_tick_across_replicas(prm_infra):
    async with scratch_schema(prm_infra, RUNS) as (engine, schema):
        # Eight replicas, each with its own engine (its own connections), all due at once.
        engines = [make_engine(prm_infra.database_url, schema, pool_size=2) for _ in range(8)]
        try:
            job = Job("tick", HOUR, record_run)
            results = await asyncio.gather(*(run_due(make_sessionmaker(e), job) for e in engines))
            assert sorted(results, key=str) == [1] + [None] * 7
            assert await count(engine) == 1
            # Not due again before its interval has passed, whoever asks.
            assert await run_due(make_sessionmaker(engines[0]), job) is None
            assert await count(engine) == 1
            async with engine.begin() as connection:
                await connection.execute(text(
                    "UPDATE scheduled_jobs SET next_run_at = now() - interval '1 second'"))
            assert await run_due(make_sessionmaker(engines[1]), job) == 1
            assert await count(engine) == 2
        finally:
            for other in engines:
                await other.dispose()


async def test_a_failed_run_rolls_back_and_stays_due(prm_infra):
    async with scratch_schema(prm_infra, RUNS) as (engine, _):
        async def fail_after_writing(session) -> int:
            await session.execute(text("INSERT INTO runs (job) VALUES ('half')"))
            raise RuntimeError("disk on fire")

        sessionmaker = make_sessionmaker(engine)
        with pytest.raises(RuntimeError):
            await run_due(sessionmaker, Job("fragile", HOUR, fail_after_writing))
        assert await count(engine) == 0, "the failed run's writes were rolled back"
        error = await count(engine, "SELECT last_error FROM scheduled_jobs WHERE name='fragile'")
        assert "disk on fire" in error
        # Still due: the next attempt (here a healthy one) runs it.
        assert await run_due(sessionmaker, Job("fragile", HOUR, record_run)) == 1
        assert await count(engine, "SELECT last_error IS NULL FROM scheduled_jobs "
                                   "WHERE name='fragile'") is True


async def test_a_job_with_more_to_do_runs_again_and_others_still_run(prm_infra):
    async with scratch_schema(prm_infra, RUNS) as (engine, _):
        async with engine.begin() as connection:
            await connection.execute(text("INSERT INTO runs (job) SELECT 'old' "
                                          "FROM generate_series(1, 25)"))

        async def purge_ten(session) -> int:
            result = await session.execute(text(
                "DELETE FROM runs WHERE id IN (SELECT id FROM runs WHERE job = 'old' LIMIT 10)"))
            return result.rowcount

        async def broken(session) -> int:
            raise ValueError("always broken")

        scheduler = Scheduler(make_sessionmaker(engine), [
            Job("broken", HOUR, broken), Job("purge", HOUR, purge_ten, batch=10)])
        results = await scheduler.run_once()
        assert results == {"broken": None, "purge": 5}  # 10, 10, then the last 5
        assert await count(engine) == 0
        assert await count(engine, "SELECT runs FROM scheduled_jobs WHERE name = 'purge'") == 1


async def test_the_loop_stops_when_told(prm_infra):
    async with scratch_schema(prm_infra, RUNS) as (engine, _):
        stop = asyncio.Event()
        scheduler = Scheduler(make_sessionmaker(engine), [Job("tick", HOUR, record_run)],
                              tick=0.05)
        task = asyncio.create_task(scheduler.run(stop))
        await asyncio.sleep(0.3)
        stop.set()
        await asyncio.wait_for(task, timeout=5)
        assert await count(engine) == 1, "due once within the hour, however many ticks"
