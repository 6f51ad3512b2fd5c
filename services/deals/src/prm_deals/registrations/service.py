"""Deal registration. A registration, its event and its Idempotency-Key's stored response are
written by one statement: one round trip, atomic by itself (CONVENTIONS.md)."""

import datetime as dt
import uuid
from collections.abc import Callable

from fastapi import Response
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

import prm_contracts as contracts
from prm_deals.config import EVENT_SOURCE
from prm_deals.declaration import DEALS_READ, DEALS_WRITE
from prm_deals.registrations import repository
from prm_deals.registrations.models import Deal
from prm_deals.registrations.schemas import DealRegistration
from prm_events import outbox
from prm_platform import idempotency
from prm_platform.idempotency import IdempotentRequest
from prm_platform.ids import new_id
from prm_platform.money import format_amount
from prm_platform.pagination import PageRequest
from prm_platform.problems import Forbidden, NotFound, Unprocessable
from prm_platform.security import Principal


class PartnerNotEligible(Unprocessable):
    slug = "partner-not-eligible"


def _registering_partner(principal: Principal, named: uuid.UUID | None) -> uuid.UUID:
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


def _refuse_ineligible(partner_id: uuid.UUID, status: str | None) -> None:
    # Judged on the local directory, which trails the partners service by the event delay:
    # a partner activated a moment ago may be refused once, and succeed on retry.
    if status is None:
        raise PartnerNotEligible(f"partner {partner_id} is not known to the deal desk")
    if status != "active":
        raise PartnerNotEligible(f"partner {partner_id} is {status}; only active "
                                 "partners may register deals", partner_status=status)


def _registered_event(deal: Deal) -> contracts.DealRegisteredV1:
    return contracts.DealRegisteredV1(
        deal_id=deal.id,
        partner_id=deal.partner_id,
        customer=contracts.Customer(name=deal.customer_name, domain=deal.customer_domain,
                                    country=deal.customer_country),
        amount=contracts.Amount(amount=format_amount(deal.amount, deal.currency),
                                currency=deal.currency),
        expected_close_date=deal.expected_close_date,
        status=deal.status,
    )


_ELIGIBLE = "partner.status = 'active'"
_REGISTER = text(f"""
    WITH partner AS (
        SELECT status FROM partner_directory WHERE partner_id = CAST(:partner_id AS uuid)
    ),
    {idempotency.store_cte(f"EXISTS (SELECT 1 FROM partner WHERE {_ELIGIBLE})")},
    deal AS (
        INSERT INTO deals (id, partner_id, customer_name, customer_domain, customer_country,
                           amount, currency, expected_close_date, notes, status, version,
                           created_at, updated_at)
        SELECT CAST(:id AS uuid), CAST(:partner_id AS uuid), CAST(:customer_name AS varchar),
               CAST(:customer_domain AS varchar), CAST(:customer_country AS varchar),
               CAST(:amount AS numeric), CAST(:currency AS varchar),
               CAST(:expected_close_date AS date), CAST(:notes AS varchar), 'registered', 1,
               CAST(:now AS timestamptz), CAST(:now AS timestamptz)
        FROM partner
        WHERE {_ELIGIBLE} AND {idempotency.STORED}
        RETURNING id
    ),
    {outbox.insert_cte(after="deal")}
    SELECT (SELECT status FROM partner) AS partner_status,
           EXISTS (SELECT 1 FROM deal) AS registered
""")


async def register(connection: AsyncConnection, principal: Principal, data: DealRegistration,
                   request: IdempotentRequest | None,
                   created: Callable[[Deal], Response]) -> Response:
    """Register, or replay the stored answer of the same request under the same key.

    ``created`` renders the 201 before the statement runs: the statement stores it under the
    Idempotency-Key together with the deal, so a retry gets the very bytes the first got."""
    principal.require(DEALS_WRITE)
    partner_id = _registering_partner(principal, data.partner_id)
    now = dt.datetime.now(dt.UTC)
    deal = Deal(
        id=new_id(), partner_id=partner_id, customer_name=data.customer.name,
        customer_domain=data.customer.domain, customer_country=data.customer.country,
        amount=data.amount.value, currency=data.amount.currency,
        expected_close_date=data.expected_close_date, notes=data.notes or None,
        status="registered", version=1, created_at=now, updated_at=now,
    )
    response = created(deal)
    row = (await connection.execute(_REGISTER, {
        "id": deal.id, "partner_id": partner_id, "customer_name": deal.customer_name,
        "customer_domain": deal.customer_domain, "customer_country": deal.customer_country,
        "amount": deal.amount, "currency": deal.currency,
        "expected_close_date": deal.expected_close_date, "notes": deal.notes, "now": now,
        **idempotency.store_params(request, response),
        **outbox.event_params(_registered_event(deal), source=EVENT_SOURCE,
                              aggregate_id=deal.id, partner_id=partner_id),
    })).one()
    if row.registered:
        return response
    _refuse_ineligible(partner_id, row.partner_status)
    assert request is not None  # eligible yet not registered: the key was already taken
    return await idempotency.stored_response(connection, request)


async def get(session: AsyncSession, principal: Principal, deal_id: uuid.UUID) -> Deal:
    principal.require(DEALS_READ)
    deal = await repository.get(session, deal_id)
    if deal is None:
        raise NotFound("deal not found")
    principal.ensure_visible(deal.partner_id, "deal")
    return deal


async def list_page(session: AsyncSession, principal: Principal, page: PageRequest, **filters
                    ) -> list[Deal]:
    principal.require(DEALS_READ)
    only_partner_id = principal.partner_id if principal.is_partner else None
    return await repository.list_page(session, page, only_partner_id=only_partner_id, **filters)
