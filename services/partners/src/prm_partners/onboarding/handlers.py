"""Onboarding from events: a partner entering ``onboarding`` starts its plan (topic
``prm.partners``); agreements signed, certifications earned (``prm.partners``) and deals
registered (``prm.deals``) are kept as facts that complete tasks, now or once a plan exists.

Facts carry the event's time, never the time of handling, so replaying the topics from the
start leaves the same plans."""

from sqlalchemy.ext.asyncio import AsyncSession

from prm_contracts import (
    AgreementSignedV1,
    CertificationEarnedV1,
    DealRegisteredV1,
    PartnerCreatedV1,
    PartnerStatusChangedV1,
)
from prm_events.consumer import Handler
from prm_events.envelope import CloudEvent
from prm_partners.onboarding import service


async def partner_entered_onboarding(session: AsyncSession, event: CloudEvent) -> None:
    payload = event.payload()
    assert isinstance(payload, PartnerCreatedV1 | PartnerStatusChangedV1)
    if payload.partner.status == "onboarding":
        await service.start_plan(session, payload.partner, event.time)


async def agreement_signed(session: AsyncSession, event: CloudEvent) -> None:
    payload = event.payload()
    assert isinstance(payload, AgreementSignedV1)
    await service.record_fact(
        session, kind="agreement_signed", natural_id=payload.signature_id,
        partner_id=payload.partner_id, code=payload.agreement, occurred_at=event.time,
        event_type=event.type)


async def certification_earned(session: AsyncSession, event: CloudEvent) -> None:
    payload = event.payload()
    assert isinstance(payload, CertificationEarnedV1)
    await service.record_fact(
        session, kind="certification_earned", natural_id=payload.certification_id,
        partner_id=payload.partner_id, code=payload.code, occurred_at=event.time,
        event_type=event.type)


async def deal_registered(session: AsyncSession, event: CloudEvent) -> None:
    """Only the partner's first registration matters here: one fact per partner, the
    earliest registration whatever order they arrive in."""
    payload = event.payload()
    assert isinstance(payload, DealRegisteredV1)
    await service.record_fact(
        session, kind="first_deal_registered", natural_id=payload.partner_id,
        partner_id=payload.partner_id, code=None, occurred_at=event.time,
        event_type=event.type)


HANDLERS: dict[str, Handler] = {
    PartnerCreatedV1.event_type: partner_entered_onboarding,
    PartnerStatusChangedV1.event_type: partner_entered_onboarding,
    AgreementSignedV1.event_type: agreement_signed,
    CertificationEarnedV1.event_type: certification_earned,
    DealRegisteredV1.event_type: deal_registered,
}
