from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from prm_attribution.kpis import campaigns, mdf, service
from prm_attribution.kpis.listing import CAMPAIGNS, KPI_PARTNERS, MDF_ACTIVITIES
from prm_attribution.kpis.schemas import (
    AttributionCampaignRow,
    AttributionKpiGroups,
    AttributionKpiRow,
    AttributionMdfActivityRow,
    AttributionMdfActivityTypes,
    KpiGrouping,
)
from prm_attribution.results.schemas import AttributionModel
from prm_platform.http import (
    Caller,
    ServiceRoute,
    Session,
)
from prm_platform.listing import ListQuery, Page
from prm_platform.problems import problem_responses
from prm_platform.types import QueryDate

kpi_router = APIRouter(prefix="/v1/attribution-kpis", tags=["attribution kpis"],
                       route_class=ServiceRoute, responses=problem_responses(400, 401, 403, 422))


Start = Annotated[QueryDate, Query(alias="from", description="First day of the period")]
End = Annotated[QueryDate, Query(alias="to", description="The day after the period")]


@kpi_router.get("", summary="Programme KPIs per partner",
                description="For the period [`from`, `to`): partner-sourced and influenced "
                "revenue (deals won in it) and pipeline (open deals registered in it) under "
                "one model, in the base currency; registrations, their win rate and the time to "
                "first deal; the pipeline contribution against the vendor's total; the "
                "programme cost (MDF, rebates, SPIFFs), payouts paid and ROPI; certifications "
                "and the days to the first. Every row lists the rows behind its figures "
                "(deals, costs, payouts, certifications, vendor figures) and the FX rates used. "
                "Partners in id order, filtered by id, type, tier and country, or found by name "
                "(`q`); each row's figures move with deals, credits, costs and rates, so there "
                "is no change feed. A partner key gets its own row only.")
async def list_attribution_kpis(
    request: Request, session: Session, caller: Caller,
    query: Annotated[ListQuery, Depends(KPI_PARTNERS.query)], start: Start, end: End,
    model: Annotated[AttributionModel, Query()] = AttributionModel.linear,
) -> Page[AttributionKpiRow]:
    rows, cursor, total = await service.kpis(
        session, caller, query, base=request.app.state.base_currency, start=start, end=end,
        model=model)
    return Page[AttributionKpiRow](items=rows, next_cursor=cursor, total_count=total)


@kpi_router.get("/programme", summary="Programme KPIs, whole or by partner type, tier or "
                "country",
                description="Vendor keys only. For the period [`from`, `to`), per group: "
                "revenue and pipeline and the contribution to the vendor's total pipeline, "
                "programme cost and ROPI, partners activated and the partner acquisition cost "
                "(the vendor's acquisition cost lines over the partners activated), customers "
                "acquired and their lifetime value (CLTV, renewals and upsells included), "
                "certifications and the onboarding cohort's certification velocity and time to "
                "first deal; with the rows behind each figure and the FX rates used.",
                responses=problem_responses(403))
async def list_attribution_programme_kpis(
    request: Request, session: Session, caller: Caller, start: Start, end: End,
    model: Annotated[AttributionModel, Query()] = AttributionModel.linear,
    group_by: Annotated[KpiGrouping, Query()] = KpiGrouping.programme,
) -> AttributionKpiGroups:
    return AttributionKpiGroups(items=await service.programme(
        session, caller, base=request.app.state.base_currency, start=start, end=end,
        model=model, group_by=group_by))


@kpi_router.get("/mdf-activities", summary="MDF ROI per activity",
                description="The MDF activities (fund requests) that started in [`from`, "
                "`to`): the approved claims on each, its part of its partner's credits on the "
                "deals won before `to` that its linked touches count for (`mdf_request_id` on "
                "a touchpoint), and (return - cost) / cost, with the rows behind them. "
                "Activities in id order, filtered by id, partner, activity type, status and "
                "currency, with ranges on their start and end dates; each with its partner's "
                "name. Its figures move with claims and credits, so there is no change feed. A "
                "partner key sees its own activities only.")
async def list_attribution_mdf_activities(
    request: Request, session: Session, caller: Caller,
    query: Annotated[ListQuery, Depends(MDF_ACTIVITIES.query)], start: Start, end: End,
    model: Annotated[AttributionModel, Query()] = AttributionModel.linear,
) -> Page[AttributionMdfActivityRow]:
    rows, cursor, total = await mdf.mdf_activities(
        session, caller, query, base=request.app.state.base_currency, start=start, end=end,
        model=model)
    return Page[AttributionMdfActivityRow](items=rows, next_cursor=cursor, total_count=total)


@kpi_router.get("/mdf-activity-types", summary="MDF ROI per activity type",
                description="The activities of `/mdf-activities` summed per activity type. A "
                "partner key sums its own activities only.")
async def list_attribution_mdf_activity_types(
    request: Request, session: Session, caller: Caller, start: Start, end: End,
    model: Annotated[AttributionModel, Query()] = AttributionModel.linear,
) -> AttributionMdfActivityTypes:
    return AttributionMdfActivityTypes(items=await mdf.mdf_activity_types(
        session, caller, base=request.app.state.base_currency, start=start, end=end,
        model=model))


@kpi_router.get("/campaigns", summary="Campaign ROI per campaign",
                description="The through-channel marketing campaigns launched in [`from`, "
                "`to`): their launches and the partners that launched them, the touches their "
                "engagements made, the deals won before `to` those touches count for, the "
                "approved claims on the MDF fund requests funding the launches, the partners' "
                "credits on those deals in proportion to their campaign touches, and (return - "
                "cost) / cost, with the rows behind them. Campaigns in id order, filtered by "
                "id. Its figures move with launches, engagements, claims and credits, so there "
                "is no change feed. A partner key sees the campaigns it launched, with the "
                "figures of its own launches only.")
async def list_attribution_campaigns(
    request: Request, session: Session, caller: Caller,
    query: Annotated[ListQuery, Depends(CAMPAIGNS.query)], start: Start, end: End,
    model: Annotated[AttributionModel, Query()] = AttributionModel.linear,
) -> Page[AttributionCampaignRow]:
    rows, cursor, total = await campaigns.campaigns(
        session, caller, query, base=request.app.state.base_currency, start=start, end=end,
        model=model)
    return Page[AttributionCampaignRow](items=rows, next_cursor=cursor, total_count=total)
