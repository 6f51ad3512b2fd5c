import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from prm_partners.partners.models import Partner


async def get(session: AsyncSession, partner_id: uuid.UUID, *, for_update: bool = False
              ) -> Partner | None:
    query = select(Partner).where(Partner.id == partner_id)
    if for_update:
        query = query.with_for_update()
    return (await session.execute(query)).scalar_one_or_none()


async def by_external_id(session: AsyncSession, external_id: str, *, for_update: bool = False
                         ) -> Partner | None:
    query = select(Partner).where(Partner.external_id == external_id)
    if for_update:
        query = query.with_for_update()
    return (await session.execute(query)).scalar_one_or_none()


def add(session: AsyncSession, partner: Partner) -> None:
    session.add(partner)
