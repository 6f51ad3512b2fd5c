"""Messages, their deliveries and attempts, as their endpoints' owners see them: a partner sees
a message only through a delivery to one of its org's endpoints, and only those deliveries."""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any

from sqlalchemy import ColumnElement, exists, select, text, true
from sqlalchemy.ext.asyncio import AsyncSession

from prm_platform.listing import ListQuery
from prm_platform.problems import NotFound
from prm_platform.security import Principal
from prm_webhooks.declaration import WEBHOOKS_READ, WEBHOOKS_WRITE
from prm_webhooks.directory import name_of, named
from prm_webhooks.endpoints import service as endpoints
from prm_webhooks.endpoints.models import webhook_endpoints
from prm_webhooks.endpoints.service import owner_clause
from prm_webhooks.messages.listing import (
    DELIVERY_FILTERS,
    ENDPOINT_ATTEMPTS,
    MESSAGE_ATTEMPTS,
    MESSAGES,
)
from prm_webhooks.messages.models import webhook_attempts, webhook_deliveries, webhook_messages

PageRows = tuple[list[Any], str | None, int | None]

_DELIVERY = ("d.id, d.endpoint_id, d.status, d.attempts, d.next_attempt_at, "
             "d.last_response_status, d.last_error, d.updated_at")
# The caller's endpoints, as a condition on a delivery or attempt row aliased ``x``.
_OWNED = "x.endpoint_id IN (SELECT id FROM webhook_endpoints WHERE {owner})"


def _owned(principal: Principal, alias: str) -> str:
    return _OWNED.replace("x.", f"{alias}.").format(owner=owner_clause(principal))


def _owned_endpoint(principal: Principal, column: Any) -> ColumnElement[bool]:
    """``column`` names one of the caller's endpoints (a vendor's: any)."""
    if not principal.is_partner:
        return true()
    return column.in_(select(webhook_endpoints.c.id)
                      .where(webhook_endpoints.c.partner_id == principal.partner_id))


_MESSAGE_COLUMNS = [webhook_messages.c[name] for name in (
    "id", "event_id", "event_type", "partner_id", "payload", "created_at")]


async def list_page(session: AsyncSession, principal: Principal, query: ListQuery) -> PageRows:
    """Messages with a delivery to one of the caller's endpoints; ``endpoint_id=`` and
    ``status=`` narrow which of its deliveries count, so they say nothing of other owners'."""
    principal.require(WEBHOOKS_READ)
    d = webhook_deliveries
    wanted = [part.on_delivery(query.filters[name]) for name, part in DELIVERY_FILTERS.items()
              if name in query.filters]
    visible = named(_MESSAGE_COLUMNS, webhook_messages.c.partner_id).where(exists(
        select(d.c.id).where(d.c.message_id == webhook_messages.c.id,
                             _owned_endpoint(principal, d.c.endpoint_id), *wanted)))
    query = dataclasses.replace(query, filters={
        name: values for name, values in query.filters.items() if name not in DELIVERY_FILTERS})
    return await MESSAGES.page(session, visible, query)


async def deliveries(session: AsyncSession, principal: Principal, message_ids: list[uuid.UUID]
                     ) -> dict[uuid.UUID, list[Any]]:
    """The caller's deliveries of these messages (at most one per endpoint it owns)."""
    rows = await session.execute(text(
        f"SELECT d.message_id, {_DELIVERY} FROM webhook_deliveries d "
        f"WHERE d.message_id = ANY(CAST(:ids AS uuid[])) AND {_owned(principal, 'd')} "
        "ORDER BY d.message_id, d.id"), {"ids": message_ids, "owner": principal.partner_id})
    found: dict[uuid.UUID, list[Any]] = {}
    for row in rows:
        found.setdefault(row.message_id, []).append(row)
    return found


async def get(session: AsyncSession, principal: Principal, message_id: uuid.UUID) -> Any:
    principal.require(WEBHOOKS_READ)
    row = (await session.execute(text(f"""
        SELECT m.id, m.event_id, m.event_type, m.partner_id, m.payload, m.created_at,
               {name_of('m.partner_id')}
        FROM webhook_messages m WHERE m.id = :id
          AND EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.message_id = m.id
                      AND {_owned(principal, 'd')})"""),
        {"id": message_id, "owner": principal.partner_id})).first()
    if row is None:
        raise NotFound("webhook message not found")
    return row


_ATTEMPT_COLUMNS = [webhook_attempts.c[name] for name in (
    "id", "message_id", "endpoint_id", "delivery_id", "attempted_at", "outcome",
    "response_status", "latency_ms", "response_body", "error")]


async def attempts_of_message(session: AsyncSession, principal: Principal,
                              message_id: uuid.UUID, query: ListQuery) -> PageRows:
    await get(session, principal, message_id)
    visible = select(*_ATTEMPT_COLUMNS).where(
        webhook_attempts.c.message_id == message_id,
        _owned_endpoint(principal, webhook_attempts.c.endpoint_id))
    return await MESSAGE_ATTEMPTS.page(session, visible, query)


async def attempts_of_endpoint(session: AsyncSession, principal: Principal,
                               endpoint_id: uuid.UUID, query: ListQuery) -> PageRows:
    await endpoints.get(session, principal, endpoint_id)
    visible = select(*_ATTEMPT_COLUMNS).where(webhook_attempts.c.endpoint_id == endpoint_id)
    return await ENDPOINT_ATTEMPTS.page(session, visible, query)


async def resend(session: AsyncSession, principal: Principal, message_id: uuid.UUID,
                 endpoint_id: uuid.UUID) -> Any:
    """Due again now, with its attempts counted afresh. A lease in flight is voided: that
    attempt's outcome is not recorded, and the delivery goes out once more."""
    principal.require(WEBHOOKS_WRITE)
    await endpoints.get(session, principal, endpoint_id, write=True)
    row = (await session.execute(text(
        "UPDATE webhook_deliveries d SET status = 'pending', attempts = 0, "
        "next_attempt_at = now(), lease_token = NULL, lease_until = NULL, updated_at = now() "
        "WHERE d.message_id = :message AND d.endpoint_id = :endpoint "
        f"RETURNING {_DELIVERY}"), {"message": message_id, "endpoint": endpoint_id})).first()
    if row is None:
        raise NotFound("webhook message not found for this endpoint")
    return row
