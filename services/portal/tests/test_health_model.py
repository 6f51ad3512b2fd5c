"""The health model's arithmetic, by property: the score stays in 0..100, rises (or holds)
with any measure marked higher-is-better, falls (or holds) with one marked lower-is-better, a
pillar of weight 0 changes nothing, and the pillars' contributions add up to the score."""

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from prm_portal.health.model import DEFAULT, HealthModelSpec, measure_key, normalise, score

values = st.decimals(min_value=-1000, max_value=10**7, allow_nan=False, allow_infinity=False,
                     places=2)
KEYS = sorted({measure_key(m) for p in DEFAULT.pillars for m in p.measures})


def measures_of(model: HealthModelSpec) -> list:
    return [m for p in model.pillars for m in p.measures]


@st.composite
def measure_values(draw):
    return {key: draw(st.one_of(st.none(), values)) for key in KEYS}


@settings(max_examples=300, deadline=None)
@given(measure_values())
def test_the_score_stays_within_0_and_100_and_the_pillars_add_up(found):
    result = score(DEFAULT, found)
    if result.score is None:
        assert all(found[measure_key(m)] is None for m in measures_of(DEFAULT))
        return
    assert Decimal(0) <= result.score <= Decimal(100)
    # Each pillar's contribution is rounded to the cent: the sum is within a cent per pillar.
    total = sum(p.contribution for p in result.pillars)
    assert abs(total - result.score) <= Decimal("0.01") * len(result.pillars)


@settings(max_examples=300, deadline=None)
@given(measure_values(), st.sampled_from(KEYS), values)
def test_the_score_is_monotone_in_each_measure(found, key, more):
    spec = next(m for m in measures_of(DEFAULT) if measure_key(m) == key)
    base = found[key] if found[key] is not None else Decimal(0)
    lower, higher = {**found, key: base}, {**found, key: base + abs(more)}
    low, high = score(DEFAULT, lower).score, score(DEFAULT, higher).score
    assert low is not None and high is not None
    if spec.direction == "higher_is_better":
        assert high >= low
    else:
        assert high <= low


@settings(max_examples=200, deadline=None)
@given(measure_values(), values)
def test_a_pillar_of_weight_0_changes_nothing(found, anything):
    spec = DEFAULT.model_dump(mode="json")
    spec["pillars"].append({"key": "ignored", "name": "Ignored", "weight": 0, "measures": [
        {"measure": "survey_answers", "window": "lifetime", "target": "3"}]})
    with_zero = HealthModelSpec.model_validate(spec)
    with_value = {**found, ("survey_answers", "lifetime"): anything}
    assert score(with_zero, with_value).score == score(DEFAULT, found).score
    assert score(with_zero, with_value).band == score(DEFAULT, found).band


def test_normalisation_is_linear_between_floor_and_target():
    psat = next(m for m in measures_of(DEFAULT) if m.measure == "psat")  # floor 1, target 5
    assert [normalise(psat, Decimal(v)) for v in ("0", "1", "3", "5", "7")] == [
        0, 0, 50, 100, 100]
    quiet = next(m for m in measures_of(DEFAULT) if m.measure == "days_since_activity")
    assert [normalise(quiet, Decimal(v)) for v in ("0", "7", "48.5", "90", "400")] == [
        100, 100, 50, 0, 0]


def test_a_missing_measure_sits_out_rather_than_scoring_0():
    found = {key: Decimal(0) for key in KEYS}
    found[("psat", "365d")] = None
    found[("nps", "365d")] = None
    result = score(DEFAULT, found)
    satisfaction = next(p for p in result.pillars if p.key == "satisfaction")
    assert satisfaction.score is None and satisfaction.contribution == 0
    # Days since activity 0 is the only full measure: engagement's half of its pillar.
    assert result.score is not None and result.score > 0


@pytest.mark.parametrize("change, message", [
    ({"bands": [{"name": "a", "min_score": "50"}, {"name": "b", "min_score": "60"}]},
     "from the best down"),
    ({"bands": [{"name": "a", "min_score": "50"}]}, "must be 0"),
    ({"pillars": [{"key": "x", "name": "X", "weight": 0, "measures": [
        {"measure": "psat", "target": "5"}]}]}, "more than 0"),
    ({"pillars": [{"key": "x", "name": "X", "weight": 1, "measures": [
        {"measure": "psat", "target": "5", "floor": "5"}]}]}, "floor must be below"),
    ({"pillars": [{"key": "x", "name": "X", "weight": 1, "measures": [
        {"measure": "psat", "target": 5}]}]}, "written as a string"),
])
def test_incoherent_models_are_refused(change, message):
    with pytest.raises(ValidationError, match=message):
        HealthModelSpec.model_validate({**DEFAULT.model_dump(mode="json"), **change})
