import uuid
from typing import Annotated, Any

from fastapi import Depends, Response

from prm_incentives.accruals import service as accruals
from prm_incentives.accruals.endpoints import accrual_routes
from prm_incentives.spiffs import service
from prm_incentives.spiffs.listing import ACCRUALS, SPIFFS
from prm_incentives.spiffs.schemas import SpiffAccrualOut, SpiffIn, SpiffOut, SpiffReversalIn
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

router = service_router("/v1/spiffs", "spiffs")


def _tagged(row: Any, response: Response) -> None:
    response.headers["ETag"] = etag(row.version)


@router.post("", status_code=201, summary="Create a SPIFF",
             description="A time-boxed bonus on won deals closed between its dates: a fixed "
             "amount per deal, or a percentage of the deal (or of its lines of the given "
             "products), for deals with one of the given products and of one of the given "
             "types. Its fund is moved at once from the external funding account into its "
             "pool; accruals never exceed the pool nor a partner's cap (they are cut to what "
             "is left). Vendor keys only.",
             responses={**problem_responses(409, 413), **resource_headers(201, location=True)})
async def create_spiff(body: SpiffIn, response: Response, session: Session, caller: Caller,
                       idempotency_key: IdempotencyKeyHeader = None) -> SpiffOut:
    row = await service.create_spiff(session, caller, body)
    response.headers["Location"] = f"/v1/spiffs/{row.id}"
    _tagged(row, response)
    return SpiffOut.of(row)


@router.get("", summary="List SPIFFs",
            description="With what each has left to pay out. Filter by currency and bonus "
            "kind, range on the dates they cover, the fund and `created_at`, sort by name or "
            "dates, search names with `q` (case and accents ignored), pull changes with "
            "`updated_since`. In creation order unless sorted, cursor-paginated. Vendor keys "
            "only.")
async def list_spiffs(session: Session, caller: Caller,
                      query: Annotated[ListQuery, Depends(SPIFFS.query)]) -> Page[SpiffOut]:
    rows, next_cursor, total = await service.list_spiffs(session, caller, query)
    return Page[SpiffOut](items=[SpiffOut.of(r) for r in rows], next_cursor=next_cursor,
                          total_count=total)


@router.get("/accruals", summary="List SPIFF accruals",
            description="What each won deal earned of each SPIFF, the cap that cut it, and "
            "the partner's name. Filter by partner, SPIFF, deal, status and currency; range "
            "on the close date, the amount and `created_at`; sort by close date; pull changes "
            "(reversals, supersessions) with `updated_since`. A partner key sees its own "
            "org's (whatever `partner_id` says). In the order they were accrued unless "
            "sorted, cursor-paginated.")
async def list_spiff_accruals(session: Session, caller: Caller,
                              query: Annotated[ListQuery, Depends(ACCRUALS.query)]
                              ) -> Page[SpiffAccrualOut]:
    rows, next_cursor, total = await accruals.page(session, caller, service.BOOK, query)
    return Page[SpiffAccrualOut](items=[SpiffAccrualOut.of(r) for r in rows],
                                 next_cursor=next_cursor, total_count=total)


accrual_routes(
    router, service.BOOK, kind="spiff", out=SpiffAccrualOut, reversal=SpiffReversalIn,
    tags=None, title="a SPIFF accrual",
    reverse_description="A won deal undone: the accrued amount moves back from the partner's "
    "payable account to the SPIFF's pool by a reversing ledger transfer, and "
    "`prm.spiff.reversed.v1` is published. Once; 409 once it is in a payout batch. Vendor "
    "keys only.")


@router.get("/{spiff_id:uuid}", summary="Get a SPIFF",
            description="Its terms and what its pool has left. Vendor keys only.",
            responses={**problem_responses(404), **resource_headers()})
async def get_spiff(spiff_id: uuid.UUID, response: Response, session: Session,
                    caller: Caller) -> SpiffOut:
    row = await service.get_spiff(session, caller, spiff_id)
    _tagged(row, response)
    return SpiffOut.of(row)
