"""Amounts in the ledger are integers of the currency's minor unit (cents, yen, fils), stored as
BIGINT; the API speaks decimal strings (``prm_platform.money.Money``). Conversions here are
exact: a ``Money`` has been checked to carry no more decimals than the currency has."""

import math
from decimal import Decimal
from typing import Annotated, Any

import iso4217
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints
from sqlalchemy import ColumnElement, Numeric, and_, any_, bindparam, or_
from sqlalchemy.dialects.postgresql import ARRAY

from prm_platform.money import Money, minor_units
from prm_platform.types import Currency


def _more_than_zero(money: Money) -> Money:
    if money.value <= 0:
        raise ValueError("must be more than zero")
    return money


# An amount that moves money or bounds it (a transfer, a budget, a claim, a cap): zero is
# refused with a validation problem naming the field, before any CHECK constraint of the
# ledger could refuse it with a 500. ``Money`` itself never has a sign.
PositiveMoney = Annotated[Money, AfterValidator(_more_than_zero)]


def to_minor(money: Money) -> int:
    return int(money.value.scaleb(minor_units(money.currency)))


def decimal_of(minor: int, currency: str) -> Decimal:
    return Decimal(minor).scaleb(-minor_units(currency))


def text_of(minor: int, currency: str) -> str:
    return f"{decimal_of(minor, currency):.{minor_units(currency)}f}"


def money(minor: int, currency: str) -> Money:
    return Money(amount=text_of(minor, currency), currency=currency)


class SignedAmount(BaseModel):
    """A balance: like ``Money`` but it may be negative (an external or FX account)."""

    model_config = ConfigDict(frozen=True, json_schema_extra={
        "examples": [{"amount": "-1500.00", "currency": "EUR"}]})

    amount: Annotated[str, Field(pattern=r"^-?[0-9]{1,19}(\.[0-9]{1,4})?$")]
    currency: Currency

    @classmethod
    def of(cls, minor: int, currency: str) -> "SignedAmount":
        return cls(amount=text_of(minor, currency), currency=currency)


# --- amounts in list queries (prm_platform.listing ranges) ------------------------------------

# ISO 4217 currencies by their minor unit's exponent (those without one hold no money): the
# table ``prm_platform.money.minor_units`` reads (iso4217, the platform's).
_BY_EXPONENT: dict[int, tuple[str, ...]] = {}
for _currency in iso4217.Currency:
    if _currency.exponent is not None:
        _BY_EXPONENT.setdefault(_currency.exponent, ())
        _BY_EXPONENT[_currency.exponent] += (_currency.code,)
_BIGINT = 2**63 - 1


def _decimal(text: str) -> Decimal:
    return Decimal(text)


# A query's amount: a decimal string as the API writes money (``2500.00``), never a float nor
# an exponent.
QueryAmount = Annotated[str, StringConstraints(pattern=r"^[0-9]{1,15}(\.[0-9]{1,4})?$"),
                        AfterValidator(_decimal)]


class MinorAmounts:
    """An amount column kept in minor units beside its row's currency, compared in a list's
    ranges with a decimal amount as the API writes it: ``amount[gte]=2500.00`` is 2500.00 of
    each record's own currency (250000 cents, 2500 yen, 2500000 fils). The comparison is made
    per currency exponent with integers of minor units (rounded the way that keeps it exact),
    so that an index on (currency, amount) serves it. Stands for the column in a ``Range``."""

    type = Numeric()  # what the range's values are: decimals

    def __init__(self, amount: Any, currency: Any) -> None:
        self.amount = amount
        self.currency = currency
        self.name = amount.name

    def _compare(self, value: Decimal, operator: str) -> ColumnElement[bool]:
        parts = []
        for exponent, codes in _BY_EXPONENT.items():
            minor = value.scaleb(exponent)
            # amount >= 2500.5 cents is amount >= 2501; amount > 2500.5 is amount > 2500
            bound = math.ceil(minor) if operator in ("__ge__", "__lt__") else math.floor(minor)
            bound = max(-_BIGINT, min(bound, _BIGINT))
            # One array parameter per group (= ANY), typed as the currency column.
            codes_of = bindparam(None, list(codes), type_=ARRAY(self.currency.type))
            parts.append(and_(self.currency == any_(codes_of),
                              getattr(self.amount, operator)(bound)))
        return or_(*parts)

    def __ge__(self, value: Decimal) -> ColumnElement[bool]:
        return self._compare(value, "__ge__")

    def __gt__(self, value: Decimal) -> ColumnElement[bool]:
        return self._compare(value, "__gt__")

    def __le__(self, value: Decimal) -> ColumnElement[bool]:
        return self._compare(value, "__le__")

    def __lt__(self, value: Decimal) -> ColumnElement[bool]:
        return self._compare(value, "__lt__")
