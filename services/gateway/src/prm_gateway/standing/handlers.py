"""Keeps partner standing from the partners service's events (topic ``prm.partners``). Every
partner event carries the partner's snapshot with its version; the newest version wins."""

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from prm_contracts import PartnerCreatedV1, PartnerStatusChangedV1, PartnerUpdatedV1
from prm_events.consumer import Handler
from prm_events.envelope import CloudEvent
from prm_gateway.standing.models import PartnerStanding
from prm_platform.projections import NewestVersion, projection

_STANDING = NewestVersion(
    PartnerStanding.__tablename__, "partner_id",
    {"partner_id": None, "status": None, "version": None, "updated_at": "now()"},
    newer=("status", "version"), always={"updated_at": "now()"})


@projection
async def record_standing(session: AsyncSession, event: CloudEvent) -> None:
    # Read raw: only id, status and version matter here, whatever else a newer producer sends.
    partner = event.data["partner"]
    await _STANDING(session, partner_id=uuid.UUID(str(partner["id"])),
                    status=str(partner["status"])[:40], version=int(partner["version"]))


HANDLERS: dict[str, Handler] = {
    PartnerCreatedV1.event_type: record_standing,
    PartnerUpdatedV1.event_type: record_standing,
    PartnerStatusChangedV1.event_type: record_standing,
}
