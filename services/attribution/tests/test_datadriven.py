"""The data-driven models against plain references written from their definitions, sharing no
code with the service: the Markov removal effect (Anderl et al.) by solving the full chain and
each chain with one state removed as dense linear systems, and the Shapley value by enumerating
every coalition of every partner of the history. Then their properties on random histories, the
worked example of docs/attribution.md, and the rules versions that computed them otherwise."""

from __future__ import annotations

import datetime as dt
import math
import random
import uuid
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from prm_attribution.crediting.compute import DealFacts, compute
from prm_attribution.crediting.datadriven import History, Journey, MarkovChain
from prm_attribution.crediting.positional import Touch
from prm_attribution.rules.schemas import AttributionRulesDocument

DOCS = Path(__file__).resolve().parents[3] / "docs" / "attribution.md"

# ---------------------------------------------------------------- the references

START, CONVERSION, NULL = "start", "conversion", "null"


def _chain(history):
    """{state: {next: count}} for journeys (partners in order, won)."""
    counts = {}
    for partners, won in history:
        if not partners:
            continue
        path = [START]
        for partner in partners:
            if path[-1] != partner:
                path.append(partner)
        path.append(CONVERSION if won else NULL)
        for here, there in zip(path, path[1:], strict=False):
            counts.setdefault(here, {})
            counts[here][there] = counts[here].get(there, 0) + 1
    return counts


def _solve(matrix, rhs):
    n = len(rhs)
    a = [row + [b] for row, b in zip(matrix, rhs, strict=True)]
    for col in range(n):
        pivot = next(r for r in range(col, n) if a[r][col] != 0)
        a[col], a[pivot] = a[pivot], a[col]
        a[col] = [x / a[col][col] for x in a[col]]
        for r in range(n):
            if r != col and a[r][col] != 0:
                factor = a[r][col]
                a[r] = [x - factor * y for x, y in zip(a[r], a[col], strict=True)]
    return [row[n] for row in a]


def conversion(history, removed=None):
    """P(start reaches conversion); with ``removed``, transitions into it go to null."""
    counts = _chain(history)
    if START not in counts:
        return Fraction(0)
    states = [s for s in counts if s != removed]
    index = {s: i for i, s in enumerate(states)}
    matrix = [[Fraction(int(i == j)) for j in range(len(states))] for i in range(len(states))]
    rhs = [Fraction(0)] * len(states)
    for state in states:
        out = sum(counts[state].values())
        for there, count in counts[state].items():
            if there == CONVERSION:
                rhs[index[state]] += Fraction(count, out)
            elif there in index:
                matrix[index[state]][index[there]] -= Fraction(count, out)
    return _solve(matrix, rhs)[index[START]]


def removal_effect(history, partner):
    full = conversion(history)
    if full == 0:
        return Fraction(0)
    return 1 - conversion(history, removed=partner) / full


def win_count(history, coalition):
    """v(S): won deals whose partners (at least one) are all in S."""
    return sum(1 for partners, won in history
               if won and partners and set(partners) <= coalition)


def shapley(history):
    """Every partner's Shapley value, by the subset formula over all coalitions."""
    players = sorted({p for partners, _ in history for p in partners})
    n = len(players)
    values = {}
    for player in players:
        others = [p for p in players if p != player]
        total = Fraction(0)
        for mask in range(1 << len(others)):
            coalition = {others[i] for i in range(len(others)) if mask >> i & 1}
            weight = Fraction(math.factorial(len(coalition))
                              * math.factorial(n - len(coalition) - 1), math.factorial(n))
            total += weight * (win_count(history, coalition | {player})
                               - win_count(history, coalition))
        values[player] = total
    return values


# ---------------------------------------------------------------- the service against them

PARTNERS = "ABCDEF"
T0 = dt.datetime(2026, 3, 2, 9, tzinfo=dt.UTC)
ID = {name: uuid.UUID(int=i + 1) for i, name in enumerate(PARTNERS)}
histories = st.lists(st.tuples(st.lists(st.sampled_from(PARTNERS), min_size=1, max_size=5)
                               .map(tuple), st.booleans()), max_size=30)


def journeys_of(history):
    return [Journey(tuple(path), won) for path, won in history if path]


def in_ids(history):
    """The history as ``compute`` reads it: partner ids as text."""
    return [([str(ID[p]) for p in path], won) for path, won in history]


def touches_of(partners, start=0):
    return [Touch(uuid.UUID(int=10_000 + start + i), ID[p], "consulting",
                  T0 + dt.timedelta(hours=i)) for i, p in enumerate(partners)]


@settings(max_examples=200, deadline=None)
@given(histories)
def test_markov_is_the_removal_effect_of_the_full_chain(history):
    solution = MarkovChain.of(journeys_of(history)).solve(40, PARTNERS)
    assert solution.exact and solution.conversion == conversion(history)
    for partner in {p for path, _ in history for p in path}:
        assert solution.effects[partner] == removal_effect(history, partner), partner


@settings(max_examples=100, deadline=None)
@given(history=histories, deals=st.lists(st.lists(st.sampled_from(PARTNERS), min_size=1,
                                                  max_size=4), min_size=2, max_size=4))
def test_a_partners_removal_effect_is_the_same_whichever_deal_is_credited(history, deals):
    seen: dict[str, str] = {}
    for number, deal in enumerate(deals):
        results = compute(touches_of(deal, 100 * number), DealFacts(10_000, True, None),
                          AttributionRulesDocument(), in_ids(history))
        for partner, effect in results["markov"].details["removal_effects"].items():
            assert seen.setdefault(partner, effect) == effect
    for name in {p for deal in deals for p in deal}:
        expected = removal_effect(history, name)
        assert seen[str(ID[name])] == f"{expected.numerator}/{expected.denominator}"


@settings(max_examples=100, deadline=None)
@given(history=histories, dense=st.booleans())
def test_a_chain_too_large_to_solve_exactly_is_within_its_stated_bound(history, dense):
    chain = MarkovChain.of(journeys_of(history))
    exact = chain.solve(40, PARTNERS)
    # Every chain's largest group has 1 state or more: 0 forces the approximate methods.
    approximate = chain.solve(0, PARTNERS, dense_up_to=10_000 if dense else 0)
    if not journeys_of(history):  # no chain at all: nothing to approximate
        assert approximate.conversion == exact.conversion == 0
        return
    assert not approximate.exact and approximate.error_bound is not None
    bound = Fraction(approximate.error_bound)
    assert bound < Fraction(1, 10**9)
    for partner in {p for path, _ in history for p in path}:
        assert abs(approximate.effects[partner] - exact.effects[partner]) <= bound


def test_a_history_of_thousands_of_partners_in_a_large_cycle_group():
    rng = random.Random(7)
    names = [f"p{i}" for i in range(1500)]
    history = [(tuple(rng.sample(names, rng.randint(1, 3))), rng.random() < 0.4)
               for _ in range(2000)]
    chain = MarkovChain.of(journeys_of(history))
    assert chain.largest_cycle_group > 40  # hand-offs both ways make one large group
    dense = chain.solve(40, [])
    assert not dense.exact and dense.states == len({p for path, _ in history for p in path})
    wanted = [history[0][0][0], history[1][0][-1]]
    propagated = chain.solve(40, wanted, dense_up_to=0)
    for partner in wanted:
        assert abs(propagated.effects[partner] - dense.effects[partner]) <= Fraction(
            propagated.error_bound) + Fraction(dense.error_bound)
    acyclic = [(tuple(sorted(path)), won) for path, won in history]  # hand-offs one way
    solution = MarkovChain.of(journeys_of(acyclic)).solve(40, [])
    assert solution.exact and solution.largest_cycle_group == 1


@settings(max_examples=150, deadline=None)
@given(histories)
def test_shapley_is_the_documented_game_over_the_whole_history(history):
    reference = shapley(history)
    values = History(journeys_of(history)).shapley()
    assert {p: values.get(p, Fraction(0)) for p in reference} == reference
    assert set(values) <= set(reference)


@settings(max_examples=150, deadline=None)
@given(history=histories, pair=st.sampled_from([("A", "B"), ("C", "F")]))
def test_shapley_efficiency_symmetry_and_null_player(history, pair):
    values = History(journeys_of(history)).shapley()
    everyone = {p for path, _ in history for p in path}
    assert sum(values.values(), Fraction(0)) == win_count(history, everyone)  # efficiency
    for partner in everyone:  # null player: no won deal, no value
        if not any(won and partner in path for path, won in history):
            assert values.get(partner, Fraction(0)) == 0
    i, j = pair
    swap = {i: j, j: i}
    mirrored = history + [(tuple(swap.get(p, p) for p in path), won) for path, won in history]
    symmetric = History(journeys_of(mirrored)).shapley()
    assert symmetric.get(i, Fraction(0)) == symmetric.get(j, Fraction(0))  # symmetry


@settings(max_examples=150, deadline=None)
@given(first=histories, second=histories)
def test_shapley_is_additive_over_the_history(first, second):
    union = History(journeys_of(first + second)).shapley()
    one, two = History(journeys_of(first)).shapley(), History(journeys_of(second)).shapley()
    for partner in set(union) | set(one) | set(two):
        assert union.get(partner, 0) == one.get(partner, 0) + two.get(partner, 0)


@settings(max_examples=100, deadline=None)
@given(history=histories, deal=st.lists(st.sampled_from(PARTNERS), min_size=1, max_size=4))
def test_the_deal_projected_rules_compute_as_earlier_versions_did(history, deal):
    rules = AttributionRulesDocument(markov_chain="deal", shapley_game="deal")
    results = compute(touches_of(deal), DealFacts(10_000, True, None), rules, in_ids(history))
    on_deal = set(deal)
    merged = [(tuple(p if p in on_deal else "(other)" for p in path), won)
              for path, won in history]
    projected = [(tuple(p for p in path if p in on_deal), won) for path, won in history]
    game = shapley(projected)
    for name in on_deal:
        effect = removal_effect(merged, name)
        assert results["markov"].details["removal_effects"][str(ID[name])] == \
            f"{effect.numerator}/{effect.denominator}"
        value = game.get(name, Fraction(0))
        assert results["shapley"].details["values"][str(ID[name])] == \
            f"{value.numerator}/{value.denominator}"


# ---------------------------------------------------------------- the worked example

EXAMPLE = [(("A", "B"), True), (("A",), True), (("B", "C"), False), (("C",), True),
           (("A", "C"), False)]


def test_the_worked_example_of_the_docs():
    docs = DOCS.read_text()
    solution = MarkovChain.of(journeys_of(EXAMPLE)).solve(40, "ABC")
    assert solution.conversion == Fraction(3, 5)
    assert {p: solution.effects[p] for p in "ABC"} == {
        "A": Fraction(2, 3), "B": Fraction(4, 9), "C": Fraction(1, 3)}
    values = History(journeys_of(EXAMPLE)).shapley()
    assert values == {"A": Fraction(3, 2), "B": Fraction(1, 2), "C": Fraction(1)}
    # The deal credited: 100.000 KWD (3 decimals), touched by A, B and C.
    rules = AttributionRulesDocument()
    results = compute(touches_of("ABC"), DealFacts(100_000, True, None), rules,
                      in_ids(EXAMPLE))
    credits = {m: {n: results[m].credits[ID[n]].credit_minor for n in "ABC"}
               for m in ("markov", "shapley")}
    assert credits["markov"] == {"A": 46154, "B": 30769, "C": 23077}
    assert credits["shapley"] == {"A": 50000, "B": 16667, "C": 33333}
    legacy = compute(touches_of("AC"), DealFacts(100_000, True, None),
                     AttributionRulesDocument(shapley_game="deal"), in_ids(EXAMPLE))
    assert legacy["shapley"].details["values"] == {str(ID["A"]): "2/1", str(ID["C"]): "1/1"}
    # What the docs show is what these computed.
    for text in ("P(conversion) = 3/5", "RE(A) = 2/3", "RE(B) = 4/9", "RE(C) = 1/3",
                 "phi(A) = 3/2", "phi(B) = 1/2", "phi(C) = 1", "46.154", "30.769", "23.077",
                 "50.000", "16.667", "33.333"):
        assert text in docs, text


# ---------------------------------------------------------------- the conventions


def test_touches_at_the_same_instant_are_ordered_by_touch_id():
    at = T0
    later_id = Touch(uuid.UUID(int=2), ID["A"], "consulting", at)
    earlier_id = Touch(uuid.UUID(int=1), ID["B"], "consulting", at)
    results = compute([later_id, earlier_id], DealFacts(100, True, None),
                      AttributionRulesDocument(), [])
    assert results["first_touch"].credits[ID["B"]].credit_minor == 100
    assert results["last_touch"].credits[ID["A"]].credit_minor == 100


def test_w_shaped_key_positions_that_coincide_add_their_shares():
    registration = Touch(uuid.UUID(int=1), ID["A"], "registration", T0)
    later = Touch(uuid.UUID(int=2), ID["B"], "consulting", T0 + dt.timedelta(days=1))
    results = compute([registration, later], DealFacts(300, True, None),
                      AttributionRulesDocument(), [])
    # first = creation = A (30 + 30), last = B (30), nothing in between: 2/3 and 1/3.
    assert results["w_shaped"].credits[ID["A"]].share == Fraction(2, 3)
    assert results["w_shaped"].credits[ID["B"]].share == Fraction(1, 3)


def test_time_decay_counts_from_the_end_of_the_close_day():
    # Closed on 9 March: ages count from 10 March 00:00 UTC. Touches 7 and 14 days before it
    # weigh exactly 1/2 and 1/4 (from the start of the day, 6 and 13 days, the decimal powers
    # would not be exact and the shares not exactly 2/3 and 1/3).
    end_of_day = dt.datetime(2026, 3, 10, tzinfo=dt.UTC)
    week = Touch(uuid.UUID(int=1), ID["A"], "consulting", end_of_day - dt.timedelta(days=7))
    fortnight = Touch(uuid.UUID(int=2), ID["B"], "consulting",
                      end_of_day - dt.timedelta(days=14))
    results = compute([week, fortnight], DealFacts(300, True, dt.date(2026, 3, 9)),
                      AttributionRulesDocument(), [])
    assert Decimal(results["time_decay"].details["half_life_days"]) == 7
    assert results["time_decay"].credits[ID["A"]].share == Fraction(2, 3)
    assert results["time_decay"].credits[ID["B"]].share == Fraction(1, 3)
