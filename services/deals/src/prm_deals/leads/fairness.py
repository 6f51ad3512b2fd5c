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

import heapq
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from itertools import groupby
from typing import NamedTuple


class Member(NamedTuple):
    """A partner of a pool: its weight (a positive integer) and the leads it had from it.
    (A tuple: a pool of ten thousand is built for every lead.)"""

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


def order(members: list[Member], picks: int, limit: int | None = None) -> list[Turn]:
    """The members, the one whose turn it is first, for the pool's lead number ``picks + 1``
    (``picks`` leads were given out before, ``sum(m.assigned)`` of them to these members):
    all of them, or the first ``limit``."""
    if not members:
        return []
    if any(m.weight <= 0 for m in members):
        raise ValueError("weights are positive integers")
    k, total, step = len(members), sum(m.weight for m in members), picks + 1
    gaps = 2 * k - 2 if k > 1 else 1
    # (not due, deadline as a float, index): behind by at least 1/(2k-2) of a lead is
    # (step*w/W - c) >= 1/(2k-2) in integers; the deadline (c + 1 - 1/(2k-2)) * W / w is
    # compared without its common factor W / (2k-2).
    keys = [(not (k == 1 or (step * m.weight - total * m.assigned) * gaps >= total),
             ((m.assigned + 1) * gaps - 1) / m.weight, i) for i, m in enumerate(members)]
    if limit is not None and limit < k:
        chosen = heapq.nsmallest(limit, keys)
        # Members tied with the last one taken (equal floats) may come before it exactly:
        # they are all taken, and the exact order decides below.
        last, taken = chosen[-1][:2], {key[2] for key in chosen}
        chosen += [key for key in keys if key[:2] == last and key[2] not in taken]
        chosen.sort()
    else:
        chosen = sorted(keys)
    wanted = k if limit is None else limit
    ranked: list[Turn] = []
    for (late, _), group in groupby(chosen, key=lambda t: t[:2]):
        tied = [members[i] for _, _, i in group]
        room = wanted - len(ranked)
        if len(tied) > room:
            tied = heapq.nsmallest(room, tied, key=_exactly(tied, gaps))
        elif len(tied) > 1:
            tied.sort(key=_exactly(tied, gaps))
        ranked += [Turn(m, not late, Fraction(step * m.weight, total)) for m in tied]
        if len(ranked) >= wanted:
            break
    return ranked


def _exactly(tied: list[Member], gaps: int) -> Callable[[Member], tuple[int, int]]:
    """The sort key of members whose deadlines are equal as floats: the rank of the exact
    deadline, then the partner id. Float division is correctly rounded and so monotone, so
    only these need the exact fraction, computed once per distinct (count, weight)."""
    exact = {(m.assigned, m.weight): Fraction((m.assigned + 1) * gaps - 1, m.weight)
             for m in tied}
    place = {value: rank for rank, value in enumerate(sorted(set(exact.values())))}
    return lambda m: (place[exact[m.assigned, m.weight]], m.partner_id.int)
