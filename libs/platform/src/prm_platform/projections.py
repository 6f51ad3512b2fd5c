"""Projections kept from other services' events: the newest version of a row wins, whatever
order its events arrive in.

Every consumer of a snapshot event (a partner's name, status, tier with its ``version``) keeps
it the same way: insert the row, or on a conflict take the snapshot's columns only when its
version is newer than the one held. The statement is written once per projection, as SQL:
building it per event with SQLAlchemy's expression language (an upsert with a CASE per column)
cost more CPU than the rest of applying the event.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import TextClause, text
from sqlalchemy.ext.asyncio import AsyncSession

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
        await session.execute(self.statement, parameters)
