import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from prm_attribution.touchpoints import service
from prm_attribution.touchpoints.schemas import TouchpointIn, TouchpointOut
from prm_platform.http import (
    Caller,
    IdempotencyKeyHeader,
    ServiceRoute,
    Session,
    etag,
    resource_headers,
)
from prm_platform.pagination import Page, PageRequest, page_request
from prm_platform.problems import problem_responses

router = APIRouter(prefix="/v1/touchpoints", tags=["touchpoints"], route_class=ServiceRoute,
                   responses=problem_responses(400, 401, 403, 422))


@router.post("", status_code=201, summary="Record a touchpoint",
             description="An influence that no event tells (a consultant's workshop, an ISV's "
             "integration, an SI's implementation plan, co-selling), on a deal or on a "
             "customer, with its evidence. The deals it counts for are recomputed at once. "
             "A partner key records its own org's touches on its own deals or on customers.",
             responses={**problem_responses(404, 409), **resource_headers(201, location=True)})
async def record_touchpoint(body: TouchpointIn, response: Response, session: Session,
                            caller: Caller, idempotency_key: IdempotencyKeyHeader = None
                            ) -> TouchpointOut:
    touch = await service.record(session, caller, body)
    response.headers["Location"] = f"/v1/touchpoints/{touch.id}"
    response.headers["ETag"] = etag(1)
    return TouchpointOut.model_validate(touch)


@router.get("", summary="List touchpoints",
            description="Oldest first. A partner key sees its own org's touchpoints only.")
async def list_touchpoints(
    session: Session, caller: Caller, page: Annotated[PageRequest, Depends(page_request)],
    partner_id: Annotated[uuid.UUID | None, Query()] = None,
    deal_id: Annotated[uuid.UUID | None, Query()] = None,
) -> Page[TouchpointOut]:
    rows = await service.list_page(session, caller, page, partner_id=partner_id,
                                   deal_id=deal_id)
    items, cursor = page.page(rows)
    return Page[TouchpointOut](items=[TouchpointOut.model_validate(r) for r in items],
                               next_cursor=cursor)


@router.get("/{touchpoint_id:uuid}", summary="Get a touchpoint",
            description="Its partner, deal or customer, kind, time and evidence; a partner "
            "key sees its own org's only.",
            responses={**problem_responses(404), **resource_headers()})
async def get_touchpoint(touchpoint_id: uuid.UUID, response: Response, session: Session,
                         caller: Caller) -> TouchpointOut:
    touch = await service.get(session, caller, touchpoint_id)
    response.headers["ETag"] = etag(1)
    return TouchpointOut.model_validate(touch)
