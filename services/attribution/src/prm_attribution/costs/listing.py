"""The vendor's figures' list grammar (prm_platform.listing)."""

from __future__ import annotations

from typing import Annotated

from pydantic import StringConstraints

from prm_attribution.costs.models import VendorFigure
from prm_attribution.costs.schemas import VendorFigureKind
from prm_platform.listing import Filter, Listing, QueryTime, Range
from prm_platform.types import Currency, QueryDate

# Figures never change once recorded, nor are they deleted: no change feed (`recorded_at[gte]`
# pulls the new ones).
VENDOR_FIGURES = Listing(
    VendorFigure.id,
    Filter("kind", VendorFigure.kind, VendorFigureKind),
    Filter("currency", VendorFigure.currency, Currency),
    Filter("partner_type", VendorFigure.partner_type,
           Annotated[str, StringConstraints(min_length=1, max_length=40)],
           "Only the acquisition cost lines of these partner types."),
    Range("period_from", VendorFigure.period_from, QueryDate, "The period's first day"),
    Range("period_to", VendorFigure.period_to, QueryDate, "The day after the period"),
    Range("recorded_at", VendorFigure.recorded_at, QueryTime, "When it was recorded"),
    sorts={"period_from": VendorFigure.period_from},
)
