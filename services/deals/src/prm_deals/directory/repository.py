import datetime as dt
import uuid

from sqlalchemy import case, func
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from prm_contracts import PartnerSnapshot
from prm_deals.directory.models import PartnerDirectoryEntry

# Columns that come from the partner's snapshot and move only with its version.
_SNAPSHOT_COLUMNS = ("name", "type", "country", "status", "tier", "version", "last_event_at")


async def get(session: AsyncSession, partner_id: uuid.UUID) -> PartnerDirectoryEntry | None:
    return await session.get(PartnerDirectoryEntry, partner_id)


async def record(session: AsyncSession, partner: PartnerSnapshot, emitted_at: dt.datetime
                 ) -> None:
    """Count the event and keep its snapshot unless a newer one is already held.

    One statement, so that two events of the same partner applied at once cannot both read the
    old version and both write.
    """
    entry = PartnerDirectoryEntry
    statement = insert(entry).values(
        partner_id=partner.id, name=partner.name, type=partner.type, country=partner.country,
        status=partner.status, tier=partner.tier, version=partner.version, events_applied=1,
        last_event_at=emitted_at, projected_at=func.now(),
    )
    newer = statement.excluded.version > entry.version
    await session.execute(statement.on_conflict_do_update(
        index_elements=[entry.partner_id],
        set_={
            **{column: case((newer, statement.excluded[column]), else_=getattr(entry, column))
               for column in _SNAPSHOT_COLUMNS},
            "events_applied": entry.events_applied + 1,
            "projected_at": func.now(),
        },
    ))

