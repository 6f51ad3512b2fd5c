import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from prm_deals.registrations.models import Deal
from prm_platform.pagination import PageRequest


async def get(session: AsyncSession, deal_id: uuid.UUID, *, for_update: bool = False
              ) -> Deal | None:
    return await session.get(Deal, deal_id, with_for_update=for_update or None)


async def list_page(
    session: AsyncSession,
    page: PageRequest,
    *,
    only_partner_id: uuid.UUID | None = None,
    partner_id: uuid.UUID | None = None,
    status: str | None = None,
) -> list[Deal]:
    query = select(Deal).order_by(Deal.id).limit(page.limit + 1)
    # Both partner conditions apply: a partner key filtering on another org gets nothing.
    for wanted in (only_partner_id, partner_id):
        if wanted is not None:
            query = query.where(Deal.partner_id == wanted)
    if status is not None:
        query = query.where(Deal.status == status)
    if page.after is not None:
        query = query.where(Deal.id > page.after)
    return list((await session.execute(query)).scalars())


def add(session: AsyncSession, deal: Deal) -> None:
    session.add(deal)
