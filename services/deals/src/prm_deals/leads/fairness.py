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
the partner that took it. Members of the same weight and count share their place (their
deadlines are equal), so the order is worked out over those groups, each listing its partners
in id order: a pool of ten thousand that gave out a few hundred leads has a handful of groups,
which a routing process keeps between leads and moves one partner at a time (``Groups.move``).
"""

from __future__ import annotations

import bisect
import heapq
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from itertools import groupby
from typing import NamedTuple


class Member(NamedTuple):
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


class Groups:
    """A pool's members by (weight, leads had), each group's partner ids (as integers: a
    kept pool of ten thousand is then a handful of lists the garbage collector need not walk)
    in id order."""

    def __init__(self, members: list[Member]) -> None:
        if any(m.weight <= 0 for m in members):
            raise ValueError("weights are positive integers")
        self.by: dict[tuple[int, int], list[int]] = {}
        for m in sorted(members, key=lambda m: m.partner_id.int):
            self.by.setdefault((m.weight, m.assigned), []).append(m.partner_id.int)
        self.size = len(members)
        self.total = sum(m.weight for m in members)

    @classmethod
    def of(cls, weights: dict[int, int], counts: dict[int, int]) -> Groups:
        """The groups of partners (by ``uuid.UUID.int``) with these weights and counts."""
        groups = cls([])
        for partner in sorted(weights):
            weight = weights[partner]
            if weight <= 0:
                raise ValueError("weights are positive integers")
            groups.by.setdefault((weight, counts.get(partner, 0)), []).append(partner)
        groups.size, groups.total = len(weights), sum(weights.values())
        return groups

    def move(self, partner_id: uuid.UUID, weight: int, assigned: int) -> None:
        """One more lead for the member of this weight that had ``assigned``."""
        ids = self.by[weight, assigned]
        ids.pop(bisect.bisect_left(ids, partner_id.int))
        if not ids:
            del self.by[weight, assigned]
        bisect.insort(self.by.setdefault((weight, assigned + 1), []), partner_id.int)

    def copy(self) -> Groups:
        twin = Groups([])
        twin.by = {key: list(ids) for key, ids in self.by.items()}
        twin.size, twin.total = self.size, self.total
        return twin


def order(members: list[Member] | Groups, picks: int, limit: int | None = None
          ) -> list[Turn]:
    """The members, the one whose turn it is first, for the pool's lead number ``picks + 1``
    (``picks`` leads were given out before, ``sum(m.assigned)`` of them to these members):
    all of them, or the first ``limit``."""
    groups = members if isinstance(members, Groups) else Groups(members)
    k, total, step = groups.size, groups.total, picks + 1
    if not k:
        return []
    gaps = 2 * k - 2 if k > 1 else 1

    def place(key: tuple[int, int]) -> tuple[bool, Fraction]:
        # Behind by at least 1/(2k-2) of a lead is (step*w/W - c) >= 1/(2k-2) in integers;
        # the deadline (c + 1 - 1/(2k-2)) * W / w is compared without its factor W / (2k-2).
        weight, assigned = key
        late = not (k == 1 or (step * weight - total * assigned) * gaps >= total)
        return late, Fraction((assigned + 1) * gaps - 1, weight)

    wanted = k if limit is None else min(limit, k)
    ranked: list[Turn] = []
    for (late, _), tied in groupby(sorted(groups.by, key=place), key=place):
        keys = list(tied)
        if len(keys) == 1:  # one group: its partners in id order
            weight, assigned = keys[0]
            listed = ((p, weight, assigned) for p in groups.by[keys[0]])
        else:  # groups tied exactly (equal deadlines of other weights): merged by id
            listed = heapq.merge(*(_keyed(groups.by[key], *key) for key in keys))
        for partner_id, weight, assigned in listed:
            ranked.append(Turn(Member(uuid.UUID(int=partner_id), weight, assigned), not late,
                               Fraction(step * weight, total)))
            if len(ranked) >= wanted:
                return ranked
    return ranked


def _keyed(ids: list[int], weight: int, assigned: int) -> Iterator[tuple[int, int, int]]:
    return ((p, weight, assigned) for p in ids)
