import uuid
from typing import Annotated

from fastapi import APIRouter, Body, Depends, Query, Request, Response
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from prm_deals.registrations import service
from prm_deals.registrations.models import Deal
from prm_deals.registrations.schemas import (
    ConflictReport,
    CustomerCheck,
    DealOut,
    DealRegistration,
    DealStatus,
)
from prm_platform.http import (
    IdempotencyKeyHeader,
    ServiceRoute,
    Transactions,
    autocommit,
    etag,
    request_session,
    resource_headers,
    single_statement,
    transactions,
)
from prm_platform.pagination import Page, PageRequest, page_request
from prm_platform.problems import problem_responses
from prm_platform.security import Principal, current_principal

router = APIRouter(prefix="/v1/deals", tags=["deals"], route_class=ServiceRoute,
                   responses=problem_responses(400, 401, 403, 422))

Session = Annotated[AsyncSession, Depends(request_session)]
Autocommit = Annotated[AsyncConnection, Depends(autocommit)]
Begin = Annotated[Transactions, Depends(transactions)]
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


def _out(deal: Deal, response: Response, caller: Principal) -> DealOut:
    response.headers["ETag"] = etag(deal.version)
    return DealOut.of(deal, caller)


_REGISTER_DESCRIPTION = """A partner claims a customer opportunity. Only partners that are
`active` may register.

The customer is checked for conflicts at once, in the registering transaction and under a lock
on its blocking keys (its normalised name and registrable domain), so two partners registering
one customer at the same instant cannot both pass: against other partners' open registrations
within their protection period and against the vendor's direct accounts, by registrable domain
and by name after normalisation (legal forms, case, punctuation, diacritics, scripts, `&`/`and`),
country-aware. The answer lists every conflict with a score and its reasons, and the decision:

- `submitted`: no conflict; the registration protects the partner's claim for the protection
  period;
- `rejected`: another partner registered the same customer first (first come, first served);
- `in_review`: a lesser match, or a named account of the vendor; the channel team decides.

Sending the same `external_id` again answers `200` with the registration already made.
Emits `prm.deal.registered.v1`."""


@router.post("", status_code=201, summary="Register a deal", response_model=DealOut,
             description=_REGISTER_DESCRIPTION,
             responses={**_REGISTER_PROBLEMS, **resource_headers(201, location=True),
                        200: {"description": "A registration with this `external_id` was "
                              "already made by the partner: it is returned as it stands.",
                              "model": DealOut}})
@single_statement
async def register_deal(
    body: Annotated[DealRegistration, Body(openapi_examples=_REGISTRATION_EXAMPLES)],
    request: Request,
    begin: Begin,
    caller: Caller,
    idempotency_key: IdempotencyKeyHeader = None,
) -> Response:
    def answer(deal: Deal, status: int) -> Response:
        return Response(DealOut.of(deal, caller).model_dump_json(), status_code=status,
                        media_type="application/json",
                        headers={"Location": f"/v1/deals/{deal.id}",
                                 "ETag": etag(deal.version)})

    return await service.register(begin, caller, body, request.state.idempotency, answer,
                                  request.app.state.settings.protection_days)


@router.post("/conflict-check", summary="Check a customer for conflicts (dry run)",
             description="What registering this customer would find and decide now, without "
             "registering it: for portals that warn before a partner submits. Nothing is "
             "written. Partner keys see other partners' registrations without their ids, and "
             "a direct account only as a named account of the vendor.",
             responses=problem_responses(422))
@single_statement
async def check_conflicts(
    body: Annotated[CustomerCheck, Body()], connection: Autocommit, caller: Caller,
    idempotency_key: IdempotencyKeyHeader = None,
) -> ConflictReport:
    return await service.check(connection, caller, body)


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
    return Page[DealOut](items=[DealOut.of(d, caller) for d in items], next_cursor=next_cursor)


@router.get("/{deal_id:uuid}", summary="Get a deal registration",
            description="A partner key sees only its own org's deals; another org's is a 404.",
            responses={**problem_responses(404), **resource_headers()})
async def get_deal(deal_id: uuid.UUID, response: Response, session: Session, caller: Caller
                   ) -> DealOut:
    return _out(await service.get(session, caller, deal_id), response, caller)
