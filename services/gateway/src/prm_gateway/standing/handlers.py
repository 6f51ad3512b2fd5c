"""Keeps partner standing from the partners service's events (topic ``prm.partners``). Every
partner event carries the partner's snapshot with its version; the newest version wins."""

from sqlalchemy import case, func
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from prm_contracts import PartnerCreatedV1, PartnerStatusChangedV1, PartnerUpdatedV1
from prm_events.consumer import Handler
from prm_events.envelope import CloudEvent
from prm_gateway.standing.models import PartnerStanding


async def record_standing(session: AsyncSession, event: CloudEvent) -> None:
    # Read raw: only id, status and version matter here, whatever else a newer producer sends.
    partner = event.data["partner"]
    statement = insert(PartnerStanding).values(
        partner_id=partner["id"], status=str(partner["status"])[:40],
        version=int(partner["version"]), updated_at=func.now())
    newer = statement.excluded.version > PartnerStanding.version
    await session.execute(statement.on_conflict_do_update(
        index_elements=[PartnerStanding.partner_id],
        set_={"status": case((newer, statement.excluded.status), else_=PartnerStanding.status),
              "version": case((newer, statement.excluded.version),
                              else_=PartnerStanding.version),
              "updated_at": func.now()}))


HANDLERS: dict[str, Handler] = {
    PartnerCreatedV1.event_type: record_standing,
    PartnerUpdatedV1.event_type: record_standing,
    PartnerStatusChangedV1.event_type: record_standing,
}
