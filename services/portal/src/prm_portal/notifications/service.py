"""Notifications as one person sees them: those of their audience (their partner org, or the
vendor's staff) whose record they may read at its source, with their own read and dismissed
marks (a mark is the person's: a colleague's unread stays unread)."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy import ColumnElement, and_
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from prm_platform.listing import ListQuery
from prm_platform.problems import NotFound
from prm_platform.security import ADMIN, Principal
from prm_portal.declaration import PORTAL_READ, PORTAL_WRITE
from prm_portal.models import notification_marks as m
from prm_portal.models import notifications as n
from prm_portal.notifications.listing import NOTIFICATIONS, in_state
from prm_portal.notifications.schemas import NotificationState

COLUMNS = [n.c.id, n.c.event_id, n.c.audience, n.c.partner_id, n.c.kind, n.c.title, n.c.body,
           n.c.data, n.c.subject_type, n.c.subject_id, n.c.occurred_at,
           n.c.xid, n.c.seq,
           m.c.read_at, m.c.dismissed_at]


def visible(principal: Principal) -> ColumnElement[bool]:
    """The caller's audience, and only what its scopes let it read at the source."""
    scoped = sa.true() if ADMIN in principal.scopes else n.c.scope.in_(sorted(principal.scopes))
    if principal.is_partner:
        return and_(n.c.audience == "partner", n.c.partner_id == principal.partner_id, scoped)
    return and_(n.c.audience == "vendor", scoped)


def with_marks(principal: Principal) -> sa.Select[Any]:
    return (sa.select(*COLUMNS)
            .select_from(n.outerjoin(m, and_(m.c.notification_id == n.c.id,
                                            m.c.subject == principal.subject)))
            .where(visible(principal)))


async def list_page(session: AsyncSession, principal: Principal, query: ListQuery
                    ) -> tuple[list[Any], str | None, int | None]:
    principal.require(PORTAL_READ)
    statement = with_marks(principal)
    if "state" not in query.filters:
        statement = statement.where(in_state(NotificationState.active))
    return await NOTIFICATIONS.page(session, statement, query)


async def unread_count(session: AsyncSession, principal: Principal) -> int:
    principal.require(PORTAL_READ)
    statement = sa.select(sa.func.count()).select_from(
        with_marks(principal).where(in_state(NotificationState.unread)).subquery())
    return int((await session.execute(statement)).scalar_one())


async def get(session: AsyncSession, principal: Principal, notification_id: uuid.UUID) -> Any:
    principal.require(PORTAL_READ)
    row = (await session.execute(with_marks(principal).where(n.c.id == notification_id))
           ).first()
    if row is None:
        raise NotFound("notification not found")
    return row


async def mark(session: AsyncSession, principal: Principal, ids: list[uuid.UUID],
               field: str, on: bool) -> int:
    """Set (or clear) the caller's read or dismissed mark on those of ``ids`` it may see."""
    principal.require(PORTAL_WRITE)
    if not ids:
        return 0
    seen = [row.id for row in await session.execute(
        sa.select(n.c.id).where(visible(principal), n.c.id.in_(ids)))]
    if not seen:
        return 0
    value = sa.func.now() if on else None
    statement = insert(m).values([{"notification_id": i, "subject": principal.subject,
                                   field: value} for i in seen])
    excluded_value = getattr(statement.excluded, field)
    statement = statement.on_conflict_do_update(
        index_elements=[m.c.notification_id, m.c.subject],
        set_={field: sa.func.coalesce(getattr(m.c, field), excluded_value) if on else None})
    await session.execute(statement)
    return len(seen)


async def mark_all_read(session: AsyncSession, principal: Principal) -> int:
    principal.require(PORTAL_WRITE)
    unread = with_marks(principal).where(in_state(NotificationState.unread)).subquery()
    ids = [row.id for row in await session.execute(sa.select(unread.c.id).limit(10_000))]
    return await mark(session, principal, ids, "read_at", True)

