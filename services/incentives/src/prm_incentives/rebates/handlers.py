"""Accrues rebates and SPIFFs from the deals service's events (topic ``prm.deals``), and
reverses them when a won deal is reversed. The inbox applies each event once; the deal's win
kept with its version (``deal_wins``), the (programme, deal) and (SPIFF, deal) keys and the
accruals' status make a replay of the topic, or a second event of one win, a no-op as well."""

from sqlalchemy.ext.asyncio import AsyncSession

from prm_contracts import DealWinReversedV1, DealWonV1
from prm_events.consumer import Handler
from prm_events.envelope import CloudEvent
from prm_incentives.accruals import service as accruals
from prm_incentives.rebates import service as rebates
from prm_incentives.spiffs import service as spiffs


async def accrue_on_win(session: AsyncSession, event: CloudEvent) -> None:
    """A deal won accrues once, on the amount of the win that stands: a second event of the
    same win (another event id, the same version), an older win or one after the win was
    reversed changes nothing; a newer win replaces what an earlier one accrued."""
    payload = event.payload()
    assert isinstance(payload, DealWonV1)
    if not await accruals.stands(session, payload):
        return
    await rebates.accrue_won_deal(session, payload)
    await spiffs.accrue_won_deal(session, payload)


async def reverse_on_win_reversed(session: AsyncSession, event: CloudEvent) -> None:
    """Every rebate and SPIFF accrual of the deal is reversed, except those in a payout batch
    (recorded on the accrual instead: the consumer does not fail on them)."""
    payload = event.payload()
    assert isinstance(payload, DealWinReversedV1)
    await accruals.win_reversed(session, payload)
    for book in (rebates.BOOK, spiffs.BOOK):
        await accruals.reverse_deal(session, book, payload.deal_id, payload.reason)


HANDLERS: dict[str, Handler] = {DealWonV1.event_type: accrue_on_win,
                                DealWinReversedV1.event_type: reverse_on_win_reversed}
