"""Keeps the partner directory from the partners service's events (topic ``prm.partners``).

Every partner event carries the partner's whole snapshot with its version, so one handler serves
them all: the newest version wins, whatever order the events arrive in.
"""

from sqlalchemy.ext.asyncio import AsyncSession

from prm_contracts import PartnerCreatedV1, PartnerStatusChangedV1, PartnerUpdatedV1
from prm_deals.directory import repository
from prm_events.consumer import Handler
from prm_events.envelope import CloudEvent
from prm_platform.projections import projection


@projection
async def record_partner_snapshot(session: AsyncSession, event: CloudEvent) -> None:
    payload = event.payload()
    assert isinstance(payload, PartnerCreatedV1 | PartnerUpdatedV1 | PartnerStatusChangedV1)
    await repository.record(session, payload.partner, event.time)


HANDLERS: dict[str, Handler] = {
    PartnerCreatedV1.event_type: record_partner_snapshot,
    PartnerUpdatedV1.event_type: record_partner_snapshot,
    PartnerStatusChangedV1.event_type: record_partner_snapshot,
}
