"""What starts event-triggered survey campaigns: a partner's onboarding plan completed (topic
``prm.partners``) and a payout of its incentives paid (``prm.payout.paid.v1``, topic
``prm.incentives``: the event that means the partner's MDF claims, rebates and SPIFFs were
paid, where ``prm.mdf.claim.approved.v1`` only makes a claim payable).

Run in the inbox's transaction. An invitation is unique per (campaign, contact, plan or
batch), so a redelivery or a replay of the topic invites no one again.
"""

from sqlalchemy.ext.asyncio import AsyncSession

from prm_contracts import OnboardingCompletedV1, PayoutPaidV1
from prm_events.consumer import Handler
from prm_events.envelope import CloudEvent
from prm_partners.surveys import campaigns
from prm_partners.surveys.schemas import CampaignEvent


async def onboarding_completed(session: AsyncSession, event: CloudEvent) -> None:
    payload = event.payload()
    assert isinstance(payload, OnboardingCompletedV1)
    await campaigns.on_event(session, CampaignEvent.onboarding_completed, payload.partner_id,
                             payload.plan_id, event.time)


async def payout_paid(session: AsyncSession, event: CloudEvent) -> None:
    payload = event.payload()
    assert isinstance(payload, PayoutPaidV1)
    await campaigns.on_event(session, CampaignEvent.claim_paid, payload.partner_id,
                             payload.batch_id, event.time)


HANDLERS: dict[str, Handler] = {
    OnboardingCompletedV1.event_type: onboarding_completed,
    PayoutPaidV1.event_type: payout_paid,
}
