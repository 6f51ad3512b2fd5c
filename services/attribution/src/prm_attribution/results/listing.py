"""The attributed deals' list grammar (prm_platform.listing): a page of deals (the ``deals``
projection, by deal id) with their credits under one model."""

from __future__ import annotations

import dataclasses
import uuid
from decimal import Decimal
from typing import Annotated, Any

from fastapi.exceptions import RequestValidationError
from pydantic import Field, StringConstraints, TypeAdapter, ValidationError
from sqlalchemy import ColumnElement, exists

from prm_attribution.deals.models import AttributedDeal
from prm_attribution.results.models import AttributionCreditRow
from prm_platform.listing import MAX_VALUES, Filter, Listing, QueryTime, Range
from prm_platform.types import CountryCode, Currency, DomainName, QueryDate

Word = Annotated[str, StringConstraints(min_length=1, max_length=40)]
Amount = Annotated[Decimal, Field(max_digits=19, decimal_places=4, allow_inf_nan=False)]


@dataclasses.dataclass(frozen=True)
class CreditedFilter(Filter):
    """``partner_id=a,b``: deals on which any of these partners holds a credit (its column is
    the credit rows' ``partner_id``, which their index starts with)."""

    def condition(self, values: list[Any]) -> ColumnElement[bool]:
        return exists().where(AttributionCreditRow.deal_id == AttributedDeal.deal_id,
                              super().condition(values))


ATTRIBUTED_DEALS = Listing(
    AttributedDeal.deal_id,
    CreditedFilter("partner_id", AttributionCreditRow.partner_id, uuid.UUID,
                   "Only the deals on which these partners hold a credit."),
    Filter("status", AttributedDeal.status, Word, "Only deals in these statuses (as the "
           "deals' events told them: submitted, approved, won, lost, ...)."),
    Filter("currency", AttributedDeal.currency, Currency),
    Filter("deal_type", AttributedDeal.deal_type, Word, "Only deals of these types (new, "
           "renewal, upsell)."),
    Filter("customer_domain", AttributedDeal.customer_domain, DomainName),
    Filter("customer_country", AttributedDeal.customer_country, CountryCode),
    Range("amount", AttributedDeal.amount, Amount, "The deal's amount (in its currency)"),
    Range("closed_on", AttributedDeal.closed_on, QueryDate, "The day it was won or lost"),
    Range("registered_at", AttributedDeal.registered_at, QueryTime, "When it was registered"),
    search=AttributedDeal.search_text, search_fields=("customer name", "customer domain"),
    updated=AttributedDeal.updated_at,
)


def several(name: str, raw: list[str] | None, kind: Any) -> list[Any]:
    """The values of a parameter that chooses which results are shown (not a filter of the
    grammar, but written the same way: comma-separated or repeated)."""
    values = [v.strip() for item in raw or () for v in item.split(",") if v.strip()]
    if len(values) > MAX_VALUES:
        raise _invalid(name, f"at most {MAX_VALUES} values are allowed")
    adapter: TypeAdapter[Any] = TypeAdapter(kind)
    try:
        return list(dict.fromkeys(adapter.validate_python(v) for v in values))
    except ValidationError as exc:
        raise _invalid(name, exc.errors()[0]["msg"]) from None


def _invalid(name: str, message: str) -> RequestValidationError:
    return RequestValidationError([{"loc": ("query", name), "msg": message,
                                    "type": "value_error"}])
