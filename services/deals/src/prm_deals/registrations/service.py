"""Deal registration. A registration and its event are written in the same transaction."""

import datetime as dt
import uuid

from sqlalchemy.ext.asyncio import AsyncSession

import prm_contracts as contracts
from prm_deals.config import EVENT_SOURCE
from prm_deals.declaration import DEALS_READ, DEALS_WRITE
from prm_deals.directory import repository as directory
from prm_deals.registrations import repository
from prm_deals.registrations.models import Deal
from prm_deals.registrations.schemas import DealRegistration
from prm_events.outbox import publish
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


async def _ensure_eligible(session: AsyncSession, partner_id: uuid.UUID) -> None:
    # Judged on the local directory, which trails the partners service by the event delay:
    # a partner activated a moment ago may be refused once, and succeed on retry.
    listed = await directory.get(session, partner_id)
    if listed is None:
        raise PartnerNotEligible(f"partner {partner_id} is not known to the deal desk")
    if listed.status != "active":
        raise PartnerNotEligible(f"partner {partner_id} is {listed.status}; only active "
                                 "partners may register deals", partner_status=listed.status)


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


async def register(session: AsyncSession, principal: Principal, data: DealRegistration) -> Deal:
    principal.require(DEALS_WRITE)
    partner_id = _registering_partner(principal, data.partner_id)
    await _ensure_eligible(session, partner_id)
    now = dt.datetime.now(dt.UTC)
    deal = Deal(
        id=new_id(), partner_id=partner_id, customer_name=data.customer.name,
        customer_domain=data.customer.domain, customer_country=data.customer.country,
        amount=data.amount.value, currency=data.amount.currency,
        expected_close_date=data.expected_close_date, notes=data.notes or None,
        status="registered", version=1, created_at=now, updated_at=now,
    )
    repository.add(session, deal)
    await session.flush()
    await publish(session, _registered_event(deal), source=EVENT_SOURCE, aggregate_id=deal.id,
                  partner_id=deal.partner_id)
    return deal


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
