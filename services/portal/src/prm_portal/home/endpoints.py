import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request

from prm_platform.http import Caller, ServiceRoute, Session
from prm_platform.problems import problem_responses
from prm_portal.home import service
from prm_portal.home.schemas import PartnerHome

router = APIRouter(prefix="/v1/partner-home", tags=["partner home"], route_class=ServiceRoute,
                   responses=problem_responses(401, 403, 404, 422))


@router.get("", summary="A partner's home screen",
            description="Everything a partner's home shows, in one call: its card and tier "
            "(with the criteria of the last change), onboarding, certifications expiring, "
            "open registrations and those whose protection ends soon, MDF allocated and "
            "available per currency with requests and claims awaiting a decision, rebates "
            "and SPIFFs earned, and the last and next payout. Each section says the time of "
            "the last event it reflects (`as_of`) and is null where the caller may not read "
            "its context. A partner's people see their own org's; vendor staff name one with "
            "`partner_id`.")
async def partner_home(
        request: Request, session: Session, caller: Caller,
        partner_id: Annotated[uuid.UUID | None, Query(
            description="The partner (vendor staff; a partner's own by default)")] = None,
) -> PartnerHome:
    settings = request.app.state.settings
    return await service.home(session, caller, partner_id,
                              protection_days=settings.protection_notice_days,
                              certification_days=settings.certification_notice_days)
