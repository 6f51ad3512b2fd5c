import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from prm_gateway.standing.models import PartnerStanding


async def status_of(session: AsyncSession, partner_id: uuid.UUID) -> str | None:
    """The partner's status as its events last told it; None for a partner not known here."""
    query = select(PartnerStanding.status).where(PartnerStanding.partner_id == partner_id)
    return (await session.execute(query)).scalar_one_or_none()
