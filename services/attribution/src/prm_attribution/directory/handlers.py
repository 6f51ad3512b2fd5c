"""Keeps the partner directory from ``prm.partners``: every partner event carries the whole
snapshot with its version, so the newest version wins whatever the order of arrival."""

from sqlalchemy import case, func
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from prm_attribution.directory.models import PartnerDirectoryEntry
from prm_contracts import (
    PartnerCreatedV1,
    PartnerStatusChangedV1,
    PartnerTierChangedV1,
    PartnerUpdatedV1,
)
from prm_events.consumer import Handler
from prm_events.envelope import CloudEvent

_SNAPSHOT = ("name", "type", "country", "status", "tier", "version", "last_event_at")


async def record_partner_snapshot(session: AsyncSession, event: CloudEvent) -> None:
    payload = event.payload()
    assert isinstance(payload, PartnerCreatedV1 | PartnerUpdatedV1 | PartnerStatusChangedV1
                      | PartnerTierChangedV1)
    partner, entry = payload.partner, PartnerDirectoryEntry
    statement = insert(entry).values(
        partner_id=partner.id, name=partner.name, type=partner.type,
        country=partner.country[:2], status=partner.status, tier=partner.tier,
        version=partner.version, joined_at=event.time, last_event_at=event.time)
    newer = statement.excluded.version > entry.version
    await session.execute(statement.on_conflict_do_update(
        index_elements=[entry.partner_id],
        set_={**{c: case((newer, statement.excluded[c]), else_=getattr(entry, c))
                 for c in _SNAPSHOT},
              "joined_at": func.least(entry.joined_at, statement.excluded.joined_at)}))


HANDLERS: dict[str, Handler] = {
    model.event_type: record_partner_snapshot
    for model in (PartnerCreatedV1, PartnerUpdatedV1, PartnerStatusChangedV1,
                  PartnerTierChangedV1)
}
