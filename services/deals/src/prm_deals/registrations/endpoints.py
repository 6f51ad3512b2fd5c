import datetime as dt
import uuid
from typing import Annotated, Literal

from fastapi import Body, Depends, Header, Query, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from prm_deals.config import Settings
from prm_deals.registrations import (
    batches,
    changes,
    coselling,
    lifecycle,
    repository,
    service,
)
from prm_deals.registrations.listing import ACTIVITIES, COLLABORATORS, DEALS
from prm_deals.registrations.models import AnyDeal, Deal
from prm_deals.registrations.schemas import (
    ActionRequest,
    ActivityOut,
    AssignRequest,
    CollaboratorIn,
    CollaboratorOut,
    ConflictReport,
    ConflictResolution,
    CustomerCheck,
    DealChanges,
    DealOut,
    DealRegistration,
    NoteIn,
    WinRequest,
    WinReversal,
)
from prm_platform.http import (
    Autocommit,
    Caller,
    IdempotencyKeyHeader,
    IfMatchHeader,
    Session,
    Transactions,
    etag,
    resource_headers,
    service_router,
    single_statement,
    transactions,
)
from prm_platform.listing import ListQuery, Page
from prm_platform.problems import Unprocessable, problem_responses
from prm_platform.security import Principal

router = service_router("/v1/deals", "deals")

Begin = Annotated[Transactions, Depends(transactions)]

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


Expand = Annotated[Literal["collaborators"] | None, Query(
    description="`collaborators`: each deal with the people working it (one more query for "
    "the whole answer).")]


async def _expanded(session: AsyncSession, deals: list[DealOut], expand: str | None
                    ) -> list[DealOut]:
    if expand == "collaborators" and deals:
        people = await coselling.collaborators_of(session, [d.id for d in deals])
        for deal in deals:
            deal.collaborators = [CollaboratorOut.model_validate(c) for c in people[deal.id]]
    return deals


async def _out(session: AsyncSession, deal: Deal, response: Response, caller: Principal
               ) -> DealOut:
    response.headers["ETag"] = etag(deal.version)
    return DealOut.of(deal, caller, await repository.partner_name(session, deal.partner_id))


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

Sending the same `external_id` again is an **update** of the registration already made, answered
`200`: while it is open (`submitted`, `in_review`, `approved`) the details the partner's system
sends replace its own (amount, products, deal type, expected close date, notes, private offer,
address, CRM ids; `prm.deal.updated.v1` when something changed); a closed one is answered as it
stands; another customer under the same `external_id` is a 409. It takes `If-Match` like any
update (the ETag of that registration; 412 when stale, or when there is no registration to
match); without it, the sync applies whatever it sends. `If-Match: *` makes the request an
update only. A retry under an `Idempotency-Key` already used replays the first answer.

Emits `prm.deal.registered.v1` (a registration) or `prm.deal.updated.v1` (an update)."""


@router.post("", status_code=201, summary="Register a deal", response_model=DealOut,
             description=_REGISTER_DESCRIPTION,
             responses={**_REGISTER_PROBLEMS, **problem_responses(412),
                        **resource_headers(201, location=True),
                        200: {"description": "A registration with this `external_id` was "
                              "already made by the partner: it is updated with what the "
                              "request changes while it is open (a closed one is returned "
                              "as it stands).", "model": DealOut}})
@single_statement
async def register_deal(
    body: Annotated[DealRegistration, Body(openapi_examples=_REGISTRATION_EXAMPLES)],
    request: Request,
    begin: Begin,
    caller: Caller,
    idempotency_key: IdempotencyKeyHeader = None,
    if_match: Annotated[str | None, Header(
        alias="If-Match", max_length=200, examples=['"3"'],
        description="The ETag of the registration made under this `external_id`: it is "
        "updated only at that version (412 otherwise, or when there is none).")] = None,
) -> Response:
    def answer(deal: AnyDeal, status: int, partner_name: str | None) -> Response:
        return Response(DealOut.of(deal, caller, partner_name).model_dump_json(),
                        status_code=status,
                        media_type="application/json",
                        headers={"Location": f"/v1/deals/{deal.id}",
                                 "ETag": etag(deal.version)})

    return await service.register(begin, caller, body, request.state.idempotency, answer,
                                  request.app.state.settings.protection_days, if_match)


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
            description="In registration order unless sorted; filter by partner, status, "
            "customer country, deal type, account executive, `external_id`, and ranges of "
            "close date, amount, protection end, close day and registration time; search the "
            "customer's name and domain with `q`; pull changes with `updated_since`. Each deal "
            "carries its partner's name. A partner key sees only its own org's deals.")
async def list_deals(session: Session, caller: Caller,
                     query: Annotated[ListQuery, Depends(DEALS.query)],
                     expand: Expand = None) -> Page[DealOut]:
    rows, next_cursor, total = await service.list_page(session, caller, query)
    items = [DealOut.of(deal, caller, name) for deal, name in rows]
    return Page[DealOut](items=await _expanded(session, items, expand),
                         next_cursor=next_cursor, total_count=total)


@router.get("/{deal_id:uuid}", summary="Get a deal registration",
            description="A partner key sees only its own org's deals; another org's is a 404. "
            "`expand=collaborators` answers the people working it too.",
            responses={**problem_responses(404), **resource_headers()})
async def get_deal(deal_id: uuid.UUID, response: Response, session: Session, caller: Caller,
                   expand: Expand = None) -> DealOut:
    out = await _out(session, await service.get(session, caller, deal_id), response, caller)
    return (await _expanded(session, [out], expand))[0]


_CHANGE_EXAMPLES = {
    "amount-and-date": {
        "summary": "The customer wants more seats, a month later",
        "value": {"amount": {"amount": "52000.00", "currency": "EUR"},
                  "products": [{"sku": "PLAT-SEAT", "quantity": 130,
                                "unit_price": {"amount": "400.00", "currency": "EUR"}}],
                  "expected_close_date": "2027-04-30"}},
    "amount-only": {
        "summary": "Only the amount's number (the currency stays)",
        "value": {"amount": {"amount": "45500.00"}}},
    "notes": {"summary": "Notes replaced (`null` removes them)",
              "value": {"notes": "The customer moved the decision to its April board."}},
}
_CHANGE_DESCRIPTION = f"""What the partner may still change while the registration is open
(`submitted`, `in_review`, `approved`): {", ".join(f"`{f}`" for f in changes.EDITABLE)}. A JSON
merge patch (RFC 7396; `application/merge-patch+json`, or `application/json` alike): the
members sent are changed, the others kept; `amount`'s members merge (`{{"amount": {{"amount":
"52000.00"}}}}` keeps the currency), `products` is replaced whole, `null` removes `notes`. The
result is checked as at registration: an amount more than zero within its currency's minor
units, products priced in the deal's currency, a new close date today or later (422).

The registering partner's keys, for its own org's deals (another org's is a 404), or vendor
keys. Send `If-Match` with the ETag you read (412 when stale), as for every update. A closed
registration is a `409 invalid-transition`. The customer, deal type and the rest are not
changed here (another customer is another registration).

The conflict check and the rules of engagement do not run again: the conflicts depend on the
customer only, and the decision stays the one made with the facts at registration; the change
is on the deal's timeline (`updated`) and announced by `prm.deal.updated.v1` (with the fields
that changed), where the channel team sees it. Nothing sent that changes nothing: `200`, no
new version, no event."""


@router.patch("/{deal_id:uuid}", summary="Change an open deal registration",
              description=_CHANGE_DESCRIPTION,
              responses={**problem_responses(404, 409, 412, 422), **resource_headers()},
              openapi_extra={"requestBody": {"content": {"application/json": {
                  "schema": {"$ref": "#/components/schemas/DealChanges"}}}}})
@single_statement
async def change_deal(
    deal_id: uuid.UUID,
    body: Annotated[DealChanges, Body(media_type="application/merge-patch+json",
                                      openapi_examples=_CHANGE_EXAMPLES)],
    begin: Begin,
    caller: Caller,
    if_match: IfMatchHeader = None,
) -> Response:
    def answer(deal: AnyDeal, status: int, partner_name: str | None) -> Response:
        return Response(DealOut.of(deal, caller, partner_name).model_dump_json(),
                        status_code=status,
                        media_type="application/json", headers={"ETag": etag(deal.version)})

    return await changes.change(begin, caller, deal_id, body, if_match, answer)


_ACTION_RESPONSES = {**problem_responses(404, 409, 412), **resource_headers()}
Optional = Annotated[ActionRequest | None, Body()]


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


@router.post("/{deal_id:uuid}/approve", summary="Approve a deal registration",
             description="Vendor keys only; from `submitted` or `in_review`. The partner's claim "
             "stays protected until `protected_until`. Emits `prm.deal.approved.v1`.",
             responses=_ACTION_RESPONSES)
async def approve_deal(deal_id: uuid.UUID, response: Response, session: Session, caller: Caller,
                       body: Optional = None, if_match: IfMatchHeader = None,
                       idempotency_key: IdempotencyKeyHeader = None) -> DealOut:
    deal = await lifecycle.act(session, caller, deal_id, "approve", if_match,
                               reason=body.reason if body else None)
    return await _out(session, deal, response, caller)


@router.post("/{deal_id:uuid}/reject", summary="Reject a deal registration",
             description="Vendor keys only; from `submitted`, `in_review` or `approved`, with a "
             "reason the partner reads. Emits `prm.deal.rejected.v1`.",
             responses=_ACTION_RESPONSES)
async def reject_deal(deal_id: uuid.UUID, body: ActionRequest, response: Response,
                      session: Session, caller: Caller, if_match: IfMatchHeader = None,
                      idempotency_key: IdempotencyKeyHeader = None) -> DealOut:
    deal = await lifecycle.act(session, caller, deal_id, "reject", if_match, reason=body.reason)
    return await _out(session, deal, response, caller)


@router.post("/{deal_id:uuid}/win", summary="Record a deal as won",
             description="The vendor, or the registering partner; from `approved`. Emits "
             "`prm.deal.won.v1` with the won amount (incentives and attribution act on it).",
             responses=_ACTION_RESPONSES)
async def win_deal(deal_id: uuid.UUID, response: Response, session: Session, caller: Caller,
                   body: Annotated[WinRequest | None, Body()] = None,
                   if_match: IfMatchHeader = None,
                   idempotency_key: IdempotencyKeyHeader = None) -> DealOut:
    deal = await service.get(session, caller, deal_id)
    won = body or WinRequest()
    if won.amount is not None and won.amount.currency != deal.currency:
        raise Unprocessable(f"the won amount is in the deal's currency ({deal.currency})",
                            errors=[{"location": "body", "field": "amount.currency",
                                     "message": f"must be {deal.currency}"}])
    amount = won.amount.value if won.amount is not None else deal.amount
    if amount <= 0:
        raise Unprocessable("a won amount is more than zero")
    closed_on = won.closed_on or dt.datetime.now(dt.UTC).date()
    deal = await lifecycle.act(session, caller, deal_id, "win", if_match, won=(amount, closed_on))
    return await _out(session, deal, response, caller)


@router.post("/{deal_id:uuid}/lose", summary="Record a deal as lost",
             description="The vendor, or the registering partner; from any open status. "
             "Emits `prm.deal.lost.v1`.",
             responses=_ACTION_RESPONSES)
async def lose_deal(deal_id: uuid.UUID, response: Response, session: Session, caller: Caller,
                    body: Optional = None, if_match: IfMatchHeader = None,
                    idempotency_key: IdempotencyKeyHeader = None) -> DealOut:
    deal = await lifecycle.act(session, caller, deal_id, "lose", if_match,
                               reason=body.reason if body else None)
    return await _out(session, deal, response, caller)


_REVERSAL_EXAMPLES = {
    "cancelled": {"summary": "The customer cancelled the booking",
                  "value": {"reason": "Booking cancelled by the customer before go-live."}},
    "refunded": {"summary": "The order was refunded",
                 "value": {"reason": "Order refunded in full (credit note CN-2027-0142)."}},
    "in-error": {"summary": "The win was recorded in error",
                 "value": {"reason": "Order entered in error against this registration; "
                           "it belongs to another opportunity."}},
}


@router.post("/{deal_id:uuid}/reverse-win", summary="Reverse a deal's win",
             description="Vendor keys only; from `won`, with a reason the partner reads (a "
             "booking cancelled, a refund, an order entered in error). The deal becomes "
             "`win_reversed`, which is final: it keeps the amount and close date it had been "
             "won with, and a sale made again later is a new registration. Emits "
             "`prm.deal.win_reversed.v1` with that amount and close date: the incentives "
             "service reverses the deal's rebate and SPIFF accruals on it.",
             responses=_ACTION_RESPONSES)
async def reverse_deal_win(
    deal_id: uuid.UUID,
    body: Annotated[WinReversal, Body(openapi_examples=_REVERSAL_EXAMPLES)],
    response: Response, session: Session, caller: Caller, if_match: IfMatchHeader = None,
    idempotency_key: IdempotencyKeyHeader = None,
) -> DealOut:
    deal = await lifecycle.act(session, caller, deal_id, "reverse-win", if_match,
                               reason=body.reason)
    return await _out(session, deal, response, caller)


@router.post("/{deal_id:uuid}/extend", summary="Extend a registration's protection",
             description="The vendor, or the registering partner; from any open status. Adds "
             "`PRM_DEALS_EXTENSION_DAYS` (30 by default) to the protection, at most "
             "`PRM_DEALS_MAX_EXTENSIONS` times (2); one more is a 409. A partner's request is "
             "decided by the rules of engagement for extensions (`applies_to: extension`): "
             "granted, refused (409 with the rule's reason), or sent to review "
             "(`extension_requested_at` set; the vendor's `extend` grants it). Emits "
             "`prm.deal.extended.v1` when granted.",
             responses=_ACTION_RESPONSES)
async def extend_deal(deal_id: uuid.UUID, request: Request, response: Response,
                      session: Session, caller: Caller, body: Optional = None,
                      if_match: IfMatchHeader = None,
                      idempotency_key: IdempotencyKeyHeader = None) -> DealOut:
    settings = _settings(request)
    deal = await lifecycle.act(session, caller, deal_id, "extend", if_match,
                               reason=body.reason if body else None,
                               extension_days=settings.extension_days,
                               max_extensions=settings.max_extensions)
    return await _out(session, deal, response, caller)


@router.post("/{deal_id:uuid}/resolve-conflict", summary="Resolve a conflict in this deal's "
             "favour",
             description="Vendor keys only. The channel team picks this registration: it is "
             "approved, and every other partner's open registration that conflicts with it is "
             "rejected with the reason. The `ETag` is the chosen deal's.",
             responses=_ACTION_RESPONSES)
async def resolve_conflict(deal_id: uuid.UUID, response: Response, session: Session,
                           caller: Caller, body: Optional = None,
                           if_match: IfMatchHeader = None,
                           idempotency_key: IdempotencyKeyHeader = None) -> ConflictResolution:
    winner, rejected = await lifecycle.resolve_conflict(
        session, caller, deal_id, if_match, body.reason if body else None)
    response.headers["ETag"] = etag(winner.version)
    return ConflictResolution(winner=DealOut.of(winner, caller),
                              rejected=[d.id for d in rejected])


@router.post("/{deal_id:uuid}/assign", summary="Assign the vendor's account executive",
             description="Vendor keys only.", responses=_ACTION_RESPONSES)
async def assign_deal(deal_id: uuid.UUID, body: AssignRequest, response: Response,
                      session: Session, caller: Caller, if_match: IfMatchHeader = None,
                      idempotency_key: IdempotencyKeyHeader = None) -> DealOut:
    deal = await coselling.assign(session, caller, deal_id, body.account_executive, if_match)
    return await _out(session, deal, response, caller)


@router.get("/{deal_id:uuid}/activities", summary="A deal's activity timeline",
            description="Oldest first, cursor-paginated: status changes, notes, collaborators. "
            "The vendor and the registering partner see the same timeline.",
            responses=problem_responses(404))
async def list_activities(deal_id: uuid.UUID, session: Session, caller: Caller,
                          query: Annotated[ListQuery, Depends(ACTIVITIES.query)]
                          ) -> Page[ActivityOut]:
    rows, next_cursor, total = await coselling.activities(session, caller, deal_id, query)
    return Page[ActivityOut](items=[ActivityOut.model_validate(a) for a in rows],
                             next_cursor=next_cursor, total_count=total)


@router.post("/{deal_id:uuid}/notes", status_code=201, summary="Add a note to a deal",
             description="The vendor or the registering partner; both see it on the timeline.",
             responses=problem_responses(404))
async def add_note(deal_id: uuid.UUID, body: NoteIn, session: Session, caller: Caller,
                   idempotency_key: IdempotencyKeyHeader = None) -> ActivityOut:
    return ActivityOut.model_validate(await coselling.note(session, caller, deal_id, body.text))


@router.get("/{deal_id:uuid}/collaborators", summary="People working a deal",
            description="Both sides', oldest first, in the `{items, next_cursor}` envelope of "
            "every list (at most 100 per deal). `GET /v1/deals/{id}?expand=collaborators` "
            "answers them with the deal.",
            responses=problem_responses(404))
async def list_collaborators(deal_id: uuid.UUID, session: Session, caller: Caller,
                             query: Annotated[ListQuery, Depends(COLLABORATORS.query)]
                             ) -> Page[CollaboratorOut]:
    rows, next_cursor, total = await coselling.collaborators(session, caller, deal_id, query)
    return Page[CollaboratorOut](items=[CollaboratorOut.model_validate(c) for c in rows],
                                 next_cursor=next_cursor, total_count=total)


@router.post("/{deal_id:uuid}/collaborators", status_code=201, summary="Add a collaborator",
             description="The vendor adds people of either side; a partner key adds its own "
             "side's. One email once per deal (409).",
             responses=problem_responses(404, 409))
async def add_collaborator(deal_id: uuid.UUID, body: CollaboratorIn, session: Session,
                           caller: Caller, idempotency_key: IdempotencyKeyHeader = None
                           ) -> CollaboratorOut:
    return CollaboratorOut.model_validate(
        await coselling.add_collaborator(session, caller, deal_id, body))


@router.delete("/{deal_id:uuid}/collaborators/{collaborator_id:uuid}", status_code=204,
               summary="Remove a collaborator",
               description="The vendor removes anyone; a partner key its own side's people.",
               responses=problem_responses(404))
async def remove_collaborator(deal_id: uuid.UUID, collaborator_id: uuid.UUID,
                              session: Session, caller: Caller) -> Response:
    await coselling.remove_collaborator(session, caller, deal_id, collaborator_id)
    return Response(status_code=204)


batches_router = service_router("/v1/deal-batches", "deals")


@batches_router.post("", summary="Register many deals at once (bulk push)",
                     description=f"Up to {batches.MAX_BATCH} registrations, for a partner's CRM "
                     "sync or a vendor's import: each item is validated and conflict-checked "
                     "like `POST /v1/deals` (against other partners' registrations, the "
                     "vendor's direct accounts, and the items before it in the batch), and "
                     "answered on its own: `created`, `conflict`, `existing` (its "
                     "`external_id` was registered before), `duplicate` (of an earlier item "
                     "of the same partner) or `error` with its problem document. The batch is "
                     "one transaction: all of its registrations or none.",
                     responses=problem_responses(409))
@single_statement
async def push_batch(body: batches.DealBatch, request: Request, begin: Begin, caller: Caller,
                     idempotency_key: IdempotencyKeyHeader = None) -> batches.BatchResult:
    def render(result: batches.BatchResult) -> Response:
        return Response(result.model_dump_json(), media_type="application/json")

    return await batches.push(begin, caller, body, request.state.idempotency,  # type: ignore[return-value]
                              _settings(request).protection_days, render)
