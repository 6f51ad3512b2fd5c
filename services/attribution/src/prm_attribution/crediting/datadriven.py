"""The data-driven models, computed from the programme's history of closed deals.

**Markov removal effect** (Anderl et al., 2016). Each closed deal is a journey: start -> the
partners that touched it, in order (touches of one partner in a row are one step) -> conversion
(won) or null (lost). The transition counts of all journeys give one absorbing Markov chain
whose transient states are start and every partner of the history. A partner's removal effect
is the share of P(start reaches conversion) lost when its state is removed (every transition
into it goes to null): RE(r) = 1 - P_without_r / P. It depends on the history only, never on
the deal being credited.

Solved exactly, in rationals, without one linear system per removal: with N = (I - Q)^-1 the
fundamental matrix and x the conversion probabilities, P_without_r = x(start) - h(r) x(r), where
h(r) = N(start, r) / N(r, r) is the probability of ever reaching r; so RE(r) = N(start, r) x(r)
/ (N(r, r) x(start)). The states are split into strongly connected components (groups of
partners that hand off to each other in a cycle) and solved group by group: x from the
absorbing end, the row N(start, .) from start. A state outside every cycle has N(r, r) = 1; a
group's N(r, r) is the diagonal of its own block's inverse. The cost is linear in the chain
plus the cube of each cycle group's size, so this is done while the largest group has at most
``exact_up_to`` states. A real programme's hand-offs go both ways and soon make one large group
(2,000 closed deals of 2,000 partners: 876 of the 1,221 states); such a chain is solved in
binary64 by LAPACK (numpy) as one dense system, up to ``DENSE_UP_TO`` states, with a rigorous
bound from the residual of the inverse; above that, for the deal's partners only, by
propagating start's probability mass step by step in 34-digit decimals until less than 1e-15
of it is still moving. Either way each removal effect comes with its error bound
(``MarkovSolution.error_bound``).

**Shapley value** (the documented game). v(S) = the number of won deals in the history whose
partners are all in S (and at least one). It is the sum, over won deals d, of the unanimity
game of d's partners P(d), whose Shapley value is 1/|P(d)| for each member and 0 for everyone
else; Shapley values are additive, so phi(i) = the sum over won deals d with i in P(d) of
1/|P(d)|: exact for any number of partners, with no enumeration and no sampling, and additive
over the history by construction. The rules may instead name the game projected onto the
deal being credited (``deal``: P(d) intersected with its partners), as rules versions before
the full-history game computed it.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, localcontext
from fractions import Fraction

import numpy as np

START, CONVERSION, NULL, OTHER = "(start)", "(conversion)", "(null)", "(other)"
ABSORBING = (CONVERSION, NULL)
# The propagation used for chains with cycle groups too large to solve exactly.
_PRECISION = 34
_TOLERANCE = Decimal("1e-15")
_MAX_STEPS = 20_000
# Chains with more states than this are not solved densely (memory and time grow as n^2, n^3).
DENSE_UP_TO = 3000


@dataclass(frozen=True)
class Journey:
    """The partners of one closed deal in touch order, and whether it was won."""

    path: tuple[str, ...]
    won: bool


def steps_of(journey: Journey) -> list[str]:
    steps = [START]
    for state in journey.path:
        if steps[-1] != state:  # touches of one partner in a row are one step
            steps.append(state)
    steps.append(CONVERSION if journey.won else NULL)
    return steps


Counts = dict[str, dict[str, int]]


def transition_counts(journeys: Sequence[Journey]) -> Counts:
    """How often each state hands off to each next one, over all ``journeys``."""
    counts: Counts = {}
    for journey in journeys:
        steps = steps_of(journey)
        for here, there in zip(steps, steps[1:], strict=False):
            row = counts.setdefault(here, {})
            row[there] = row.get(there, 0) + 1
    return counts


def _components(graph: dict[str, list[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components, iteratively; each comes after every component
    it can reach (the absorbing end first)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in graph:
        if root in index:
            continue
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        work = [(root, iter(graph[root]))]
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(graph[child])))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    found.append(component)
    return found


def _inverse(matrix: list[list[Fraction]]) -> list[list[Fraction]]:
    """Gauss-Jordan in rationals. (I - Q) of states that all reach absorption is invertible."""
    n = len(matrix)
    a = [row[:] + [Fraction(int(i == j)) for j in range(n)] for i, row in enumerate(matrix)]
    for col in range(n):
        pivot = next((r for r in range(col, n) if a[r][col] != 0), None)
        if pivot is None:
            raise ArithmeticError("singular system: a state never reaches an absorbing one")
        a[col], a[pivot] = a[pivot], a[col]
        lead = a[col][col]
        a[col] = [value / lead for value in a[col]]
        top = a[col]
        for r in range(n):
            factor = a[r][col]
            if r != col and factor != 0:
                a[r] = [value - factor * t for value, t in zip(a[r], top, strict=True)]
    return [row[n:] for row in a]


@dataclass(frozen=True)
class MarkovSolution:
    conversion: Fraction  # P(start reaches conversion) in the full chain
    effects: dict[str, Fraction]  # each partner state's removal effect
    exact: bool
    states: int  # transient partner states of the chain
    largest_cycle_group: int
    # When not exact: a bound on each removal effect's absolute error.
    error_bound: Decimal | None = None
    steps: int = 0


@dataclass
class MarkovChain:
    """The absorbing chain of a history, with every state's transition probabilities."""

    probabilities: dict[str, dict[str, Fraction]]
    components: list[list[str]] = field(default_factory=list)

    @classmethod
    def of(cls, journeys: Sequence[Journey]) -> MarkovChain:
        counts = transition_counts(journeys)
        probabilities = {s: {t: Fraction(c, sum(row.values())) for t, c in row.items()}
                         for s, row in counts.items()}
        graph = {s: [t for t in row if t not in ABSORBING] for s, row in counts.items()}
        return cls(probabilities, _components(graph))

    @property
    def partner_states(self) -> int:
        return sum(1 for s in self.probabilities if s != START)

    @property
    def largest_cycle_group(self) -> int:
        return max((len(c) for c in self.components if len(c) > 1), default=1)

    def method(self, exact_up_to: int, dense_up_to: int = DENSE_UP_TO) -> str:
        if START not in self.probabilities or self.largest_cycle_group <= exact_up_to:
            return "exact"
        return "dense" if len(self.probabilities) <= dense_up_to else "propagated"

    def solve(self, exact_up_to: int, wanted: Collection[str], *,
              dense_up_to: int = DENSE_UP_TO) -> MarkovSolution:
        """Removal effects: every partner state's when exact or dense, else ``wanted``'s."""
        if START not in self.probabilities:
            return MarkovSolution(Fraction(0), {s: Fraction(0) for s in wanted}, True, 0, 0)
        method = self.method(exact_up_to, dense_up_to)
        if method == "exact":
            return self._exact()
        if method == "dense":
            solved = self._dense()
            if solved is not None:
                return solved
        return self._propagated(wanted)

    def _exact(self) -> MarkovSolution:
        prob = self.probabilities
        x: dict[str, Fraction] = {CONVERSION: Fraction(1), NULL: Fraction(0)}
        diagonal: dict[str, Fraction] = {}
        inverses: dict[int, list[list[Fraction]]] = {}
        for number, component in enumerate(self.components):  # the absorbing end first
            if len(component) == 1:  # no cycle through it: no self-loop either
                state = component[0]
                x[state] = sum((p * x[t] for t, p in prob[state].items()), Fraction(0))
                diagonal[state] = Fraction(1)
                continue
            where = {s: i for i, s in enumerate(component)}
            block = [[Fraction(int(i == j)) for j in range(len(component))]
                     for i in range(len(component))]
            outside = []
            for i, state in enumerate(component):
                leaving = Fraction(0)
                for t, p in prob[state].items():
                    if t in where:
                        block[i][where[t]] -= p
                    else:
                        leaving += p * x[t]
                outside.append(leaving)
            inverse = inverses[number] = _inverse(block)
            for i, state in enumerate(component):
                x[state] = sum((v * o for v, o in zip(inverse[i], outside, strict=True)),
                               Fraction(0))
                diagonal[state] = inverse[i][i]
        # The row N(start, .): expected visits from start, from start's end.
        inflow: dict[str, Fraction] = {START: Fraction(1)}
        visits: dict[str, Fraction] = {}
        for number in range(len(self.components) - 1, -1, -1):
            component = self.components[number]
            if len(component) == 1:
                received = {component[0]: inflow.get(component[0], Fraction(0))}
            else:
                inverse = inverses[number]
                into = [inflow.get(s, Fraction(0)) for s in component]
                received = {s: sum((into[i] * inverse[i][j] for i in range(len(component))),
                                   Fraction(0)) for j, s in enumerate(component)}
            for state, seen in received.items():
                visits[state] = seen
                if seen:
                    for t, p in prob[state].items():
                        if t not in ABSORBING and t not in received:
                            inflow[t] = inflow.get(t, Fraction(0)) + seen * p
        converting = x[START]
        effects = {s: (visits[s] * x[s] / (diagonal[s] * converting) if converting
                       else Fraction(0))
                   for s in prob if s != START}
        return MarkovSolution(converting, effects, True, self.partner_states,
                              self.largest_cycle_group)

    def _dense(self) -> MarkovSolution | None:
        """The whole chain in binary64 (LAPACK): N ~ X = inv(I - Q). With R = I - (I - Q) X,
        ||N - X|| <= ||X|| ||R|| / (1 - ||R||) (infinity norms) bounds every entry of N, of x
        = N b (b <= 1) and of N(start, .) alike; the removal effect's interval follows from
        those of its four factors. None when the chain is too ill-conditioned for that bound."""
        states = list(self.probabilities)
        where = {s: i for i, s in enumerate(states)}
        n = len(states)
        matrix = np.eye(n)
        converting = np.zeros(n)
        for state, row in self.probabilities.items():
            i = where[state]
            for t, p in row.items():
                if t == CONVERSION:
                    converting[i] += float(p)
                elif t in where:
                    matrix[i, where[t]] -= float(p)
        inverse = np.linalg.inv(matrix)
        residual = float(np.abs(np.eye(n) - matrix @ inverse).sum(axis=1).max())
        size = float(np.abs(inverse).sum(axis=1).max())
        if residual >= 0.5:
            return None
        # The bound, plus the rounding of the products below (n terms each), generously.
        error = size * residual / (1 - residual) + 4 * n * np.finfo(float).eps * size
        x = inverse @ converting
        start = where[START]
        visits, returns, full = inverse[start], np.diag(inverse), float(x[start])
        effects: dict[str, Fraction] = {}
        bound = 0.0
        for state, i in where.items():
            if state == START:
                continue
            if full <= 0:
                effects[state] = Fraction(0)
                continue
            y, xi, d = float(visits[i]), float(x[i]), float(returns[i])
            estimate = y * xi / (d * full)
            low = max(0.0, y - error) * max(0.0, xi - error) / ((d + error) * (full + error))
            high = (y + error) * (xi + error) / ((d - error) * (full - error)) \
                if d > error and full > error else math.inf
            # Kept to 12 significant digits: exact shares with short denominators.
            rounded = Fraction(Decimal(f"{estimate:.12e}"))
            bound = max(bound, estimate - low, high - estimate,
                        abs(float(rounded) - estimate) * 2)
            effects[state] = rounded
        return MarkovSolution(Fraction(Decimal(f"{full:.12e}")), effects, False,
                              self.partner_states, self.largest_cycle_group,
                              error_bound=Decimal(f"{bound:.3e}") * Decimal("1.01"))

    def _propagated(self, wanted: Collection[str]) -> MarkovSolution:
        with localcontext() as context:
            context.prec = _PRECISION
            prob = {s: {t: Decimal(p.numerator) / Decimal(p.denominator)
                        for t, p in row.items()} for s, row in self.probabilities.items()}
            full, full_low, full_high, steps = _propagate(prob, None)
            effects: dict[str, Fraction] = {}
            bound = Decimal(0)
            for state in wanted:
                if state not in prob or full == 0:
                    effects[state] = Fraction(0)
                    continue
                kept, kept_low, kept_high, taken = _propagate(prob, state)
                steps = max(steps, taken)
                estimate = 1 - kept / full
                low = 1 - kept_high / full_low
                high = 1 - kept_low / full_high
                bound = max(bound, estimate - low, high - estimate)
                effects[state] = Fraction(estimate)
        return MarkovSolution(Fraction(full), effects, False, self.partner_states,
                              self.largest_cycle_group, error_bound=bound, steps=steps)


def _propagate(prob: dict[str, dict[str, Decimal]], removed: str | None
               ) -> tuple[Decimal, Decimal, Decimal, int]:
    """P(start reaches conversion) by moving the probability mass one step at a time: the
    estimate, an interval sure to hold the exact value, and the steps taken. The interval
    widens by what was still moving when it stopped, and by the rounding of every operation
    (at most one unit in the last of the 34 digits each, counted generously)."""
    mass = {START: Decimal(1)}
    converted = Decimal(0)
    operations = 0
    step = 0
    left = Decimal(1)
    while left >= _TOLERANCE and step < _MAX_STEPS:
        step += 1
        moved: dict[str, Decimal] = {}
        for state, share in mass.items():
            for t, p in prob[state].items():
                operations += 2
                if t == CONVERSION:
                    converted += share * p
                elif t != NULL and t != removed:
                    moved[t] = moved.get(t, Decimal(0)) + share * p
        mass = moved
        left = sum(mass.values(), Decimal(0))
        operations += len(mass)
    rounding = Decimal(operations) * Decimal(10) ** (1 - _PRECISION)
    return converted, max(Decimal(0), converted - rounding), converted + left + rounding, step


def restrict(paths: Sequence[Sequence[str]], partners: set[str]) -> list[tuple[str, ...]]:
    """Each path as the deal-projected chain sees it: partners not on the deal merged into one
    "other" state (rules versions with ``markov_chain: deal``)."""
    return [tuple(p if p in partners else OTHER for p in path) for path in paths]


def shapley_values(journeys: Sequence[Journey], among: set[str] | None = None
                   ) -> dict[str, Fraction]:
    """Every partner's Shapley value in the win-count game of ``journeys``; with ``among``, in
    the game projected onto those partners (each won deal's partners intersected with them)."""
    values: dict[str, Fraction] = {}
    for journey in journeys:
        if not journey.won:
            continue
        members = set(journey.path) if among is None else set(journey.path) & among
        if members:
            share = Fraction(1, len(members))
            for member in members:
                values[member] = values.get(member, Fraction(0)) + share
    return values


class History:
    """The closed deals the data-driven models learn from, and what was computed from them
    (the chain's solution, the Shapley values), computed once however many deals it credits."""

    _recent: OrderedDict[tuple[tuple[tuple[str, ...], bool], ...], History] = OrderedDict()
    _KEEP = 4

    def __init__(self, journeys: Sequence[Journey]) -> None:
        self.journeys = list(journeys)
        self._chain: MarkovChain | None = None
        self._solutions: dict[tuple[int, frozenset[str]], MarkovSolution] = {}
        self._shapley: dict[str, Fraction] | None = None

    @classmethod
    def of(cls, paths: Sequence[tuple[Sequence[str], bool]]) -> History:
        """The history of these closed deals (partners in touch order, won); the same paths
        as one of the last few asked for give the same object, solved already."""
        key = tuple((tuple(path), bool(won)) for path, won in paths if path)
        found = cls._recent.get(key)
        if found is None:
            found = cls._recent[key] = cls([Journey(path, won) for path, won in key])
            while len(cls._recent) > cls._KEEP:
                cls._recent.popitem(last=False)
        cls._recent.move_to_end(key)
        return found

    @property
    def chain(self) -> MarkovChain:
        if self._chain is None:
            self._chain = MarkovChain.of(self.journeys)
        return self._chain

    def markov(self, exact_up_to: int, wanted: Collection[str]) -> MarkovSolution:
        every_state = self.chain.method(exact_up_to) != "propagated"
        key = (exact_up_to, frozenset() if every_state else frozenset(wanted))
        if key not in self._solutions:
            self._solutions[key] = self.chain.solve(exact_up_to, wanted)
        return self._solutions[key]

    def shapley(self) -> dict[str, Fraction]:
        if self._shapley is None:
            self._shapley = shapley_values(self.journeys)
        return self._shapley

    @property
    def wins(self) -> int:
        return sum(1 for j in self.journeys if j.won)
