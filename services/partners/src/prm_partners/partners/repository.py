import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from prm_partners.partners.models import Partner
from prm_platform.pagination import PageRequest


async def get(session: AsyncSession, partner_id: uuid.UUID, *, for_update: bool = False
              ) -> Partner | None:
    query = select(Partner).where(Partner.id == partner_id)
    if for_update:
        query = query.with_for_update()
    return (await session.execute(query)).scalar_one_or_none()


async def list_page(
    session: AsyncSession,
    page: PageRequest,
    *,
    only_id: uuid.UUID | None = None,
    status: str | None = None,
    type: str | None = None,
    country: str | None = None,
) -> list[Partner]:
    query = select(Partner).order_by(Partner.id).limit(page.limit + 1)
    if only_id is not None:
        query = query.where(Partner.id == only_id)
    if status is not None:
        query = query.where(Partner.status == status)
    if type is not None:
        query = query.where(Partner.type == type)
    if country is not None:
        query = query.where(Partner.country == country)
    if page.after is not None:
        query = query.where(Partner.id > page.after)
    return list((await session.execute(query)).scalars())


def add(session: AsyncSession, partner: Partner) -> None:
    session.add(partner)
