import uuid
from typing import Annotated, Any

from fastapi import Depends, Query, Response

from prm_incentives.accruals import service as accruals
from prm_incentives.accruals.endpoints import accrual_routes
from prm_incentives.spiffs import service
from prm_incentives.spiffs.schemas import SpiffAccrualOut, SpiffIn, SpiffOut, SpiffReversalIn
from prm_platform.http import (
    Caller,
    IdempotencyKeyHeader,
    Session,
    etag,
    resource_headers,
    service_router,
)
from prm_platform.pagination import Page, PageRequest, page_request
from prm_platform.problems import problem_responses

router = service_router("/v1/spiffs", "spiffs")

Pages = Annotated[PageRequest, Depends(page_request)]


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
            description="With what each has left to pay out. Oldest first, cursor-paginated. "
            "Vendor keys only.")
async def list_spiffs(session: Session, caller: Caller, page: Pages) -> Page[SpiffOut]:
    items, next_cursor = page.page(await service.list_spiffs(session, caller, page))
    return Page[SpiffOut](items=[SpiffOut.of(r) for r in items], next_cursor=next_cursor)


@router.get("/accruals", summary="List SPIFF accruals",
            description="What each won deal earned of each SPIFF, and the cap that cut it. A "
            "partner key sees its own org's. Oldest first, cursor-paginated.")
async def list_spiff_accruals(
    session: Session, caller: Caller, page: Pages,
    partner_id: Annotated[uuid.UUID | None, Query(description="Only this partner's (a "
                                                  "partner key: always its own)")] = None,
    spiff_id: Annotated[uuid.UUID | None, Query(description="Only this SPIFF's")] = None,
    deal_id: Annotated[uuid.UUID | None, Query(description="Only this deal's")] = None,
) -> Page[SpiffAccrualOut]:
    rows = await accruals.page(session, caller, service.BOOK, page, partner_id=partner_id,
                               owner_id=spiff_id, deal_id=deal_id)
    items, next_cursor = page.page(rows)
    return Page[SpiffAccrualOut](items=[SpiffAccrualOut.of(r) for r in items],
                                 next_cursor=next_cursor)


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
