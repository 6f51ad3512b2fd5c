"""Queries of the trail; no rules."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from prm_audit.models import audit_chains as c
from prm_audit.models import audit_entries as e


async def chains(session: AsyncSession, service: str | None = None, *,
                 for_update: bool = False, for_key_share: bool = False) -> list[Any]:
    """The chains (one service's), in order; locked for retention to move their anchors
    (``for_update``), or held so that retention waits, but appends do not
    (``for_key_share``)."""
    statement = select(c).order_by(c.c.service)
    if service is not None:
        statement = statement.where(c.c.service == service)
    if for_update:
        statement = statement.with_for_update()
    elif for_key_share:
        statement = statement.with_for_update(read=True, key_share=True)
    return list((await session.execute(statement)).all())


async def entries_after(session: AsyncSession, service: str, seq: int, upto: int, limit: int
                        ) -> list[Any]:
    """The chain's entries after ``seq`` up to ``upto``, in order (at most ``limit``)."""
    return list((await session.execute(
        select(e).where(e.c.service == service, e.c.seq > seq, e.c.seq <= upto)
        .order_by(e.c.seq).limit(limit))).all())


async def entry_at(session: AsyncSession, service: str, seq: int) -> Any | None:
    return (await session.execute(
        select(e).where(e.c.service == service, e.c.seq == seq))).first()


async def erasures_of(session: AsyncSession, rows: Sequence[Any]) -> dict[uuid.UUID, Any]:
    """The entries of the erasures that pseudonymised any of ``rows``, by event id."""
    ids = sorted({row.erased_by for row in rows if row.erased_by is not None})
    if not ids:
        return {}
    found = await session.execute(
        select(e.c.event_id, e.c.service, e.c.seq, e.c.data).where(e.c.event_id.in_(ids)))
    return {row.event_id: row for row in found}


async def entry(session: AsyncSession, entry_id: uuid.UUID) -> Any | None:
    return (await session.execute(select(e).where(e.c.id == entry_id))).first()
