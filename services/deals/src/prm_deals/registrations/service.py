"""Deal registration. The customer's blocking keys are locked, the conflict check reads its
candidates, and one statement writes the registration, its event and its Idempotency-Key's
stored response (CONVENTIONS.md)."""

import contextlib
import datetime as dt
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import orjson
from fastapi import Response
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

import prm_contracts as contracts
from prm_deals.config import EVENT_SOURCE
from prm_deals.declaration import DEALS_READ, DEALS_WRITE
from prm_deals.matching import conflicts
from prm_deals.matching.normalise import blocks, core_key
from prm_deals.matching.score import Customer
from prm_deals.registrations import changes, repository
from prm_deals.registrations.models import AnyDeal, Deal, NewDeal
from prm_deals.registrations.schemas import (
    ConflictOut,
    ConflictReport,
    CustomerCheck,
    DealRegistration,
    Decision,
)
from prm_deals.rules import service as engagement
from prm_deals.rules.evaluate import Decided, decide, facts_of
from prm_events import outbox
from prm_platform import idempotency
from prm_platform.db import Statement
from prm_platform.http import Transactions
from prm_platform.idempotency import IdempotentRequest
from prm_platform.ids import new_id
from prm_platform.listing import ListQuery
from prm_platform.money import format_amount
from prm_platform.problems import (
    Conflict,
    Forbidden,
    NotFound,
    PreconditionFailed,
    Unprocessable,
)
from prm_platform.security import Principal


class PartnerNotEligible(Unprocessable):
    slug = "partner-not-eligible"


def registering_partner(principal: Principal, named: uuid.UUID | None) -> uuid.UUID:
    """The org the deal is registered for. A partner key speaks only for its own org."""
    if principal.is_partner:
        if named is not None and named != principal.partner_id:
            raise Forbidden("partner keys register deals only for their own organisation")
        assert principal.partner_id is not None  # a partner principal always names its org
        return principal.partner_id
    if named is None:
        raise Unprocessable("vendor keys must name the partner registering the deal", errors=[
            {"location": "body", "field": "partner_id", "message": "required for vendor keys"}])
    return named


def refuse_ineligible(partner_id: uuid.UUID, status: str | None) -> None:
    # Judged on the local directory, which trails the partners service by the event delay:
    # a partner activated a moment ago may be refused once, and succeed on retry.
    if status is None:
        raise PartnerNotEligible(f"partner {partner_id} is not known to the deal desk")
    if status != "active":
        raise PartnerNotEligible(f"partner {partner_id} is {status}; only active "
                                 "partners may register deals", partner_status=status)


def registered_event(deal: AnyDeal) -> contracts.DealRegisteredV1:
    return contracts.DealRegisteredV1(
        deal_id=deal.id,
        partner_id=deal.partner_id,
        customer=contracts.Customer(name=deal.customer_name, domain=deal.customer_domain,
                                    country=deal.customer_country),
        amount=contracts.Amount(amount=format_amount(deal.amount, deal.currency),
                                currency=deal.currency),
        expected_close_date=deal.expected_close_date,
        status=deal.status,
        deal_type=deal.deal_type,
        protected_until=deal.protected_until,
        reason=(deal.decision or {}).get("reason"),
        version=deal.version,
        lead_id=getattr(deal, "source_lead_id", None),
    )


_ELIGIBLE = "partner.status = 'active'"
_REGISTER = Statement(f"""
    WITH partner AS (
        SELECT status FROM partner_directory WHERE partner_id = CAST(:partner_id AS uuid)
    ),
    {idempotency.store_cte(f"EXISTS (SELECT 1 FROM partner WHERE {_ELIGIBLE})")},
    deal AS (
        INSERT INTO deals (id, partner_id, external_id, customer_name, customer_domain,
                           customer_country, customer_address, customer_crm_ids,
                           customer_name_key, customer_core, customer_blocks,
                           customer_domain_key, products, deal_type,
                           private_offer, amount, currency, expected_close_date, notes, status,
                           protected_until, conflicts, decision, version, created_at,
                           updated_at, source_lead_id)
        SELECT CAST(:id AS uuid), CAST(:partner_id AS uuid), CAST(:external_id AS varchar),
               CAST(:customer_name AS varchar), CAST(:customer_domain AS varchar),
               CAST(:customer_country AS varchar), CAST(:customer_address AS jsonb),
               CAST(:customer_crm_ids AS jsonb), CAST(:customer_name_key AS varchar),
               CAST(:customer_core AS varchar), CAST(:customer_blocks AS varchar[]),
               CAST(:customer_domain_key AS varchar), CAST(:products AS jsonb),
               CAST(:deal_type AS varchar), CAST(:private_offer AS boolean),
               CAST(:amount AS numeric), CAST(:currency AS varchar),
               CAST(:expected_close_date AS date), CAST(:notes AS varchar),
               CAST(:status AS varchar), CAST(:protected_until AS date),
               CAST(:conflicts AS jsonb), CAST(:decision AS jsonb), 1,
               CAST(:now AS timestamptz), CAST(:now AS timestamptz),
               CAST(:source_lead_id AS uuid)
        FROM partner
        WHERE {_ELIGIBLE} AND {idempotency.STORED}
        RETURNING id
    ),
    activity AS (
        INSERT INTO deal_activities (id, deal_id, kind, actor, text, at)
        SELECT CAST(:activity_id AS uuid), id, 'registered', CAST(:actor AS varchar),
               CAST(:activity_text AS varchar), CAST(:now AS timestamptz)
        FROM deal
    ),
    {outbox.insert_cte(after="deal")}
    SELECT (SELECT status FROM partner) AS partner_status,
           EXISTS (SELECT 1 FROM deal) AS registered
""")


def _json(value: object) -> str | None:
    return None if value is None else orjson.dumps(value).decode()


def new_deal(partner_id: uuid.UUID, data: DealRegistration, customer: Customer,
             found: list[conflicts.Conflict], decided: Decided, protection_days: int) -> NewDeal:
    now = dt.datetime.now(dt.UTC)
    status = decided.status
    days = decided.protection_days or protection_days
    return NewDeal(
        id=new_id(), partner_id=partner_id, external_id=data.external_id,
        customer_name=data.customer.name, customer_domain=data.customer.domain,
        customer_country=data.customer.country,
        customer_address=data.customer.address.model_dump(mode="json", exclude_none=True)
        if data.customer.address else None,
        customer_crm_ids=data.customer.crm_ids, customer_name_key=customer.name_key,
        customer_core=core_key(customer.name_key),
        customer_blocks=blocks(customer.name_key, customer.country),
        customer_domain_key=customer.domain_key,
        products=[p.model_dump(mode="json") for p in data.products],
        deal_type=data.deal_type.value, private_offer=data.private_offer,
        amount=data.amount.value, currency=data.amount.currency,
        expected_close_date=data.expected_close_date, notes=data.notes or None, status=status,
        protected_until=None if status == "rejected" else now.date() + dt.timedelta(days=days),
        conflicts=[c.as_json() for c in found],
        decision=decided.record(), created_at=now,
    )


_JSON_COLUMNS = ("customer_address", "customer_crm_ids", "products", "conflicts", "decision")


def insert_values(deal: AnyDeal) -> dict[str, Any]:
    """The new registration's columns, as JSON-ready values (a bulk push sends many at once)."""
    return {
        "id": str(deal.id), "partner_id": str(deal.partner_id), "external_id": deal.external_id,
        "customer_name": deal.customer_name, "customer_domain": deal.customer_domain,
        "customer_country": deal.customer_country, "customer_address": deal.customer_address,
        "customer_crm_ids": deal.customer_crm_ids, "customer_name_key": deal.customer_name_key,
        "customer_core": deal.customer_core, "customer_blocks": deal.customer_blocks,
        "customer_domain_key": deal.customer_domain_key, "products": deal.products,
        "deal_type": deal.deal_type, "private_offer": deal.private_offer,
        "amount": str(deal.amount), "currency": deal.currency,
        "expected_close_date": deal.expected_close_date.isoformat(), "notes": deal.notes,
        "status": deal.status,
        "protected_until": deal.protected_until.isoformat() if deal.protected_until else None,
        "conflicts": deal.conflicts, "decision": deal.decision,
    }


def _insert_params(deal: AnyDeal) -> dict[str, object]:
    """``insert_values`` as the statement's typed parameters."""
    values: dict[str, object] = {
        **insert_values(deal), "id": deal.id, "partner_id": deal.partner_id,
        "amount": deal.amount, "expected_close_date": deal.expected_close_date,
        "protected_until": deal.protected_until, "now": deal.created_at,
        "source_lead_id": deal.source_lead_id}
    for column in _JSON_COLUMNS:
        values[column] = _json(values[column])
    return values


def activity_text(deal: AnyDeal) -> str:
    reason = (deal.decision or {}).get("reason")
    return f"registered: {deal.status}" + (f" ({reason})" if reason else "")


async def register_here(session: AsyncSession, principal: Principal, data: DealRegistration,
                        protection_days: int, *, source_lead_id: uuid.UUID | None = None
                        ) -> AnyDeal:
    """``register`` inside the caller's transaction (a lead converted, a co-sell started from
    account mapping): the conflict check and the rules of engagement as for any registration;
    the registration made, or a 409 when it was not."""
    connection = await session.connection()
    made: list[AnyDeal] = []

    @contextlib.asynccontextmanager
    async def within() -> AsyncIterator[AsyncConnection]:
        yield connection

    def answer(deal: AnyDeal, status: int, partner_name: str | None) -> Response:
        made.append(deal)
        return Response(status_code=status)

    await register(within, principal, data, None, answer, protection_days,
                   source_lead_id=source_lead_id)
    if not made:
        raise Conflict("the registration was not made")
    return made[0]


async def register(begin: Transactions, principal: Principal, data: DealRegistration,
                   request: IdempotentRequest | None,
                   answer: Callable[[AnyDeal, int, str | None], Response],
                   protection_days: int, if_match: str | None = None, *,
                   source_lead_id: uuid.UUID | None = None) -> Response:
    """Register, or replay the stored answer of the same request under the same key, or
    update the registration already made under the same external id (``changes.sync``: with
    ``If-Match``, only at that version; a registration to match that does not exist is a 412).

    In one transaction: the customer's blocking keys are locked, the conflict check reads the
    candidates, and one statement writes the deal, its event and the Idempotency-Key's stored
    answer. ``answer`` renders the response before that statement runs (201) so that a retry
    under the key gets the very bytes the first got."""
    principal.require(DEALS_WRITE)
    partner_id = registering_partner(principal, data.partner_id)
    customer = conflicts.customer(data.customer.name, data.customer.domain,
                                  data.customer.country)
    async with begin() as connection:
        await conflicts.lock(connection, customer)
        rules, partners = await engagement.for_decisions(connection, [partner_id])
        known = partners.get(str(partner_id))

        def named(deal: AnyDeal, status: int) -> Response:
            return answer(deal, status, known.get("name") if known else None)

        if data.external_id is not None:
            existing = await changes.by_external_id(connection, partner_id, data.external_id)
            if existing is not None:
                return await changes.sync(connection, principal, existing, data, if_match,
                                          request, named)
        if if_match is not None:
            raise PreconditionFailed("If-Match names a version of the registration made under "
                                     "this external_id, and there is none")
        # The rules' partner facts and the answer's partner name come from the read above: a
        # partner the directory did not hold as active then is refused now, as the write would
        # refuse it, never registered with facts (and a name) the decision lacked because its
        # row arrived between the two statements.
        status = known.get("status") if known else None
        if status != "active" and request is not None and \
                await idempotency.held(connection, request):
            # A retry of a registration made before the partner was suspended: its answer.
            return await idempotency.stored_response(connection, request)
        refuse_ineligible(partner_id, status)
        found = await conflicts.find(connection, customer)
        decided = decide(partner_id, found, facts_of(data, known), rules)
        made = new_deal(partner_id, data, customer, found, decided, protection_days)
        made.source_lead_id = source_lead_id
        response = named(made, 201)
        row = await _REGISTER.fetchrow(connection, {
            **_insert_params(made), **idempotency.store_params(request, response),
            "activity_id": new_id(), "actor": principal.subject,
            "activity_text": activity_text(made),
            **outbox.event_params(registered_event(made), source=EVENT_SOURCE,
                                  aggregate_id=made.id, partner_id=partner_id),
        })
        if row["registered"]:
            await outbox.wake_relay(connection)
            return response
        # Eligible yet not registered: the key was already taken. Refused by a standing that
        # changed since the read: refused, unless a first try under the key succeeded.
        if request is None or (row["partner_status"] != "active"
                               and not await idempotency.held(connection, request)):
            refuse_ineligible(partner_id, row["partner_status"])
        assert request is not None  # an eligible registration without a key is always made
        return await idempotency.stored_response(connection, request)


async def check(connection: AsyncConnection, principal: Principal, data: CustomerCheck
                ) -> ConflictReport:
    """The conflict check of a registration, without registering (nothing is locked or
    written)."""
    principal.require(DEALS_READ)
    # A vendor's check for no partner in particular: every registration is another's.
    partner_id = None if not principal.is_partner and data.partner_id is None \
        else registering_partner(principal, data.partner_id)
    customer = conflicts.customer(data.customer.name, data.customer.domain,
                                  data.customer.country)
    found = await conflicts.find(connection, customer)
    # No rules here: the check answers what the customer collides with; the rules' dry run
    # (POST /v1/engagement-rules/dry-run) answers what a whole registration would get.
    decided = decide(partner_id, found)
    return ConflictReport(
        conflicts=[ConflictOut.seen_by(c.as_json(), principal, partner_id) for c in found],
        decision=Decision.model_validate(decided.record()))


async def get(session: AsyncSession, principal: Principal, deal_id: uuid.UUID, *,
              for_update: bool = False) -> Deal:
    principal.require(DEALS_READ)
    deal = await repository.get(session, deal_id, for_update=for_update)
    if deal is None:
        raise NotFound("deal not found")
    principal.ensure_visible(deal.partner_id, "deal")
    return deal


async def list_page(session: AsyncSession, principal: Principal, query: ListQuery
                    ) -> tuple[list[Any], str | None, int | None]:
    principal.require(DEALS_READ)
    only_partner_id = principal.partner_id if principal.is_partner else None
    return await repository.list_page(session, query, only_partner_id=only_partner_id)
