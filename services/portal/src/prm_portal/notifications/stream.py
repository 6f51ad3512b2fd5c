"""Notifications as server-sent events (``text/event-stream``), resumable with
``Last-Event-ID``.

Order without loss: notifications are written by consumers' transactions that may commit in
any order, so an increasing number alone (a sequence) could be passed by a smaller one that
commits later. Each row keeps the id of the transaction that wrote it (``xid``); a stream sends
only rows whose transaction is older than every transaction still running (the snapshot's
``xmin``), in (xid, seq) order, so nothing can later appear behind its position. An event's id
is that position, ``<xid>.<seq>``: a client that reconnects with it misses nothing and gets
nothing twice.

The worker's transaction NOTIFYs ``portal_notifications``; each API process LISTENs on one
connection and wakes its streams, which also look every ``stream_poll_seconds`` regardless.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import orjson
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from prm_platform.problems import Unprocessable
from prm_platform.security import Principal
from prm_portal.models import notifications as n
from prm_portal.notifications.service import with_marks

log = logging.getLogger("prm.portal.stream")

CHANNEL = "portal_notifications"
BATCH = 100
RECHECKS = 5
RECHECK_SECONDS = 0.05
_POSITION = re.compile(r"^([0-9]{1,18})\.([0-9]{1,18})$")
_SETTLED = sa.text("notifications.xid < "
                   "pg_snapshot_xmin(pg_current_snapshot())::text::bigint")
_AFTER = sa.text("(notifications.xid, notifications.seq) > (:xid, :seq)")
_HORIZON = sa.text("SELECT pg_snapshot_xmin(pg_current_snapshot())::text")


def parse_position(value: str) -> tuple[int, int]:
    match = _POSITION.match(value.strip())
    if match is None:
        raise Unprocessable("Last-Event-ID is not an event id of this stream", errors=[
            {"location": "header", "field": "Last-Event-ID",
             "message": "expected the id of an event this stream sent"}])
    return int(match.group(1)), int(match.group(2))


class Waker:
    """One LISTEN connection per process; every wake-up releases all streams waiting."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self._event = asyncio.Event()
        self._connection: Any = None
        self._lock = asyncio.Lock()

    def current(self) -> asyncio.Event:
        return self._event

    def _wake(self, *_: Any) -> None:
        woken, self._event = self._event, asyncio.Event()
        woken.set()

    async def ensure_listening(self) -> None:
        """Listen if not yet (or again after the connection dropped). A failure only costs
        latency: streams still look every poll interval."""
        if self._connection is not None and not self._connection.is_closed():
            return
        async with self._lock:
            if self._connection is not None and not self._connection.is_closed():
                return
            try:
                self._connection = await asyncpg.connect(self.dsn, timeout=5)
                await self._connection.add_listener(CHANNEL, self._wake)
            except (TimeoutError, OSError, asyncpg.PostgresError) as exc:
                log.warning("cannot listen for notifications (streams poll): %r", exc)
                self._connection = None

    async def close(self) -> None:
        if self._connection is not None:
            with contextlib.suppress(Exception):
                await self._connection.close()


async def start_position(sessionmaker: async_sessionmaker[AsyncSession]) -> tuple[int, int]:
    """Where a stream without Last-Event-ID begins: after everything settled now."""
    async with sessionmaker() as session:
        horizon = (await session.execute(_HORIZON)).scalar_one()
    return int(horizon) - 1, 2**62


async def _batch(sessionmaker: async_sessionmaker[AsyncSession], principal: Principal,
                 position: tuple[int, int]) -> list[Any]:
    statement = (with_marks(principal)
                 .where(_SETTLED, _AFTER.bindparams(xid=position[0], seq=position[1]))
                 .order_by(n.c.xid, n.c.seq).limit(BATCH))
    async with sessionmaker() as session:  # a short transaction each time: never hold xmin
        return list(await session.execute(statement))


def event_bytes(row: Any, item: dict[str, Any]) -> bytes:
    return (f"id: {row.xid}.{row.seq}\nevent: notification\ndata: ".encode()
            + orjson.dumps(item) + b"\n\n")


async def events(sessionmaker: async_sessionmaker[AsyncSession], waker: Waker,
                 principal: Principal, position: tuple[int, int], *, render: Any,
                 heartbeat: float, poll: float, lasting: float) -> AsyncIterator[bytes]:
    await waker.ensure_listening()
    yield b"retry: 2000\n\n"
    ends = time.monotonic() + lasting
    quiet_since = time.monotonic()
    # After a wake that found nothing yet (the new row's transaction is settled only once
    # every older one ended), look again soon, a few times, before waiting for the next.
    soon = 0
    while time.monotonic() < ends:
        woken = waker.current()  # taken before looking, so a wake during the query counts
        rows = await _batch(sessionmaker, principal, position)
        for row in rows:
            yield event_bytes(row, render(row))
            position = (row.xid, row.seq)
        if rows:
            quiet_since = time.monotonic()
            soon = 0
            if len(rows) == BATCH:
                continue
        if time.monotonic() - quiet_since >= heartbeat:
            yield b": keep-alive\n\n"
            quiet_since = time.monotonic()
        # asyncio.timeout, not wait_for: on Python 3.11 a wait_for whose event is set as the
        # client goes away returns, and the stream's cancellation is lost (it would then run
        # on until ``lasting``).
        if soon:  # soon, or at the next wake if that comes first
            soon -= 1
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(RECHECK_SECONDS):
                    await woken.wait()
            continue
        try:
            async with asyncio.timeout(min(poll, heartbeat)):
                await woken.wait()
            soon = RECHECKS
        except TimeoutError:
            pass
        await waker.ensure_listening()
