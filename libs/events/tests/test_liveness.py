"""A worker's liveness reaches its service's database, where /readyz reads it."""

import asyncio
import datetime as dt

from sqlalchemy import text

from prm_events.heartbeat import Heartbeat
from prm_platform import liveness
from prm_platform.db import make_sessionmaker
from prm_stack.testing import scratch_schema


async def status(sessionmaker, stale_after: float = 0.5) -> str:
    async with sessionmaker() as session:
        return await liveness.worker_status(session, stale_after)


async def settles_on(sessionmaker, expected: str, *loops, seconds: float = 5.0) -> None:
    """Keep the given loops reporting until /readyz's view becomes ``expected``."""
    deadline = asyncio.get_running_loop().time() + seconds
    while (seen := await status(sessionmaker)) != expected:
        assert asyncio.get_running_loop().time() < deadline, seen
        for loop in loops:
            loop()
        await asyncio.sleep(0.05)


async def test_readiness_follows_the_worker_loops(prm_infra):
    async with scratch_schema(prm_infra) as (engine, _):
        sessionmaker = make_sessionmaker(engine)
        assert await status(sessionmaker) == "missing: no worker has reported"

        worker, started = liveness.worker_id(), dt.datetime.now(dt.UTC)

        async def report(lagging: list[str]) -> None:
            async with sessionmaker() as session:
                await liveness.report(session, worker, started, lagging=lagging)

        heartbeat = Heartbeat(None, stale_after=0.5)
        relay, consumer = heartbeat.loop("relay"), heartbeat.loop("partner-directory")
        stop = asyncio.Event()
        task = asyncio.create_task(heartbeat.run(stop, every=0.05, report=report,
                                                 report_every=0.05))
        try:
            await settles_on(sessionmaker, "ok", relay, consumer)
            # The consumer hangs; the relay goes on.
            await settles_on(sessionmaker,
                             f"stale: {worker}: partner-directory made no progress in 0.5 s",
                             relay)
            await settles_on(sessionmaker, "ok", relay, consumer)  # it recovers
        finally:
            stop.set()
            await task

        await asyncio.sleep(0.6)  # the process stopped reporting (killed, frozen)
        assert (await status(sessionmaker)).startswith("stale: no worker has reported for")
        assert await status(sessionmaker, stale_after=60) == "ok", "not yet stale at 60 s"
        async with sessionmaker() as session:
            await liveness.withdraw(session, worker)
        assert await status(sessionmaker) == "missing: no worker has reported"


async def test_one_stuck_replica_is_reported_and_dead_ones_are_forgotten(prm_infra):
    async with scratch_schema(prm_infra) as (engine, _):
        sessionmaker = make_sessionmaker(engine)
        started = dt.datetime.now(dt.UTC)
        async with sessionmaker() as session:
            await liveness.report(session, "host-a/1/aa", started, lagging=[])
            await liveness.report(session, "host-b/1/bb", started, lagging=["relay"])
        assert await status(sessionmaker, 30) == (
            "stale: host-b/1/bb: relay made no progress in 30 s")
        async with engine.begin() as connection:
            await connection.execute(text(
                "UPDATE worker_liveness SET seen_at = now() - interval '25 hours' "
                "WHERE worker = 'host-b/1/bb'"))
        async with sessionmaker() as session:  # the next report forgets the dead replica
            await liveness.report(session, "host-a/1/aa", started, lagging=[])
        assert await status(sessionmaker, 30) == "ok"
        async with engine.connect() as connection:
            workers = (await connection.execute(text("SELECT worker FROM worker_liveness"))
                       ).scalars().all()
        assert workers == ["host-a/1/aa"]


async def test_a_service_loop_reports_like_the_platform_loops(prm_infra):
    """A service's own loop (the webhooks dispatcher) run by the worker: while it hangs, the
    worker is stale and names it."""
    from prm_events.worker import WorkerSpec, run_worker
    from prm_platform.settings import ServiceSettings

    hanging = asyncio.Event()

    async def dispatcher(sessionmaker, stop, alive) -> None:
        while not stop.is_set():
            if not hanging.is_set():
                alive()
            await asyncio.sleep(0.05)

    async with scratch_schema(prm_infra) as (engine, schema):
        sessionmaker = make_sessionmaker(engine)
        settings = ServiceSettings(worker_stale_seconds=3)
        spec = WorkerSpec(service="test", schema=schema, settings=settings, relay=False,
                          loops={"dispatcher": dispatcher})
        stop = asyncio.Event()
        task = asyncio.create_task(run_worker(spec, stop))
        try:
            async def until(wanted) -> None:  # reports come every 5 s
                deadline = asyncio.get_running_loop().time() + 15
                while not wanted(seen := await status(sessionmaker, stale_after=60)):
                    assert asyncio.get_running_loop().time() < deadline, seen
                    await asyncio.sleep(0.05)

            def lagging(seen: str) -> set[str]:  # the scheduler ticks slower than 3 s
                if not seen.startswith("stale"):
                    return set()
                return set(seen.split(": ")[2].split(" made no progress")[0].split(","))

            await until(lambda seen: "dispatcher" not in lagging(seen))
            hanging.set()
            await until(lambda seen: "dispatcher" in lagging(seen))
            hanging.clear()
            await until(lambda seen: "dispatcher" not in lagging(seen))
        finally:
            stop.set()
            await task
