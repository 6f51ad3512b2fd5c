"""Accrues rebates and SPIFFs from the deals service's events (topic ``prm.deals``). The inbox
applies each event once; the (programme, deal) and (SPIFF, deal) keys make a replay of the topic
a no-op as well."""

from sqlalchemy.ext.asyncio import AsyncSession

from prm_contracts import DealWonV1
from prm_events.consumer import Handler
from prm_events.envelope import CloudEvent
from prm_incentives.rebates import service as rebates
from prm_incentives.spiffs import service as spiffs


async def accrue_on_win(session: AsyncSession, event: CloudEvent) -> None:
    payload = event.payload()
    assert isinstance(payload, DealWonV1)
    await rebates.accrue_won_deal(session, payload)
    await spiffs.accrue_won_deal(session, payload)


HANDLERS: dict[str, Handler] = {DealWonV1.event_type: accrue_on_win}
