"""An offer's money, in integer minor units of its currency: what the customer pays (gross =
wholesale + markup), the marketplace's fee, and how the fee falls on the two shares.

The marketplace takes its fee from what it collects, and each party bears it on its own share
(as AWS charges its listing fee on a channel partner private offer: the vendor on the
wholesale price, the partner on its markup): the vendor's part of the fee is the fee times
wholesale / gross, rounded half to even to a minor unit, the partner's the rest. So
vendor net + partner margin + fee = gross exactly, and neither share goes below zero."""

from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal, localcontext

HUNDRED = Decimal(100)


def _rounded(value: Decimal) -> int:
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


def fee_of_percent(gross: int, percent: Decimal) -> int:
    """``percent`` of ``gross`` minor units, rounded half to even to a minor unit."""
    if not 0 <= percent <= HUNDRED:
        raise ValueError("a fee percentage is between 0 and 100")
    with localcontext() as exact:
        exact.prec = 60
        return _rounded(Decimal(gross) * percent / HUNDRED)


@dataclass(frozen=True)
class Split:
    wholesale: int
    markup: int
    gross: int
    fee: int
    vendor_fee: int
    partner_fee: int
    partner_margin: int
    vendor_net: int


def split(wholesale: int, markup: int, fee: int) -> Split:
    """The shares of an offer with these minor units; ValueError when a part is negative or
    the fee exceeds the gross."""
    if wholesale < 0 or markup < 0 or fee < 0:
        raise ValueError("the wholesale price, markup and fee are never negative")
    gross = wholesale + markup
    if fee > gross:
        raise ValueError("the marketplace fee exceeds what the customer pays")
    with localcontext() as exact:
        exact.prec = 60
        vendor_fee = _rounded(Decimal(fee) * wholesale / gross) if gross else 0
    partner_fee = fee - vendor_fee
    return Split(wholesale=wholesale, markup=markup, gross=gross, fee=fee,
                 vendor_fee=vendor_fee, partner_fee=partner_fee,
                 partner_margin=markup - partner_fee, vendor_net=wholesale - vendor_fee)
