"""Projects the campaigns of ``prm.campaigns`` (through-channel marketing, run by the deals
service) and turns an engagement with a company's domain into a `marketing` touchpoint.

A campaign's row moves only with its ``version``; a launch is written once (a launch never
changes); an engagement's touch has an id derived from the engagement id, so a redelivered or
replayed event cannot add it twice, and its time is the engagement's own, so a replay computes
the same credits. An engagement without a company domain says nothing of a customer and makes
no touch. A touch names the launch's MDF fund request as the event says, unless the projection
of the incentives shows the request is another partner's: then the touch is kept without the
link (the event is never refused).
"""

from __future__ import annotations

import uuid

import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from prm_attribution.deals.handlers import TOUCH_NAMESPACE
from prm_attribution.touchpoints.service import recompute_counted
from prm_contracts import CampaignChangedV1, CampaignEngagedV1, CampaignLaunchedV1
from prm_events.consumer import Handler
from prm_events.envelope import CloudEvent
from prm_platform.projections import NewestVersion

NAME_LENGTH = 300


def engagement_touch_id(engagement_id: uuid.UUID) -> uuid.UUID:
    return uuid.uuid5(TOUCH_NAMESPACE, f"campaign:{engagement_id}")


_CAMPAIGN = NewestVersion(
    "campaigns", "campaign_id", {c: None for c in ("campaign_id", "name", "status", "version")},
    newer=("name", "status", "version"))


async def campaign_changed(session: AsyncSession, event: CloudEvent) -> None:
    payload = event.payload()
    assert isinstance(payload, CampaignChangedV1)
    await _CAMPAIGN(session, campaign_id=payload.campaign_id, name=payload.name[:NAME_LENGTH],
                    status=payload.status[:40], version=payload.version)


_LAUNCH = text(
    "INSERT INTO campaign_launches (launch_id, campaign_id, campaign_name, partner_id, "
    "mdf_request_id, launched_at) VALUES (:launch, :campaign, :name, :partner, :request, :at) "
    "ON CONFLICT (launch_id) DO NOTHING")


async def campaign_launched(session: AsyncSession, event: CloudEvent) -> None:
    payload = event.payload()
    assert isinstance(payload, CampaignLaunchedV1)
    name = payload.campaign_name[:NAME_LENGTH]
    # The campaign's row, named as the launch names it until the campaign's own event (any
    # version of it is newer than 0) arrives.
    await _CAMPAIGN(session, campaign_id=payload.campaign_id, name=name, status=None,
                    version=0)
    await session.execute(_LAUNCH, {
        "launch": payload.launch_id, "campaign": payload.campaign_id, "name": name,
        "partner": payload.partner_id, "request": payload.mdf_request_id,
        "at": payload.launched_at})


_TOUCH = text(
    "INSERT INTO touchpoints (id, partner_id, deal_id, customer_domain, kind, occurred_at, "
    "evidence, source, recorded_by, recorded_at, mdf_request_id, campaign_id, launch_id) "
    "VALUES (:id, :partner, NULL, :domain, 'marketing', :at, CAST(:evidence AS jsonb), "
    "'event', :source, statement_timestamp(), :request, :campaign, :launch) "
    "ON CONFLICT (id) DO NOTHING RETURNING id")


async def campaign_engaged(session: AsyncSession, event: CloudEvent) -> None:
    payload = event.payload()
    assert isinstance(payload, CampaignEngagedV1)
    domain = (payload.company.domain.strip().lower() if payload.company is not None else "")
    if not domain:
        return
    known = (await session.execute(text(
        "SELECT (SELECT partner_id FROM mdf_activities WHERE request_id = :request) AS owner, "
        "coalesce((SELECT name FROM campaigns WHERE campaign_id = :campaign), "
        "(SELECT campaign_name FROM campaign_launches WHERE launch_id = :launch)) AS name"),
        {"request": payload.mdf_request_id, "campaign": payload.campaign_id,
         "launch": payload.launch_id})).one()
    request = payload.mdf_request_id
    if known.owner is not None and known.owner != payload.partner_id:
        request = None
    evidence = {"event_id": str(event.id), "event_type": event.type,
                "description": f"campaign {known.name or payload.campaign_id}: {payload.kind}",
                "reference": str(payload.engagement_id)}
    inserted = (await session.execute(_TOUCH, {
        "id": engagement_touch_id(payload.engagement_id), "partner": payload.partner_id,
        "domain": domain[:253], "at": payload.occurred_at,
        "evidence": orjson.dumps(evidence).decode(), "source": event.source,
        "request": request, "campaign": payload.campaign_id,
        "launch": payload.launch_id})).first()
    if inserted is not None:  # a replay has nothing new to count
        await recompute_counted(session, deal_id=None, customer_domain=domain[:253],
                                occurred_at=payload.occurred_at)


HANDLERS: dict[str, Handler] = {
    CampaignChangedV1.event_type: campaign_changed,
    CampaignLaunchedV1.event_type: campaign_launched,
    CampaignEngagedV1.event_type: campaign_engaged,
}
