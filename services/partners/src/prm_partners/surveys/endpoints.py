"""Routes of the surveys part: satisfaction answers (PSAT, partner NPS), the survey tool's
signed intake, a partner's results, and the campaigns that invite partners' contacts."""

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response
from sqlalchemy.ext.asyncio import AsyncSession

from prm_partners.declaration import SURVEY_INTAKE
from prm_partners.surveys import campaigns, service
from prm_partners.surveys.listing import SURVEY_CAMPAIGNS, SURVEY_RESPONSES
from prm_partners.surveys.models import SurveyCampaign, SurveyResponse
from prm_partners.surveys.schemas import (
    CampaignIn,
    CampaignOut,
    CampaignPatch,
    SatisfactionOut,
    SurveyAnswerIn,
    SurveyIntakeIn,
    SurveyResponseOut,
)
from prm_platform.http import (
    Caller,
    IdempotencyKeyHeader,
    IfMatchHeader,
    Session,
    etag,
    resource_headers,
    service_router,
)
from prm_platform.listing import ListQuery, Page
from prm_platform.problems import problem_responses
from prm_platform.security import Principal
from prm_platform.signatures import signed_delivery
from prm_platform.types import QueryDate

responses = service_router("/v1/survey-responses", "surveys")
intake = service_router("/v1/survey-intake", "surveys")
partners = service_router("/v1/partners", "surveys")
campaign_routes = service_router("/v1/survey-campaigns", "surveys")


def _out(row: SurveyResponse, response: Response) -> SurveyResponseOut:
    response.headers["ETag"] = etag(row.version)
    return SurveyResponseOut.model_validate(row)


async def _recorded(session: AsyncSession, caller: Principal, body: SurveyAnswerIn,
                    response: Response, *, intake: bool) -> SurveyResponseOut:
    """201 and its Location for a new answer, 200 for one updated by its `external_id`."""
    row, created = await service.record(session, caller, body, intake=intake)
    response.status_code = 201 if created else 200
    if created:
        response.headers["Location"] = f"/v1/survey-responses/{row.id}"
    return _out(row, response)


_ANSWERED: dict[int | str, dict[str, Any]] = {200: {
    "description": "Updated: an answer with this `external_id` was recorded before (nothing "
    "changes if the score and comment are the same)", "model": SurveyResponseOut},
    **resource_headers(201, location=True)}


@responses.post("", status_code=201, summary="Record a survey answer",
                description="A PSAT (1-5) or partner NPS (0-10) answer. Takes "
                "`partners:write`: a partner key for its own org only, a vendor key for the "
                "partner it names. `contact_id`, if given, must be a contact of that partner "
                "that was not erased. With an `external_id` (the survey tool's response id) "
                "already recorded for the partner, the answer's score and comment are updated "
                "instead (200). Emits `prm.partner.survey_answered.v1` when an answer is new "
                "or its score changed, without the comment.",
                responses={**problem_responses(404, 409, 422), **_ANSWERED})
async def record_survey_response(body: SurveyAnswerIn, response: Response, session: Session,
                                 caller: Caller, idempotency_key: IdempotencyKeyHeader = None
                                 ) -> SurveyResponseOut:
    return await _recorded(session, caller, body, response, intake=False)


@responses.get("", summary="List survey answers",
               description="Takes `partners:read`. A partner key sees its own org's answers "
               "only. In the order recorded unless sorted (by `answered_at`); filter by "
               "partners, kinds and a range of when answered; `updated_since` for a sync.")
async def list_survey_responses(
    session: Session, caller: Caller,
    query: Annotated[ListQuery, Depends(SURVEY_RESPONSES.query)],
) -> Page[SurveyResponseOut]:
    rows, next_cursor, total = await service.list_page(session, caller, query)
    return Page[SurveyResponseOut](items=[SurveyResponseOut.model_validate(r) for r in rows],
                                   next_cursor=next_cursor, total_count=total)


@responses.get("/{response_id:uuid}", summary="Get a survey answer",
               description="Takes `partners:read`; a partner key only its own org's "
               "(another org's is a 404).",
               responses={**problem_responses(404), **resource_headers()})
async def get_survey_response(response_id: uuid.UUID, response: Response, session: Session,
                              caller: Caller) -> SurveyResponseOut:
    return _out(await service.get(session, caller, response_id), response)


signed = signed_delivery(
    "Survey-Signature", SURVEY_INTAKE, "survey_secret",
    lambda: service.IntakeNotConfigured("the survey intake has no signing secret configured "
                                        "(PRM_PARTNERS_SURVEY_SECRET)"))


@intake.post("", status_code=201, summary="Deliver a survey answer (signed intake)",
             description="For the survey tool: a vendor key that may do nothing else "
             "(`survey_intake:write`), and every delivery signed with the shared secret "
             "(`Survey-Signature`, see docs/surveys.md): a missing or forged signature, or one "
             "whose time is more than five minutes from ours, is a 403 "
             "(`/problems/invalid-signature`); without a secret configured every delivery is "
             "refused (403, `/problems/survey-intake-not-configured`). The answer names its "
             "partner and the tool's response id (`external_id`): a delivery of an id already "
             "recorded updates the score and comment (200), and a replay of the same delivery "
             "changes nothing and emits nothing.",
             dependencies=[Depends(signed)],
             responses={**problem_responses(403, 409, 422), **_ANSWERED})
async def deliver_survey_response(body: SurveyIntakeIn, response: Response, session: Session,
                                  caller: Caller, idempotency_key: IdempotencyKeyHeader = None
                                  ) -> SurveyResponseOut:
    return await _recorded(session, caller, body, response, intake=True)


@partners.get("/{partner_id:uuid}/satisfaction", summary="Get a partner's satisfaction",
              description="Its partner NPS (promoters 9-10, passives 7-8, detractors 0-6; NPS "
              "= % promoters − % detractors, one decimal) and PSAT (mean, two decimals, and "
              "the share of 4-5 answers) over the answers given in `[from, to)` (UTC days; "
              "90 days unless both are given: the last 90, today included, if neither is, "
              "else the 90 from `from` or up to `to`), each with its sample size and "
              "`low_sample` under 30 answers. A partner key sees its own org's.",
              responses=problem_responses(404, 422))
async def get_partner_satisfaction(
    partner_id: uuid.UUID, session: Session, caller: Caller,
    from_date: Annotated[QueryDate | None, Query(
        alias="from", description="The period's first day (included)")] = None,
    to_date: Annotated[QueryDate | None, Query(
        alias="to", description="The day after the period's last (excluded)")] = None,
) -> SatisfactionOut:
    return await service.satisfaction(session, caller, partner_id, from_date, to_date)


async def _campaign_out(session: AsyncSession, campaign: SurveyCampaign, response: Response
                        ) -> CampaignOut:
    response.headers["ETag"] = etag(campaign.version)
    return (await campaigns.outs(session, [campaign]))[0]


_CAMPAIGNS = ("Vendor keys only (`survey_campaigns:read`, `survey_campaigns:write`). The "
              "service sends no e-mail: each invitation is announced by "
              "`prm.partner.survey_requested.v1` (with the contact's id and e-mail address) "
              "for the survey tool, subscribed by a webhook, to send (docs/surveys.md).")


@campaign_routes.post("", status_code=201, summary="Create a survey campaign",
                      description="Which contacts (by role) of which partners (by type, tier, "
                      "status) are invited to which survey (PSAT or NPS): every `every_days` "
                      "days (7-730), or after an event (`onboarding_completed`, or "
                      "`claim_paid`: a payout of the partner's incentives paid), `delay_days` "
                      "after it. A contact invited by any campaign within `min_days_between` "
                      "days (90 by default) is not invited again. " + _CAMPAIGNS,
                      responses={**problem_responses(422),
                                 **resource_headers(201, location=True)})
async def create_survey_campaign(body: CampaignIn, response: Response, session: Session,
                                 caller: Caller, idempotency_key: IdempotencyKeyHeader = None
                                 ) -> CampaignOut:
    campaign = await campaigns.create(session, caller, body)
    response.headers["Location"] = f"/v1/survey-campaigns/{campaign.id}"
    return await _campaign_out(session, campaign, response)


@campaign_routes.get("", summary="List the survey campaigns",
                     description="In creation order unless sorted (`sort=name`); filter by "
                     "kind, trigger and whether running (`active`); `updated_since` for a "
                     "sync. Each with its invitations' counts. " + _CAMPAIGNS)
async def list_survey_campaigns(
    session: Session, caller: Caller,
    query: Annotated[ListQuery, Depends(SURVEY_CAMPAIGNS.query)],
) -> Page[CampaignOut]:
    rows, next_cursor, total = await campaigns.list_page(session, caller, query)
    return Page[CampaignOut](items=await campaigns.outs(session, rows),
                             next_cursor=next_cursor, total_count=total)


@campaign_routes.get("/{campaign_id:uuid}", summary="Get a survey campaign",
                     description="With its response rate: invitations sent (`invited`), "
                     "waiting for their delay (`pending`) and answered (answers naming their "
                     "`invitation_id`). The ETag is the campaign's version, for If-Match; the "
                     "counts are not part of it. " + _CAMPAIGNS,
                     responses={**problem_responses(404), **resource_headers()})
async def get_survey_campaign(campaign_id: uuid.UUID, response: Response, session: Session,
                              caller: Caller) -> CampaignOut:
    return await _campaign_out(session, await campaigns.get(session, caller, campaign_id),
                               response)


@campaign_routes.patch("/{campaign_id:uuid}", summary="Change or pause a survey campaign",
                       description="Only the fields sent change (`active: false` pauses it: "
                       "it invites no one until resumed). The trigger is checked whole after "
                       "the change (422). Invitations already made stay. " + _CAMPAIGNS,
                       responses={**problem_responses(404, 412, 422), **resource_headers()})
async def update_survey_campaign(campaign_id: uuid.UUID, body: CampaignPatch,
                                 response: Response, session: Session, caller: Caller,
                                 if_match: IfMatchHeader = None) -> CampaignOut:
    campaign = await campaigns.update(session, caller, campaign_id, body, if_match)
    return await _campaign_out(session, campaign, response)


routers: list[APIRouter] = [responses, intake, partners, campaign_routes]
