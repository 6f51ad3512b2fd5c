import datetime as dt
import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from prm_contracts import PartnerSnapshot
from prm_incentives.directory.models import PartnerDirectoryEntry
from prm_platform.projections import NewestVersion

# Columns taken from a snapshot only when it is newer than the one held.
_FROM_SNAPSHOT = ("name", "type", "country", "status", "tier", "version", "last_event_at")


async def get(session: AsyncSession, partner_id: uuid.UUID) -> PartnerDirectoryEntry | None:
    return await session.get(PartnerDirectoryEntry, partner_id)


_RECORD = NewestVersion(
    PartnerDirectoryEntry.__tablename__, "partner_id",
    {"partner_id": None, "name": None, "type": None, "country": None, "status": None,
     "tier": None, "version": None, "events_applied": "1", "last_event_at": None,
     "projected_at": "now()"},
    newer=_FROM_SNAPSHOT,
    always={"events_applied": "t.events_applied + 1", "projected_at": "now()"})


async def record(session: AsyncSession, partner: PartnerSnapshot, emitted_at: dt.datetime
                 ) -> None:
    """Count the event and keep its snapshot unless a newer one is already held. One
    statement, so that two events of one partner applied at once cannot both win."""
    await _RECORD(session, partner_id=partner.id, name=partner.name, type=partner.type,
                  country=partner.country, status=partner.status, tier=partner.tier,
                  version=partner.version, last_event_at=emitted_at)
