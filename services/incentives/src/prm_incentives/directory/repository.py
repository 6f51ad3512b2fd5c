import datetime as dt
import uuid

from sqlalchemy import case, func
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from prm_contracts import PartnerSnapshot
from prm_incentives.directory.models import PartnerDirectoryEntry

# Columns taken from a snapshot only when it is newer than the one held.
_FROM_SNAPSHOT = ("name", "type", "country", "status", "tier", "version", "last_event_at")


async def get(session: AsyncSession, partner_id: uuid.UUID) -> PartnerDirectoryEntry | None:
    return await session.get(PartnerDirectoryEntry, partner_id)


async def record(session: AsyncSession, partner: PartnerSnapshot, emitted_at: dt.datetime
                 ) -> None:
    """Keep the newest snapshot whatever order events arrive in; one statement, so two events
    of one partner applied at once cannot both win."""
    entry = PartnerDirectoryEntry
    row = insert(entry).values(
        partner_id=partner.id, name=partner.name, type=partner.type, country=partner.country,
        status=partner.status, tier=partner.tier, version=partner.version, events_applied=1,
        last_event_at=emitted_at, projected_at=func.now())
    newer = row.excluded.version > entry.version
    await session.execute(row.on_conflict_do_update(
        index_elements=[entry.partner_id],
        set_={**{name: case((newer, row.excluded[name]), else_=getattr(entry, name))
                 for name in _FROM_SNAPSHOT},
              "events_applied": entry.events_applied + 1, "projected_at": func.now()}))
