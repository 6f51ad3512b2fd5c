"""Splitting a deal's amount, in integer minor units, by exact rational weights.

Largest remainder (Hamilton): each partner first gets the floor of its exact share, then the
minor units left over (fewer than the number of partners) go one each to the largest
remainders. Ties between equal remainders are broken deterministically, so the same inputs give
the same cents on every replica and every replay: the partner whose first touch came earlier
wins, then the smaller partner id (as text). The credits are never negative and always sum to
the amount exactly.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction


@dataclass(frozen=True)
class Claimant:
    """A partner with a positive or zero weight, and what breaks a tie in its favour."""

    partner_id: uuid.UUID
    weight: Fraction
    first_touch_at: dt.datetime


def largest_remainder(total: int, claimants: list[Claimant]) -> dict[uuid.UUID, int]:
    if total < 0:
        raise ValueError("the amount to split is negative")
    if not claimants:
        return {}
    if any(c.weight < 0 for c in claimants):
        raise ValueError("a weight is negative")
    weights = sum((c.weight for c in claimants), Fraction(0))
    if weights == 0:  # nobody earned anything by this model: split evenly
        claimants = [Claimant(c.partner_id, Fraction(1), c.first_touch_at) for c in claimants]
        weights = Fraction(len(claimants))
    shares = {c.partner_id: total * c.weight / weights for c in claimants}
    credits = {pid: share.numerator // share.denominator for pid, share in shares.items()}
    left = total - sum(credits.values())
    order = sorted(claimants, key=lambda c: (-(shares[c.partner_id] - credits[c.partner_id]),
                                             c.first_touch_at, str(c.partner_id)))
    for claimant in order[:left]:
        credits[claimant.partner_id] += 1
    return credits


def normalise(weights: Mapping[uuid.UUID, Fraction]) -> dict[uuid.UUID, Fraction]:
    """Shares that sum to 1 (an even split when every weight is zero)."""
    total = sum(weights.values(), Fraction(0))
    if total == 0:
        return {pid: Fraction(1, len(weights)) for pid in weights}
    return {pid: w / total for pid, w in weights.items()}
