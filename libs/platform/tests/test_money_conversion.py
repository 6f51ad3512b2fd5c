"""The one conversion between currencies (``prm_platform.money.convert``), by its properties:
exact to half a minor unit, rounded half to even, quantized to the destination's exponent."""

from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prm_platform.money import convert, convert_minor, minor_units, pair_rate, rate_value

# Exponents 0 (JPY, ISK), 2 (EUR, USD, CHF), 3 (KWD, BHD), 4 (CLF): every kind ISO 4217 has.
CURRENCIES = ("JPY", "ISK", "EUR", "USD", "CHF", "KWD", "BHD", "CLF")

currencies = st.sampled_from(CURRENCIES)
# What NUMERIC(24, 10) holds, above zero.
rates = st.decimals(min_value=Decimal("0.0000000001"), max_value=Decimal("99999999999999"),
                    places=10, allow_nan=False, allow_infinity=False)
# Up to the platform's largest amount, in whole minor units.
minors = st.integers(min_value=0, max_value=10**15)


@st.composite
def conversions(draw: st.DrawFn) -> tuple[int, str, str, Decimal]:
    """(minor units, source, destination, rate): one currency at rate 1 only."""
    source, destination = draw(currencies), draw(currencies)
    rate = Decimal(1) if source == destination else draw(rates)
    return draw(minors), source, destination, rate


def amount_of(minor: int, currency: str) -> Decimal:
    return Decimal(minor).scaleb(-minor_units(currency))


@settings(max_examples=400, deadline=None)
@given(conversion=conversions())
def test_never_off_by_more_than_half_a_minor_unit(conversion: tuple[int, str, str, Decimal]
                                                  ) -> None:
    minor, source, destination, rate = conversion
    amount = amount_of(minor, source)
    converted = convert(amount, source, destination, rate)
    # Checked with fractions: no decimal context rounds the exact product here.
    error = abs(Fraction(converted) - Fraction(amount) * Fraction(rate))
    assert error <= Fraction(1, 2) * Fraction(10) ** -minor_units(destination)
    assert converted.as_tuple().exponent == -minor_units(destination)
    assert isinstance(converted, Decimal)


@settings(max_examples=200, deadline=None)
@given(minor=minors, currency=currencies)
def test_a_currency_converts_to_itself_unchanged(minor: int, currency: str) -> None:
    amount = amount_of(minor, currency)
    assert convert(amount, currency, currency, Decimal(1)) == amount
    assert convert_minor(minor, currency, currency, Decimal(1)) == minor


@settings(max_examples=400, deadline=None)
@given(conversion=conversions())
def test_minor_units_agree_with_decimals(conversion: tuple[int, str, str, Decimal]) -> None:
    minor, source, destination, rate = conversion
    converted = convert(amount_of(minor, source), source, destination, rate)
    # Compared as fractions: scaling in the default decimal context would round 29 digits.
    assert Fraction(convert_minor(minor, source, destination, rate)) == (
        Fraction(converted) * 10 ** minor_units(destination))


@settings(max_examples=200, deadline=None)
@given(minor=minors, source=currencies, destination=currencies, low=rates, high=rates)
def test_a_higher_rate_never_gives_less(minor: int, source: str, destination: str,
                                        low: Decimal, high: Decimal) -> None:
    if source == destination:
        return
    low, high = sorted((low, high))
    assert convert_minor(minor, source, destination, low) <= convert_minor(
        minor, source, destination, high)


def test_ties_round_to_even() -> None:
    assert convert(Decimal("1.00"), "EUR", "JPY", Decimal("2.5")) == Decimal("2")
    assert convert(Decimal("1.00"), "EUR", "JPY", Decimal("3.5")) == Decimal("4")
    assert convert_minor(1, "EUR", "USD", Decimal("0.5")) == 0  # 0.005 USD: to the even 0.00
    assert convert_minor(3, "EUR", "USD", Decimal("0.5")) == 2  # 0.015 USD: to 0.02
    assert convert_minor(1000, "JPY", "KWD", Decimal("0.0020625")) == 2062  # 2.0625 KWD


def test_the_largest_amount_at_the_largest_rate_stays_exact() -> None:
    """(10^15 - 10^-4)(10^13 - 10^-10) = 10^28 - 10^9 - 10^5 + 10^-14: 31 digits once
    rounded to KWD's 3 decimals, more than the default decimal context's 28."""
    assert convert(Decimal("999999999999999.9999"), "CLF", "KWD",
                   Decimal("9999999999999.9999999999")) == Decimal(
                       "9999999999999999998999900000.000")


@pytest.mark.parametrize("rate", [Decimal(0), Decimal(-1), Decimal("NaN"), Decimal("Infinity")])
def test_a_rate_is_positive_and_finite(rate: Decimal) -> None:
    with pytest.raises(ValueError, match="positive"):
        convert(Decimal(1), "EUR", "USD", rate)


def test_one_currency_at_another_rate_is_refused() -> None:
    with pytest.raises(ValueError, match="itself"):
        convert_minor(100, "EUR", "EUR", Decimal("1.1"))


def test_a_currency_without_a_minor_unit_is_refused() -> None:
    with pytest.raises(ValueError, match="minor unit"):
        convert(Decimal(1), "XAU", "EUR", Decimal(1500))


@pytest.mark.parametrize("text", ["0", "-0.5", "NaN", "Infinity", "one", ""])
def test_a_rate_text_that_is_no_positive_number_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="FX rate"):
        rate_value(text)


def test_a_rate_text_is_read_exactly() -> None:
    assert rate_value("0.0061235") == Decimal("0.0061235")


@pytest.mark.parametrize(("base", "quote", "text"), [
    ("EUR", "EUR", "1"), ("XXX", "EUR", "1"), ("EUR", "XAU", "1"), ("EUR", "USD", "0")])
def test_a_pair_rate_is_two_currencies_with_minor_units_and_a_positive_rate(
        base: str, quote: str, text: str) -> None:
    with pytest.raises(ValueError):
        pair_rate(base, quote, text)
    assert pair_rate("EUR", "JPY", "162.35") == Decimal("162.35")
