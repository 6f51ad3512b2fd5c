import uuid
from typing import Annotated

from fastapi import Body, Depends, Request, Response

from prm_partners.applications import service
from prm_partners.applications.listing import APPLICATIONS
from prm_partners.applications.models import IdealPartnerProfile, PartnerApplication
from prm_partners.applications.schemas import (
    ApplicationDecision,
    ApplicationOut,
    ApplicationSubmit,
    IdealPartnerProfileIn,
    IdealPartnerProfileOut,
)
from prm_partners.declaration import APPLICATIONS_READ
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
from prm_platform.ratelimits import SharedRateLimiter
from prm_platform.security import Principal

applications = service_router("/v1/partner-applications", "applications")
profile = service_router("/v1/ideal-partner-profile", "applications")
routers = [applications, profile]


def _out(application: PartnerApplication, viewer: Principal,
         response: Response | None = None, partner_name: str | None = None) -> ApplicationOut:
    if response is not None:
        response.headers["ETag"] = etag(application.version)
    reviewer = viewer.has_scope(APPLICATIONS_READ)
    return ApplicationOut(
        id=application.id, company_name=application.company_name, type=application.type,
        country=application.country, countries_served=application.countries_served,
        specialisations=application.specialisations,
        website_domain=application.website_domain, employees=application.employees,
        contact=application.contact if reviewer else None,
        message=application.message if reviewer else None, status=application.status,
        fit={"score": application.fit_score, **application.fit} if reviewer else None,
        decision_reason=application.decision_reason, decided_at=application.decided_at,
        partner_id=application.partner_id, partner_name=partner_name,
        version=application.version,
        created_at=application.created_at, updated_at=application.updated_at)


async def _intake_limit(request: Request, caller: Principal) -> None:
    """A key that may only submit (the public intake key) gets a budget of its own, shared by
    every replica."""
    if caller.has_scope(APPLICATIONS_READ):
        return
    state = request.app.state
    if getattr(state, "intake_limiter", None) is None:
        state.intake_limiter = SharedRateLimiter("applications", state.settings.intake_per_minute,
                                                 lambda: state.autocommit(), "applications")
    await state.intake_limiter.take(caller.subject)


@applications.post(
    "", status_code=201, summary="Apply to the partner programme",
    description="For a prospect's sign-up form, through a key that holds only "
    "`partner_applications:write` (the public intake key; its own rate limit, a 429 with "
    "`Retry-After` beyond it). The application is scored against the Ideal Partner Profile "
    "at once; the intake key's answer leaves out the score and the contact. A second "
    "application for a website under review is a 409. Emits "
    "`prm.partner_application.submitted.v1`.",
    responses={**problem_responses(409, 429), **resource_headers(201, location=True)})
async def submit_application(body: ApplicationSubmit, request: Request, response: Response,
                             session: Session, caller: Caller,
                             idempotency_key: IdempotencyKeyHeader = None) -> ApplicationOut:
    await _intake_limit(request, caller)
    application = await service.submit(session, caller, body)
    response.headers["Location"] = f"/v1/partner-applications/{application.id}"
    return _out(application, caller, response)


@applications.get("", summary="List applications",
                  description="Vendor keys with `partner_applications:read`. In submission "
                  "order unless sorted; filter by status, type, countries based in and served, "
                  "specialisations, the partner created, ranges of fit score and of submission "
                  "and decision times; search by company name or website. Review the best fits "
                  "first with `status=submitted&fit_score[gte]=70&sort=-fit_score`.")
async def list_applications(session: Session, caller: Caller,
                            query: Annotated[ListQuery, Depends(APPLICATIONS.query)]
                            ) -> Page[ApplicationOut]:
    rows, next_cursor, total, names = await service.list_page(session, caller, query)
    return Page[ApplicationOut](
        items=[_out(a, caller, partner_name=names.get(a.partner_id) if a.partner_id else None)
               for a in rows],
        next_cursor=next_cursor, total_count=total)


@applications.get("/{application_id:uuid}", summary="Get an application",
                  description="With its fit score and the reason behind each criterion's "
                  "points.", responses={**problem_responses(404), **resource_headers()})
async def get_application(application_id: uuid.UUID, response: Response, session: Session,
                          caller: Caller) -> ApplicationOut:
    application = await service.get(session, caller, application_id)
    return _out(application, caller, response,
                await service.partner_name(session, application.partner_id))


def _decision(action: str, approve: bool, summary: str, description: str) -> None:
    async def endpoint(application_id: uuid.UUID, response: Response, session: Session,
                       caller: Caller, body: Annotated[ApplicationDecision | None, Body()] = None,
                       if_match: IfMatchHeader = None,
                       idempotency_key: IdempotencyKeyHeader = None) -> ApplicationOut:
        application = await service.decide(session, caller, application_id, approve,
                                           body or ApplicationDecision(), if_match)
        return _out(application, caller, response,
                    await service.partner_name(session, application.partner_id))

    applications.add_api_route(
        f"/{{application_id:uuid}}/{action}", endpoint, methods=["POST"],
        name=f"{action}_application", summary=summary,
        description=description + " Needs `partner_applications:read` and `partners:write`; "
        "an application decided already is a 409. Emits "
        "`prm.partner_application.decided.v1`.", response_model=ApplicationOut,
        responses={**problem_responses(404, 409, 412), **resource_headers()})


_decision("approve", True, "Approve an application",
          "Creates the partner in `onboarding` (emitting `prm.partner.created.v1`, which starts "
          "its onboarding plan) and links it as `partner_id`.")
_decision("decline", False, "Decline an application", "A `reason` is required.")


def _profile_out(found: IdealPartnerProfile | None, response: Response) -> IdealPartnerProfileOut:
    version = found.version if found else 0
    response.headers["ETag"] = etag(version)
    return IdealPartnerProfileOut(criteria=found.criteria if found else [], version=version,
                      updated_at=found.updated_at if found else None)


@profile.get("", summary="Get the Ideal Partner Profile",
             description="The weighted criteria applications are scored by (vendor keys "
             "only). Version 0 with no criteria until one is set.",
             responses=resource_headers())
async def get_profile(response: Response, session: Session, caller: Caller
                      ) -> IdealPartnerProfileOut:
    return _profile_out(await service.read_profile(session, caller), response)


@profile.put("", summary="Set the Ideal Partner Profile",
             description="Replaces the criteria (vendor keys with `programme:write`). "
             "Applications already scored keep their score and the version it was computed "
             "against; new ones use this one. If-Match takes the version read.",
             responses={**problem_responses(412), **resource_headers()})
async def set_profile(body: IdealPartnerProfileIn, response: Response, session: Session,
                      caller: Caller, if_match: IfMatchHeader = None
                      ) -> IdealPartnerProfileOut:
    return _profile_out(await service.set_profile(session, caller, body, if_match), response)
