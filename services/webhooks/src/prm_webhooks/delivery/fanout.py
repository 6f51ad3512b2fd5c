"""From event to messages: the worker's handler for every delivered type. It runs inside the
consumer's inbox transaction, so an event becomes its deliveries exactly once, however often
the broker redelivers it, and none is lost between the two.

A partner's endpoints receive what its keys may read: nothing while the partner is barred
(suspended, offboarded, an applicant), as the worker keeps its standing from the partners'
events (``credential_partners``). Its events of that time are not fanned out to its endpoints,
the deliveries already queued are held by the dispatcher until it is active again, and
dropped when it is offboarded. The vendor's endpoints receive everything."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from typing import Any

import orjson
from sqlalchemy import event as orm_event
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from prm_contracts import CONTRACTS, PartnerStatusChangedV1
from prm_events.consumer import Handler
from prm_events.envelope import CloudEvent
from prm_platform import telemetry
from prm_platform.credentials import BARRED
from prm_platform.db import Statement
from prm_platform.ids import new_id
from prm_webhooks.declaration import DELIVERED_TOPICS
from prm_webhooks.endpoints.filters import wanted

# A partner's endpoints only while it is not barred: by the partner's snapshot the event
# carries when that is the newest known (a partner event: the standing kept beside may not
# have taken it yet), else by the standing kept. A partner not known here is not barred.
_CANDIDATES = Statement(
    "SELECT e.id, e.event_types FROM webhook_endpoints e "
    "LEFT JOIN credential_partners s ON s.partner_id = e.partner_id "
    "WHERE e.enabled AND (e.partner_id IS NULL OR (e.partner_id = CAST(:partner AS uuid) "
    "AND COALESCE(CASE WHEN CAST(:version AS integer) >= COALESCE(s.version, 0) "
    "THEN CAST(:status AS text) ELSE s.status END, '') <> ALL(CAST(:barred AS text[]))))")
# Deliveries queued for an offboarded partner's endpoints are dropped, not held.
_DROP = text(
    "UPDATE webhook_deliveries d SET status = 'failed', lease_token = NULL, "
    "lease_until = NULL, last_error = 'not sent: the partner was offboarded', "
    "updated_at = now() FROM webhook_endpoints e "
    "WHERE e.id = d.endpoint_id AND e.partner_id = :partner AND d.status = 'pending'")
# The time held does not count towards disabling a failing endpoint.
_RESUMED = text(
    "UPDATE webhook_endpoints SET failing_since = NULL "
    "WHERE partner_id = :partner AND failing_since IS NOT NULL")
_STANDING = text("SELECT version FROM credential_partners WHERE partner_id = :partner")
BARRED_STATUSES = sorted(BARRED)
# Statuses after which nothing queued is kept ("terminated": offboarded's former name).
DROPPED = frozenset({"offboarded", "terminated"})
# The message and its deliveries in one statement (one round trip per event). No row back: the
# event had a message already (a redelivery), and nothing was written. This and the candidates
# run on asyncpg itself: once per event each, SQLAlchemy's execution cost more than they did.
_ENQUEUE = Statement(
    "WITH m AS (INSERT INTO webhook_messages (id, event_id, event_type, partner_id, "
    "ordering_key, payload, traceparent, created_at) VALUES (:id, :event_id, :event_type, "
    ":partner, :key, :payload, :traceparent, now()) ON CONFLICT (event_id) DO NOTHING "
    "RETURNING id) "
    "INSERT INTO webhook_deliveries (id, message_id, endpoint_id, ordering_key, status, "
    "attempts, next_attempt_at, created_at, updated_at) "
    "SELECT t.d, m.id, t.e, :key, 'pending', 0, now(), now(), now() "
    "FROM m, unnest(CAST(:ids AS uuid[]), CAST(:endpoints AS uuid[])) AS t(d, e) "
    "ON CONFLICT (message_id, endpoint_id) DO NOTHING RETURNING message_id")


class Added:
    """Who wants to know, in this process, that deliveries were committed: the dispatcher
    beside the consumer looks for due deliveries at once rather than at its next poll."""

    def __init__(self) -> None:
        self.listeners: set[Callable[[], None]] = set()

    def notify(self) -> None:
        for listener in list(self.listeners):
            listener()

    def after_commit(self, session: AsyncSession) -> None:
        """Notify once ``session``'s transaction has committed (not before: a dispatcher woken
        earlier would find nothing yet and go back to sleep)."""
        sync = session.sync_session
        if not sync.info.get("notifies_added"):
            sync.info["notifies_added"] = True

            def committed(_: object) -> None:
                sync.info.pop("notifies_added", None)
                self.notify()

            orm_event.listen(sync, "after_commit", committed, once=True)


ADDED = Added()


def tenant(event: CloudEvent) -> uuid.UUID | None:
    """The partner org an event concerns: the envelope's ``partnerid``, else the payload's
    partner (our producers set one or the other). None: a vendor-only event."""
    data = event.data
    partner = data.get("partner")
    for raw in (event.partnerid, data.get("partner_id"),
                partner.get("id") if isinstance(partner, dict) else None):
        if raw:
            try:
                return uuid.UUID(str(raw))
            except ValueError:
                continue
    return None


def snapshot(event: CloudEvent, partner: uuid.UUID | None) -> tuple[str | None, int | None]:
    """The status and version of ``partner`` as the event's own snapshot gives them (partner
    events carry one), else (None, None)."""
    data = event.data.get("partner")
    if partner is None or not isinstance(data, dict) or str(data.get("id")) != str(partner):
        return None, None
    status, version = data.get("status"), data.get("version")
    if not isinstance(status, str) or not isinstance(version, int) or isinstance(version, bool):
        return None, None
    return status[:40], version


def body(event_type: str, timestamp: dt.datetime, data: dict[str, Any], *,
         event_id: uuid.UUID | None, subject: str | None, partner_id: uuid.UUID | None) -> str:
    """The payload subscribers receive: Standard Webhooks' ``type``, ``timestamp`` and
    ``data``, with the event's id, subject and partner. Internal envelope fields (source,
    trace context) stay inside."""
    document: dict[str, Any] = {"type": event_type, "timestamp": timestamp,
                                "event_id": event_id and str(event_id), "subject": subject,
                                "partner_id": partner_id and str(partner_id), "data": data}
    return orjson.dumps({k: v for k, v in document.items() if v is not None},
                        option=orjson.OPT_UTC_Z).decode()


async def enqueue(session: AsyncSession, *, event_type: str, payload: str,
                  partner_id: uuid.UUID | None, ordering_key: str,
                  endpoint_ids: list[uuid.UUID], event_id: uuid.UUID | None = None
                  ) -> uuid.UUID | None:
    """A message and its deliveries (at least one), due now. None if the event had a message
    already."""
    if not endpoint_ids:
        raise ValueError("a message needs at least one endpoint")
    message_id = new_id()
    created = await _ENQUEUE.fetchrow(session, {
        "id": message_id, "event_id": event_id, "event_type": event_type,
        "partner": partner_id, "key": ordering_key[:200], "payload": payload,
        # The span enqueuing it (the worker applying the event, or the request of a ping).
        "traceparent": telemetry.traceparent() if telemetry.enabled() else None,
        "ids": [new_id() for _ in endpoint_ids], "endpoints": endpoint_ids})
    if created is None:
        return None
    ADDED.after_commit(session)
    return message_id


async def fan_out(session: AsyncSession, event: CloudEvent) -> None:
    partner = tenant(event)
    status, version = snapshot(event, partner)
    rows = await _CANDIDATES.fetch(session, {
        "partner": partner, "status": status, "version": version, "barred": BARRED_STATUSES})
    targets = [row["id"] for row in rows if wanted(list(row["event_types"]), event.type)]
    if not targets:
        return  # no message: nothing to deliver, nothing to keep
    payload = body(event.type, event.time, event.data, event_id=event.id,
                   subject=event.subject, partner_id=partner)
    await enqueue(session, event_type=event.type, payload=payload, partner_id=partner,
                  ordering_key=event.subject or str(event.id), endpoint_ids=targets,
                  event_id=event.id)


async def partner_status_changed(session: AsyncSession, event: CloudEvent) -> None:
    """Fanned out like any event; then what the new status means for the deliveries queued
    for the partner's endpoints: dropped once it is offboarded, due again (the dispatcher held
    them meanwhile) once it is no longer barred."""
    await fan_out(session, event)
    partner = tenant(event)
    status, version = snapshot(event, partner)
    if partner is None or status is None or version is None:
        return
    known = (await session.execute(_STANDING, {"partner": partner})).scalar_one_or_none()
    if known is not None and known > version:
        return  # an older event arriving late: the newer one decided already
    if status in DROPPED:
        await session.execute(_DROP, {"partner": partner})
    elif status not in BARRED and event.data.get("previous_status") in BARRED:
        await session.execute(_RESUMED, {"partner": partner})
        ADDED.after_commit(session)  # the held deliveries are due: wake the dispatcher


# Every published type of the topics delivered. A type added to the contracts is delivered
# once this service runs with the new contracts package.
HANDLERS: dict[str, Handler] = {
    event_type: fan_out for event_type, model in CONTRACTS.items()
    if model.topic in DELIVERED_TOPICS
}
HANDLERS[PartnerStatusChangedV1.event_type] = partner_status_changed
