"""Amounts in the ledger are integers of the currency's minor unit (cents, yen, fils), stored as
BIGINT; the API speaks decimal strings (``prm_platform.money.Money``). Conversions here are
exact: a ``Money`` has been checked to carry no more decimals than the currency has."""

from decimal import Decimal
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

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
