import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from prm_events.directory import PartnerDirectory
from prm_incentives.directory.models import PartnerDirectoryEntry


async def get(session: AsyncSession, partner_id: uuid.UUID) -> PartnerDirectoryEntry | None:
    return await session.get(PartnerDirectoryEntry, partner_id)


# Kept from the partners' snapshot events: the newest version wins, every event counted.
record = PartnerDirectory(PartnerDirectoryEntry.__tablename__).record
