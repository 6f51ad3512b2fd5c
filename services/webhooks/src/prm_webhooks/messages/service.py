"""Messages, their deliveries and attempts, as their endpoints' owners see them: a partner sees
a message only through a delivery to one of its org's endpoints, and only those deliveries."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from prm_platform.pagination import PageRequest
from prm_platform.problems import NotFound
from prm_platform.security import Principal
from prm_webhooks.declaration import WEBHOOKS_READ, WEBHOOKS_WRITE
from prm_webhooks.endpoints import service as endpoints
from prm_webhooks.endpoints.service import owner_clause

_DELIVERY = ("d.id, d.endpoint_id, d.status, d.attempts, d.next_attempt_at, "
             "d.last_response_status, d.last_error, d.updated_at")
_ATTEMPT = ("a.id, a.message_id, a.endpoint_id, a.delivery_id, a.attempted_at, a.outcome, "
            "a.response_status, a.latency_ms, a.response_body, a.error")
# The caller's endpoints, as a condition on a delivery or attempt row aliased ``x``.
_OWNED = "x.endpoint_id IN (SELECT id FROM webhook_endpoints WHERE {owner})"


def _owned(principal: Principal, alias: str) -> str:
    return _OWNED.replace("x.", f"{alias}.").format(owner=owner_clause(principal))


async def list_page(session: AsyncSession, principal: Principal, page: PageRequest, *,
                    event_type: str | None = None, endpoint_id: uuid.UUID | None = None
                    ) -> list[Any]:
    principal.require(WEBHOOKS_READ)
    rows = await session.execute(text(f"""
        SELECT m.id, m.event_id, m.event_type, m.partner_id, m.payload, m.created_at
        FROM webhook_messages m
        WHERE (CAST(:after AS uuid) IS NULL OR m.id > CAST(:after AS uuid))
          AND (CAST(:type AS varchar) IS NULL OR m.event_type = :type)
          AND EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.message_id = m.id
                      AND {_owned(principal, 'd')}
                      AND (CAST(:endpoint AS uuid) IS NULL OR d.endpoint_id = :endpoint))
        ORDER BY m.id LIMIT :limit"""),
        {"after": page.after, "type": event_type, "endpoint": endpoint_id,
         "owner": principal.partner_id, "limit": page.limit + 1})
    return list(rows)


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
        SELECT m.id, m.event_id, m.event_type, m.partner_id, m.payload, m.created_at
        FROM webhook_messages m WHERE m.id = :id
          AND EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.message_id = m.id
                      AND {_owned(principal, 'd')})"""),
        {"id": message_id, "owner": principal.partner_id})).first()
    if row is None:
        raise NotFound("webhook message not found")
    return row


async def attempts_of_message(session: AsyncSession, principal: Principal,
                              message_id: uuid.UUID, page: PageRequest, *,
                              endpoint_id: uuid.UUID | None = None) -> list[Any]:
    await get(session, principal, message_id)
    rows = await session.execute(text(
        f"SELECT {_ATTEMPT} FROM webhook_attempts a WHERE a.message_id = :id "
        f"AND {_owned(principal, 'a')} "
        "AND (CAST(:endpoint AS uuid) IS NULL OR a.endpoint_id = :endpoint) "
        "AND (CAST(:after AS uuid) IS NULL OR a.id > CAST(:after AS uuid)) "
        "ORDER BY a.id LIMIT :limit"),
        {"id": message_id, "endpoint": endpoint_id, "owner": principal.partner_id,
         "after": page.after, "limit": page.limit + 1})
    return list(rows)


async def attempts_of_endpoint(session: AsyncSession, principal: Principal,
                               endpoint_id: uuid.UUID, page: PageRequest, *,
                               outcome: str | None = None) -> list[Any]:
    await endpoints.get(session, principal, endpoint_id)
    rows = await session.execute(text(
        f"SELECT {_ATTEMPT} FROM webhook_attempts a WHERE a.endpoint_id = :id "
        "AND (CAST(:outcome AS varchar) IS NULL OR a.outcome = :outcome) "
        "AND (CAST(:after AS uuid) IS NULL OR a.id > CAST(:after AS uuid)) "
        "ORDER BY a.id LIMIT :limit"),
        {"id": endpoint_id, "outcome": outcome, "after": page.after, "limit": page.limit + 1})
    return list(rows)


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
