import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from prm_deals.directory.models import PartnerDirectoryEntry
from prm_deals.registrations.listing import DEALS
from prm_deals.registrations.models import Deal
from prm_platform.listing import ListQuery


async def get(session: AsyncSession, deal_id: uuid.UUID, *, for_update: bool = False
              ) -> Deal | None:
    return await session.get(Deal, deal_id, with_for_update=for_update or None)


async def list_page(session: AsyncSession, query: ListQuery, *,
                    only_partner_id: uuid.UUID | None = None
                    ) -> tuple[list[Any], str | None, int | None]:
    """A page of deals, each with its partner's name from the directory (one join)."""
    visible = select(Deal, PartnerDirectoryEntry.name).outerjoin(
        PartnerDirectoryEntry, PartnerDirectoryEntry.partner_id == Deal.partner_id)
    if only_partner_id is not None:  # a partner key filtering on another org gets nothing
        visible = visible.where(Deal.partner_id == only_partner_id)
    return await DEALS.page(session, visible, query)


async def partner_name(session: AsyncSession, partner_id: uuid.UUID) -> str | None:
    return (await session.execute(select(PartnerDirectoryEntry.name).where(
        PartnerDirectoryEntry.partner_id == partner_id))).scalar_one_or_none()


def add(session: AsyncSession, deal: Deal) -> None:
    session.add(deal)
