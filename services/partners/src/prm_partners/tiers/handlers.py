"""What moves tiers from events: won deals (topic ``prm.deals``) become facts, and a partner is
evaluated again when a deal it won, a certification it earned or lost, an agreement it signed
or its activation changes what it qualifies for; and an FX rate recorded by the incentives
ledger (topic ``prm.incentives``) joins the projection the won deals are converted with.

Run in the inbox's transaction. A won deal is upserted by its id, so a redelivery or a replay
of the whole topic changes no fact, hence no tier, history entry or event.
"""

from sqlalchemy.ext.asyncio import AsyncSession

from prm_contracts import (
    AgreementSignedV1,
    CertificationEarnedV1,
    CertificationExpiredV1,
    DealWonV1,
    FxRateSetV1,
    PartnerStatusChangedV1,
)
from prm_events.consumer import Handler
from prm_events.envelope import CloudEvent
from prm_partners.tiers import service


async def deal_won(session: AsyncSession, event: CloudEvent) -> None:
    payload = event.payload()
    assert isinstance(payload, DealWonV1)
    for partner_id in sorted(await service.record_won(session, payload)):
        await service.evaluate_partner(session, partner_id, service.today())


async def partner_changed(session: AsyncSession, event: CloudEvent) -> None:
    payload = event.payload()
    assert isinstance(payload, CertificationEarnedV1 | CertificationExpiredV1 | AgreementSignedV1)
    await service.evaluate_partner(session, payload.partner_id, service.today())


async def status_changed(session: AsyncSession, event: CloudEvent) -> None:
    """A partner (re)activated gets its tier at once rather than at the next daily run."""
    payload = event.payload()
    assert isinstance(payload, PartnerStatusChangedV1)
    if payload.partner.status in service.EVALUATED_STATUSES:
        await service.evaluate_partner(session, payload.partner.id, service.today())


async def rate_set(session: AsyncSession, event: CloudEvent) -> None:
    """An FX rate the incentives ledger recorded (topic ``prm.incentives``)."""
    payload = event.payload()
    assert isinstance(payload, FxRateSetV1)
    await service.rate_set(session, payload)


HANDLERS: dict[str, Handler] = {
    DealWonV1.event_type: deal_won,
    CertificationEarnedV1.event_type: partner_changed,
    CertificationExpiredV1.event_type: partner_changed,
    AgreementSignedV1.event_type: partner_changed,
    PartnerStatusChangedV1.event_type: status_changed,
}

FX_HANDLERS: dict[str, Handler] = {FxRateSetV1.event_type: rate_set}
