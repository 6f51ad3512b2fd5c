"""Leads: received, checked against the registrations and direct accounts like a registration's
customer, routed (``routing``), offered with an answer-by time, accepted or declined, recycled
by the scheduler when the answer does not come, queued for the vendor when nobody can take
them, and converted to a deal registration that keeps the lead as its source. Every change of a
lead is one transaction with its event (``prm.leads``) and, for offers, its explanation."""

from __future__ import annotations

import datetime as dt
import time
import types
import uuid
from typing import Any

import orjson
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

import prm_contracts as contracts
from prm_deals.config import EVENT_SOURCE
from prm_deals.declaration import DEALS_WRITE, LEAD_INTAKE, LEADS_READ, LEADS_WRITE
from prm_deals.leads import propensity, routing
from prm_deals.leads.listing import ASSIGNMENTS, LEADS
from prm_deals.leads.models import Lead, LeadAssignment
from prm_deals.leads.schemas import (
    LeadAssignIn,
    LeadCapacityIn,
    LeadConvertIn,
    LeadDeclineIn,
    LeadIn,
)
from prm_deals.matching import conflicts
from prm_deals.registrations import service as registrations
from prm_deals.registrations.models import AnyDeal
from prm_deals.registrations.schemas import Customer, DealRegistration
from prm_events import outbox
from prm_platform.http import check_if_match
from prm_platform.ids import new_id
from prm_platform.listing import ListQuery
from prm_platform.money import format_amount
from prm_platform.problems import Conflict, Forbidden, NotFound, Unprocessable
from prm_platform.security import Principal

# An accepted lead not converted in this many days, or a queued one nobody took, expires.
ACCEPTED_DAYS = 90
QUEUED_DAYS = 30
_COLUMNS = ", ".join(c.name for c in Lead.__table__.columns if c.name != "search_text")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


# --- events ----------------------------------------------------------------------------------

def _payload(event: type[contracts.LeadChange], lead: Any, **extra: Any
             ) -> tuple[contracts.LeadChange, uuid.UUID | None]:
    """A lead's event for ``lead`` as it is (or will be: a row, or anything with its columns),
    and the partner it concerns, who may see it (its webhooks): the holder, or for a decline or
    a lapse the partner that let it go, or else the partner that passed it on."""
    payload = event(lead_id=lead.id, partner_id=lead.partner_id, source=lead.source,
                    company=contracts.Customer(name=lead.company_name,
                                               domain=lead.company_domain,
                                               country=lead.company_country),
                    status=lead.status, version=lead.version, **extra)
    concerned = extra.get("declined_by") or extra.get("withdrawn_from") or lead.partner_id \
        or lead.source_partner_id
    return payload, concerned


def _event(event: type[contracts.LeadChange], lead: Any, **extra: Any) -> dict[str, object]:
    """The event's parameters for a statement that writes it (``outbox.insert_cte``)."""
    payload, concerned = _payload(event, lead, **extra)
    return outbox.event_params(payload, source=EVENT_SOURCE, aggregate_id=lead.id,
                               partner_id=concerned)


async def _publish(session: AsyncSession, event: type[contracts.LeadChange], lead: Any,
                   **extra: Any) -> None:
    payload, concerned = _payload(event, lead, **extra)
    await outbox.publish(session, payload, source=EVENT_SOURCE, aggregate_id=lead.id,
                         partner_id=concerned)


# --- reading ---------------------------------------------------------------------------------

def visible_to(principal: Principal, lead: Any) -> bool:
    """A partner sees the leads offered to or held by its org, and those it passed on."""
    return not principal.is_partner or principal.partner_id in (lead.partner_id,
                                                               lead.source_partner_id)


async def _row(session: AsyncSession | AsyncConnection, lead_id: uuid.UUID, *,
               for_update: bool = False) -> Any:
    return (await session.execute(text(
        f"SELECT {_COLUMNS} FROM leads WHERE id = :id" + (" FOR UPDATE" if for_update else "")),
        {"id": lead_id})).first()


async def get(session: AsyncSession, principal: Principal, lead_id: uuid.UUID, *,
              for_update: bool = False) -> Any:
    principal.require(LEADS_READ)
    lead = await _row(session, lead_id, for_update=for_update)
    if lead is None or not visible_to(principal, lead):
        raise NotFound("lead not found")
    return lead


async def partner_names(session: AsyncSession | AsyncConnection,
                        ids: list[uuid.UUID | None]) -> dict[uuid.UUID, str]:
    wanted = sorted({i for i in ids if i is not None}, key=lambda i: i.int)
    if not wanted:
        return {}
    return dict((await session.execute(text(
        "SELECT partner_id, name FROM partner_directory WHERE partner_id = ANY(:ids)"),
        {"ids": wanted})).all())


async def list_page(session: AsyncSession, principal: Principal, query: ListQuery
                    ) -> tuple[list[Any], str | None, int | None]:
    principal.require(LEADS_READ)
    statement = select(Lead)
    if principal.is_partner:
        statement = statement.where((Lead.partner_id == principal.partner_id)
                                    | (Lead.source_partner_id == principal.partner_id))
        if "partner_id" in query.filters:
            # Who holds a lead it passed on is not a partner's to know, nor to find by filter:
            # for a partner, the filter names only leads its own org holds.
            statement = statement.where(Lead.partner_id == principal.partner_id)
    return await LEADS.page(session, statement, query)


async def assignments(session: AsyncSession, principal: Principal, lead_id: uuid.UUID,
                      query: ListQuery) -> tuple[list[Any], str | None, int | None]:
    """The lead's offers, oldest first. A partner reads only its own offers of it."""
    await get(session, principal, lead_id)
    statement = select(LeadAssignment).where(LeadAssignment.lead_id == lead_id)
    if principal.is_partner:
        statement = statement.where(LeadAssignment.partner_id == principal.partner_id)
    return await ASSIGNMENTS.page(session, statement, query)


# --- receiving -------------------------------------------------------------------------------

def _source(principal: Principal, data: LeadIn, *, intake: bool) -> tuple[str, uuid.UUID | None]:
    if intake:
        principal.require(LEAD_INTAKE)
        principal.ensure_vendor()
        if data.source_partner_id is not None:
            raise Unprocessable("the intake key records the vendor's own leads; partner-sourced "
                                "leads come through POST /v1/leads", errors=[{
                                    "location": "body", "field": "source_partner_id",
                                    "message": "not accepted here"}])
        return "vendor", None
    principal.require(LEADS_WRITE)
    if principal.is_partner:
        if data.source_partner_id not in (None, principal.partner_id):
            raise Forbidden("partner keys pass on leads only for their own organisation")
        return "partner", principal.partner_id
    return ("partner", data.source_partner_id) if data.source_partner_id else ("vendor", None)


def _values(data: LeadIn) -> dict[str, Any]:
    amount = data.estimated_amount
    return {
        "company_name": data.company.name, "company_domain": data.company.domain.lower(),
        "company_country": data.company.country, "industry": data.industry,
        "product": data.product, "size": data.size.value if data.size else None,
        "language": data.language,
        "contact": orjson.dumps(data.contact.model_dump(mode="json", exclude_none=True)).decode()
        if data.contact else None,
        "notes": data.notes, "estimated_amount": amount.value if amount else None,
        "currency": amount.currency if amount else None,
    }


_DESCRIBED = ("company_name", "company_domain", "company_country", "industry", "product",
              "size", "language", "contact", "notes", "estimated_amount", "currency")


async def _found_conflicts(session: AsyncSession | AsyncConnection, data: LeadIn,
                           source_partner: uuid.UUID | None) -> list[dict[str, Any]]:
    """What the registration conflict check finds for the lead's company, but the source
    partner's own registrations (a partner passing on its own customer conflicts with no one)."""
    customer = conflicts.customer(data.company.name, data.company.domain, data.company.country)
    found = await conflicts.find(session, customer)
    return [c.as_json() for c in found
            if c.kind == "direct_account" or c.partner_id != source_partner]


# A new lead and its event, in one statement (nothing of either when its external id was
# taken meanwhile).
_RECEIVE = text(f"""
    WITH lead AS (
        INSERT INTO leads (id, owner_key, external_id, source, source_partner_id, submitted_by,
                           company_name, company_domain, company_country, industry, product,
                           size, language, contact, notes, estimated_amount, currency, status,
                           partner_id, flagged, conflicts, offers, version, created_at,
                           updated_at)
        VALUES (:id, :owner, :ext, :source, :source_partner, :by, :company_name,
                :company_domain, :company_country, :industry, :product, :size, :language,
                CAST(:contact AS jsonb), :notes, :estimated_amount, :currency, 'new', NULL,
                :flagged, CAST(:conflicts AS jsonb), 0, 1, :now, :now)
        ON CONFLICT (owner_key, external_id) WHERE external_id IS NOT NULL DO NOTHING
        RETURNING {_COLUMNS}
    ),
    {outbox.insert_cte(after="lead")}
    SELECT * FROM lead
""")


async def submit(session: AsyncSession, principal: Principal, data: LeadIn, *, intake: bool,
                 clock: dt.datetime | None = None) -> tuple[Any, str]:
    """Receive one lead (or update the one received under its `external_id`): its row and
    ``created``, ``updated`` or ``unchanged``."""
    source, source_partner = _source(principal, data, intake=intake)
    owner = "vendor" if source_partner is None or not principal.is_partner \
        else str(source_partner)
    now = clock or _now()
    values = _values(data)
    if data.external_id is not None:
        existing = (await session.execute(text(
            f"SELECT {_COLUMNS} FROM leads WHERE owner_key = :owner AND external_id = :ext "
            "FOR UPDATE"), {"owner": owner, "ext": data.external_id})).first()
        if existing is not None:
            return await _refresh(session, existing, values, now)
    found = await _found_conflicts(session, data, source_partner)
    lead_id = new_id()
    received = types.SimpleNamespace(
        id=lead_id, partner_id=None, source=source, source_partner_id=source_partner,
        company_name=values["company_name"], company_domain=values["company_domain"],
        company_country=values["company_country"], status="new", version=1)
    row = (await session.execute(_RECEIVE, {
        **values, "id": lead_id, "owner": owner, "ext": data.external_id, "source": source,
        "source_partner": source_partner, "by": principal.actor, "flagged": bool(found),
        "conflicts": orjson.dumps(found).decode(), "now": now,
        **_event(contracts.LeadReceivedV1, received, flagged=bool(found))})).first()
    if row is None:  # sent twice at once: the other one made it, this one updates it
        existing = (await session.execute(text(
            f"SELECT {_COLUMNS} FROM leads WHERE owner_key = :owner AND external_id = :ext "
            "FOR UPDATE"), {"owner": owner, "ext": data.external_id})).one()
        return await _refresh(session, existing, values, now)
    await outbox.wake_relay(session)
    if row.flagged:
        row = await _offer(session, row, routing.Routed(None, "customer_protected",
                                                        routing.LeadRoutingExplanation(
            summary="Its company is a customer another partner registered, or a named "
            "account of the vendor: the vendor decides who works it.")), principal.actor, now)
    elif data.route:
        row = await _route_and_offer(session, row, principal.actor, now, fresh=True)
    return row, "created"


async def _refresh(session: AsyncSession, existing: Any, values: dict[str, Any],
                   now: dt.datetime) -> tuple[Any, str]:
    current = {k: getattr(existing, k) for k in _DESCRIBED}
    if existing.contact is not None:
        current["contact"] = orjson.dumps(existing.contact, option=orjson.OPT_SORT_KEYS).decode()
    wanted = dict(values)
    if wanted["contact"] is not None:
        wanted["contact"] = orjson.dumps(orjson.loads(wanted["contact"]),
                                         option=orjson.OPT_SORT_KEYS).decode()
    if all(current[k] == wanted[k] for k in _DESCRIBED):
        return existing, "unchanged"
    row = (await session.execute(text(
        "UPDATE leads SET " + ", ".join(
            f"{k} = CAST(:{k} AS jsonb)" if k == "contact" else f"{k} = :{k}"
            for k in _DESCRIBED)
        + f", version = version + 1, updated_at = :now WHERE id = :id RETURNING {_COLUMNS}"),
        {**values, "id": existing.id, "now": now})).one()
    return row, "updated"


# --- offering --------------------------------------------------------------------------------

async def _excluded(session: AsyncSession | AsyncConnection, lead_id: uuid.UUID
                    ) -> dict[uuid.UUID, str]:
    """The partners the lead may not go to again: those that declined it or let it lapse."""
    rows = (await session.execute(text(
        "SELECT partner_id, outcome FROM lead_assignments WHERE lead_id = :id "
        "AND partner_id IS NOT NULL AND outcome IN ('declined', 'withdrawn') ORDER BY id"),
        {"id": lead_id})).all()
    return {r.partner_id: "declined_before" if r.outcome == "declined" else "did_not_answer"
            for r in rows}


_MODEL: dict[str, Any] = {}
MODEL_TTL_SECONDS = 600.0


async def propensity_model(session: AsyncSession | AsyncConnection
                           ) -> propensity.PropensityModel:
    """The win-propensity model from the closed deals, refitted every ten minutes."""
    fitted = _MODEL.get("at")
    if fitted is None or time.monotonic() - fitted > MODEL_TTL_SECONDS:
        _MODEL["model"] = propensity.fit(await propensity.history(session))
        _MODEL["at"] = time.monotonic()
    model: propensity.PropensityModel = _MODEL["model"]
    return model


async def _route_and_offer(session: AsyncSession, lead: Any, actor: str, now: dt.datetime,
                           *, bump: bool = True, fresh: bool = False) -> Any:
    """Route the lead and offer it (``fresh``: just received, so no partner declined it)."""
    excluded = {} if fresh else await _excluded(session, lead.id)
    if lead.source_partner_id is not None:
        # A partner passes a lead on for others to work: it is not offered back to it.
        excluded[lead.source_partner_id] = "source_partner"
    routed = await routing.route(session, lead, now=now, excluded=excluded,
                                 model=lambda: propensity_model(session))
    return await _offer(session, lead, routed, actor, now, bump=bump)


_OFFER = text(f"""
    WITH lead AS (
        UPDATE leads SET status = :status, partner_id = :partner, respond_by = :respond_by,
            queue_reason = :queue_reason, expires_at = :expires_at,
            offers = offers + :offered, version = :version, updated_at = :now
        WHERE id = :id RETURNING {_COLUMNS}
    ),
    offer AS (
        INSERT INTO lead_assignments (id, lead_id, partner_id, rule_id, rule_version, pool_id,
                                      reason, outcome, explanation, actor, offered_at,
                                      respond_by)
        SELECT :offer_id, id, :partner, :rule, :rule_version, :pool, :reason, :outcome,
               CAST(:explanation AS jsonb), :actor, :now, :respond_by
        FROM lead
    ),
    {outbox.insert_cte(after="lead")}
    SELECT * FROM lead
""")


async def _offer(session: AsyncSession, lead: Any, routed: routing.Routed, actor: str,
                 now: dt.datetime, *, reason: str | None = None, bump: bool = True) -> Any:
    """Offer the lead where routing sent it (or queue it), record the offer and announce it:
    one statement. ``bump``: the offer is a change of its own (a new version); not when it ends
    an action that changed the lead already (a decline, a lapse), whose events then share one
    version."""
    rule = routed.rule or {}
    queued = routed.partner_id is None
    changes = {
        "status": "queued" if queued else "offered", "partner_id": routed.partner_id,
        "respond_by": routed.respond_by, "queue_reason": routed.reason if queued else None,
        "expires_at": now + dt.timedelta(days=QUEUED_DAYS) if queued else None,
        "version": lead.version + int(bump)}
    after = types.SimpleNamespace(**{**lead._asdict(), **changes})
    why = reason or routed.reason
    row = (await session.execute(_OFFER, {
        **changes, "partner": routed.partner_id, "offered": 0 if queued else 1, "id": lead.id,
        "now": now, "offer_id": new_id(), "rule": rule.get("id"),
        "rule_version": rule.get("version"), "pool": routed.pool_id, "reason": why,
        "outcome": "queued" if queued else "pending",
        "explanation": routed.explanation.model_dump_json(), "actor": actor,
        **_event(contracts.LeadAssignedV1, after, rule_id=rule.get("id"),
                 rule_version=rule.get("version"), respond_by=routed.respond_by, reason=why),
    })).one()
    await outbox.wake_relay(session)
    return row


async def _close_offer(session: AsyncSession, lead: Any, outcome: str, now: dt.datetime,
                       reason: str | None = None, note: str | None = None) -> None:
    """End the lead's pending offer (and give the partner back its place under its cap)."""
    closed = (await session.execute(text(
        "UPDATE lead_assignments SET outcome = :outcome, outcome_reason = :reason, "
        "outcome_note = :note, decided_at = :now WHERE lead_id = :lead AND outcome = 'pending' "
        "RETURNING partner_id"), {"outcome": outcome, "reason": reason, "note": note,
                                  "now": now, "lead": lead.id})).scalars().all()
    for partner in closed:
        if partner is not None:
            await session.execute(text(
                "UPDATE lead_partner_settings SET open_offers = greatest(open_offers - 1, 0) "
                "WHERE partner_id = :partner"), {"partner": partner})


def _answering(principal: Principal, lead: Any) -> None:
    """Who may answer an offer: the partner it is offered to, or the vendor for it."""
    principal.require(LEADS_WRITE)
    if principal.is_partner and lead.partner_id != principal.partner_id:
        raise NotFound("lead not found")


def _state(lead: Any, *allowed: str, doing: str) -> None:
    if lead.status not in allowed:
        raise Conflict(f"a lead that is {lead.status} cannot be {doing}",
                       lead_status=lead.status)


async def accept(session: AsyncSession, principal: Principal, lead_id: uuid.UUID,
                 if_match: str | None, clock: dt.datetime | None = None) -> Any:
    lead = await get(session, principal, lead_id, for_update=True)
    _answering(principal, lead)
    check_if_match(if_match, lead.version)
    _state(lead, "offered", doing="accepted")
    now = clock or _now()
    await _close_offer(session, lead, "accepted", now)
    row = (await session.execute(text(
        "UPDATE leads SET status = 'accepted', accepted_at = :now, respond_by = NULL, "
        "expires_at = :expires, version = version + 1, updated_at = :now "
        f"WHERE id = :id RETURNING {_COLUMNS}"),
        {"now": now, "expires": now + dt.timedelta(days=ACCEPTED_DAYS), "id": lead.id})).one()
    await _publish(session, contracts.LeadAcceptedV1, row)
    return row


async def decline(session: AsyncSession, principal: Principal, lead_id: uuid.UUID,
                  data: LeadDeclineIn, if_match: str | None, clock: dt.datetime | None = None
                  ) -> Any:
    """Decline an offer with a reason; the lead goes on to the next partner in turn."""
    lead = await get(session, principal, lead_id, for_update=True)
    _answering(principal, lead)
    check_if_match(if_match, lead.version)
    _state(lead, "offered", doing="declined")
    now = clock or _now()
    await _close_offer(session, lead, "declined", now, data.reason.value, data.note)
    declined_by = lead.partner_id
    row = (await session.execute(text(
        "UPDATE leads SET status = 'new', partner_id = NULL, respond_by = NULL, "
        f"version = version + 1, updated_at = :now WHERE id = :id RETURNING {_COLUMNS}"),
        {"now": now, "id": lead.id})).one()
    await _publish(session, contracts.LeadDeclinedV1, row, declined_by=declined_by,
                   reason=data.reason.value)
    return await _route_and_offer(session, row, principal.actor, now, bump=False)


async def recycle_overdue(session: AsyncSession, *, clock: dt.datetime | None = None,
                          batch: int = 200) -> int:
    """The scheduler's job: withdraw the offers whose answer-by time passed and route those
    leads on. A lead is taken under its row lock (others' locked rows are skipped), and only
    while it is still offered and overdue: each lapse is recycled exactly once."""
    now = clock or _now()
    due = (await session.execute(text(
        f"SELECT {_COLUMNS} FROM leads WHERE status = 'offered' AND respond_by <= :now "
        "ORDER BY respond_by, id LIMIT :batch FOR UPDATE SKIP LOCKED"),
        {"now": now, "batch": batch})).all()
    for lead in due:
        await _close_offer(session, lead, "withdrawn", now, "did_not_answer")
        row = (await session.execute(text(
            "UPDATE leads SET status = 'new', partner_id = NULL, respond_by = NULL, "
            f"version = version + 1, updated_at = :now WHERE id = :id RETURNING {_COLUMNS}"),
            {"now": now, "id": lead.id})).one()
        await _publish(session, contracts.LeadRecycledV1, row, withdrawn_from=lead.partner_id,
                       respond_by=lead.respond_by)
        await _route_and_offer(session, row, "job:recycle-leads", now, bump=False)
    return len(due)


async def expire(session: AsyncSession, *, clock: dt.datetime | None = None,
                 batch: int = 500) -> int:
    """Accepted leads not converted in time, and queued leads nobody took, expire."""
    now = clock or _now()
    rows = (await session.execute(text(f"""
        UPDATE leads SET status = 'expired', version = version + 1, updated_at = :now
        WHERE id IN (SELECT id FROM leads WHERE status IN ('accepted', 'queued')
                     AND expires_at <= :now ORDER BY expires_at, id LIMIT :batch
                     FOR UPDATE SKIP LOCKED)
        RETURNING {_COLUMNS}"""), {"now": now, "batch": batch})).all()
    for row in rows:
        await _publish(session, contracts.LeadExpiredV1, row)
    return len(rows)


async def assign(session: AsyncSession, principal: Principal, lead_id: uuid.UUID,
                 data: LeadAssignIn, if_match: str | None, clock: dt.datetime | None = None) -> Any:
    """The vendor offers the lead to a partner by hand (past the rules and caps), or routes it
    again by the rules; an open offer is withdrawn first."""
    principal.require(LEADS_WRITE)
    principal.ensure_vendor()
    lead = await get(session, principal, lead_id, for_update=True)
    check_if_match(if_match, lead.version)
    _state(lead, "new", "offered", "queued", doing="assigned")
    now = clock or _now()
    if lead.status == "offered":
        await _close_offer(session, lead, "withdrawn", now, "reassigned", data.note)
    if data.partner_id is None:
        return await _route_and_offer(session, lead, principal.actor, now)
    known = (await session.execute(text(
        "SELECT status, name FROM partner_directory WHERE partner_id = :id"),
        {"id": data.partner_id})).first()
    if known is None or known.status != "active":
        raise registrations.PartnerNotEligible(
            f"partner {data.partner_id} is not an active partner known to the deal desk")
    await session.execute(text(
        "INSERT INTO lead_partner_settings AS s (partner_id, paused, open_offers, version, "
        "updated_at) VALUES (:partner, false, 1, 0, :now) ON CONFLICT (partner_id) DO UPDATE "
        "SET open_offers = s.open_offers + 1"), {"partner": data.partner_id, "now": now})
    routed = routing.Routed(
        data.partner_id, "assigned_by_hand",
        routing.LeadRoutingExplanation(summary=f"Offered to {known.name} by hand"
                            + (f": {data.note}" if data.note else ".")),
        respond_by=now + dt.timedelta(hours=data.respond_within_hours))
    return await _offer(session, lead, routed, principal.actor, now)


async def dry_run(session: AsyncSession, principal: Principal, data: LeadIn
                  ) -> tuple[routing.Routed, bool]:
    """What routing would do with this lead now; nothing is written, no pool moves."""
    principal.require(LEADS_READ)
    principal.ensure_vendor()
    source, source_partner = _source(principal, data, intake=False)
    found = await _found_conflicts(session, data, source_partner)
    if found:
        return routing.Routed(None, "customer_protected", routing.LeadRoutingExplanation(
            summary="Its company is a customer another partner registered, or a named account "
            "of the vendor: it would wait in the vendor's queue.")), True
    probe = Lead(id=uuid.UUID(int=0), source=source, source_partner_id=source_partner,
                 **{k: v for k, v in _values(data).items() if k != "contact"})
    excluded = {} if source_partner is None else {source_partner: "source_partner"}
    return await routing.route(session, probe, now=_now(), excluded=excluded, dry_run=True,
                               model=lambda: propensity_model(session)), False


# --- converting ------------------------------------------------------------------------------

async def convert(session: AsyncSession, principal: Principal, lead_id: uuid.UUID,
                  data: LeadConvertIn, if_match: str | None, protection_days: int,
                  clock: dt.datetime | None = None) -> tuple[Any, AnyDeal]:
    """Register the accepted lead as the partner's deal, in this transaction: the registration
    goes through the conflict check and the rules of engagement like any other, and keeps the
    lead as its source."""
    lead = await get(session, principal, lead_id, for_update=True)
    _answering(principal, lead)
    principal.require(DEALS_WRITE)
    check_if_match(if_match, lead.version)
    _state(lead, "accepted", doing="converted")
    amount = data.amount or (None if lead.estimated_amount is None else {
        "amount": format_amount(lead.estimated_amount, lead.currency),
        "currency": lead.currency})
    if amount is None:
        raise Unprocessable("the lead has no estimated amount: give the deal's", errors=[{
            "location": "body", "field": "amount", "message": "required for this lead"}])
    registration = DealRegistration.model_validate({
        "partner_id": None if principal.is_partner else lead.partner_id,
        "customer": Customer(name=lead.company_name, domain=lead.company_domain,
                             country=lead.company_country),
        "amount": amount, "expected_close_date": data.expected_close_date,
        "deal_type": data.deal_type, "products": data.products,
        "notes": data.notes})
    deal = await registrations.register_here(session, principal, registration,
                                             protection_days, source_lead_id=lead.id)
    now = clock or _now()
    row = (await session.execute(text(
        "UPDATE leads SET status = 'converted', deal_id = :deal, expires_at = NULL, "
        f"version = version + 1, updated_at = :now WHERE id = :id RETURNING {_COLUMNS}"),
        {"deal": deal.id, "now": now, "id": lead.id})).one()
    await session.execute(text(
        "UPDATE lead_assignments SET outcome = 'converted' WHERE lead_id = :id "
        "AND outcome = 'accepted'"), {"id": lead.id})
    await _publish(session, contracts.LeadConvertedV1, row, deal_id=deal.id)
    return row, deal


# --- partners' intake ------------------------------------------------------------------------

async def settings(session: AsyncSession, principal: Principal, partner_id: uuid.UUID) -> Any:
    principal.require(LEADS_READ)
    principal.ensure_visible(partner_id, "partner")
    row = (await session.execute(text(
        "SELECT partner_id, paused, paused_until, max_open, open_offers, version "
        "FROM lead_partner_settings WHERE partner_id = :id"), {"id": partner_id})).first()
    if row is not None:
        return row
    known = (await session.execute(text(
        "SELECT 1 FROM partner_directory WHERE partner_id = :id"), {"id": partner_id})).first()
    if known is None:
        raise NotFound("partner not found")
    return {"partner_id": partner_id, "paused": False, "paused_until": None, "max_open": None,
            "open_offers": 0, "version": 0}


async def change_settings(session: AsyncSession, principal: Principal, partner_id: uuid.UUID,
                          data: LeadCapacityIn, if_match: str | None) -> Any:
    """Pause a partner's leads (until a time, or until resumed) or cap its open offers: the
    vendor for any partner, a partner for its own org."""
    principal.require(LEADS_WRITE)
    await settings(session, principal, partner_id)  # visible, and known to the directory
    # The row (version 0 until first changed) is locked before its version is compared, so
    # that concurrent changes naming one version give one success.
    await session.execute(text(
        "INSERT INTO lead_partner_settings (partner_id, paused, open_offers, version, "
        "updated_at) VALUES (:id, false, 0, 0, :now) ON CONFLICT (partner_id) DO NOTHING"),
        {"id": partner_id, "now": _now()})
    current = (await session.execute(text(
        "SELECT version FROM lead_partner_settings WHERE partner_id = :id FOR UPDATE"),
        {"id": partner_id})).scalar_one()
    check_if_match(if_match, current)
    return (await session.execute(text("""
        UPDATE lead_partner_settings SET paused = :paused, paused_until = :until,
            max_open = :max_open, version = version + 1, updated_at = :now
        WHERE partner_id = :id
        RETURNING partner_id, paused, paused_until, max_open, open_offers, version"""), {
            "id": partner_id, "paused": data.paused, "until": data.paused_until,
            "max_open": data.max_open, "now": _now()})).one()


async def recommendations(session: AsyncSession, principal: Principal, lead_id: uuid.UUID,
                          limit: int) -> list[tuple[Any, propensity.Estimate]]:
    """The active partners serving the lead's country, likeliest to win it first (vendor
    staff only: it compares partners)."""
    principal.ensure_vendor()
    lead = await get(session, principal, lead_id)
    rows = (await session.execute(text(
        "SELECT partner_id, name FROM partner_directory WHERE status = 'active' "
        "AND (country = :c OR countries_served @> ARRAY[CAST(:c AS varchar)]) "
        "ORDER BY partner_id LIMIT 5000"), {"c": lead.company_country})).all()
    names = {r.partner_id: r.name for r in rows}
    model = await propensity_model(session)
    ranked = model.rank(list(names), deal_type="new", country=lead.company_country,
                        product=lead.product)
    return [((p, names[p]), e) for p, e in ranked[:limit]]
