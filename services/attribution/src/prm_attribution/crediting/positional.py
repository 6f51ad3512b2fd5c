"""The rule-based models: each gives every touch a weight; a partner's weight is the sum of its
touches'. Touches come ordered by time (then id), so "first" and "last" are well defined."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, localcontext
from fractions import Fraction
from typing import Any

SOURCING_KIND = "registration"


@dataclass(frozen=True)
class Touch:
    id: uuid.UUID
    partner_id: uuid.UUID
    kind: str
    occurred_at: dt.datetime


def ordered(touches: Sequence[Touch]) -> list[Touch]:
    return sorted(touches, key=lambda t: (t.occurred_at, str(t.id)))


def first_touch(touches: Sequence[Touch]) -> list[Fraction]:
    return [Fraction(1) if i == 0 else Fraction(0) for i in range(len(touches))]


def last_touch(touches: Sequence[Touch]) -> list[Fraction]:
    return [Fraction(1) if i == len(touches) - 1 else Fraction(0) for i in range(len(touches))]


def linear(touches: Sequence[Touch]) -> list[Fraction]:
    return [Fraction(1, len(touches))] * len(touches)


def time_decay(touches: Sequence[Touch], reference: dt.datetime,
               half_life_days: Decimal) -> list[Fraction]:
    """2^(-age / half-life), the age counted back from ``reference`` (the close of a won deal,
    the last touch of an open one: never "now", so that a replay computes the same). Decimal
    powers are correctly rounded at a fixed precision, so every platform gets the same digits;
    the weights are then exact fractions."""
    half_life = half_life_days * 86400
    weights = []
    with localcontext() as context:
        context.prec = 34
        for touch in touches:
            age = max(Decimal(0), Decimal(str((reference - touch.occurred_at).total_seconds())))
            weights.append(Fraction(Decimal(2) ** (-age / half_life)))
    return weights


def position_based(touches: Sequence[Touch]) -> list[Fraction]:
    """40% first, 40% last, 20% shared by the touches between (U-shaped)."""
    n = len(touches)
    if n <= 2:
        return [Fraction(1, n)] * n
    middle = Fraction(1, 5) / (n - 2)
    return [Fraction(2, 5) if i in (0, n - 1) else middle for i in range(n)]


def w_shaped(touches: Sequence[Touch]) -> list[Fraction]:
    """30% first touch, 30% the opportunity's creation (the first registration touch; without
    one, the middle touch), 30% last, 10% shared by the rest. Key touches that coincide add
    their shares; with nothing left for "the rest", the shares are renormalised."""
    n = len(touches)
    creation = next((i for i, t in enumerate(touches) if t.kind == SOURCING_KIND), n // 2)
    weights = [Fraction(0)] * n
    for key in (0, creation, n - 1):
        weights[key] += Fraction(3, 10)
    rest = [i for i in range(n) if i not in (0, creation, n - 1)]
    for i in rest:
        weights[i] += Fraction(1, 10) / len(rest)
    return weights


def custom_weights(touches: Sequence[Touch], kind_weights: Mapping[Any, Decimal],
                   default: Decimal) -> list[Fraction]:
    return [Fraction(kind_weights.get(t.kind, default)) for t in touches]


def by_partner(touches: Sequence[Touch], weights: Sequence[Fraction]
               ) -> dict[uuid.UUID, Fraction]:
    """Each partner's weight: the sum of its touches' (every partner that touched is listed,
    with zero if its touches weigh nothing)."""
    totals: dict[uuid.UUID, Fraction] = {}
    for touch, weight in zip(touches, weights, strict=True):
        totals[touch.partner_id] = totals.get(touch.partner_id, Fraction(0)) + weight
    return totals
