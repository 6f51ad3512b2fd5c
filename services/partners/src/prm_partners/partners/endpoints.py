import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from prm_partners.partners import service
from prm_partners.partners.schemas import (
    PartnerCreate,
    PartnerOut,
    PartnerStatus,
    PartnerType,
    PartnerUpdate,
)
from prm_platform.http import (
    Caller,
    IdempotencyKeyHeader,
    IfMatchHeader,
    ServiceRoute,
    Session,
    etag,
    resource_headers,
)
from prm_platform.pagination import Page, PageRequest, page_request
from prm_platform.problems import problem_responses
from prm_platform.types import CountryCode

router = APIRouter(prefix="/v1/partners", tags=["partners"], route_class=ServiceRoute,
                   responses=problem_responses(400, 401, 403, 422))



def _out(partner, response: Response) -> PartnerOut:
    response.headers["ETag"] = etag(partner.version)
    return PartnerOut.model_validate(partner)


@router.post("", status_code=201, summary="Create a partner organisation",
             description="Vendor keys only. The partner starts in `onboarding`; "
             "emits `prm.partner.created.v1`.",
             responses={**problem_responses(409), **resource_headers(201, location=True)})
async def create_partner(body: PartnerCreate, response: Response, session: Session,
                         caller: Caller, idempotency_key: IdempotencyKeyHeader = None
                         ) -> PartnerOut:
    partner = await service.create(session, caller, body)
    response.headers["Location"] = f"/v1/partners/{partner.id}"
    return _out(partner, response)


@router.get("", summary="List partner organisations",
            description="Newest last, cursor-paginated. A partner key sees only its own org.")
async def list_partners(
    session: Session,
    caller: Caller,
    page: Annotated[PageRequest, Depends(page_request)],
    status: Annotated[PartnerStatus | None, Query(description="Only this status")] = None,
    type: Annotated[PartnerType | None, Query(description="Only this partner type")] = None,
    country: Annotated[CountryCode | None, Query(description="Only this country")] = None,
) -> Page[PartnerOut]:
    rows = await service.list_page(session, caller, page, status=status, type=type,
                                   country=country)
    items, next_cursor = page.page(rows)
    return Page[PartnerOut](items=[PartnerOut.model_validate(p) for p in items],
                            next_cursor=next_cursor)


@router.get("/{partner_id}", summary="Get a partner organisation",
            description="A partner key sees only its own org; another org's is a 404. The "
            "ETag is the partner's version, for If-Match on updates and actions.",
            responses={**problem_responses(404), **resource_headers()})
async def get_partner(partner_id: uuid.UUID, response: Response, session: Session,
                      caller: Caller) -> PartnerOut:
    return _out(await service.get(session, caller, partner_id), response)


@router.patch("/{partner_id}", summary="Update a partner organisation",
              description="Changes only the fields sent. Partner keys may change only `name`. "
              "Emits `prm.partner.updated.v1` when something changed.",
              responses={**problem_responses(404, 409, 412), **resource_headers()})
async def update_partner(partner_id: uuid.UUID, body: PartnerUpdate, response: Response,
                         session: Session, caller: Caller, if_match: IfMatchHeader = None
                         ) -> PartnerOut:
    return _out(await service.update(session, caller, partner_id, body, if_match), response)


def _action(action: str, summary: str, description: str):
    async def endpoint(partner_id: uuid.UUID, response: Response, session: Session,
                       caller: Caller, if_match: IfMatchHeader = None,
                       idempotency_key: IdempotencyKeyHeader = None) -> PartnerOut:
        partner = await service.transition(session, caller, partner_id, action, if_match)
        return _out(partner, response)

    router.add_api_route(
        f"/{{partner_id}}/{action}", endpoint, methods=["POST"], name=f"{action}_partner",
        summary=summary, description=description + " Vendor keys only; emits "
        "`prm.partner.status_changed.v1`.", response_model=PartnerOut,
        responses={**problem_responses(404, 409, 412), **resource_headers()},
    )


_action("activate", "Activate a partner", "From `onboarding` or `suspended` to `active`.")
_action("suspend", "Suspend a partner", "From `active` to `suspended`.")
_action("terminate", "Terminate a partner",
        "From any status but `terminated` to `terminated`; final.")
