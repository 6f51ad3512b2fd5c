import datetime as dt
import uuid
from typing import Annotated, Any

from fastapi import Depends, Query, Response

from prm_platform.http import (
    Caller,
    IdempotencyKeyHeader,
    IfMatchHeader,
    Session,
    check_if_match,
    etag,
    resource_headers,
    service_router,
)
from prm_platform.listing import ListQuery, Page
from prm_platform.problems import Unprocessable, problem_responses
from prm_platform.security import Principal
from prm_platform.types import QueryDate
from prm_portal.declaration import HEALTH_READ, HEALTH_WRITE
from prm_portal.health import reads, service
from prm_portal.health.model import MEASURES, HealthModelSpec
from prm_portal.health.schemas import (
    HealthHistoryOut,
    HealthModelOut,
    HealthModelVersionOut,
    HealthPreviewIn,
    HealthPreviewOut,
    PartnerHealthOut,
    ProgrammeGrouping,
    ProgrammeHealthOut,
    ScorecardOut,
)

health_router = service_router("/v1/partner-health", "partner health")
model_router = service_router("/v1/health-model", "partner health")
programme_router = service_router("/v1/programme-health", "partner health")

MAX_PERIOD_DAYS = 3 * 366
From = Annotated[QueryDate | None, Query(alias="from", description=(
    "First day of the period (default: 90 days before `to`)"))]
To = Annotated[QueryDate | None, Query(alias="to", description=(
    "Last day of the period (default: today)"))]


def _reader(caller: Principal) -> None:
    caller.ensure_vendor()
    caller.require(HEALTH_READ)


def _period(period_from: dt.date | None, period_to: dt.date | None) -> tuple[dt.date, dt.date]:
    end = period_to or service.today()
    start = period_from or end - dt.timedelta(days=89)
    if start > end:
        raise Unprocessable("`from` must not be after `to`")
    if (end - start).days >= MAX_PERIOD_DAYS:
        raise Unprocessable(f"a period spans at most {MAX_PERIOD_DAYS} days")
    return start, end


# --- the model ------------------------------------------------------------------------------

def _model_out(row: Any, response: Response) -> HealthModelOut:
    response.headers["ETag"] = etag(row.version)
    return HealthModelOut(version=row.version, spec=HealthModelSpec.model_validate(row.spec),
                          created_at=row.created_at, created_by=row.created_by,
                          measures=MEASURES)


@model_router.get("", summary="The health model in force",
                  description="Vendor keys only. Its pillars, their weights and measures (how "
                  "each is normalised: between `floor` and `target`), the bands, the money "
                  "measures' currency, the decay, and the churn-risk threshold; with the "
                  "catalogue of measures. The ETag is its version.",
                  responses=resource_headers())
async def get_model(response: Response, session: Session, caller: Caller) -> HealthModelOut:
    _reader(caller)
    _, _, row = await service.current_model(session)
    return _model_out(row, response)


@model_router.put("", summary="Change the health model (a new version)",
                  description="Vendor keys with `health:write`. Saves a new version (the "
                  "older ones stay readable) and makes every partner due for scoring under "
                  "it within minutes. Send `If-Match` with the ETag read, so that two people "
                  "changing it at once cannot overwrite each other.",
                  responses={**problem_responses(412), **resource_headers()})
async def put_model(body: HealthModelSpec, response: Response, session: Session,
                    caller: Caller, if_match: IfMatchHeader = None) -> HealthModelOut:
    caller.ensure_vendor()
    caller.require(HEALTH_WRITE)
    current, _, _ = await service.current_model(session)
    check_if_match(if_match, current)
    version = await service.new_model(session, body, current, caller.actor)
    return _model_out(await service.model_version(session, version), response)


@model_router.get("/versions", summary="The health model's versions",
                  description="Vendor keys only. Newest first.")
async def list_model_versions(session: Session, caller: Caller,
                              query: Annotated[ListQuery, Depends(reads.VERSIONS.query)]
                              ) -> Page[HealthModelVersionOut]:
    _reader(caller)
    rows, next_cursor, total = await reads.versions_page(session, query)
    return Page[HealthModelVersionOut](
        items=[HealthModelVersionOut.model_validate(r, from_attributes=True) for r in rows],
        next_cursor=next_cursor, total_count=total)


@model_router.post("/preview", summary="Score partners under a model before saving it",
                   description="Vendor keys only. Scores up to 50 partners under the model "
                   "sent, beside their score under the model in force. Nothing is written.",
                   responses=problem_responses(403))
async def preview_model(body: HealthPreviewIn, session: Session, caller: Caller,
                        idempotency_key: IdempotencyKeyHeader = None) -> HealthPreviewOut:
    _reader(caller)
    return HealthPreviewOut(items=await reads.preview(session, body.spec, body.partner_ids))


# --- partners' health -----------------------------------------------------------------------

@health_router.get("", summary="List partners' health",
                   description="Vendor keys only. Each scored partner's score, band, trend "
                   "and early-warning estimates, lowest score first by default "
                   "(`sort=-churn_risk` for the riskiest first); filter by band, the "
                   "partner's type, tier and country, or `risk_raised`.")
async def list_health(session: Session, caller: Caller,
                      query: Annotated[ListQuery, Depends(reads.HEALTH.query)]
                      ) -> Page[PartnerHealthOut]:
    _reader(caller)
    rows, next_cursor, total = await reads.health_page(session, query)
    return Page[PartnerHealthOut](
        items=[PartnerHealthOut.model_validate(reads.health_out(r)) for r in rows],
        next_cursor=next_cursor, total_count=total)


@health_router.get("/{partner_id:uuid}", summary="A partner's scorecard",
                   description="Vendor keys only. One read: the partner's health score and "
                   "band with every pillar and measure (its value, its points, its share of "
                   "the score and the newest facts behind it, each naming its record and "
                   "event), the trend, the churn-risk and growth estimates with their "
                   "drivers, PSAT and NPS over the period (with the sample size), the KPIs of "
                   "the period and the tier progress.",
                   responses=problem_responses(404))
async def get_scorecard(partner_id: uuid.UUID, session: Session, caller: Caller,
                        period_from: From = None, period_to: To = None) -> ScorecardOut:
    _reader(caller)
    start, end = _period(period_from, period_to)
    return ScorecardOut.model_validate(await reads.scorecard(session, partner_id, start, end))


@health_router.get("/{partner_id:uuid}/history", summary="A partner's health by day",
                   description="Vendor keys only. The score, band, pillars and estimates of "
                   "each day it was scored, newest first.",
                   responses=problem_responses(404))
async def list_history(partner_id: uuid.UUID, session: Session, caller: Caller,
                       query: Annotated[ListQuery, Depends(reads.HISTORY.query)]
                       ) -> Page[HealthHistoryOut]:
    _reader(caller)
    rows, next_cursor, total = await reads.history_page(session, partner_id, query)
    t = service.decimal_text
    return Page[HealthHistoryOut](
        items=[HealthHistoryOut(computed_on=r.computed_on, score=t(r.score), band=r.band,
                                model_version=r.model_version, pillars=r.pillars,
                                churn_risk=t(r.churn_risk), growth=t(r.growth)) for r in rows],
        next_cursor=next_cursor, total_count=total)


@programme_router.get("", summary="The programme's health by type, tier or country",
                      description="Vendor keys only. Per group: the partners scored in the "
                      "period (each by its last score in it), their mean score and bands, "
                      "their mean churn risk and how many are above the threshold now, and "
                      "PSAT and NPS over the period.")
async def programme_health(session: Session, caller: Caller,
                           group_by: Annotated[ProgrammeGrouping, Query(
                               description="What to group partners by")] = (
                               ProgrammeGrouping.tier),
                           period_from: From = None, period_to: To = None
                           ) -> ProgrammeHealthOut:
    _reader(caller)
    start, end = _period(period_from, period_to)
    version, _, _ = await service.current_model(session)
    return ProgrammeHealthOut(group_by=group_by, period_from=start, period_to=end,
                              model_version=version,
                              groups=await reads.programme(session, group_by, start, end))
