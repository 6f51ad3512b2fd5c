import uuid
from typing import Annotated, Any

from fastapi import Depends, Response

from prm_incentives.accruals import service as accruals
from prm_incentives.accruals.endpoints import accrual_routes
from prm_incentives.directory.names import partner_name
from prm_incentives.rebates import service
from prm_incentives.rebates.listing import ACCRUALS, PROGRAMMES
from prm_incentives.rebates.schemas import (
    RebateAccrualOut,
    RebateProgrammeIn,
    RebateProgrammeOut,
    RebateReversalIn,
    RebateTrueUpIn,
)
from prm_platform.http import (
    Caller,
    IdempotencyKeyHeader,
    Session,
    etag,
    resource_headers,
    service_router,
)
from prm_platform.listing import ListQuery, Page
from prm_platform.problems import problem_responses

router = service_router("/v1/rebates")
_TAG_PROGRAMMES = "rebate programmes"
_TAG_ACCRUALS = "rebate accruals"


def _tagged(row: Any, response: Response) -> None:
    response.headers["ETag"] = etag(row.version)


@router.post("/programmes", status_code=201, tags=[_TAG_PROGRAMMES],
             summary="Create a rebate programme",
             description="A rate card in one base currency: rates by the partner's tier, or "
             "by its won volume over a trailing period (volume bands), optionally for a "
             "product family (SKU prefix) or a deal type. Rules are tried in order and the "
             "first that matches a won deal applies. Every deal won (`prm.deal.won.v1`) and "
             "closed within the programme's dates accrues once. Vendor keys only.",
             responses={**problem_responses(409, 413), **resource_headers(201, location=True)})
async def create_rebate_programme(body: RebateProgrammeIn, response: Response,
                                  session: Session, caller: Caller,
                                  idempotency_key: IdempotencyKeyHeader = None
                                  ) -> RebateProgrammeOut:
    row = await service.create_programme(session, caller, body)
    response.headers["Location"] = f"/v1/rebates/programmes/{row.id}"
    _tagged(row, response)
    return RebateProgrammeOut.of(row)


@router.get("/programmes", tags=[_TAG_PROGRAMMES], summary="List rebate programmes",
            description="Filter by basis and currency, range on the dates they cover and "
            "`created_at`, sort by name or start date, search names with `q` (case and "
            "accents ignored), pull changes with `updated_since`. In creation order unless "
            "sorted, cursor-paginated. Vendor keys only.")
async def list_rebate_programmes(session: Session, caller: Caller,
                                 query: Annotated[ListQuery, Depends(PROGRAMMES.query)]
                                 ) -> Page[RebateProgrammeOut]:
    rows, next_cursor, total = await service.list_programmes(session, caller, query)
    return Page[RebateProgrammeOut](items=[RebateProgrammeOut.of(r) for r in rows],
                                    next_cursor=next_cursor, total_count=total)


@router.get("/programmes/{programme_id:uuid}", tags=[_TAG_PROGRAMMES],
            summary="Get a rebate programme",
            description="Its rules and the ledger account it pays from. Vendor keys only.",
            responses={**problem_responses(404), **resource_headers()})
async def get_rebate_programme(programme_id: uuid.UUID, response: Response, session: Session,
                               caller: Caller) -> RebateProgrammeOut:
    row = await service.get_programme(session, caller, programme_id)
    _tagged(row, response)
    return RebateProgrammeOut.of(row)


@router.post("/programmes/{programme_id:uuid}/true-ups", status_code=201,
             tags=[_TAG_PROGRAMMES], summary="True up a partner's period",
             description="For a volume programme, once a period has ended: recomputes every "
             "deal of the partner closed in the period at the band its whole period volume "
             "reached, less what the partner holds for them (their accruals and true-ups of "
             "periods within this one, net of reversals). A positive difference is accrued "
             "(`prm.rebate.accrued.v1`); a negative one is taken back by reversing the newest "
             "of those accruals not in a payout batch (status `clawback`, "
             "`prm.rebate.reversed.v1`). Once per programme, partner and period: asked again, "
             "it answers 200 with the same true-up. A job does this for every partner of a "
             "programme once its period has ended. Vendor keys only.",
             responses={**problem_responses(404, 413, 422),
                        **resource_headers(201, location=True),
                        200: {"description": "The true-up made before for this period",
                              "model": RebateAccrualOut}})
async def true_up_rebate_period(programme_id: uuid.UUID, body: RebateTrueUpIn,
                                response: Response, session: Session, caller: Caller,
                                idempotency_key: IdempotencyKeyHeader = None
                                ) -> RebateAccrualOut:
    row, created = await service.true_up(session, caller, programme_id, body)
    response.status_code = 201 if created else 200
    response.headers["Location"] = f"/v1/rebates/accruals/{row.id}"
    _tagged(row, response)
    return RebateAccrualOut.of(row, await partner_name(session, row.partner_id))


@router.get("/accruals", tags=[_TAG_ACCRUALS], summary="List rebate accruals",
            description="What each won deal (and each true-up) earned, with the rate and "
            "rule that applied and the partner's name. Filter by partner, programme, deal, "
            "status, kind and currency; range on the close date, the amount and "
            "`created_at`; sort by close date; pull changes (reversals, supersessions) with "
            "`updated_since`. A partner key sees its own org's (whatever `partner_id` says). "
            "In the order they were accrued unless sorted, cursor-paginated.")
async def list_rebate_accruals(session: Session, caller: Caller,
                               query: Annotated[ListQuery, Depends(ACCRUALS.query)]
                               ) -> Page[RebateAccrualOut]:
    rows, next_cursor, total = await accruals.page(session, caller, service.BOOK, query)
    return Page[RebateAccrualOut](items=[RebateAccrualOut.of(r) for r in rows],
                                  next_cursor=next_cursor, total_count=total)


accrual_routes(
    router, service.BOOK, kind="rebate", out=RebateAccrualOut, reversal=RebateReversalIn,
    tags=[_TAG_ACCRUALS], title="a rebate accrual",
    reverse_description="A won deal undone (the deals service publishes no event for it): "
    "what is left of the accrued amount moves back from the partner's payable account by a "
    "reversing ledger transfer, and `prm.rebate.reversed.v1` is published. Once; 409 once it "
    "is in a payout batch. Vendor keys only.")
