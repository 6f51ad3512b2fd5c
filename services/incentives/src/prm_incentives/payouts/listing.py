"""Payouts' lists in the one list grammar (prm_platform.listing): payout batches, and the
items of a partner's statement (the posted transfers that made something payable to it)."""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any

from sqlalchemy import ColumnElement

from prm_incentives.ledger.models import Transfer
from prm_incentives.money import MinorAmounts, QueryAmount
from prm_incentives.payouts.models import PayoutBatch
from prm_incentives.payouts.schemas import PaymentReference, PayoutBatchStatus, StatementSource
from prm_platform.listing import Filter, Listing, QueryTime, Range
from prm_platform.types import Currency, QueryDate

BATCHES = Listing(
    PayoutBatch.id,
    Filter("partner_id", PayoutBatch.partner_id, uuid.UUID,
           "Only these partners' (a partner key always sees only its own org's)."),
    Filter("status", PayoutBatch.status, PayoutBatchStatus),
    Filter("currency", PayoutBatch.currency, Currency),
    Filter("payment_reference", PayoutBatch.payment_reference, PaymentReference,
           "Only the batches paid with these references (the finance system's)."),
    Range("period_from", PayoutBatch.period_from, QueryDate, "Its period's first day"),
    Range("period_to", PayoutBatch.period_to, QueryDate, "Its period's last day"),
    Range("paid_on", PayoutBatch.paid_on, QueryDate, "The day it was paid"),
    Range("total", MinorAmounts(PayoutBatch.total, PayoutBatch.currency), QueryAmount,
          "Its total, a decimal amount in each batch's own currency, e.g. 1940.00 (filter "
          "`currency` to compare like with like)"),
    Range("created_at", PayoutBatch.created_at, QueryTime, "When it was made"),
    sorts={"period_from": PayoutBatch.period_from, "period_to": PayoutBatch.period_to},
    updated=PayoutBatch.updated_at,
)

# The ledger codes of the transfers that make each kind of amount payable.
SOURCE_CODES: dict[str, tuple[str, ...]] = {
    "rebate": ("rebate.deal", "rebate.true_up"),
    "spiff": ("spiff.accrual",),
    "mdf_claim": ("mdf.claim",),
}


@dataclasses.dataclass(frozen=True)
class SourceFilter(Filter):
    """``source=rebate,spiff``: the amounts a rebate accrual (or true-up), a SPIFF accrual or
    an approved MDF claim made payable, by the code of the transfer that did."""

    def condition(self, values: list[Any]) -> ColumnElement[bool]:
        return super().condition([code for value in values
                                  for code in SOURCE_CODES.get(value, (value,))])


STATEMENT = Listing(
    Transfer.id,
    Filter("transfer_id", Transfer.id, uuid.UUID,
           "Only these amounts (by the transfer that made them payable)."),
    Filter("currency", Transfer.currency, Currency),
    SourceFilter("source", Transfer.code, StatementSource, "Only the amounts of these sources."),
    # When each amount became payable, then the transfer's id.
    sorts={"created_at": Transfer.created_at},
    default_sort=(("created_at", False),),
    id_filter=False,
)
