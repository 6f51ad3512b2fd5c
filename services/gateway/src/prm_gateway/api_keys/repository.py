import datetime as dt
import uuid

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from prm_gateway.api_keys.models import ApiKey


async def get(session: AsyncSession, key_id: uuid.UUID, *, for_update: bool = False
              ) -> ApiKey | None:
    query = select(ApiKey).where(ApiKey.id == key_id)
    if for_update:
        query = query.with_for_update()
    return (await session.execute(query)).scalar_one_or_none()


async def by_secret_hash(session: AsyncSession, secret_hash: str) -> ApiKey | None:
    query = select(ApiKey).where(ApiKey.secret_hash == secret_hash)
    return (await session.execute(query)).scalar_one_or_none()


async def touch(session: AsyncSession, key_id: uuid.UUID, now: dt.datetime,
                interval: dt.timedelta) -> None:
    """Record use, unless another request (or gateway replica) already did within ``interval``."""
    await session.execute(
        update(ApiKey)
        .where(ApiKey.id == key_id,
               or_(ApiKey.last_used_at.is_(None), ApiKey.last_used_at < now - interval))
        .values(last_used_at=now)
    )


def add(session: AsyncSession, key: ApiKey) -> None:
    session.add(key)
