"""Webhook endpoints: who owns them, what they receive, their secrets. A partner principal sees
and changes only its own org's endpoints (another org's is a 404); a vendor principal sees all.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from prm_platform.http import check_if_match
from prm_platform.ids import new_id
from prm_platform.listing import ListQuery
from prm_platform.problems import Conflict, NotFound, Unprocessable
from prm_platform.security import Principal
from prm_webhooks.config import Settings
from prm_webhooks.declaration import WEBHOOKS_READ, WEBHOOKS_WRITE
from prm_webhooks.delivery.fanout import body, enqueue
from prm_webhooks.delivery.signing import new_secret
from prm_webhooks.delivery.targets import TargetRefused, check_url
from prm_webhooks.directory import name_of, named
from prm_webhooks.endpoints.listing import ENDPOINTS
from prm_webhooks.endpoints.models import webhook_endpoints
from prm_webhooks.endpoints.schemas import (
    WebhookEndpointIn,
    WebhookEndpointPatch,
    WebhookEndpointStats,
)

# Bounds the fan-out of one event and the listing of one message's deliveries.
MAX_ENDPOINTS_PER_OWNER = 50
PING_TYPE = "prm.webhook.test.v1"

_NAMES = ("id", "partner_id", "url", "description", "event_types", "headers", "rate_limit",
          "ordered", "enabled", "disabled_reason", "failing_since", "version", "created_at",
          "updated_at")
# What an endpoint is answered with, its partner's name beside its partner id.
_COLUMNS = ", ".join(_NAMES) + ", " + name_of("webhook_endpoints.partner_id")


class WebhookTargetRefused(Unprocessable):
    slug = "webhook-target-refused"


def owner_clause(principal: Principal, column: str = "partner_id") -> str:
    """SQL condition on the owner column: a partner sees its org's rows only."""
    return f"{column} = CAST(:owner AS uuid)" if principal.is_partner else "TRUE"


def check_target(settings: Settings, url: str) -> None:
    try:
        check_url(url, allow_http=settings.allow_http, allow_loopback=settings.allow_loopback)
    except TargetRefused as exc:
        raise WebhookTargetRefused(str(exc), errors=[
            {"location": "body", "field": "url", "message": str(exc)}]) from None


async def create(session: AsyncSession, principal: Principal, settings: Settings,
                 data: WebhookEndpointIn) -> tuple[Any, str]:
    principal.require(WEBHOOKS_WRITE)
    check_target(settings, data.url)
    owner = principal.partner_id if principal.is_partner else None
    # The owner's endpoints are counted under a lock on the owner, so that two creations at
    # once cannot both pass the bound.
    await session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:k))"),
                          {"k": f"webhook-endpoints:{owner}"})
    count = (await session.execute(text(
        "SELECT count(*) FROM webhook_endpoints WHERE partner_id IS NOT DISTINCT FROM "
        "CAST(:owner AS uuid)"), {"owner": owner})).scalar_one()
    if count >= MAX_ENDPOINTS_PER_OWNER:
        raise Conflict(f"at most {MAX_ENDPOINTS_PER_OWNER} endpoints per owner; delete one")
    endpoint_id, now = new_id(), dt.datetime.now(dt.UTC)
    row = (await session.execute(text(
        "INSERT INTO webhook_endpoints (id, partner_id, created_by, url, description, "
        "event_types, headers, rate_limit, ordered, enabled, version, created_at, updated_at) "
        "VALUES (:id, :owner, :by, :url, :description, :event_types, CAST(:headers AS jsonb), "
        ":rate_limit, :ordered, :enabled, 1, :now, :now) "
        f"RETURNING {_COLUMNS}"),
        {"id": endpoint_id, "owner": owner, "by": principal.subject[:200], "url": data.url,
         "description": data.description, "event_types": data.event_types,
         "headers": orjson.dumps(data.headers).decode(), "rate_limit": data.rate_limit,
         "ordered": data.ordered, "enabled": data.enabled, "now": now})).one()
    secret = new_secret()
    await session.execute(text(
        "INSERT INTO webhook_endpoint_secrets (id, endpoint_id, secret, created_at) "
        "VALUES (:id, :endpoint, :secret, :now)"),
        {"id": new_id(), "endpoint": endpoint_id, "secret": secret, "now": now})
    return row, secret


async def get(session: AsyncSession, principal: Principal, endpoint_id: uuid.UUID, *,
              write: bool = False) -> Any:
    principal.require(WEBHOOKS_WRITE if write else WEBHOOKS_READ)
    lock = " FOR UPDATE" if write else ""
    row = (await session.execute(text(
        f"SELECT {_COLUMNS} FROM webhook_endpoints WHERE id = :id "
        f"AND {owner_clause(principal)}{lock}"),
        {"id": endpoint_id, "owner": principal.partner_id})).first()
    if row is None:
        raise NotFound("webhook endpoint not found")
    return row


async def list_page(session: AsyncSession, principal: Principal, query: ListQuery
                    ) -> tuple[list[Any], str | None, int | None]:
    principal.require(WEBHOOKS_READ)
    visible = named([webhook_endpoints.c[name] for name in _NAMES],
                    webhook_endpoints.c.partner_id)
    if principal.is_partner:  # its own org's endpoints only
        visible = visible.where(webhook_endpoints.c.partner_id == principal.partner_id)
    return await ENDPOINTS.page(session, visible, query)


async def update(session: AsyncSession, principal: Principal, settings: Settings,
                 endpoint_id: uuid.UUID, data: WebhookEndpointPatch, if_match: str | None
                 ) -> Any:
    current = await get(session, principal, endpoint_id, write=True)
    check_if_match(if_match, current.version)
    changes = data.model_dump(exclude_unset=True)
    for required in ("url", "description", "event_types", "headers", "ordered", "enabled"):
        if changes.get(required, "") is None:
            changes.pop(required)  # null leaves a required field as it is
    if "url" in changes:
        check_target(settings, changes["url"])
    if not changes:
        return current
    if "headers" in changes:
        changes["headers"] = orjson.dumps(changes["headers"]).decode()
    assignments = [f"{column} = :{column}" if column != "headers"
                   else "headers = CAST(:headers AS jsonb)" for column in changes]
    if changes.get("enabled") and not current.enabled:
        assignments += ["disabled_reason = NULL", "failing_since = NULL"]
    return (await session.execute(text(
        f"UPDATE webhook_endpoints SET {', '.join(assignments)}, version = version + 1, "
        f"updated_at = now() WHERE id = :id RETURNING {_COLUMNS}"),
        {**changes, "id": endpoint_id})).one()


async def delete(session: AsyncSession, principal: Principal, endpoint_id: uuid.UUID,
                 if_match: str | None) -> None:
    current = await get(session, principal, endpoint_id, write=True)
    check_if_match(if_match, current.version)
    # Its deliveries and attempts go with it; messages stay for the other endpoints.
    await session.execute(text("DELETE FROM webhook_endpoints WHERE id = :id"),
                          {"id": endpoint_id})


async def rotate_secret(session: AsyncSession, principal: Principal, endpoint_id: uuid.UUID,
                        overlap_hours: int, if_match: str | None
                        ) -> tuple[str, dt.datetime, int]:
    current = await get(session, principal, endpoint_id, write=True)
    check_if_match(if_match, current.version)
    now = dt.datetime.now(dt.UTC)
    expires = now + dt.timedelta(hours=overlap_hours)
    # Secrets that had already expired are forgotten; the current ones sign until `expires`.
    await session.execute(text(
        "DELETE FROM webhook_endpoint_secrets WHERE endpoint_id = :id "
        "AND expires_at IS NOT NULL AND expires_at <= :now"), {"id": endpoint_id, "now": now})
    await session.execute(text(
        "UPDATE webhook_endpoint_secrets SET expires_at = LEAST(COALESCE(expires_at, :expires), "
        ":expires) WHERE endpoint_id = :id"), {"id": endpoint_id, "expires": expires})
    secret = new_secret()
    await session.execute(text(
        "INSERT INTO webhook_endpoint_secrets (id, endpoint_id, secret, created_at) "
        "VALUES (:id, :endpoint, :secret, :now)"),
        {"id": new_id(), "endpoint": endpoint_id, "secret": secret, "now": now})
    version = (await session.execute(text(
        "UPDATE webhook_endpoints SET version = version + 1, updated_at = now() "
        "WHERE id = :id RETURNING version"), {"id": endpoint_id})).scalar_one()
    return secret, expires, version


async def recover(session: AsyncSession, principal: Principal, endpoint_id: uuid.UUID,
                  since: dt.datetime) -> int:
    await get(session, principal, endpoint_id, write=True)
    result = await session.execute(text(
        "UPDATE webhook_deliveries SET status = 'pending', attempts = 0, "
        "next_attempt_at = now(), last_error = NULL, updated_at = now() "
        "WHERE endpoint_id = :id AND status = 'failed' AND created_at >= :since"),
        {"id": endpoint_id, "since": since})
    return int(result.rowcount)  # type: ignore[attr-defined]


async def ping(session: AsyncSession, principal: Principal, endpoint_id: uuid.UUID
               ) -> uuid.UUID:
    """A test message to this endpoint alone, delivered like any other."""
    endpoint = await get(session, principal, endpoint_id, write=True)
    now = dt.datetime.now(dt.UTC)
    message_id = await enqueue(
        session, event_type=PING_TYPE,
        payload=body(PING_TYPE, now, {"endpoint_id": str(endpoint_id)}, event_id=None,
                     subject=str(endpoint_id), partner_id=endpoint.partner_id),
        partner_id=endpoint.partner_id, ordering_key=f"ping:{endpoint_id}",
        endpoint_ids=[endpoint_id])
    assert message_id is not None  # a ping has no event id, so it never meets a duplicate
    return message_id


async def stats(session: AsyncSession, principal: Principal, endpoint_id: uuid.UUID
                ) -> WebhookEndpointStats:
    await get(session, principal, endpoint_id)
    row = (await session.execute(text("""
        SELECT
          (SELECT count(*) FROM webhook_deliveries WHERE endpoint_id = :id
             AND status = 'pending') AS pending,
          (SELECT count(*) FROM webhook_deliveries WHERE endpoint_id = :id
             AND status = 'succeeded') AS succeeded,
          (SELECT count(*) FROM webhook_deliveries WHERE endpoint_id = :id
             AND status = 'failed') AS failed,
          count(a.id) AS attempts_24h,
          count(a.id) FILTER (WHERE a.outcome = 'failed') AS failed_attempts_24h,
          CAST(round(avg(a.latency_ms)) AS integer) AS average_latency_ms_24h
        FROM webhook_attempts a
        WHERE a.endpoint_id = :id AND a.attempted_at > now() - interval '24 hours'
        """), {"id": endpoint_id})).one()
    return WebhookEndpointStats.model_validate(row, from_attributes=True)
