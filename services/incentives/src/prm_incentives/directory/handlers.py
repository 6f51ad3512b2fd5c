"""Keeps the partner directory from the partners service's events (topic ``prm.partners``):
funds go only to partners that exist and are active. Every partner event carries the whole
snapshot with its version, so one handler serves them all."""

from sqlalchemy.ext.asyncio import AsyncSession

from prm_contracts import (
    PartnerCreatedV1,
    PartnerStatusChangedV1,
    PartnerTierChangedV1,
    PartnerUpdatedV1,
)
from prm_events.consumer import Handler
from prm_events.envelope import CloudEvent
from prm_incentives.directory import repository
from prm_platform.projections import projection


@projection
async def record_partner_snapshot(session: AsyncSession, event: CloudEvent) -> None:
    payload = event.payload()
    assert isinstance(payload, PartnerCreatedV1 | PartnerUpdatedV1 | PartnerStatusChangedV1
                      | PartnerTierChangedV1)
    await repository.record(session, payload.partner, event.time)


HANDLERS: dict[str, Handler] = {
    PartnerCreatedV1.event_type: record_partner_snapshot,
    PartnerUpdatedV1.event_type: record_partner_snapshot,
    PartnerStatusChangedV1.event_type: record_partner_snapshot,
    PartnerTierChangedV1.event_type: record_partner_snapshot,
}
