"""Money as a decimal string plus an ISO 4217 code; never a float.

The amount may not carry more decimals than the currency's minor unit (JPY 0, EUR 2, KWD 3), is
never negative, and is always written back with exactly the currency's number of decimals.

``convert`` and ``convert_minor`` are the one conversion between currencies of every service:
the product is computed exactly and rounded once, half to even, to the destination's minor
unit (the exponents are ISO 4217's, from ``iso4217``).
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation, localcontext
from typing import Annotated

import iso4217
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

MAX_AMOUNT = Decimal("999999999999999")  # 10^15 - 1 major units: NUMERIC(19, 4) holds it
# ASCII digits only: `\d` would also take Arabic-Indic or full-width digits.
_AMOUNT_PATTERN = r"^[0-9]{1,15}(\.[0-9]{1,4})?$"


def minor_units(currency: str) -> int:
    try:
        exponent = iso4217.Currency(currency).exponent
    except ValueError:
        raise ValueError(f"{currency!r} is not an ISO 4217 currency code") from None
    if exponent is None:
        raise ValueError(f"{currency!r} has no minor unit and cannot be used for money")
    return exponent


def format_amount(amount: Decimal, currency: str) -> str:
    return f"{amount:.{minor_units(currency)}f}"


# Enough digits for any amount NUMERIC(19, 4) holds times any rate NUMERIC(24, 10) holds, so
# that the product is exact before its one rounding (the default context keeps 28 digits).
_EXACT_DIGITS = 80


def rate_value(text: str) -> Decimal:
    """An FX rate as an event or a request carries it (a decimal string): positive and finite,
    or ValueError."""
    try:
        rate = Decimal(text)
    except InvalidOperation:
        raise ValueError(f"an FX rate is a decimal number, not {text!r}") from None
    if not rate.is_finite() or rate <= 0:
        raise ValueError(f"an FX rate is a positive number, not {text!r}")
    return rate


def pair_rate(base: str, quote: str, text: str) -> Decimal:
    """A rate between two currencies, as the one owner of FX rates records it and every
    projection keeps it: two ISO 4217 currencies with a minor unit, not the same one, and a
    positive rate; or ValueError."""
    minor_units(base)
    minor_units(quote)
    if base == quote:
        raise ValueError(f"a rate converts between two currencies, not {base} to itself")
    return rate_value(text)


def convert(amount: Decimal, source: str, destination: str, rate: Decimal) -> Decimal:
    """``amount`` of ``source`` in ``destination`` at ``rate`` (destination units per source
    unit), rounded half to even once to the destination's minor unit. One currency converts to
    itself at rate 1 only; a rate is positive and finite."""
    if not rate.is_finite() or rate <= 0:
        raise ValueError(f"an FX rate is a positive number, not {rate}")
    if source == destination and rate != 1:
        raise ValueError(f"{source} converts to itself at rate 1, not {rate}")
    minor_units(source)
    step = Decimal(1).scaleb(-minor_units(destination))
    with localcontext() as exact:
        exact.prec = _EXACT_DIGITS
        return (amount * rate).quantize(step, rounding=ROUND_HALF_EVEN)


def convert_minor(minor: int, source: str, destination: str, rate: Decimal) -> int:
    """``convert`` for amounts kept in integer minor units (cents, yen, fils)."""
    with localcontext() as exact:
        exact.prec = _EXACT_DIGITS
        amount = Decimal(minor).scaleb(-minor_units(source))
        return int(convert(amount, source, destination, rate).scaleb(minor_units(destination)))


CurrencyCode = Annotated[str, Field(pattern=r"^[A-Z]{3}$", examples=["EUR"])]


class Money(BaseModel):
    """An amount in one currency, e.g. ``{"amount": "1234.50", "currency": "EUR"}``."""

    model_config = ConfigDict(
        frozen=True, extra="forbid",
        json_schema_extra={"examples": [{"amount": "1234.50", "currency": "EUR"}]},
    )

    amount: str = Field(pattern=_AMOUNT_PATTERN, description="Decimal string, no exponent.")
    currency: CurrencyCode

    @field_validator("currency")
    @classmethod
    def _known_currency(cls, value: str) -> str:
        minor_units(value)
        return value

    @model_validator(mode="after")
    def _respect_minor_units(self) -> Money:
        try:
            value = Decimal(self.amount)
        except InvalidOperation:
            raise ValueError("amount is not a decimal number") from None
        digits = minor_units(self.currency)
        if value != value.quantize(Decimal(1).scaleb(-digits)):
            raise ValueError(f"{self.currency} allows at most {digits} decimal places")
        if value > MAX_AMOUNT:
            raise ValueError("amount is too large")
        object.__setattr__(self, "amount", format_amount(value, self.currency))
        return self

    @property
    def value(self) -> Decimal:
        return Decimal(self.amount)

    @classmethod
    def of(cls, amount: Decimal, currency: str) -> Money:
        return cls(amount=format_amount(amount, currency), currency=currency)
