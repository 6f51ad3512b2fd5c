"""Worker liveness in the service's database: written by each worker process, read by ``/readyz``.

A worker reports every few seconds (``prm_events.heartbeat``): when it last saw every one of its
loops (outbox relay, consumers, scheduler) make progress, and which loops lag. The API and its
worker may run on different hosts, so the report goes to the service's own schema, not a file.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
import socket

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

# Rows of worker processes that stopped reporting (replaced pods, killed processes) are
# forgotten after a day.
FORGET_AFTER = dt.timedelta(days=1)

_REPORT = text("""
    INSERT INTO worker_liveness (worker, started_at, seen_at, progress_at, lagging)
    VALUES (:worker, :started_at, now(), CASE WHEN :healthy THEN now() END, :lagging)
    ON CONFLICT (worker) DO UPDATE SET
        seen_at = now(),
        progress_at = CASE WHEN :healthy THEN now() ELSE worker_liveness.progress_at END,
        lagging = :lagging
""")
_FORGET = text("DELETE FROM worker_liveness WHERE seen_at < now() - make_interval(secs => :secs)")
_WITHDRAW = text("DELETE FROM worker_liveness WHERE worker = :worker")
_READ = text("""
    SELECT worker, lagging,
           extract(epoch FROM now() - seen_at)::float AS silent,
           extract(epoch FROM now() - progress_at)::float AS idle
    FROM worker_liveness ORDER BY seen_at DESC LIMIT 100
""")


def worker_id() -> str:
    """host/pid/token: one row per worker run, even for several runs in one process."""
    return f"{socket.gethostname()[:150]}/{os.getpid()}/{secrets.token_hex(3)}"


async def report(session: AsyncSession, worker: str, started_at: dt.datetime, *,
                 lagging: list[str]) -> None:
    await session.execute(_REPORT, {"worker": worker, "started_at": started_at,
                                    "healthy": not lagging, "lagging": ",".join(lagging)})
    await session.execute(_FORGET, {"secs": FORGET_AFTER.total_seconds()})
    await session.commit()


async def withdraw(session: AsyncSession, worker: str) -> None:
    """A worker that stops cleanly removes its row: it is gone, not stale."""
    await session.execute(_WITHDRAW, {"worker": worker})
    await session.commit()


async def worker_status(session: AsyncSession, stale_after: float) -> str:
    """``ok`` when at least one worker process reports and every reporting one makes progress;
    otherwise what is wrong, in words an operator can act on."""
    rows = (await session.execute(_READ)).all()
    reporting = [row for row in rows if row.silent < stale_after]
    if not reporting:
        if rows:
            return f"stale: no worker has reported for {rows[0].silent:.0f} s"
        return "missing: no worker has reported"
    for row in reporting:
        # A loop is reported lagging once it has made no progress for the stale limit.
        if row.lagging or row.idle is None or row.idle >= stale_after:
            loops = row.lagging or "all loops"
            return f"stale: {row.worker}: {loops} made no progress in {stale_after:g} s"
    return "ok"
