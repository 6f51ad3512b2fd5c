"""Which partner is likeliest to win a lead: a win probability per partner and segment, from the
closed deals, that says so when a partner's record is too thin to tell.

The estimate is an empirical-Bayes beta-binomial chain. The population's rate of the segment is
where it starts; the partner's overall record moves it (shrunk toward what the population would
have won with the partner's own mix of deal types and countries); then the partner's record in
the deal type, the country and the product moves it again, each step shrunk toward the step
before. How hard each step pulls (its prior strength, in pseudo-deals) is fitted from the data
by the method of moments: the spread of partners' rates beyond what binomial noise explains.
So three deals won of three barely move a partner, three hundred speak for themselves.

The core (``Outcome``, ``fit``, ``PropensityModel``) does no I/O; ``history`` reads the outcomes.
"""

from __future__ import annotations

import math
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import StrEnum
from operator import itemgetter
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

# The segment fields in the order the hierarchy refines them.
FIELDS = ("deal_type", "country", "product")
# Every subset of FIELDS (as indexes), coarsest first: a query may leave any field open.
_MASKS: tuple[tuple[int, ...], ...] = ((), (0,), (1,), (2,), (0, 1), (0, 2), (1, 2), (0, 1, 2))
# Pseudo-deals by which a population segment's rate is pulled toward its parent segment's: the
# population's segments are large, this only steadies the rare ones.
_SEGMENT_STRENGTH = 20.0
# Bounds of a fitted prior strength (pseudo-deals): at least one, at most a thousand (the
# data showing no spread between partners at all: pool them).
_STRENGTH_MIN, _STRENGTH_MAX = 1.0, 1000.0
_PLACES = Decimal("0.0001")
_EPSILON = 1e-6


class Basis(StrEnum):
    """What an estimate rests on."""

    ESTIMATED = "estimated"
    INSUFFICIENT_HISTORY = "insufficient_history"


@dataclass(frozen=True, slots=True)
class Outcome:
    """A closed deal of a partner in one product segment. A deal of several products is one
    outcome per product; give them the same ``deal_id`` so that the deal counts once where the
    product does not matter (without it, each outcome counts as a deal)."""

    partner_id: uuid.UUID
    deal_type: str
    country: str
    product: str | None
    won: bool
    closed_on: date
    deal_id: uuid.UUID | None = None


@dataclass(frozen=True, slots=True)
class Estimate:
    """A partner's win probability in a segment.

    ``probability`` has four decimal places, or is None when the partner closed fewer than the
    model's ``min_sample`` deals (``basis`` "insufficient_history"). ``sample_size`` counts the
    partner's closed deals in ``segment``, the most specific level of the hierarchy holding any
    of them (all of the partner's deals when the history is insufficient). ``prior`` is the
    population's rate of the segment asked about."""

    probability: Decimal | None
    sample_size: int
    segment: str
    basis: str
    prior: Decimal


class _Cell:
    """A partner's record in one segment: closed deals, wins, the wins the population's rates
    expect of its mix (in this segment's unit, and for a product segment also in its parent's
    deal unit); then the fitted estimate and the partner's lift over its mix on the log-odds
    scale, which a child segment's prior starts from."""

    __slots__ = ("n", "w", "expected", "expected_deals", "mean", "p", "lift", "logit_rate")

    def __init__(self) -> None:
        self.n = self.w = 0
        self.expected = self.expected_deals = self.mean = self.p = self.lift = 0.0
        self.logit_rate = 0.0

    @property
    def rate(self) -> float:
        return self.expected / self.n


def _logit(p: float) -> float:
    """Log-odds of a rate already kept inside (0, 1): the population's rates are, and so are
    the means ``_sigmoid`` gives and the posteriors drawn toward them."""
    return math.log(p / (1.0 - p))


def _sigmoid(z: float) -> float:
    return min(max(1.0 / (1.0 + math.exp(-z)), _EPSILON), 1.0 - _EPSILON)


def _segment_name(mask: tuple[int, ...]) -> str:
    return "+".join(("partner", *(FIELDS[i] for i in mask)))


def _strength(residuals: Iterable[tuple[int, int, float]]) -> float:
    """The beta prior's strength from (deals, wins, prior mean) of many cells, by the method of
    moments: the squared residuals beyond binomial noise estimate the intra-cell correlation
    rho = 1 / (strength + 1)."""
    excess = scale = 0.0
    for n, w, mean in residuals:
        if n < 2:
            continue
        v = mean * (1.0 - mean)
        excess += (w - n * mean) ** 2 - n * v
        scale += n * (n - 1) * v
    if scale <= 0.0 or excess <= 0.0:
        return _STRENGTH_MAX
    return min(max(scale / excess - 1.0, _STRENGTH_MIN), _STRENGTH_MAX)


def _decimal(p: float) -> Decimal:
    return Decimal(repr(min(max(p, 0.0), 1.0))).quantize(_PLACES)


class PropensityModel:
    """Fitted counts and prior strengths; ``estimate`` and ``rank`` answer from dicts."""

    def __init__(self, *, min_sample: int, partners: dict[uuid.UUID, int],
                 population: dict[tuple[int, ...], dict[tuple, float]],
                 cells: dict[tuple[int, ...], dict[tuple, _Cell]],
                 strengths: dict[tuple[int, ...], float]) -> None:
        self.min_sample = min_sample
        self._partners = partners
        self._population = population
        self._cells = cells
        self._strengths = strengths

    @property
    def strengths(self) -> dict[str, float]:
        """The fitted prior strength of each level, in pseudo-deals, by segment name."""
        return {_segment_name(mask): strength for mask, strength in self._strengths.items()}

    def population_rate(self, deal_type: str | None = None, country: str | None = None,
                        product: str | None = None) -> float:
        mask, values = _query(deal_type, country, product)
        return self._rate(mask, values)

    def _rate(self, mask: tuple[int, ...], values: tuple[str, ...]) -> float:
        while True:
            rate = self._population[mask].get(values)
            if rate is not None:
                return rate
            mask, values = mask[:-1], values[:-1]

    def estimate(self, partner_id: uuid.UUID, deal_type: str | None = None,
                 country: str | None = None, product: str | None = None) -> Estimate:
        mask, values = _query(deal_type, country, product)
        rate = self._rate(mask, values)
        partner = self._partners.get(partner_id)
        root = self._cells[()].get((partner,))
        if partner is None or root is None or root.n < self.min_sample:
            return Estimate(None, root.n if root else 0, "partner",
                            Basis.INSUFFICIENT_HISTORY, _decimal(rate))
        cell, deepest = root, 0
        for depth in range(1, len(mask) + 1):
            found = self._cells[mask[:depth]].get((partner, *values[:depth]))
            if found is None:
                break
            cell, deepest = found, depth
        # Below the partner's record, the population's segment effects carry its lift on.
        p = cell.p if deepest == len(mask) else _sigmoid(cell.lift + _logit(rate))
        return Estimate(_decimal(p), cell.n, _segment_name(mask[:deepest]), Basis.ESTIMATED,
                        _decimal(rate))

    def rank(self, partner_ids: Iterable[uuid.UUID], deal_type: str | None = None,
             country: str | None = None, product: str | None = None
             ) -> list[tuple[uuid.UUID, Estimate]]:
        """The partners' estimates, likeliest first; partners without one last; ties by id."""
        estimates = [(partner_id, self.estimate(partner_id, deal_type, country, product))
                     for partner_id in partner_ids]
        estimates.sort(key=lambda pair: (pair[1].probability is None,
                                         -(pair[1].probability or 0), str(pair[0])))
        return estimates


def _query(deal_type: str | None, country: str | None,
           product: str | None) -> tuple[tuple[int, ...], tuple[str, ...]]:
    given = [(i, value) for i, value in enumerate((deal_type, country, product))
             if value is not None]
    return tuple(i for i, _ in given), tuple(value for _, value in given)


def _project(cells: dict[tuple, _Cell], keep: tuple[int, ...]) -> dict[tuple, _Cell]:
    """Partner cells summed onto a coarser segment: ``keep`` are the key positions kept."""
    coarse: dict[tuple, _Cell] = {}
    if len(keep) == 1:
        only = keep[0]
        short_key: Callable[[tuple], tuple] = lambda key: (key[only],)  # noqa: E731
    else:
        short_key = itemgetter(*keep) if keep else lambda key: ()
    for key, cell in cells.items():
        short = short_key(key)
        into = coarse.get(short)
        if into is None:
            into = coarse[short] = _Cell()
        into.n += cell.n
        into.w += cell.w
        into.expected += cell.expected
        into.expected_deals += cell.expected_deals
    return coarse


# How each level's cells are summed from a finer one (positions in the finer key), coarsest
# last: deal levels from (deal_type, country), product levels from (deal_type, country, product).
_PROJECTIONS: tuple[tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]], ...] = (
    ((0,), (0, 1), (0, 1)), ((1,), (0, 1), (0, 2)), ((), (0,), (0,)),
    ((0, 2), (0, 1, 2), (0, 1, 3)), ((1, 2), (0, 1, 2), (0, 2, 3)), ((2,), (0, 2), (0, 2)),
)


def fit(outcomes: Iterable[Outcome], *, min_sample: int = 10) -> PropensityModel:
    """Counts the outcomes per partner and segment and fits each level's prior strength."""
    outcomes = outcomes if isinstance(outcomes, list | tuple) else list(outcomes)
    # Partners numbered in their ids' order and cells summed in sorted order, so that every
    # sum below adds in one order whatever the input's: the same outcomes give the same
    # estimates to the last digit.
    ids = sorted({o.partner_id for o in outcomes})
    number = {partner_id: i for i, partner_id in enumerate(ids)}
    deals: Counter[tuple[int, str, str, bool]] = Counter()
    products: Counter[tuple[int, str, str, str, bool]] = Counter()
    seen: set[uuid.UUID] = set()
    for o in outcomes:
        partner = number[o.partner_id]
        if o.deal_id is None or o.deal_id not in seen:
            if o.deal_id is not None:
                seen.add(o.deal_id)
            deals[(partner, o.deal_type, o.country, o.won)] += 1
        if o.product is not None:
            products[(partner, o.deal_type, o.country, o.product, o.won)] += 1
    counted: tuple[tuple[tuple[int, ...], Counter[Any]], ...] = (
        ((0, 1), deals), ((0, 1, 2), products))
    finest: dict[tuple[int, ...], dict[tuple, _Cell]] = {}
    for mask, counts in counted:
        level = finest[mask] = {}
        for key, count in sorted(counts.items()):
            cell = level.get(key[:-1])
            if cell is None:
                cell = level[key[:-1]] = _Cell()
            cell.n += count
            if key[-1]:
                cell.w += count

    # The population's rate of every segment, each pulled a little toward its parent's.
    totals: dict[tuple[int, ...], dict[tuple, _Cell]] = {
        mask: _project(level, tuple(range(1, len(mask) + 1))) for mask, level in finest.items()}
    for mask, source, keep in _PROJECTIONS:
        totals[mask] = _project(totals[source], tuple(i - 1 for i in keep[1:]))
    population: dict[tuple[int, ...], dict[tuple, float]] = {}
    for mask in _MASKS:
        if not mask:
            total = totals[()].get((), _Cell())
            population[()] = {(): (total.w + 1.0) / (total.n + 2.0)}
            continue
        above = population[mask[:-1]]
        population[mask] = {
            values: (t.w + _SEGMENT_STRENGTH * above[values[:-1]]) / (t.n + _SEGMENT_STRENGTH)
            for values, t in totals[mask].items()}

    # Each partner's record per segment, with the wins the population's finest rates expect.
    deal_rates, product_rates = population[(0, 1)], population[(0, 1, 2)]
    for key, cell in finest[(0, 1)].items():
        cell.expected = cell.n * deal_rates[key[1:]]
    for key, cell in finest[(0, 1, 2)].items():
        cell.expected = cell.n * product_rates[key[1:]]
        cell.expected_deals = cell.n * deal_rates[key[1:3]]
    cells = dict(finest)
    for mask, source, keep in _PROJECTIONS:
        cells[mask] = _project(cells[source], keep)

    strengths: dict[tuple[int, ...], float] = {}
    root = cells[()]
    strength = strengths[()] = _strength((c.n, c.w, c.rate) for c in root.values())
    for cell in root.values():
        cell.mean = cell.rate
        cell.p = (cell.w + strength * cell.mean) / (cell.n + strength)
        cell.lift = _logit(cell.p) - _logit(cell.mean)
    for mask in _MASKS[1:]:
        for cell in cells[mask].values():
            cell.logit_rate = _logit(cell.rate)
    for mask in _MASKS[1:]:
        parents, parent_strength = cells[mask[:-1]], strengths[mask[:-1]]
        level = cells[mask]
        # The strength is fitted against the parent's record without the cell's own deals:
        # with them, the parent already leans toward the cell and the spread looks smaller.
        residuals = []
        product = 2 in mask
        for key, cell in level.items():
            parent = parents[key[:-1]]
            rest = parent.n - cell.n
            if rest > 0:
                own = cell.expected_deals if product else cell.expected
                rest_p = (parent.w - cell.w + parent_strength * parent.mean) / (
                    rest + parent_strength)
                rest_rate = min(max((parent.expected - own) / rest, _EPSILON), 1 - _EPSILON)
                lift = _logit(rest_p) - _logit(rest_rate)
            else:
                lift = _logit(parent.mean) - _logit(parent.rate)
            residuals.append((cell.n, cell.w, _sigmoid(lift + cell.logit_rate)))
        strength = strengths[mask] = _strength(residuals)
        for key, cell in level.items():
            cell.mean = _sigmoid(parents[key[:-1]].lift + cell.logit_rate)
            cell.p = (cell.w + strength * cell.mean) / (cell.n + strength)
            if not product:  # a product level is no level's parent
                cell.lift = _logit(cell.p) - cell.logit_rate
    return PropensityModel(min_sample=min_sample, partners=number, population=population,
                           cells=cells, strengths=strengths)


# Closed deals, newest first, one row per distinct product sku (NULL for a deal without one).
_HISTORY = """
SELECT d.id, d.partner_id, d.deal_type, d.customer_country, p.sku, d.status = 'won' AS won,
       d.closed_on
FROM (SELECT id, partner_id, deal_type, customer_country, products, status, closed_on
      FROM deals
      WHERE status IN ('won', 'lost') AND closed_on IS NOT NULL {bound}
      ORDER BY closed_on DESC, id DESC
      LIMIT :limit) AS d
LEFT JOIN LATERAL (
    SELECT DISTINCT item ->> 'sku' AS sku
    FROM jsonb_array_elements(CASE jsonb_typeof(d.products) WHEN 'array' THEN d.products
                                   ELSE '[]'::jsonb END) AS item
    WHERE item ->> 'sku' IS NOT NULL
) AS p ON true
ORDER BY d.closed_on DESC, d.id DESC, p.sku
"""


async def history(connection: AsyncConnection | AsyncSession, *, before: date | None = None,
                  limit: int = 200_000) -> list[Outcome]:
    """The ``limit`` newest closed deals (won or lost, with a close date before ``before`` if
    given) as outcomes, one per product of a deal, in one statement."""
    params: dict[str, object] = {"limit": limit}
    bound = ""
    if before is not None:
        bound, params["before"] = "AND closed_on < :before", before
    rows = await connection.execute(text(_HISTORY.format(bound=bound)), params)
    return [Outcome(partner_id=row.partner_id, deal_type=row.deal_type,
                    country=row.customer_country, product=row.sku, won=row.won,
                    closed_on=row.closed_on, deal_id=row.id) for row in rows]


__all__: Sequence[str] = ("Basis", "Estimate", "Outcome", "PropensityModel", "fit", "history")
