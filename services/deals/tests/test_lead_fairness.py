"""The fair order of a lead pool (``leads.fairness``): over many leads every partner stays
within one lead of its weighted share at every prefix, whatever the weights; the order is a
pure function of the pool's state."""

import uuid
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prm_deals.leads.fairness import Groups, Member, order


def _give_out(weights: list[int], leads: int) -> Fraction:
    """Give ``leads`` leads to a pool with ``weights``, always to the first in the order, and
    return the largest distance from a weighted share seen at any prefix."""
    ids = [uuid.UUID(int=i + 1) for i in range(len(weights))]
    counts = [0] * len(weights)
    total = sum(weights)
    worst = Fraction(0)
    for n in range(leads):
        turns = order([Member(ids[i], w, counts[i]) for i, w in enumerate(weights)], n)
        counts[ids.index(turns[0].member.partner_id)] += 1
        for i, w in enumerate(weights):
            worst = max(worst, abs(Fraction((n + 1) * w, total) - counts[i]))
    assert sum(counts) == leads
    return worst


def test_five_one_one_over_ten_thousand_leads_stays_within_one_lead():
    worst = _give_out([5, 1, 1], 10_000)
    # Tijdeman's bound for three partners: 1 - 1/4.
    assert worst <= Fraction(3, 4), worst


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=60), min_size=2, max_size=9),
       st.integers(min_value=1, max_value=400))
def test_any_weights_stay_within_one_lead_at_every_prefix(weights, leads):
    k = len(weights)
    assert _give_out(weights, leads) <= 1 - Fraction(1, 2 * k - 2)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(min_value=1, max_value=50),
                          st.integers(min_value=0, max_value=30)), min_size=1, max_size=12),
       st.permutations(range(12)))
def test_the_order_is_a_function_of_the_pool_not_of_how_it_is_listed(pool, shuffle):
    members = [Member(uuid.UUID(int=i + 1), w, c) for i, (w, c) in enumerate(pool)]
    picks = sum(c for _, c in pool)
    listed = [members[i] for i in shuffle if i < len(members)]
    first = [t.member.partner_id for t in order(members, picks)]
    assert first == [t.member.partner_id for t in order(listed, picks)]
    assert sorted(first, key=lambda p: p.int) == [m.partner_id for m in members]


def test_a_partner_passed_over_keeps_its_claim():
    """A partner skipped (at its cap) is first in line again once it can take leads."""
    a, b = uuid.UUID(int=1), uuid.UUID(int=2)
    counts = {a: 0, b: 0}
    for n in range(6):  # a cannot take leads: b gets them all
        turns = order([Member(a, 1, counts[a]), Member(b, 1, counts[b])], n)
        taker = next(t.member.partner_id for t in turns if t.member.partner_id != a)
        counts[taker] += 1
    assert order([Member(a, 1, 0), Member(b, 1, 6)], 6)[0].member.partner_id == a


def test_weights_must_be_positive():
    with pytest.raises(ValueError):
        order([Member(uuid.UUID(int=1), 0, 0)], 0)


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(st.integers(min_value=1, max_value=5),
                          st.integers(min_value=0, max_value=4)), min_size=1, max_size=40),
       st.integers(min_value=1, max_value=45))
def test_the_first_turns_are_the_first_of_the_whole_order(pool, limit):
    """A routing reads only the first turns: they are the whole order's first, ties and all."""
    members = [Member(uuid.UUID(int=i + 1), w, c) for i, (w, c) in enumerate(pool)]
    picks = sum(c for _, c in pool)
    whole = [t.member.partner_id for t in order(members, picks)]
    assert [t.member.partner_id for t in order(members, picks, limit)] == whole[:limit]


def _reference(members: list[Member], picks: int) -> list[tuple[uuid.UUID, bool]]:
    """Tijdeman's rule written out plainly: every member's exact key, one sort."""
    k, total, step = len(members), sum(m.weight for m in members), picks + 1
    gaps = 2 * k - 2 if k > 1 else 1

    def key(m: Member) -> tuple[bool, Fraction, int]:
        behind = Fraction(step * m.weight, total) - m.assigned
        late = not (k == 1 or behind >= Fraction(1, gaps))
        deadline = (m.assigned + 1 - Fraction(1, gaps)) * Fraction(total, m.weight)
        return late, deadline, m.partner_id.int
    return [(m.partner_id, not key(m)[0]) for m in sorted(members, key=key)]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.integers(min_value=1, max_value=12),
                          st.integers(min_value=0, max_value=6)), min_size=1, max_size=60),
       st.randoms(use_true_random=False))
def test_the_grouped_order_is_the_rule_written_out(pool, rng):
    """Worked out over groups of equal weight and count (exact ties across weights merged by
    id), the order is the one every member's own exact key gives."""
    members = [Member(uuid.UUID(int=rng.getrandbits(120) << 8 | i), w, c)
               for i, (w, c) in enumerate(pool)]
    picks = sum(c for _, c in pool) + rng.randrange(3)
    assert [(t.member.partner_id, t.due) for t in order(members, picks)] == \
        _reference(members, picks)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=6), min_size=1, max_size=30),
       st.integers(min_value=1, max_value=80), st.randoms(use_true_random=False))
def test_groups_moved_one_lead_at_a_time_are_the_groups_made_afresh(weights, leads, rng):
    """A routing process keeps a pool's groups between leads and moves the chosen partner
    (sometimes not the first: the ones before it passed over); the order it reads is always
    the one the counts give."""
    ids = [uuid.UUID(int=rng.getrandbits(120) << 8 | i) for i in range(len(weights))]
    counts = dict.fromkeys(ids, 0)
    kept = Groups([Member(p, w, 0) for p, w in zip(ids, weights, strict=True)])
    for picks in range(leads):
        fresh = [Member(p, w, counts[p]) for p, w in zip(ids, weights, strict=True)]
        turns = order(kept, picks)
        assert turns == order(fresh, picks)
        chosen = turns[min(rng.randrange(3), len(turns) - 1)].member
        kept.move(chosen.partner_id, chosen.weight, chosen.assigned)
        counts[chosen.partner_id] += 1
