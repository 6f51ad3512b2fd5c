"""The data-driven models, computed from the programme's history of closed deals.

**Markov removal effect.** Each closed deal is a journey: start -> the partners that touched it,
in order -> conversion (won) or null (lost). The transition counts give an absorbing Markov
chain; the probability of reaching conversion from start is the solution of a linear system,
solved here exactly by fraction-free elimination over the transition counts (no sampling, no
floating point), the journeys counted once for the full chain and every removal. A partner's
removal effect is the share of that probability lost when its state is removed (every
transition into it goes to null instead). Partners not on the deal being credited are merged into
one "other" state, which keeps the system as small as the deal (and its credit is never paid).

**Shapley value.** The game: v(S) = the number of won deals in the history whose partners (those
of the deal being credited) are a non-empty subset of S. It is monotone, so every marginal
contribution, hence every Shapley value, is >= 0. Exact (every coalition) up to
``exact_up_to`` partners; above, the mean marginal contribution over permutations drawn with a
fixed seed, with a 95% Hoeffding bound on each value's error.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal, localcontext
from fractions import Fraction

START, CONVERSION, NULL, OTHER = "(start)", "(conversion)", "(null)", "(other)"


@dataclass(frozen=True)
class Journey:
    """The partners of one closed deal in touch order, and whether it was won."""

    path: tuple[str, ...]
    won: bool


def _collapse(path: Sequence[str]) -> list[str]:
    # Touches of one partner in a row are one step: the chain is about hand-offs.
    steps: list[str] = []
    for state in path:
        if not steps or steps[-1] != state:
            steps.append(state)
    return steps


def _last_unknown(matrix: list[list[int]], rhs: list[int]) -> Fraction:
    """x[n-1] of the integer system ``matrix`` x = ``rhs``, exactly: fraction-free (Bareiss)
    elimination keeps every entry an integer (each division is exact), and the one fraction is
    the last pivot's quotient."""
    n = len(rhs)
    a = [row[:] + [b] for row, b in zip(matrix, rhs, strict=True)]
    previous = 1
    for col in range(n):
        pivot = next((r for r in range(col, n) if a[r][col] != 0), None)
        if pivot is None:
            raise ArithmeticError("singular system: a state never reaches an absorbing one")
        a[col], a[pivot] = a[pivot], a[col]
        lead, top = a[col][col], a[col]
        for r in range(col + 1, n):
            row = a[r]
            factor = row[col]
            for j in range(col + 1, n + 1):
                row[j] = (row[j] * lead - factor * top[j]) // previous
            row[col] = 0
        previous = lead
    return Fraction(a[n - 1][n], a[n - 1][n - 1])


Counts = dict[str, dict[str, int]]


def transition_counts(journeys: Sequence[Journey]) -> Counts:
    """How often each state hands off to each next one, over all ``journeys``."""
    counts: Counts = {}
    for journey in journeys:
        steps = [START, *_collapse(journey.path), CONVERSION if journey.won else NULL]
        for here, there in zip(steps, steps[1:], strict=False):
            row = counts.setdefault(here, {})
            row[there] = row.get(there, 0) + 1
    return counts


def _probability(counts: Counts, removed: str | None) -> Fraction:
    if START not in counts:
        return Fraction(0)
    # Start last: it is the one unknown wanted, the first that back-substitution gives.
    transient = [s for s in counts if s not in (removed, START)] + [START]
    index = {s: i for i, s in enumerate(transient)}
    # x = Q x + b  <=>  (I - Q) x = b over the transient states kept; each state's row times
    # its number of transitions out makes the system one of counts (integers).
    matrix = [[0] * len(transient) for _ in transient]
    rhs = [0] * len(transient)
    for state in transient:
        row = counts[state]
        i = index[state]
        matrix[i][i] += sum(row.values())
        for there, count in row.items():
            if there == CONVERSION:
                rhs[i] += count
            elif there in index:
                matrix[i][index[there]] -= count
            # NULL, and the removed state (now null), absorb with no value.
    return _last_unknown(matrix, rhs)


def conversion_probability(journeys: Sequence[Journey], removed: str | None = None
                           ) -> Fraction:
    """P(start reaches conversion) in the chain of ``journeys``; with ``removed``, in the chain
    where that state leads to null."""
    return _probability(transition_counts(journeys), removed)


def removal_effects(journeys: Sequence[Journey], states: Sequence[str]
                    ) -> tuple[dict[str, Fraction], Fraction]:
    """Each state's removal effect 1 - P(conversion without it) / P(conversion), and P."""
    # Removing a state only changes which transitions absorb, not how often each happened:
    # the journeys are counted once, and every chain (full and each removal) solved from that.
    counts = transition_counts(journeys)
    full = _probability(counts, None)
    if full == 0:
        return {s: Fraction(0) for s in states}, full
    return {s: 1 - _probability(counts, s) / full for s in states}, full


def restrict(paths: Sequence[tuple[Sequence[str], bool]], partners: set[str]
             ) -> list[Journey]:
    """The history as the chain of one deal sees it: other partners merged into "other"."""
    return [Journey(tuple(p if p in partners else OTHER for p in path), won)
            for path, won in paths if path]


@dataclass(frozen=True)
class ShapleyResult:
    values: dict[str, Fraction]  # by player, in the game's units
    exact: bool
    samples: int
    # 95% bound on the absolute error of each value, in the game's units (None when exact).
    error_bound: Decimal | None


def shapley(players: Sequence[str], value: Callable[[int], Fraction], *, exact_up_to: int = 12,
            samples: int = 1000, seed: int = 0, marginal_range: Fraction | None = None
            ) -> ShapleyResult:
    """Shapley values of ``players`` for ``value`` (a function of a coalition as a bit mask,
    bit i for ``players[i]``). Exact when there are at most ``exact_up_to`` players; else
    sampled permutations and, with ``marginal_range`` (the width of the interval every
    marginal contribution lies in), the Hoeffding bound at 95%."""
    n = len(players)
    if n <= exact_up_to:
        table = [value(mask) for mask in range(1 << n)]
        # phi_i = sum over S without i of |S|! (n-|S|-1)! / n! * (v(S+i) - v(S)): summed in
        # integers (the table scaled to a common denominator, the weights by n!), one
        # division per player.
        scale = math.lcm(*(v.denominator for v in table))
        scaled = [v.numerator * (scale // v.denominator) for v in table]
        factorial = [math.factorial(k) for k in range(n + 1)]
        weight = [factorial[s] * factorial[n - s - 1] for s in range(n)]
        divisor = factorial[n] * scale
        result = {}
        for i, player in enumerate(players):
            bit = 1 << i
            total = 0
            for mask in range(1 << n):
                if not mask & bit:
                    total += weight[mask.bit_count()] * (scaled[mask | bit] - scaled[mask])
            result[player] = Fraction(total, divisor)
        return ShapleyResult(result, exact=True, samples=0, error_bound=None)
    rng = random.Random(seed)
    cache: dict[int, Fraction] = {}

    def cached(mask: int) -> Fraction:
        if mask not in cache:
            cache[mask] = value(mask)
        return cache[mask]

    sums = [Fraction(0)] * n
    order = list(range(n))
    for _ in range(samples):
        rng.shuffle(order)
        mask, before = 0, cached(0)
        for i in order:
            mask |= 1 << i
            after = cached(mask)
            sums[i] += after - before
            before = after
    estimates = {player: sums[i] / samples for i, player in enumerate(players)}
    width = marginal_range if marginal_range is not None else Fraction(0)
    with localcontext() as context:
        context.prec = 28
        # Hoeffding: P(|mean - phi| >= t) <= 2 exp(-2 m t^2 / R^2); t for 5%.
        bound = (Decimal(width.numerator) / Decimal(width.denominator)) * (
            (Decimal(2) / Decimal("0.05")).ln() / (2 * samples)).sqrt()
    return ShapleyResult(estimates, exact=False, samples=samples, error_bound=bound)


def win_count_game(deal_partners: Sequence[str], history: Sequence[Journey]
                   ) -> tuple[Callable[[int], Fraction], Fraction]:
    """v(S) for the partners of one deal, and v(all): won deals whose partners among these are
    a non-empty subset of S."""
    bit = {p: 1 << i for i, p in enumerate(deal_partners)}
    counts: dict[int, int] = {}
    for journey in history:
        if not journey.won:
            continue
        mask = 0
        for p in journey.path:
            mask |= bit.get(p, 0)
        if mask:
            counts[mask] = counts.get(mask, 0) + 1

    def value(coalition: int) -> Fraction:
        return Fraction(sum(c for m, c in counts.items() if m & ~coalition == 0))

    return value, value((1 << len(deal_partners)) - 1)
