"""Periodic jobs that run once per tick however many replicas run them.

Each job has a row in the service's ``scheduled_jobs`` table with the time it is next due. A
replica runs a due job inside one transaction that holds the job's row
(``FOR UPDATE SKIP LOCKED``), moves ``next_run_at`` one interval on, and commits with the job's
own changes. So across replicas a tick runs once: a replica that finds the row locked or not yet
due skips it, and a run that fails or dies rolls back, leaving the job due for the next replica.

Jobs must be safe to run again (purges, expiries, re-evaluations are), keep their transaction
short (work in bounded batches; a job that has more to do says so and is run again at once) and
never commit themselves.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from prm_platform import cause, metrics

log = logging.getLogger("prm.scheduler")

# What a run did, in the job's own unit (rows purged, ...); kept in ``last_result``.
JobResult = int


@dataclass(frozen=True)
class Job:
    name: str
    interval: dt.timedelta
    run: Callable[[AsyncSession], Awaitable[JobResult]]
    # If a run did at least this many things there is probably more: run again at once.
    batch: int | None = None

    async def perform(self, session: AsyncSession) -> JobResult:
        """One run, whose events name the job as their actor."""
        with cause.acting(cause.job(self.name)):
            return await self.run(session)


_ENSURE = text(
    "INSERT INTO scheduled_jobs (name, next_run_at) VALUES (:name, now()) "
    "ON CONFLICT (name) DO NOTHING"
)
_CLAIM = text(
    "SELECT name FROM scheduled_jobs WHERE name = :name AND next_run_at <= now() "
    "FOR UPDATE SKIP LOCKED"
)
_DONE = text(
    "UPDATE scheduled_jobs SET next_run_at = now() + make_interval(secs => :interval), "
    "last_run_at = now(), last_result = :result, runs = runs + 1, last_error = NULL "
    "WHERE name = :name"
)
_FAILED = text("UPDATE scheduled_jobs SET last_error = :error WHERE name = :name")
# Which of the jobs are due (or have no row yet): one read per tick, in autocommit, so that a
# tick with nothing due costs one round trip rather than a transaction per job.
_DUE = text(
    "SELECT j.name FROM unnest(CAST(:names AS text[])) AS j(name) "
    "LEFT JOIN scheduled_jobs s ON s.name = j.name "
    "WHERE s.name IS NULL OR s.next_run_at <= now()"
)


async def run_due(sessionmaker: async_sessionmaker[AsyncSession], job: Job) -> JobResult | None:
    """Run ``job`` if it is due and no other replica holds it; None if it did not run."""
    async with sessionmaker() as session:
        await session.execute(_ENSURE, {"name": job.name})
        await session.commit()
        if (await session.execute(_CLAIM, {"name": job.name})).first() is None:
            await session.rollback()
            return None
        try:
            result = await job.perform(session)
        except Exception as exc:
            await session.rollback()
            async with sessionmaker() as failure:  # recorded apart from the rolled-back run
                await failure.execute(_FAILED, {"name": job.name, "error": repr(exc)[:1000]})
                await failure.commit()
            raise
        await session.execute(_DONE, {"name": job.name, "result": result,
                                      "interval": job.interval.total_seconds()})
        await session.commit()
        return result


class Scheduler:
    """Runs ``jobs`` until stopped; checks each job at most every ``tick`` seconds."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], jobs: Sequence[Job],
                 *, tick: float = 5.0) -> None:
        self.sessionmaker = sessionmaker
        self.jobs = list(jobs)
        self.tick = tick

    async def due(self) -> set[str]:
        async with self.sessionmaker() as session:
            connection = await session.connection(
                execution_options={"isolation_level": "AUTOCOMMIT"})
            return set((await connection.execute(
                _DUE, {"names": [job.name for job in self.jobs]})).scalars())

    async def run_once(self) -> dict[str, JobResult | None]:
        results: dict[str, JobResult | None] = {job.name: None for job in self.jobs}
        try:
            due = await self.due()
        except asyncio.CancelledError:
            raise
        except Exception:  # the database is away: the next tick asks again
            log.exception("reading which scheduled jobs are due failed")
            return results
        for job in self.jobs:
            if job.name not in due:
                continue
            try:
                result = await run_due(self.sessionmaker, job)
                if result is not None and metrics.enabled():
                    metrics.SCHEDULER_RUNS.labels(job.name, "ok").inc()
                while result is not None and job.batch and result >= job.batch:
                    result = await run_due_again(self.sessionmaker, job)
                results[job.name] = result
            except asyncio.CancelledError:
                raise
            except Exception:  # one failing job never stops the others, nor the process
                log.exception("scheduled job %s failed", job.name)
                if metrics.enabled():
                    metrics.SCHEDULER_RUNS.labels(job.name, "failed").inc()
                results[job.name] = None
        return results

    async def run(self, stop: asyncio.Event, alive: Callable[[], None] = lambda: None) -> None:
        while not stop.is_set():
            await self.run_once()
            alive()
            try:
                await asyncio.wait_for(stop.wait(), timeout=self.tick)
            except TimeoutError:
                pass


async def run_due_again(sessionmaker: async_sessionmaker[AsyncSession], job: Job
                        ) -> JobResult | None:
    """Another batch of a job that just ran and has more to do, under the same row lock rule."""
    async with sessionmaker() as session:
        locked = await session.execute(
            text("SELECT name FROM scheduled_jobs WHERE name = :name FOR UPDATE SKIP LOCKED"),
            {"name": job.name})
        if locked.first() is None:
            await session.rollback()
            return None
        result = await job.perform(session)
        await session.commit()
        return result
