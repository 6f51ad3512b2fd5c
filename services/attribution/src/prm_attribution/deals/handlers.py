"""Keeps the deal projection from ``prm.deals`` and turns a registration into a sourcing touch.

Deal data moves only with the deal's ``version`` (older events never overwrite newer data);
the registration touch has an id derived from the deal, so a redelivered or replayed event
cannot add it twice, and its time is the event's own, so a replay computes the same credits.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

import orjson
from sqlalchemy import TextClause, text
from sqlalchemy.ext.asyncio import AsyncSession

from prm_attribution.results.service import recompute
from prm_contracts import (
    DealApprovedV1,
    DealChange,
    DealExpiredV1,
    DealLostV1,
    DealRegisteredV1,
    DealRejectedV1,
    DealUpdatedV1,
    DealWonV1,
)
from prm_events.consumer import Handler
from prm_events.envelope import CloudEvent

# Namespace of the ids of touches derived from events.
TOUCH_NAMESPACE = uuid.UUID("0193c1d0-7a11-7b00-8000-a77b1b000000")
_FIELDS = ("customer_name", "customer_domain", "customer_country", "amount", "currency",
           "closed_on", "registered_at", "deal_type")


def registration_touch_id(deal_id: uuid.UUID) -> uuid.UUID:
    return uuid.uuid5(TOUCH_NAMESPACE, f"registration:{deal_id}")


_RETURNED = "deal_id, status, amount, currency, approved, closed_on, attribution_revision"
_UPSERTS: dict[tuple[str, ...], str] = {}
# The statements as SQLAlchemy takes them, made once: text() parses its SQL for parameters,
# which cost a tenth of a millisecond per event.
_STATEMENTS: dict[tuple[str, ...], TextClause] = {}


def _upsert_sql(carried: tuple[str, ...]) -> str:
    """Insert the deal or, when this event is newer than what is held, take its status and the
    fields it carries (a field it does not carry keeps its value); the row, locked, returned
    as ``results.service.LOCK_DEAL`` reads it. Built once per set of fields carried."""
    found = _UPSERTS.get(carried)
    if found is None:
        newer = "EXCLUDED.version > deals.version"
        updates = ", ".join(
            f"{name} = CASE WHEN {newer} THEN EXCLUDED.{name} ELSE deals.{name} END"
            for name in ["status", "partner_id", *carried])
        # updated_at: when the row last changed here (the attributed deals' change feed), so
        # an older event redelivered, which changes nothing, leaves it.
        found = _UPSERTS[carried] = (
            f"INSERT INTO deals (deal_id, partner_id, status, approved, version, "
            f"attribution_revision, updated_at, {', '.join(_FIELDS)}) VALUES (:deal, :partner, "
            f":status, :approved, :version, 0, statement_timestamp(), "
            f"{', '.join(':' + n for n in _FIELDS)}) "
            f"ON CONFLICT (deal_id) DO UPDATE SET {updates}, "
            f"approved = deals.approved OR EXCLUDED.approved, "
            f"version = greatest(deals.version, EXCLUDED.version), "
            f"updated_at = CASE WHEN {newer} OR (EXCLUDED.approved AND NOT deals.approved) "
            f"THEN statement_timestamp() ELSE deals.updated_at END RETURNING {_RETURNED}")
    return found


def _params(change: DealChange | DealRegisteredV1, approved: bool, fields: dict[str, Any]
            ) -> dict[str, Any]:
    return {"deal": change.deal_id, "partner": change.partner_id, "status": change.status,
            "approved": approved, "version": change.version,
            **{name: fields.get(name) for name in _FIELDS}}


async def _upsert(session: AsyncSession, change: DealChange | DealRegisteredV1,
                  approved: bool = False, **fields: Any) -> Any:
    """The deal upserted (``_upsert_sql``); its row, locked."""
    carried = tuple(name for name in _FIELDS if name in fields)
    statement = _STATEMENTS.get(carried)
    if statement is None:
        statement = _STATEMENTS[carried] = text(_upsert_sql(carried))
    return (await session.execute(statement, _params(change, approved, fields))).one()


# The registration's touch, written with the deal in one statement.
_TOUCH = (
    "touch AS (INSERT INTO touchpoints (id, partner_id, deal_id, customer_domain, kind, "
    "occurred_at, evidence, source, recorded_by, recorded_at) VALUES (:touch, :partner, :deal, "
    ":touch_domain, 'registration', :at, CAST(:evidence AS jsonb), 'event', :source, "
    "statement_timestamp()) ON CONFLICT (id) DO NOTHING)")


async def deal_registered(session: AsyncSession, event: CloudEvent) -> None:
    payload = event.payload()
    assert isinstance(payload, DealRegisteredV1)
    fields = dict(customer_name=payload.customer.name,
                  customer_domain=payload.customer.domain.lower(),
                  customer_country=payload.customer.country[:2],
                  amount=Decimal(payload.amount.amount), currency=payload.amount.currency,
                  registered_at=event.time, deal_type=payload.deal_type[:20])
    carried = tuple(name for name in _FIELDS if name in fields)
    statement = _STATEMENTS.get(("registration", *carried))
    if statement is None:
        statement = _STATEMENTS["registration", *carried] = text(
            f"WITH {_TOUCH}, deal AS ({_upsert_sql(carried)}) SELECT * FROM deal")
    deal = (await session.execute(statement, {
        **_params(payload, False, fields), "touch": registration_touch_id(payload.deal_id),
        "touch_domain": payload.customer.domain.lower(), "at": event.time,
        "source": event.source, "evidence": orjson.dumps({
            "event_id": str(event.id), "event_type": event.type,
            "description": f"Registered the deal ({payload.status})"}).decode()})).one()
    await recompute(session, payload.deal_id, deal=deal)


async def deal_changed(session: AsyncSession, event: CloudEvent) -> None:
    payload = event.payload()
    assert isinstance(payload, DealChange)
    fields: dict[str, Any] = {}
    if isinstance(payload, DealUpdatedV1 | DealWonV1):
        fields.update(amount=Decimal(payload.amount.amount), currency=payload.amount.currency,
                      deal_type=payload.deal_type[:20])
    if isinstance(payload, DealWonV1):
        fields["closed_on"] = payload.closed_on
    if isinstance(payload, DealLostV1):
        fields["closed_on"] = event.time.astimezone(dt.UTC).date()
    deal = await _upsert(session, payload,
                         approved=isinstance(payload, DealApprovedV1 | DealWonV1), **fields)
    await recompute(session, payload.deal_id, deal=deal)


# A win the vendor reversed: the deal takes the terminal status `win_reversed`, so it leaves
# the revenue KPIs and the history the data-driven models learn from, while its credits stay
# readable. Named by its type, so that the handler needs nothing of the event but a deal's
# change.
WIN_REVERSED = "prm.deal.win_reversed.v1"

HANDLERS: dict[str, Handler] = {
    DealRegisteredV1.event_type: deal_registered,
    **{model.event_type: deal_changed
       for model in (DealUpdatedV1, DealApprovedV1, DealRejectedV1, DealWonV1, DealLostV1,
                     DealExpiredV1)},
    WIN_REVERSED: deal_changed,
}
