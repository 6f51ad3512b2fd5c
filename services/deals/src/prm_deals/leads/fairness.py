"""Whose turn it is: the order in which a pool of weighted partners is offered its next lead.

A pool's partners should each get their weighted share of its leads, and never drift far from
it: after any number of leads ``n``, partner ``i`` with weight ``w_i`` (of ``W`` in all) has had
about ``n * w_i / W``. Weighted random picks (as some PRMs do) drift by the square root of
``n``; smooth weighted round robin stays close, but can stray past one lead for some weight
sets. Tijdeman's chairman-assignment rule never strays more than ``1 - 1/(2k - 2)`` of a lead
for ``k`` partners, whatever the weights, at every prefix: among the partners at least
``1/(2k - 2)`` of a lead behind their share, the one whose share would next run a whole lead
ahead of its count goes first (earliest deadline). Integer arithmetic only, ties broken by
partner id: the same pool in the same state always gives the same order.

``order`` ranks every member, so that a partner that cannot take the lead (at capacity, paused,
declined it before) is passed over for the next in line; the pool's counts then move only for
the partner that took it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from fractions import Fraction
from itertools import groupby


@dataclass(frozen=True, slots=True)
class Member:
    """A partner of a pool: its weight (a positive integer) and the leads it had from it."""

    partner_id: uuid.UUID
    weight: int
    assigned: int


@dataclass(frozen=True, slots=True)
class Turn:
    """A member's place in the order, and why: ``due`` (behind its share: its turn may be now)
    or ``ahead`` (at or past its share for the moment)."""

    member: Member
    due: bool
    # The member's share of the pool's leads so far plus this one, as an exact fraction.
    entitled: Fraction


def order(members: list[Member], picks: int) -> list[Turn]:
    """Every member, the one whose turn it is first, for the pool's lead number ``picks + 1``
    (``picks`` leads were given out before, ``sum(m.assigned)`` of them to these members)."""
    if not members:
        return []
    if any(m.weight <= 0 for m in members):
        raise ValueError("weights are positive integers")
    k, total, step = len(members), sum(m.weight for m in members), picks + 1
    gaps = 2 * k - 2 if k > 1 else 1
    turns = []
    for m in members:
        # Behind by at least 1/(2k-2) of a lead: (step*w/W - c) >= 1/(2k-2), in integers.
        due = k == 1 or (step * m.weight - total * m.assigned) * gaps >= total
        # The deadline (c + 1 - 1/(2k-2)) * W / w, without the common factor W / (2k-2).
        deadline = (m.assigned + 1) * gaps - 1
        turns.append((not due, deadline / m.weight, deadline, m, due))
    # Float division is correctly rounded and so monotone: sorting by it is exact except
    # among equal floats, which are ordered again by the exact fraction.
    turns.sort(key=lambda t: (t[0], t[1]))
    ranked: list[Turn] = []
    for _, group in groupby(turns, key=lambda t: (t[0], t[1])):
        for _, _, _deadline, m, due in sorted(
                group, key=lambda t: (Fraction(t[2], t[3].weight), t[3].partner_id.int)):
            ranked.append(Turn(m, due, Fraction(step * m.weight, total)))
    return ranked
