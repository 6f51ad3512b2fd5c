"""The MDF fund requests a campaign launch may name, kept from the incentives' events (topic
``prm.incentives``): whose each is and its status, the newest version winning."""

from sqlalchemy.ext.asyncio import AsyncSession

from prm_contracts import (
    MdfRequestApprovedV1,
    MdfRequestChange,
    MdfRequestChangesRequestedV1,
    MdfRequestExpiredV1,
    MdfRequestRejectedV1,
    MdfRequestSubmittedV1,
)
from prm_deals.campaigns.models import MdfFundRequest
from prm_events.consumer import Handler
from prm_events.envelope import CloudEvent
from prm_platform.projections import NewestVersion, projection

_RECORD = NewestVersion(
    MdfFundRequest.__tablename__, "request_id",
    {"request_id": None, "partner_id": None, "status": None, "version": None,
     "activity_type": None, "updated_at": "now()"},
    # A submission names the activity type; later events keep the one held.
    newer=("status", "version"),
    always={"updated_at": "now()",
            "activity_type": "coalesce(excluded.activity_type, t.activity_type)"})


@projection
async def record_fund_request(session: AsyncSession, event: CloudEvent) -> None:
    payload = event.payload()
    assert isinstance(payload, MdfRequestChange)
    await _RECORD(session, request_id=payload.request_id, partner_id=payload.partner_id,
                  status=payload.status, version=payload.version,
                  activity_type=getattr(payload, "activity_type", None))


HANDLERS: dict[str, Handler] = {
    model.event_type: record_fund_request
    for model in (MdfRequestSubmittedV1, MdfRequestApprovedV1, MdfRequestRejectedV1,
                  MdfRequestChangesRequestedV1, MdfRequestExpiredV1)}
