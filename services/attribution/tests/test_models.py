"""The models as pure functions: exact allocation, Shapley's axioms, Markov removal effects on
chains computed by hand."""

import datetime as dt
import uuid
from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from prm_attribution.crediting.allocation import Claimant, largest_remainder
from prm_attribution.crediting.compute import MODELS, DealFacts, compute
from prm_attribution.crediting.datadriven import Journey, MarkovChain
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
       history=history, exact_up_to=st.sampled_from([1, 40]))
def test_every_model_credits_exactly_the_amount(touches, amount, won, approved, history,
                                                exact_up_to):
    deal_touches = [Touch(uuid.UUID(int=1000 + i), PARTNERS[p], kind,
                          T0 + dt.timedelta(seconds=s))
                    for i, (p, kind, s) in enumerate(touches)]
    rules = AttributionRulesDocument(markov_exact_up_to=exact_up_to)
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
    solution = MarkovChain.of(journeys).solve(40, "AB")
    assert solution.conversion == Fraction(2, 3)
    # Without A: only start -> B -> conv counts: 1/3 * 1/2 = 1/6; effect 1 - (1/6)/(2/3) = 3/4.
    # Without B: start -> A -> conv: 2/3 * 1/2 = 1/3; effect 1 - (1/3)/(2/3) = 1/2.
    assert solution.effects == {"A": Fraction(3, 4), "B": Fraction(1, 2)}


def test_markov_with_a_loop_is_solved_exactly():
    # A -> B -> A -> conv makes a cycle between A and B: a linear system, not a sum of paths.
    # A: B 1 (of 1) ... counts: start->A 2, A->B 1, B->A 1, A->conv 1, B->null 1? Build it:
    journeys = [Journey(("A", "B", "A"), True), Journey(("B",), False)]
    # start: A 1/2, B 1/2. A: B 1/2, conv 1/2. B: A 1/2, null 1/2.
    # x_A = 1/2 x_B + 1/2, x_B = 1/2 x_A  ->  x_A = 2/3, x_B = 1/3; P = 1/2 (2/3 + 1/3) = 1/2.
    solution = MarkovChain.of(journeys).solve(40, "AB")
    assert solution.conversion == Fraction(1, 2) and solution.largest_cycle_group == 2
    # Without B: x_A = 1/2; P = 1/4 -> effect 1/2.
    assert solution.effects["B"] == Fraction(1, 2)
