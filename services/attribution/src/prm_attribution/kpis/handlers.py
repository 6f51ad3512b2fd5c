"""The FX rates the KPIs convert with, from ``prm.incentives``: the incentives ledger owns them
and announces each as ``prm.fx.rate_set.v1``; this service keeps a projection. Run in the
inbox's transaction: a redelivery or a replay changes nothing."""

from sqlalchemy.ext.asyncio import AsyncSession

from prm_attribution.kpis import service
from prm_contracts import FxRateSetV1
from prm_events.consumer import Handler
from prm_events.envelope import CloudEvent


async def rate_set(session: AsyncSession, event: CloudEvent) -> None:
    payload = event.payload()
    assert isinstance(payload, FxRateSetV1)
    await service.rate_set(session, payload)


HANDLERS: dict[str, Handler] = {FxRateSetV1.event_type: rate_set}
