"""Projections kept from other services' events: the newest version of a row wins, whatever
order its events arrive in.

Every consumer of a snapshot event (a partner's name, status, tier with its ``version``) keeps
it the same way: insert the row, or on a conflict take the snapshot's columns only when its
version is newer than the one held. The statement is written once per projection, as SQL:
building it per event with SQLAlchemy's expression language (an upsert with a CASE per column)
cost more CPU than the rest of applying the event.

A consumer applying a batch of events may gather these upserts (``gathering``) and send each
projection's rows at once (``write_gathered``: one pipelined round trip instead of one per
event), for handlers marked ``projection``, whose only writes are such upserts. Newest version
wins needs no order across rows, and the rows of one key keep theirs. Any other statement
whose rows end the same in whatever order they meet other statements' rows (an upsert that
keeps the newest, an insert of a row its event names) may be sent the same way (``write``).
One statement's rows keep their order, and the statements go in the order each was first
used: a statement may read what one first used before it writes.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar

from sqlalchemy import TextClause, text
from sqlalchemy.ext.asyncio import AsyncSession

from prm_platform.db import Statement

_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")


class NewestVersion:
    """``INSERT ... ON CONFLICT (key) DO UPDATE`` keeping the newest ``version``.

    ``values`` maps each inserted column to its SQL (``None``: the parameter of the same name,
    e.g. ``{"name": None, "projected_at": "now()"}``); ``newer`` lists the columns taken from the
    event only when its version is newer (``version`` among them); ``always`` maps columns to
    SQL applied on every conflict, where ``t`` is the row held and ``excluded`` the event's
    (e.g. ``{"events_applied": "t.events_applied + 1"}``).
    """

    def __init__(self, table: str, key: str, values: Mapping[str, str | None],
                 newer: Sequence[str], always: Mapping[str, str] | None = None) -> None:
        always = always or {}
        for name in (table, key, *values, *newer, *always):
            if not _NAME.match(name):
                raise ValueError(f"not a plain SQL name: {name!r}")
        if "version" not in newer or not set(newer) <= set(values):
            raise ValueError("newer must name inserted columns, version among them")
        sets = [f"{c} = CASE WHEN excluded.version > t.version THEN excluded.{c} ELSE t.{c} END"
                for c in newer]
        sets += [f"{c} = {sql}" for c, sql in always.items()]
        self.parameters = tuple(c for c, sql in values.items() if sql is None)
        self.statement: TextClause = text(
            f"INSERT INTO {table} AS t ({', '.join(values)}) "
            f"VALUES ({', '.join(sql or f':{c}' for c, sql in values.items())}) "
            f"ON CONFLICT ({key}) DO UPDATE SET {', '.join(sets)}")

    async def __call__(self, session: AsyncSession, **parameters: Any) -> None:
        if set(parameters) != set(self.parameters):
            raise TypeError(f"expected the parameters {sorted(self.parameters)}, "
                            f"got {sorted(parameters)}")
        await write(session, self.statement, parameters)


async def write(session: AsyncSession, statement: TextClause,
                parameters: dict[str, Any]) -> None:
    """Run ``statement`` now, or, while ``session`` is ``gathering``, with the batch's other
    rows of it at the end."""
    gathered: dict[int, tuple[TextClause, list[dict[str, Any]]]] | None = \
        session.info.get(GATHERED)
    if gathered is None:
        await on_driver(statement).execute(session, parameters)
    else:
        gathered.setdefault(id(statement), (statement, []))[1].append(parameters)


# Projection writes run on asyncpg itself (``Statement``): a consumer sends one or two per
# poll and per projection, and SQLAlchemy's execution cost more than they did. The statements
# are module constants, each converted once.
_ON_DRIVER: dict[int, tuple[TextClause, Statement]] = {}


def on_driver(statement: TextClause) -> Statement:
    known = _ON_DRIVER.get(id(statement))
    if known is None or known[0] is not statement:
        if len(_ON_DRIVER) >= 1024:  # statements built per call would otherwise pile up
            _ON_DRIVER.clear()
        known = _ON_DRIVER[id(statement)] = (statement, Statement(statement.text))
    return known[1]


# The key in a session's info of the upserts gathered so far, by projection.
GATHERED = "prm.projections.gathered"
_PROJECTION = "__prm_projection__"
H = TypeVar("H", bound=Callable[..., Awaitable[None]])


def projection(handler: H) -> H:
    """Mark an event handler whose only writes go through ``write`` (``NewestVersion``
    upserts among them) and which reads nothing in Python that another handler of the batch
    may have written: a consumer may gather its writes over a batch."""
    setattr(handler, _PROJECTION, True)
    return handler


def is_projection(handler: object) -> bool:
    return bool(getattr(handler, _PROJECTION, False))


def gathering(session: AsyncSession) -> None:
    """From now on ``session``'s upserts wait for ``write_gathered``."""
    session.info.setdefault(GATHERED, {})


async def write_gathered(session: AsyncSession) -> None:
    """Send the gathered upserts, each projection's rows in the order gathered, and stop
    gathering."""
    gathered: dict[int, tuple[TextClause, list[dict[str, Any]]]] = \
        session.info.pop(GATHERED, None) or {}
    for statement, rows in gathered.values():
        await on_driver(statement).executemany(session, rows)
