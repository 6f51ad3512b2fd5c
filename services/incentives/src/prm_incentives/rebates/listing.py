"""Rebates' lists in the one list grammar (prm_platform.listing): programmes and accruals."""

from __future__ import annotations

import uuid

from prm_incentives.money import MinorAmounts, QueryAmount
from prm_incentives.rebates.models import RebateAccrual, RebateProgramme
from prm_incentives.rebates.schemas import RebateAccrualKind, RebateAccrualStatus, RebateBasis
from prm_platform.listing import Filter, Listing, QueryTime, Range
from prm_platform.types import Currency, QueryDate

PROGRAMMES = Listing(
    RebateProgramme.id,
    Filter("basis", RebateProgramme.basis, RebateBasis),
    Filter("currency", RebateProgramme.currency, Currency),
    Range("starts_on", RebateProgramme.starts_on, QueryDate, "The first close date it covers"),
    Range("ends_on", RebateProgramme.ends_on, QueryDate, "The last close date it covers"),
    Range("created_at", RebateProgramme.created_at, QueryTime, "When it was created"),
    sorts={"name": RebateProgramme.name, "starts_on": RebateProgramme.starts_on},
    search=RebateProgramme.search_text, search_fields=("name",),
    updated=RebateProgramme.updated_at,
)

ACCRUALS = Listing(
    RebateAccrual.id,
    Filter("partner_id", RebateAccrual.partner_id, uuid.UUID,
           "Only these partners' (a partner key always sees only its own org's)."),
    Filter("programme_id", RebateAccrual.programme_id, uuid.UUID,
           "Only these programmes' accruals."),
    Filter("deal_id", RebateAccrual.deal_id, uuid.UUID, "Only these deals' accruals."),
    Filter("status", RebateAccrual.status, RebateAccrualStatus),
    Filter("kind", RebateAccrual.kind, RebateAccrualKind),
    Filter("currency", RebateAccrual.currency, Currency),
    Range("closed_on", RebateAccrual.closed_on, QueryDate,
          "The deal's close date (a true-up: its period's end)"),
    Range("amount", MinorAmounts(RebateAccrual.amount, RebateAccrual.currency), QueryAmount,
          "The amount accrued, a decimal amount in each accrual's own currency, e.g. 250.00 "
          "(filter `currency` to compare like with like)"),
    Range("created_at", RebateAccrual.created_at, QueryTime, "When it was accrued"),
    sorts={"closed_on": RebateAccrual.closed_on},
    updated=RebateAccrual.updated_at,
)
