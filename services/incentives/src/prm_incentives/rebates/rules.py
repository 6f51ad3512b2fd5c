"""Which rule of a programme applies to a deal, and what it earns: pure functions of integers
(minor units of the programme's currency) and decimal rates, so that the accrual, the true-up
and the property tests compute the same thing."""

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any


@dataclass(frozen=True)
class Line:
    sku: str
    amount: int  # minor units of the programme's currency


@dataclass(frozen=True)
class Choice:
    index: int
    rule: dict[str, Any]
    base: int
    rate: Decimal
    amount: int


def rebate_of(base: int, rate: Decimal) -> int:
    """``rate`` percent of ``base`` minor units, rounded half to even once."""
    return int((Decimal(base) * rate / 100).quantize(Decimal(1), ROUND_HALF_EVEN))


def choose(rules: Sequence[dict[str, Any]], *, tier: str | None, deal_type: str | None,
           lines: Sequence[Line], deal_amount: int, volume: int) -> Choice | None:
    """The first rule that matches, with the amount it applies to: the whole deal, or (a
    product family rule) its lines of that family, never more than the deal was won for."""
    for index, rule in enumerate(rules):
        if rule.get("tier") is not None and rule["tier"] != tier:
            continue
        if rule.get("deal_type") is not None and rule["deal_type"] != deal_type:
            continue
        if rule.get("min_volume") is not None and volume < rule["min_volume"]:
            continue
        base = deal_amount
        prefix = rule.get("sku_prefix")
        if prefix is not None:
            base = min(deal_amount, sum(line.amount for line in lines
                                        if line.sku.startswith(prefix)))
            if base <= 0:
                continue
        rate = Decimal(rule["rate"])
        return Choice(index, rule, base, rate, rebate_of(base, rate))
    return None
