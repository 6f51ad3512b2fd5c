import uuid
from typing import Annotated, Any

from fastapi import Depends, Request, Response
from pydantic import ValidationError

from prm_deals.declaration import ACCOUNT_MAPPING_READ, ACCOUNT_MAPPING_WRITE
from prm_deals.mapping import reads, service
from prm_deals.mapping.schemas import (
    CoSellIn,
    CoSellOut,
    MappedAccountBatch,
    MappedAccountBatchItem,
    MappedAccountBatchResult,
    MappedAccountIn,
    MappedAccountOut,
    MappingMatrixOut,
    MappingPartnershipOut,
    MappingSharingIn,
    OtherAccountOut,
    OverlapOut,
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
from prm_platform.problems import field_errors, problem_body, problem_responses

accounts_router = service_router("/v1/mapped-accounts", "account mapping")
partnerships_router = service_router("/v1/mapping-partnerships", "account mapping")


@accounts_router.post("", summary="Upload accounts of the caller's populations",
                      description="Up to 10,000 accounts of the caller's side (a partner key: "
                      "its org's; a vendor key: the vendor's) in one request, upserted by "
                      "population and CRM id; `remove: true` removes one. Each item is "
                      "validated on its own and gets its outcome. Overlaps with the other side "
                      "of every active mapping partnership are found at once.")
async def upload_accounts(body: MappedAccountBatch, session: Session, caller: Caller,
                          idempotency_key: IdempotencyKeyHeader = None
                          ) -> MappedAccountBatchResult:
    caller.require(ACCOUNT_MAPPING_WRITE)
    items: list[MappedAccountBatchItem | None] = [None] * len(body.items)
    valid: dict[tuple[str, str], tuple[int, MappedAccountIn]] = {}
    for index, raw in enumerate(body.items):
        try:
            item = MappedAccountIn.model_validate(raw)
        except ValidationError as exc:
            items[index] = MappedAccountBatchItem(index=index, outcome="error", problem=(
                problem_body(422, "validation-error", "the account is not valid",
                             errors=field_errors(exc.errors()))))
            continue
        earlier = valid.pop((item.population, item.crm_id), None)
        if earlier is not None:  # the last of a CRM id wins
            items[earlier[0]] = MappedAccountBatchItem(index=earlier[0], outcome="unchanged")
        valid[(item.population, item.crm_id)] = (index, item)
    outcomes = await service.upsert(session, service.owner_of(caller), list(valid.values()))
    for outcome in outcomes:
        items[outcome.index] = MappedAccountBatchItem(
            index=outcome.index, outcome=outcome.outcome, account_id=outcome.account_id)
    done = [i for i in items if i is not None]
    counts = {o: sum(1 for i in done if i.outcome == o)
              for o in ("created", "updated", "unchanged", "removed", "error")}
    return MappedAccountBatchResult(created=counts["created"], updated=counts["updated"],
                                    unchanged=counts["unchanged"], removed=counts["removed"],
                                    errors=counts["error"], items=done)


@accounts_router.get("", summary="List the caller's accounts",
                     description="The accounts of the caller's own populations, as uploaded.")
async def list_accounts(session: Session, caller: Caller,
                        query: Annotated[ListQuery, Depends(reads.ACCOUNTS.query)]
                        ) -> Page[MappedAccountOut]:
    caller.require(ACCOUNT_MAPPING_READ)
    rows, next_cursor, total = await reads.own_accounts(session, caller, query)
    return Page[MappedAccountOut](items=[MappedAccountOut.model_validate(r) for r in rows],
                                  next_cursor=next_cursor, total_count=total)


def _partnership(row: Any, response: Response) -> MappingPartnershipOut:
    response.headers["ETag"] = etag(row.version)
    return MappingPartnershipOut.of(row)


@partnerships_router.get("/{partner_id:uuid}", summary="A mapping partnership",
                         description="The vendor and a partner mapping accounts: who opted in, "
                         "what each side shares of each population. A partner key: its own "
                         "org's.", responses={**problem_responses(404), **resource_headers()})
async def get_partnership(partner_id: uuid.UUID, response: Response, session: Session,
                          caller: Caller) -> MappingPartnershipOut:
    caller.require(ACCOUNT_MAPPING_READ)
    return _partnership(await service.partnership(session, caller, partner_id), response)


@partnerships_router.put("/{partner_id:uuid}", summary="Opt in to account mapping",
                         description="The caller's side (the vendor, or the partner itself) "
                         "opts in, with its sharing level per population of its own; the "
                         "partnership is active once both sides did (double opt-in), and its "
                         "overlaps are then found. Sent again, it changes the caller's levels.",
                         responses={**problem_responses(404, 412), **resource_headers()})
async def opt_in(partner_id: uuid.UUID, body: MappingSharingIn, response: Response,
                 session: Session, caller: Caller, if_match: IfMatchHeader = None
                 ) -> MappingPartnershipOut:
    caller.require(ACCOUNT_MAPPING_WRITE)
    return _partnership(await service.opt_in(session, caller, partner_id, body, if_match),
                        response)


@partnerships_router.post("/{partner_id:uuid}/opt-out", summary="Opt out of account mapping",
                          description="The caller's side opts out: the partnership is no "
                          "longer active, nothing is shared either way, its overlaps are "
                          "forgotten.",
                          responses={**problem_responses(404, 412), **resource_headers()})
async def opt_out(partner_id: uuid.UUID, response: Response, session: Session, caller: Caller,
                  if_match: IfMatchHeader = None, idempotency_key: IdempotencyKeyHeader = None
                  ) -> MappingPartnershipOut:
    caller.require(ACCOUNT_MAPPING_WRITE)
    return _partnership(await service.opt_out(session, caller, partner_id, if_match), response)


@partnerships_router.get("/{partner_id:uuid}/matrix", summary="The overlap matrix",
                         description="How many of the caller's accounts in each of its "
                         "populations overlap each population of the other side, where the "
                         "other side shares at least `counts` (null where it hides it). With "
                         "`counts` only, the count follows the caller's own uploads once they "
                         "are `settle_days` old, so that uploading a guess tells nothing.",
                         responses=problem_responses(404))
async def get_matrix(partner_id: uuid.UUID, request: Request, session: Session,
                     caller: Caller) -> MappingMatrixOut:
    caller.require(ACCOUNT_MAPPING_READ)
    days = request.app.state.settings.mapping_settle_days
    return MappingMatrixOut(partner_id=partner_id, settle_days=days,
                            cells=await reads.matrix(session, caller, partner_id, days))


@partnerships_router.get("/{partner_id:uuid}/overlaps", summary="The overlapping accounts",
                         description="The caller's accounts the other side holds too, in the "
                         "populations it shares `overlaps` or `all` of, with its name for each "
                         "and the matcher's score. 403 when it shares none at that level.",
                         responses=problem_responses(404))
async def list_overlaps(partner_id: uuid.UUID, session: Session, caller: Caller,
                        query: Annotated[ListQuery, Depends(reads.OVERLAPS.query)]
                        ) -> Page[OverlapOut]:
    caller.require(ACCOUNT_MAPPING_READ)
    rows, next_cursor, total = await reads.overlaps(session, caller, partner_id, query)
    return Page[OverlapOut](items=[OverlapOut(
        id=r.id, account=MappedAccountOut(**{k.removeprefix("me_"): v for k, v in r._mapping.items()
                                    if k.startswith("me_") and k.removeprefix("me_")
                                    in MappedAccountOut.model_fields}),
        other_population=r.other_population, other_name=r.other_name,
        other_domain=r.other_domain, other_country=r.other_country, score=f"{r.score:.2f}",
        basis=r.basis) for r in rows], next_cursor=next_cursor, total_count=total)


@partnerships_router.get("/{partner_id:uuid}/accounts",
                         summary="The other side's shared accounts",
                         description="Every account of the other side's populations it shares "
                         "`all` of, each saying whether the caller holds it too. 403 when it "
                         "shares none in full.", responses=problem_responses(404))
async def list_other_accounts(partner_id: uuid.UUID, session: Session, caller: Caller,
                              query: Annotated[ListQuery, Depends(reads.ACCOUNTS.query)]
                              ) -> Page[OtherAccountOut]:
    caller.require(ACCOUNT_MAPPING_READ)
    rows, next_cursor, total = await reads.other_accounts(session, caller, partner_id, query)
    return Page[OtherAccountOut](items=[OtherAccountOut(
        population=r.population, name=r.name, domain=r.domain, country=r.country,
        overlaps=bool(r.overlaps)) for r in rows], next_cursor=next_cursor, total_count=total)


@partnerships_router.post(
    "/{partner_id:uuid}/overlaps/{overlap_id:uuid}/co-sell", status_code=201,
    summary="Start a co-sell from an overlap",
    description="An overlap the caller sees starts a co-sell: `registration` registers the "
    "partner's deal for the company (a partner key: its own; a vendor key: for the partner, "
    "with its `account_executive`), through the conflict check and the rules of engagement "
    "like any registration; `lead` (vendor keys) offers the partner a lead for it.",
    responses=problem_responses(404, 409))
async def co_sell(partner_id: uuid.UUID, overlap_id: uuid.UUID, body: CoSellIn,
                  request: Request, session: Session, caller: Caller,
                  idempotency_key: IdempotencyKeyHeader = None) -> CoSellOut:
    caller.require(ACCOUNT_MAPPING_READ)
    return await service.co_sell(session, caller, partner_id, overlap_id, body,
                                 request.app.state.settings.protection_days)
