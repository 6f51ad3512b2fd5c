"""Co-selling on a registered deal: the vendor's account executive, the people working it on
both sides, and the timeline both see. A partner key reaches only its own org's deals (the
deal is looked up through ``service.get``, which hides another org's as a 404)."""

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

import prm_contracts as contracts
from prm_deals.config import EVENT_SOURCE
from prm_deals.declaration import DEALS_WRITE
from prm_deals.registrations import service
from prm_deals.registrations.lifecycle import record
from prm_deals.registrations.listing import ACTIVITIES, COLLABORATORS
from prm_deals.registrations.models import Deal, DealActivity, DealCollaborator
from prm_deals.registrations.schemas import CollaboratorIn
from prm_events.outbox import publish
from prm_platform.http import check_if_match
from prm_platform.ids import new_id
from prm_platform.listing import ListQuery
from prm_platform.problems import Conflict, Forbidden, NotFound
from prm_platform.security import Principal

MAX_COLLABORATORS = 100


async def assign(session: AsyncSession, principal, deal_id: uuid.UUID,
                 account_executive: str | None, if_match: str | None) -> Deal:
    principal.require(DEALS_WRITE)
    principal.ensure_vendor()
    deal = await service.get(session, principal, deal_id, for_update=True)
    check_if_match(if_match, deal.version)
    if deal.account_executive != account_executive:
        previous = deal.account_executive
        deal.account_executive = account_executive
        deal.version += 1
        deal.updated_at = dt.datetime.now(dt.UTC)
        record(session, deal.id, "assigned", principal.subject,
               account_executive or "unassigned")
        await publish(session, contracts.DealAssignedV1(
            deal_id=deal.id, partner_id=deal.partner_id, status=deal.status,
            version=deal.version, account_executive=account_executive,
            previous_account_executive=previous), source=EVENT_SOURCE, aggregate_id=deal.id,
            partner_id=deal.partner_id)
    return deal


async def activities(session: AsyncSession, principal, deal_id: uuid.UUID,
                     query: ListQuery) -> tuple[list[Any], str | None, int | None]:
    await service.get(session, principal, deal_id)
    return await ACTIVITIES.page(session, select(DealActivity).where(
        DealActivity.deal_id == deal_id), query)


async def note(session: AsyncSession, principal, deal_id: uuid.UUID,
               text: str) -> DealActivity:
    principal.require(DEALS_WRITE)
    await service.get(session, principal, deal_id)
    entry = DealActivity(id=new_id(), deal_id=deal_id, kind="note", actor=principal.subject,
                         text=text, at=dt.datetime.now(dt.UTC))
    session.add(entry)
    await session.flush()
    return entry


async def collaborators(session: AsyncSession, principal: Principal, deal_id: uuid.UUID,
                        query: ListQuery) -> tuple[list[Any], str | None, int | None]:
    await service.get(session, principal, deal_id)
    return await COLLABORATORS.page(session, select(DealCollaborator).where(
        DealCollaborator.deal_id == deal_id), query)


async def collaborators_of(session: AsyncSession, deal_ids: list[uuid.UUID]
                           ) -> dict[uuid.UUID, list[DealCollaborator]]:
    """The people working each of ``deal_ids`` (already visible to the caller), in one query."""
    found: dict[uuid.UUID, list[DealCollaborator]] = {deal_id: [] for deal_id in deal_ids}
    for person in (await session.execute(select(DealCollaborator).where(
            DealCollaborator.deal_id.in_(deal_ids)).order_by(DealCollaborator.id))).scalars():
        found[person.deal_id].append(person)
    return found


async def add_collaborator(session: AsyncSession, principal, deal_id: uuid.UUID,
                           data: CollaboratorIn) -> DealCollaborator:
    principal.require(DEALS_WRITE)
    deal = await service.get(session, principal, deal_id, for_update=True)
    if principal.is_partner and data.side != "partner":
        raise Forbidden("partner keys add people of the partner's side only")
    count = (await session.execute(select(func.count()).where(
        DealCollaborator.deal_id == deal.id))).scalar_one()
    if count >= MAX_COLLABORATORS:
        raise Conflict(f"a deal has at most {MAX_COLLABORATORS} collaborators")
    person = DealCollaborator(id=new_id(), deal_id=deal.id, side=data.side, name=data.name,
                              email=data.email, role=data.role,
                              created_at=dt.datetime.now(dt.UTC))
    try:
        async with session.begin_nested():
            session.add(person)
    except IntegrityError:
        raise Conflict(f"{data.email} already works on this deal") from None
    record(session, deal.id, "collaborator_added", principal.subject,
           f"{data.name} <{data.email}> ({data.side}{', ' + data.role if data.role else ''})")
    await publish(session, contracts.DealCollaboratorAddedV1(
        deal_id=deal.id, partner_id=deal.partner_id, status=deal.status, version=deal.version,
        collaborator_id=person.id, side=person.side, name=person.name, role=person.role),
        source=EVENT_SOURCE, aggregate_id=deal.id, partner_id=deal.partner_id)
    return person


async def remove_collaborator(session: AsyncSession, principal, deal_id: uuid.UUID,
                              collaborator_id: uuid.UUID) -> None:
    principal.require(DEALS_WRITE)
    deal = await service.get(session, principal, deal_id, for_update=True)
    person = await session.get(DealCollaborator, collaborator_id)
    if person is None or person.deal_id != deal.id:
        raise NotFound("collaborator not found")
    if principal.is_partner and person.side != "partner":
        raise Forbidden("partner keys remove people of the partner's side only")
    await session.delete(person)
    record(session, deal.id, "collaborator_removed", principal.subject,
           f"{person.name} <{person.email}>")
