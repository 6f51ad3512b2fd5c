from typing import Annotated

from fastapi import APIRouter, Depends, Response

from prm_attribution.costs import service
from prm_attribution.costs.listing import VENDOR_FIGURES
from prm_attribution.costs.models import VendorFigure
from prm_attribution.costs.schemas import AttributionVendorFigureIn, AttributionVendorFigureOut
from prm_attribution.results.reading import money
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

router = APIRouter(prefix="/v1/attribution-vendor-figures", tags=["attribution kpis"],
                   route_class=ServiceRoute, responses=problem_responses(400, 401, 403, 422))


def _out(row: VendorFigure) -> AttributionVendorFigureOut:
    return AttributionVendorFigureOut(
        id=row.id, kind=row.kind,
        period_from=row.period_from, period_to=row.period_to,
        amount=money(row.amount_minor, row.currency), partner_type=row.partner_type,
        description=row.description, recorded_by=row.recorded_by, recorded_at=row.recorded_at)


@router.post("", status_code=201, summary="Record a figure of the vendor's",
             description="Vendor keys only. The vendor's total pipeline of a period (one per "
             "period and currency; the partners' pipeline contribution is measured against "
             "it) or a cost line of acquiring partners (the partner acquisition cost). KPIs "
             "use the figures whose period lies inside theirs, converted at the rate of the "
             "figure's first day.",
             responses={**problem_responses(409), **resource_headers(201)})
async def record_attribution_vendor_figure(body: AttributionVendorFigureIn,
                                           response: Response, session: Session,
                                           caller: Caller,
                                           idempotency_key: IdempotencyKeyHeader = None
                                           ) -> AttributionVendorFigureOut:
    row = await service.record(session, caller, body)
    response.headers["Location"] = "/v1/attribution-vendor-figures?cursor="  # listed only
    response.headers["ETag"] = etag(1)
    return _out(row)


@router.get("", summary="List the vendor's figures",
            description="Vendor keys only; in the order recorded unless `sort` says otherwise "
            "(`period_from`). Filters: kind, currency, partner type; ranges on the period's "
            "bounds and `recorded_at`. Figures never change once recorded, so there is no "
            "change feed: `recorded_at[gte]` pulls the new ones.")
async def list_attribution_vendor_figures(
    session: Session, caller: Caller,
    query: Annotated[ListQuery, Depends(VENDOR_FIGURES.query)],
) -> Page[AttributionVendorFigureOut]:
    rows, cursor, total = await service.list_page(session, caller, query)
    return Page[AttributionVendorFigureOut](items=[_out(r) for r in rows], next_cursor=cursor,
                                            total_count=total)
