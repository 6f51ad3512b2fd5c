import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Response

from prm_attribution.touchpoints import service
from prm_attribution.touchpoints.listing import TOUCHPOINTS
from prm_attribution.touchpoints.schemas import TouchpointIn, TouchpointOut
from prm_platform.http import (
    Caller,
    IdempotencyKeyHeader,
    ServiceRoute,
    Session,
    etag,
    resource_headers,
)
from prm_platform.listing import ListQuery, Page
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
    [out] = await service.described(session, [touch])
    return out


@router.get("", summary="List touchpoints",
            description="In the order recorded unless `sort` says otherwise (`occurred_at`: "
            "the order they happened). Filters: partner, deal, customer domain, kind, source "
            "(`api` or `event`), MDF activity, campaign; ranges on `occurred_at` and "
            "`recorded_at`. Each with its partner's name. Touchpoints never change once "
            "recorded, so there is no change feed: pull new ones with `recorded_at[gte]`. A "
            "partner key sees its own org's touchpoints only.")
async def list_touchpoints(session: Session, caller: Caller,
                           query: Annotated[ListQuery, Depends(TOUCHPOINTS.query)]
                           ) -> Page[TouchpointOut]:
    rows, cursor, total = await service.list_page(session, caller, query)
    return Page[TouchpointOut](items=await service.described(session, rows),
                               next_cursor=cursor, total_count=total)


@router.get("/{touchpoint_id:uuid}", summary="Get a touchpoint",
            description="Its partner, deal or customer, kind, time and evidence; a partner "
            "key sees its own org's only.",
            responses={**problem_responses(404), **resource_headers()})
async def get_touchpoint(touchpoint_id: uuid.UUID, response: Response, session: Session,
                         caller: Caller) -> TouchpointOut:
    touch = await service.get(session, caller, touchpoint_id)
    response.headers["ETag"] = etag(1)
    [out] = await service.described(session, [touch])
    return out
