"""The vendor's own figures, fed through the API: its total pipeline per period (the
denominator of the partners' pipeline contribution) and the cost lines of acquiring partners
(the numerator of the partner acquisition cost). Internal numbers: vendor keys only."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from prm_attribution.costs.listing import VENDOR_FIGURES
from prm_attribution.costs.models import VendorFigure
from prm_attribution.costs.schemas import AttributionVendorFigureIn
from prm_attribution.declaration import ATTRIBUTION_READ, ATTRIBUTION_WRITE
from prm_platform.ids import new_id
from prm_platform.listing import ListQuery
from prm_platform.money import minor_units
from prm_platform.problems import Conflict, Unprocessable
from prm_platform.security import Principal


async def record(session: AsyncSession, principal: Principal, data: AttributionVendorFigureIn
                 ) -> VendorFigure:
    principal.require(ATTRIBUTION_WRITE)
    principal.ensure_vendor()
    if data.period_from >= data.period_to:
        raise Unprocessable("period_from must be before period_to")
    if data.kind == "total_pipeline" and data.partner_type is not None:
        raise Unprocessable("the total pipeline is the vendor's whole pipeline: no partner_type")
    row = VendorFigure(
        id=new_id(), kind=data.kind, period_from=data.period_from, period_to=data.period_to,
        amount_minor=int(data.amount.value.scaleb(minor_units(data.amount.currency))),
        currency=data.amount.currency, partner_type=data.partner_type,
        description=data.description, recorded_by=principal.subject,
        recorded_at=dt.datetime.now(dt.UTC))
    try:
        async with session.begin_nested():
            session.add(row)
    except IntegrityError:
        raise Conflict("a total pipeline of this period and currency is recorded already") \
            from None
    return row


async def list_page(session: AsyncSession, principal: Principal, query: ListQuery
                    ) -> tuple[list[VendorFigure], str | None, int | None]:
    principal.require(ATTRIBUTION_READ)
    principal.ensure_vendor()
    return await VENDOR_FIGURES.page(session, select(VendorFigure), query)
