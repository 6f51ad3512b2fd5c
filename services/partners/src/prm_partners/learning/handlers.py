"""Enrolments from the partners service's own events (topic ``prm.partners``): a partner that
becomes active, or moves tier, has its contacts enrolled in the paths that start then.

Through the worker's inbox rather than inline where the status or tier changes: the event is
written by the outbox in the very transaction of the change, so it cannot be lost, and the
consumer records it in its inbox with the enrolments, so a crash redelivers it; an enrolment
is unique per (path, contact), so a redelivery or a replay of the topic enrols no one twice.
The status and tier code paths (partners, onboarding, tiers) stay untouched."""

from sqlalchemy.ext.asyncio import AsyncSession

from prm_contracts import PartnerStatusChangedV1, PartnerTierChangedV1
from prm_events.consumer import Handler
from prm_events.envelope import CloudEvent
from prm_partners.learning import service
from prm_partners.learning.schemas import LearningEnrolOn


async def partner_activated(session: AsyncSession, event: CloudEvent) -> None:
    payload = event.payload()
    assert isinstance(payload, PartnerStatusChangedV1)
    if payload.partner.status == "active":
        await service.enrol_partner(session, payload.partner.id, LearningEnrolOn.joined)


async def tier_changed(session: AsyncSession, event: CloudEvent) -> None:
    payload = event.payload()
    assert isinstance(payload, PartnerTierChangedV1)
    if payload.tier is not None:
        await service.enrol_partner(session, payload.partner.id, LearningEnrolOn.tier_changed)


HANDLERS: dict[str, Handler] = {
    PartnerStatusChangedV1.event_type: partner_activated,
    PartnerTierChangedV1.event_type: tier_changed,
}
