"""A partner's activity, and the programme policy that says when it is inactive."""

import datetime as dt
import logging
import time
import uuid

from fastapi import APIRouter, Request, Response

from prm_partners.activity import service
from prm_partners.activity.models import ProgrammePolicy
from prm_partners.activity.schemas import PartnerActivityOut, ProgrammePolicyIn, ProgrammePolicyOut
from prm_platform.http import (
    Caller,
    IfMatchHeader,
    Session,
    etag,
    resource_headers,
    service_router,
)
from prm_platform.problems import problem_responses

log = logging.getLogger("prm.partners.activity")

# Calls remembered per process, so a busy key costs no database write at all between two.
_SEEN_LIMIT = 100_000


async def record_api_call(request: Request, caller: Caller) -> None:
    """FastAPI dependency: a partner key's call is a sign of its org's activity. Written at
    most once an hour per partner and process (and per hour in the table), in a short
    transaction of its own, so that even a refused request counts and the request's own unit
    of work is untouched."""
    partner_id = caller.partner_id
    if not caller.is_partner or partner_id is None:
        return
    seen: dict[uuid.UUID, float] | None = getattr(request.app.state, "partner_calls_seen",
                                                   None)
    if seen is None:
        seen = request.app.state.partner_calls_seen = {}
    now = time.monotonic()
    last = seen.get(partner_id)
    if last is not None and now - last < service.API_CALL_RESOLUTION.total_seconds():
        return
    try:
        async with request.app.state.sessionmaker() as session:
            await service.record_api_call(session, partner_id, dt.datetime.now(dt.UTC))
            await session.commit()
    except Exception:  # noqa: BLE001 - bookkeeping never fails the call itself
        log.warning("could not record partner %s's API call", partner_id, exc_info=True)
        return
    if len(seen) >= _SEEN_LIMIT:
        seen.clear()
    seen[partner_id] = now


def _router(prefix: str) -> APIRouter:
    return service_router(prefix, "activity")


partners = _router("/v1/partners")
policy = _router("/v1/programme-policy")


@partners.get("/{partner_id:uuid}/activity", summary="Get a partner's activity",
              description="Its first and last deal registrations, last certification earned "
              "and last API call, its time to first deal (from its first activation), and "
              "whether it is flagged inactive under the programme policy. A partner key sees "
              "its own org's; another org's is a 404.",
              responses=problem_responses(404))
async def get_partner_activity(partner_id: uuid.UUID, session: Session, caller: Caller
                               ) -> PartnerActivityOut:
    return await service.activity_of(session, caller, partner_id)


def _policy_out(row: ProgrammePolicy, response: Response) -> ProgrammePolicyOut:
    response.headers["ETag"] = etag(row.version)
    return ProgrammePolicyOut.model_validate(row)


@policy.get("", summary="Get the programme policy",
            description="When an active partner counts as inactive. The ETag is its version.",
            responses=resource_headers())
async def get_programme_policy(response: Response, session: Session, caller: Caller
                               ) -> ProgrammePolicyOut:
    return _policy_out(await service.get_policy(session, caller), response)


@policy.put("", summary="Change the programme policy",
            description="Vendor keys only. An active partner with no deal registered, no "
            "certification earned and no API call for `inactivity_days` is flagged "
            "(`prm.partner.inactivity_flagged.v1`) by an hourly check, once per quiet "
            "stretch.",
            responses={**problem_responses(412), **resource_headers()})
async def update_programme_policy(body: ProgrammePolicyIn, response: Response,
                                  session: Session, caller: Caller,
                                  if_match: IfMatchHeader = None) -> ProgrammePolicyOut:
    return _policy_out(await service.put_policy(session, caller, body, if_match), response)


routers: list[APIRouter] = [partners, policy]
