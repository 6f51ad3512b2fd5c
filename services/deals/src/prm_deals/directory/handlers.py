"""Keeps the partner directory from the partners service's events (topic ``prm.partners``).

Every partner event carries the partner's whole snapshot with its version, so one handler serves
them all: the newest version wins, whatever order the events arrive in. Certification events
keep the codes of the partner's active certifications; each certification is remembered, so
replays and an expiry overtaking its earn change nothing.
"""

from sqlalchemy.ext.asyncio import AsyncSession

from prm_contracts import (
    CertificationEarnedV1,
    CertificationExpiredV1,
    PartnerCreatedV1,
    PartnerStatusChangedV1,
    PartnerTierChangedV1,
    PartnerUpdatedV1,
)
from prm_deals.directory import repository
from prm_events.consumer import Handler
from prm_events.envelope import CloudEvent
from prm_platform.projections import projection


@projection
async def record_partner_snapshot(session: AsyncSession, event: CloudEvent) -> None:
    payload = event.payload()
    assert isinstance(payload, PartnerCreatedV1 | PartnerUpdatedV1 | PartnerStatusChangedV1
                      | PartnerTierChangedV1)
    await repository.record(session, payload.partner, event.time)


async def record_certification(session: AsyncSession, event: CloudEvent) -> None:
    payload = event.payload()
    assert isinstance(payload, CertificationEarnedV1 | CertificationExpiredV1)
    await repository.record_certification(session, payload)


HANDLERS: dict[str, Handler] = {
    **{model.event_type: record_partner_snapshot
       for model in (PartnerCreatedV1, PartnerUpdatedV1, PartnerStatusChangedV1,
                     PartnerTierChangedV1)},
    CertificationEarnedV1.event_type: record_certification,
    CertificationExpiredV1.event_type: record_certification,
}
