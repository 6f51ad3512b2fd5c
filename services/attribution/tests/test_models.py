"""The models as pure functions: exact allocation, Shapley's axioms, Markov removal effects on
chains computed by hand."""

import datetime as dt
import math
import uuid
from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from prm_attribution.crediting.allocation import Claimant, largest_remainder
from prm_attribution.crediting.compute import MODELS, DealFacts, compute
from prm_attribution.crediting.datadriven import (
    Journey,
    conversion_probability,
    removal_effects,
    shapley,
    win_count_game,
)
from prm_attribution.crediting.positional import Touch
from prm_attribution.rules.schemas import AttributionRulesDocument

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
PARTNERS = [uuid.UUID(int=i + 1) for i in range(16)]
KINDS = ["registration", "co_sell", "referral", "consulting", "marketing", "other"]

touches = st.lists(st.tuples(st.integers(0, 15), st.sampled_from(KINDS),
                             st.integers(0, 400 * 86400)), min_size=1, max_size=30)
history = st.lists(st.tuples(st.lists(st.integers(0, 15), min_size=1, max_size=6),
                             st.booleans()), max_size=25)


@settings(max_examples=150, deadline=None)
@given(touches=touches, amount=st.integers(0, 10**15), won=st.booleans(), approved=st.booleans(),
       history=history, exact_up_to=st.sampled_from([4, 12]))
def test_every_model_credits_exactly_the_amount(touches, amount, won, approved, history,
                                                exact_up_to):
    deal_touches = [Touch(uuid.UUID(int=1000 + i), PARTNERS[p], kind,
                          T0 + dt.timedelta(seconds=s))
                    for i, (p, kind, s) in enumerate(touches)]
    rules = AttributionRulesDocument(shapley_exact_up_to=exact_up_to, shapley_samples=100)
    paths = [([str(PARTNERS[p]) for p in path], w) for path, w in history]
    results = compute(deal_touches, DealFacts(amount, approved,
                                              dt.date(2027, 3, 1) if won else None),
                      rules, paths)
    assert set(results) == set(MODELS)
    partners = {t.partner_id for t in deal_touches}
    for model, result in results.items():
        assert set(result.credits) == partners, model
        assert all(c.credit_minor >= 0 for c in result.credits.values()), model
        assert sum(c.credit_minor for c in result.credits.values()) == amount, model
        assert sum(c.share for c in result.credits.values()) == 1, model
        # Rounding moves each credit by less than one minor unit.
        for c in result.credits.values():
            assert abs(c.credit_minor - c.share * amount) < 1, model


def test_largest_remainder_breaks_ties_by_first_touch_then_id():
    a, b, c = PARTNERS[:3]
    early, late = T0, T0 + dt.timedelta(hours=1)
    thirds = [Claimant(a, Fraction(1), late), Claimant(b, Fraction(1), early),
              Claimant(c, Fraction(1), late)]
    # 100 / 3 = 33 rem 1: the one cent left goes to the earliest first touch (b).
    assert largest_remainder(100, thirds) == {a: 33, b: 34, c: 33}
    # 101 / 3: two cents left: b, then a (smaller id than c).
    assert largest_remainder(101, thirds) == {a: 34, b: 34, c: 33}


def test_the_rule_based_models_on_a_hand_computed_deal():
    a, b, c = PARTNERS[:3]
    deal = [Touch(uuid.UUID(int=1), a, "registration", T0),
            Touch(uuid.UUID(int=2), b, "consulting", T0 + dt.timedelta(days=7)),
            Touch(uuid.UUID(int=3), c, "co_sell", T0 + dt.timedelta(days=14)),
            Touch(uuid.UUID(int=4), b, "marketing", T0 + dt.timedelta(days=21))]
    # Closed on day 20: the time-decay reference is the end of that day, day 21.
    results = compute(deal, DealFacts(100_00, True, (T0 + dt.timedelta(days=20)).date()),
                      AttributionRulesDocument(), [])
    credit = {m: {p: results[m].credits[p].credit_minor for p in (a, b, c)} for m in results}
    assert credit["first_touch"] == {a: 10000, b: 0, c: 0}
    assert credit["last_touch"] == {a: 0, b: 10000, c: 0}
    assert credit["linear"] == {a: 2500, b: 5000, c: 2500}
    # 40 first, 40 last, 20 shared by the two between.
    assert credit["position_based"] == {a: 4000, b: 5000, c: 1000}
    # 30 first (= the registration, 60 together), 30 last, 10 shared by the two between.
    assert credit["w_shaped"] == {a: 6000, b: 3500, c: 500}
    # Weights 3 (registration), 1, 2 (co_sell), 1: a 3/7, b 2/7, c 2/7 -> 4285.71, 2857.14 x2;
    # the one cent left goes to the largest remainder (a: .714 > .142).
    assert credit["custom_weights"] == {a: 4286, b: 2857, c: 2857}
    # Ages 21, 14, 7, 0 days, half-life 7: weights 1/8, 1/4, 1/2, 1 (sum 15/8) -> a 1/15,
    # b 10/15, c 4/15: 666.67, 6666.67, 2666.67; the two cents left go to equal remainders,
    # by first touch: a, then b.
    assert credit["time_decay"] == {a: 667, b: 6667, c: 2666}
    assert results["time_decay"].credits[b].share == Fraction(2, 3)
    assert all(results[m].credits[a].role == "sourced" for m in results)
    assert results["linear"].credits[b].role == "influenced"
    # No history: the data-driven models fall back to an even split, and say so.
    assert "fallback" in results["markov"].details
    assert credit["markov"] == {a: 3334, b: 3333, c: 3333}


def test_markov_removal_effect_on_a_hand_computed_chain():
    # start -> A -> conv, start -> A -> B -> conv, start -> B -> null.
    # P(start->A)=2/3, P(start->B)=1/3; A: conv 1/2, B 1/2; B: conv 1/2, null 1/2.
    # P(conv) = 2/3 (1/2 + 1/2 * 1/2) + 1/3 * 1/2 = 1/2 + 1/6 = 2/3.
    journeys = [Journey(("A",), True), Journey(("A", "B"), True), Journey(("B",), False)]
    assert conversion_probability(journeys) == Fraction(2, 3)
    # Without A: only start -> B -> conv counts: 1/3 * 1/2 = 1/6; effect 1 - (1/6)/(2/3) = 3/4.
    # Without B: start -> A -> conv: 2/3 * 1/2 = 1/3; effect 1 - (1/3)/(2/3) = 1/2.
    effects, p = removal_effects(journeys, ["A", "B"])
    assert p == Fraction(2, 3)
    assert effects == {"A": Fraction(3, 4), "B": Fraction(1, 2)}


def test_markov_with_a_loop_is_solved_exactly():
    # A -> B -> A -> conv makes a cycle between A and B: a linear system, not a sum of paths.
    # A: B 1 (of 1) ... counts: start->A 2, A->B 1, B->A 1, A->conv 1, B->null 1? Build it:
    journeys = [Journey(("A", "B", "A"), True), Journey(("B",), False)]
    # start: A 1/2, B 1/2. A: B 1/2, conv 1/2. B: A 1/2, null 1/2.
    # x_A = 1/2 x_B + 1/2, x_B = 1/2 x_A  ->  x_A = 2/3, x_B = 1/3; P = 1/2 (2/3 + 1/3) = 1/2.
    assert conversion_probability(journeys) == Fraction(1, 2)
    # Without B: x_A = 1/2; P = 1/4 -> effect 1/2.
    assert removal_effects(journeys, ["B"])[0] == {"B": Fraction(1, 2)}


games = st.integers(1, 6).flatmap(lambda n: st.tuples(
    st.just(n), st.lists(st.integers(-20, 20), min_size=1 << n, max_size=1 << n)))


@settings(max_examples=100, deadline=None)
@given(games)
def test_shapley_efficiency_symmetry_and_null_player(game):
    n, values = game
    values[0] = 0
    players = [f"p{i}" for i in range(n)]
    phi = shapley(players, lambda mask: Fraction(values[mask])).values
    assert sum(phi.values()) == values[-1]  # efficiency: v(N) - v(empty)
    for i in range(n):
        for j in range(i + 1, n):
            bi, bj = 1 << i, 1 << j
            if all(values[m | bi] == values[m | bj] for m in range(1 << n) if not m & (bi | bj)):
                assert phi[players[i]] == phi[players[j]]  # symmetry
        if all(values[m | 1 << i] == values[m] for m in range(1 << n)):
            assert phi[players[i]] == 0  # null player


def test_sampled_shapley_is_seeded_and_bounded():
    # A sum of unanimity games: exact Shapley gives each member of a coalition its share.
    players = [f"p{i}" for i in range(14)]
    groups = {0b11: 3, 0b1100: 2, (1 << 14) - 1: 1}

    def value(mask):
        return Fraction(sum(c for g, c in groups.items() if g & ~mask == 0))

    first = shapley(players, value, exact_up_to=12, samples=2000, seed=7,
                    marginal_range=Fraction(6))
    again = shapley(players, value, exact_up_to=12, samples=2000, seed=7,
                    marginal_range=Fraction(6))
    assert first == again and not first.exact and first.error_bound is not None
    assert sum(first.values.values()) == 6  # every permutation adds up to v(N)
    exact = {p: Fraction(1, 14) for p in players}
    for p in players[:2]:
        exact[p] += Fraction(3, 2)
    for p in players[2:4]:
        exact[p] += Fraction(1)
    for p in players:
        assert abs(first.values[p] - exact[p]) <= first.error_bound


# The definitions as first written (every journey recounted per chain; Shapley summed in
# Fractions): the counted-once Markov and integer-scaled Shapley must give the same values.
def _reference_conversion(journeys, removed=None):
    counts = {}
    for journey in journeys:
        steps = ["(start)"]
        for state in journey.path:
            if steps[-1] != state:
                steps.append(state)
        steps.append("(conversion)" if journey.won else "(null)")
        for here, there in zip(steps, steps[1:], strict=False):
            counts.setdefault(here, {}).setdefault(there, 0)
            counts[here][there] += 1
    if "(start)" not in counts:
        return Fraction(0)
    states = [s for s in counts if s != removed]
    index = {s: i for i, s in enumerate(states)}
    matrix = [[Fraction(int(i == j)) for j in range(len(states))] for i in range(len(states))]
    rhs = [Fraction(0)] * len(states)
    for state in states:
        out = sum(counts[state].values())
        for there, count in counts[state].items():
            if there == "(conversion)":
                rhs[index[state]] += Fraction(count, out)
            elif there in index:
                matrix[index[state]][index[there]] -= Fraction(count, out)
    # Gauss-Jordan elimination in Fractions.
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
    return a[index["(start)"]][n]


def _reference_shapley(players, value):
    n = len(players)
    result = {}
    for i, player in enumerate(players):
        total = Fraction(0)
        for mask in range(1 << n):
            if not mask & 1 << i:
                size = mask.bit_count()
                weight = Fraction(math.factorial(size) * math.factorial(n - size - 1),
                                  math.factorial(n))
                total += weight * (value(mask | 1 << i) - value(mask))
        result[player] = total
    return result


journeys = st.lists(st.builds(Journey, st.lists(st.sampled_from("ABCDE"), min_size=1,
                                                max_size=6).map(tuple), st.booleans()),
                    max_size=40)


@settings(max_examples=150, deadline=None)
@given(journeys=journeys)
def test_markov_counted_once_equals_recounting_per_removal(journeys):
    full = _reference_conversion(journeys)
    effects, p = removal_effects(journeys, list("ABCDEF"))
    assert p == full == conversion_probability(journeys)
    for state in "ABCDEF":
        without = _reference_conversion(journeys, removed=state)
        assert conversion_probability(journeys, removed=state) == without
        assert effects[state] == (1 - without / full if full else 0)


@settings(max_examples=100, deadline=None)
@given(game=games, denominators=st.lists(st.integers(1, 12), min_size=64, max_size=64))
def test_integer_scaled_shapley_equals_the_fraction_sums(game, denominators):
    n, numerators = game
    values = [Fraction(v, denominators[m]) for m, v in enumerate(numerators)]
    players = [f"p{i}" for i in range(n)]
    assert shapley(players, values.__getitem__).values == _reference_shapley(
        players, values.__getitem__)


def test_shapley_at_twelve_partners_on_the_win_count_game():
    names = [f"p{i}" for i in range(12)]
    paths = [Journey(tuple(names[j] for j in range(12) if (k * 2654435761 >> j) % 3 == 0),
                     k % 3 != 0) for k in range(300)]
    game, grand = win_count_game(names, paths)
    played = shapley(names, game, exact_up_to=12)
    assert played.exact and sum(played.values.values()) == grand
    assert played.values == _reference_shapley(names, game)
