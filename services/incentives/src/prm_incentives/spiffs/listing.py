"""SPIFFs' lists in the one list grammar (prm_platform.listing): SPIFFs and their accruals."""

from __future__ import annotations

import uuid

from prm_incentives.money import MinorAmounts, QueryAmount
from prm_incentives.spiffs.models import Spiff, SpiffAccrual
from prm_incentives.spiffs.schemas import SpiffAccrualStatus, SpiffBonusKind
from prm_platform.listing import Filter, Listing, QueryTime, Range
from prm_platform.types import Currency, QueryDate

SPIFFS = Listing(
    Spiff.id,
    Filter("currency", Spiff.currency, Currency),
    Filter("bonus_kind", Spiff.bonus_kind, SpiffBonusKind,
           "Only SPIFFs paying a fixed amount per deal, or a percentage."),
    Range("starts_on", Spiff.starts_on, QueryDate, "The first close date it covers"),
    Range("ends_on", Spiff.ends_on, QueryDate, "The last close date it covers"),
    Range("fund", MinorAmounts(Spiff.fund, Spiff.currency), QueryAmount,
          "Its fund, a decimal amount in each SPIFF's own currency, e.g. 50000.00 (filter "
          "`currency` to compare like with like)"),
    Range("created_at", Spiff.created_at, QueryTime, "When it was created"),
    sorts={"name": Spiff.name, "starts_on": Spiff.starts_on, "ends_on": Spiff.ends_on},
    search=Spiff.search_text, search_fields=("name",),
    updated=Spiff.updated_at,
)

ACCRUALS = Listing(
    SpiffAccrual.id,
    Filter("partner_id", SpiffAccrual.partner_id, uuid.UUID,
           "Only these partners' (a partner key always sees only its own org's)."),
    Filter("spiff_id", SpiffAccrual.spiff_id, uuid.UUID, "Only these SPIFFs' accruals."),
    Filter("deal_id", SpiffAccrual.deal_id, uuid.UUID, "Only these deals' accruals."),
    Filter("status", SpiffAccrual.status, SpiffAccrualStatus),
    Filter("currency", SpiffAccrual.currency, Currency),
    Range("closed_on", SpiffAccrual.closed_on, QueryDate, "The deal's close date"),
    Range("amount", MinorAmounts(SpiffAccrual.amount, SpiffAccrual.currency), QueryAmount,
          "The amount accrued, a decimal amount in each accrual's own currency, e.g. 250.00 "
          "(filter `currency` to compare like with like)"),
    Range("created_at", SpiffAccrual.created_at, QueryTime, "When it was accrued"),
    sorts={"closed_on": SpiffAccrual.closed_on},
    updated=SpiffAccrual.updated_at,
)
