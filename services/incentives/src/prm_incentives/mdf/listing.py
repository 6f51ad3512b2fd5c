"""Market development funds' lists in the one list grammar (prm_platform.listing): budgets,
allocations, fund requests and claims."""

from __future__ import annotations

import uuid
from typing import Annotated

from pydantic import Field

from prm_incentives.mdf.models import Allocation, Budget, Claim, FundRequest
from prm_incentives.mdf.schemas import ClaimStatus, FundRequestStatus, MdfActivityType
from prm_incentives.money import MinorAmounts, QueryAmount
from prm_platform.listing import Filter, Listing, QueryTime, Range
from prm_platform.types import Currency, QueryDate

Programme = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{0,99}$")]
Period = Annotated[str, Field(pattern=r"^[0-9A-Za-z][0-9A-Za-z-]{0,39}$")]
_IN_ITS_CURRENCY = ("a decimal amount in each record's own currency, e.g. 2500.00 (filter "
                    "`currency` to compare like with like)")
_PARTNER = "Only these partners' (a partner key always sees only its own org's)."

BUDGETS = Listing(
    Budget.id,
    Filter("programme", Budget.programme, Programme, "Only these programmes' budgets."),
    Filter("period", Budget.period, Period, "Only these periods' budgets (as written)."),
    Filter("currency", Budget.currency, Currency),
    Range("amount", MinorAmounts(Budget.amount, Budget.currency), QueryAmount,
          f"The amount funded, {_IN_ITS_CURRENCY}"),
    Range("created_at", Budget.created_at, QueryTime, "When it was created"),
    sorts={"programme": Budget.programme, "period": Budget.period},
    search=Budget.search_text, search_fields=("programme", "period"),
    updated=Budget.updated_at,
)

ALLOCATIONS = Listing(
    Allocation.id,
    Filter("partner_id", Allocation.partner_id, uuid.UUID, _PARTNER),
    Filter("budget_id", Allocation.budget_id, uuid.UUID, "Only these budgets' allocations."),
    Filter("currency", Allocation.currency, Currency),
    Range("amount", MinorAmounts(Allocation.amount, Allocation.currency), QueryAmount,
          f"The amount allocated, {_IN_ITS_CURRENCY}"),
    Range("created_at", Allocation.created_at, QueryTime, "When it was allocated"),
    updated=Allocation.updated_at,
)

REQUESTS = Listing(
    FundRequest.id,
    Filter("partner_id", FundRequest.partner_id, uuid.UUID, _PARTNER),
    Filter("allocation_id", FundRequest.allocation_id, uuid.UUID,
           "Only these allocations' requests."),
    Filter("budget_id", FundRequest.budget_id, uuid.UUID, "Only these budgets' requests."),
    Filter("status", FundRequest.status, FundRequestStatus),
    Filter("activity_type", FundRequest.activity_type, MdfActivityType),
    Filter("currency", FundRequest.currency, Currency),
    Range("start_date", FundRequest.start_date, QueryDate, "The activity's first day"),
    Range("end_date", FundRequest.end_date, QueryDate, "The activity's last day"),
    Range("claim_due_on", FundRequest.claim_due_on, QueryDate,
          "The day an approved request must be claimed by"),
    Range("planned_cost", MinorAmounts(FundRequest.planned_cost, FundRequest.currency),
          QueryAmount, f"The planned cost, {_IN_ITS_CURRENCY}"),
    Range("created_at", FundRequest.created_at, QueryTime, "When it was submitted first"),
    sorts={"start_date": FundRequest.start_date, "end_date": FundRequest.end_date,
           "title": FundRequest.title},
    search=FundRequest.search_text, search_fields=("title",),
    updated=FundRequest.updated_at,
)

CLAIMS = Listing(
    Claim.id,
    Filter("partner_id", Claim.partner_id, uuid.UUID, _PARTNER),
    Filter("request_id", Claim.request_id, uuid.UUID, "Only these fund requests' claims."),
    Filter("status", Claim.status, ClaimStatus),
    Filter("currency", Claim.currency, Currency),
    Range("amount", MinorAmounts(Claim.amount, Claim.currency), QueryAmount,
          f"The amount claimed, {_IN_ITS_CURRENCY}"),
    Range("created_at", Claim.created_at, QueryTime, "When it was submitted"),
    updated=Claim.updated_at,
)
