import uuid
from typing import Annotated

from fastapi import APIRouter, Body, Depends, Query, Request, Response
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from prm_deals.registrations import service
from prm_deals.registrations.models import Deal
from prm_deals.registrations.schemas import DealOut, DealRegistration, DealStatus
from prm_platform.http import (
    IdempotencyKeyHeader,
    ServiceRoute,
    autocommit,
    etag,
    request_session,
    resource_headers,
    single_statement,
)
from prm_platform.pagination import Page, PageRequest, page_request
from prm_platform.problems import problem_responses
from prm_platform.security import Principal, current_principal

router = APIRouter(prefix="/v1/deals", tags=["deals"], route_class=ServiceRoute,
                   responses=problem_responses(400, 401, 403, 422))

Session = Annotated[AsyncSession, Depends(request_session)]
Autocommit = Annotated[AsyncConnection, Depends(autocommit)]
Caller = Annotated[Principal, Depends(current_principal)]

_REGISTER_PROBLEMS = problem_responses(409, 422)
_REGISTER_PROBLEMS[422]["description"] = (
    "Validation failed, or the partner is unknown or not active "
    "(`/problems/partner-not-eligible`)"
)

_REGISTRATION_EXAMPLES = {
    "partner-key": {
        "summary": "A partner key registers for its own org",
        "value": {
            "customer": {"name": "Globex Corporation", "domain": "globex.example",
                         "country": "FR"},
            "amount": {"amount": "48000.00", "currency": "EUR"},
            "expected_close_date": "2027-03-31",
        },
    },
    "vendor-key": {
        "summary": "A vendor key registers on a partner's behalf",
        "value": {
            "partner_id": "0193c1c2-7e1a-7d2b-9a51-6f3f1c2d4e5f",
            "customer": {"name": "Initech KK", "domain": "initech.example", "country": "JP"},
            "amount": {"amount": "5200000", "currency": "JPY"},
            "expected_close_date": "2027-06-30",
            "notes": "Introduced by the partner at a trade fair.",
        },
    },
}


def _out(deal: Deal, response: Response) -> DealOut:
    response.headers["ETag"] = etag(deal.version)
    return DealOut.of(deal)


def _created(deal: Deal) -> Response:
    return Response(DealOut.of(deal).model_dump_json(), status_code=201,
                    media_type="application/json",
                    headers={"Location": f"/v1/deals/{deal.id}", "ETag": etag(deal.version)})


@router.post("", status_code=201, summary="Register a deal", response_model=DealOut,
             description="A partner claims a customer opportunity. Only partners that are "
             "`active` may register. The deal starts `registered`; emits "
             "`prm.deal.registered.v1`.",
             responses={**_REGISTER_PROBLEMS, **resource_headers(201, location=True)})
@single_statement
async def register_deal(
    body: Annotated[DealRegistration, Body(openapi_examples=_REGISTRATION_EXAMPLES)],
    request: Request,
    connection: Autocommit,
    caller: Caller,
    idempotency_key: IdempotencyKeyHeader = None,
) -> Response:
    return await service.register(connection, caller, body, request.state.idempotency,
                                  created=_created)


@router.get("", summary="List deal registrations",
            description="Newest last, cursor-paginated. A partner key sees only its own org's "
            "deals.")
async def list_deals(
    session: Session,
    caller: Caller,
    page: Annotated[PageRequest, Depends(page_request)],
    partner_id: Annotated[uuid.UUID | None, Query(description="Only this partner org's")] = None,
    status: Annotated[DealStatus | None, Query(description="Only this status")] = None,
) -> Page[DealOut]:
    rows = await service.list_page(session, caller, page, partner_id=partner_id, status=status)
    items, next_cursor = page.page(rows)
    return Page[DealOut](items=[DealOut.of(d) for d in items], next_cursor=next_cursor)


@router.get("/{deal_id}", summary="Get a deal registration",
            description="A partner key sees only its own org's deals; another org's is a 404.",
            responses={**problem_responses(404), **resource_headers()})
async def get_deal(deal_id: uuid.UUID, response: Response, session: Session, caller: Caller
                   ) -> DealOut:
    return _out(await service.get(session, caller, deal_id), response)
