import uuid

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from prm_partners.partners.models import Partner
from prm_platform.pagination import PageRequest


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


async def list_page(
    session: AsyncSession,
    query: Select[Partner],
    page: PageRequest,
    *,
    status: str | None = None,
    type: str | None = None,
    country: str | None = None,
    tier: str | None = None,
    parent_id: uuid.UUID | None = None,
) -> list[Partner]:
    query = query.order_by(Partner.id).limit(page.limit + 1)
    for column, wanted in ((Partner.status, status), (Partner.type, type),
                           (Partner.country, country), (Partner.tier, tier),
                           (Partner.parent_id, parent_id)):
        if wanted is not None:
            query = query.where(column == wanted)
    if page.after is not None:
        query = query.where(Partner.id > page.after)
    return list((await session.execute(query)).scalars())


def add(session: AsyncSession, partner: Partner) -> None:
    session.add(partner)
