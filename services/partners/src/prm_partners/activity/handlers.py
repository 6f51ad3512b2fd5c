"""Activity from events: deals registered (topic ``prm.deals``) and certifications earned
(``prm.partners``), recorded at the event's time."""

from sqlalchemy.ext.asyncio import AsyncSession

from prm_contracts import CertificationEarnedV1, DealRegisteredV1
from prm_events.consumer import Handler
from prm_events.envelope import CloudEvent
from prm_partners.activity import service


async def deal_registered(session: AsyncSession, event: CloudEvent) -> None:
    payload = event.payload()
    assert isinstance(payload, DealRegisteredV1)
    await service.record_deal(session, payload.partner_id, payload.deal_id, event.time)


async def certification_earned(session: AsyncSession, event: CloudEvent) -> None:
    payload = event.payload()
    assert isinstance(payload, CertificationEarnedV1)
    await service.record_certification(session, payload.partner_id, payload.code, event.time)


HANDLERS: dict[str, Handler] = {
    DealRegisteredV1.event_type: deal_registered,
    CertificationEarnedV1.event_type: certification_earned,
}
