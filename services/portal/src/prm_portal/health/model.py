"""The health model: what the vendor configures (pillars, their weights and measures, how each
measure is normalised, the bands) and the score it gives, with every point traceable.

Pure: no database. ``score`` takes each measure's value and returns the score, the band and,
per pillar and measure, the value, its normalised points and its share of the score. Exact
decimals throughout, so that a score is the same on every machine and a replay changes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StrictInt, model_validator

from prm_platform.types import Currency, DecimalText

HUNDRED = Decimal(100)
CENT = Decimal("0.01")

# The measures a pillar may use. Counts and sums are over the measure's window (and decayed
# when the model sets a half-life); the others are as of the day scored.


class HealthMeasure(StrEnum):
    deals_registered = "deals_registered"
    deals_won = "deals_won"
    deals_lost = "deals_lost"
    revenue_won = "revenue_won"
    win_rate = "win_rate"
    open_pipeline = "open_pipeline"
    active_certifications = "active_certifications"
    certifications_earned = "certifications_earned"
    certifications_lapsed = "certifications_lapsed"
    mdf_requests = "mdf_requests"
    claims_approved = "claims_approved"
    psat = "psat"
    nps = "nps"
    survey_answers = "survey_answers"
    days_since_activity = "days_since_activity"
    onboarding_completed = "onboarding_completed"
    resources_used = "resources_used"
    learning_paths_completed = "learning_paths_completed"


class HealthWindow(StrEnum):
    days_90 = "90d"
    days_365 = "365d"
    lifetime = "lifetime"


class MeasureDirection(StrEnum):
    higher_is_better = "higher_is_better"
    lower_is_better = "lower_is_better"


MEASURES: dict[str, str] = {
    "deals_registered": "Deal registrations in the window",
    "deals_won": "Deals won in the window",
    "deals_lost": "Deals lost in the window",
    "revenue_won": "Won amount in the window, in the model's currency (deals in other "
                   "currencies are not counted and are named in the trace)",
    "win_rate": "Won / (won + lost) in the window, 0-1; none without a closed deal",
    "open_pipeline": "Amount of the deals open now, in the model's currency",
    "active_certifications": "Certifications held now (earned, not expired)",
    "certifications_earned": "Certifications earned in the window",
    "certifications_lapsed": "Certifications expired in the window",
    "mdf_requests": "MDF fund requests submitted in the window",
    "claims_approved": "MDF claims approved in the window",
    "psat": "Mean PSAT answer (1-5) in the window; none without an answer",
    "nps": "Partner NPS (promoters minus detractors, -100..100) in the window; none without "
           "an answer",
    "survey_answers": "Survey answers in the window",
    "days_since_activity": "Days since the partner's last registration, win, certification, "
                           "MDF request or survey answer",
    "onboarding_completed": "1 once onboarding is completed, else 0",
    "resources_used": "Views and downloads of the enablement library by the partner's people "
                      "in the window",
    "learning_paths_completed": "Learning paths its people completed in the window",
}
# Measures that count or sum dated facts: the window and the decay apply to them.
WINDOWED = frozenset({"deals_registered", "deals_won", "deals_lost", "revenue_won",
                      "certifications_earned", "certifications_lapsed", "mdf_requests",
                      "claims_approved", "survey_answers", "resources_used",
                      "learning_paths_completed"})
# Measures computed over the window without decay (a rate or a mean is not a sum).
WINDOWED_RATIOS = frozenset({"win_rate", "psat", "nps"})

WINDOW_DAYS: dict[str, int | None] = {"90d": 90, "365d": 365, "lifetime": None}
Slug = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,39}$", examples=["revenue"])]


class MeasureSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    measure: HealthMeasure
    window: HealthWindow = Field(HealthWindow.days_90, description=(
        "Rolling 90 or 365 days to the day scored, or the partner's whole history (for the "
        "windowed measures)"))
    direction: MeasureDirection = MeasureDirection.higher_is_better
    target: DecimalText = Field(gt=0, max_digits=18, decimal_places=6, description=(
        "Higher is better: the value that earns all 100 points (more earns no more). Lower "
        "is better: the value from which it earns none."), examples=["10"])
    floor: DecimalText = Field(Decimal(0), max_digits=18, decimal_places=6, description=(
        "Higher is better: the value at or below which it earns none. Lower is better: the "
        "value at or below which it earns all 100."), examples=["0"])
    weight: StrictInt = Field(1, ge=1, le=100, description="Its weight within the pillar")

    @model_validator(mode="after")
    def _bounds(self) -> MeasureSpec:
        if self.floor >= self.target:
            raise ValueError("floor must be below target")
        return self


class PillarSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key: Slug
    name: str = Field(min_length=1, max_length=80, examples=["Revenue"])
    weight: StrictInt = Field(ge=0, le=100, description="Its weight in the score; 0 shows the "
                              "pillar without letting it count")
    measures: list[MeasureSpec] = Field(min_length=1, max_length=10)


class BandSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Slug
    min_score: DecimalText = Field(le=100, max_digits=5, decimal_places=2,
                                   description="The lowest score in the band")


class HealthModelSpec(BaseModel):
    """A version of the health model, as the vendor writes it."""

    model_config = ConfigDict(extra="forbid")

    pillars: list[PillarSpec] = Field(min_length=1, max_length=8)
    bands: list[BandSpec] = Field(min_length=1, max_length=6, description=(
        "From the best down; the last band's `min_score` must be 0"))
    currency: Currency = Field(description="The currency of the money measures")
    decay_half_life_days: StrictInt | None = Field(None, ge=7, le=730, description=(
        "Counts and sums weigh each fact by 1/2^(age / half-life) when set"))
    churn_risk_threshold: DecimalText = Field(Decimal("0.5"), gt=0, lt=1, max_digits=5,
                                              decimal_places=4, description=(
        "A churn risk above it raises prm.partner.churn_risk_raised.v1"))

    @model_validator(mode="after")
    def _coherent(self) -> HealthModelSpec:
        keys = [p.key for p in self.pillars]
        if len(set(keys)) != len(keys):
            raise ValueError("pillar keys must be unique")
        if sum(p.weight for p in self.pillars) == 0:
            raise ValueError("at least one pillar must weigh more than 0")
        names = [b.name for b in self.bands]
        if len(set(names)) != len(names):
            raise ValueError("band names must be unique")
        floors = [b.min_score for b in self.bands]
        if any(a <= b for a, b in zip(floors, floors[1:], strict=False)):
            raise ValueError("bands must be listed from the best down, min_score falling")
        if floors[-1] != 0:
            raise ValueError("the last band's min_score must be 0")
        return self


# The default: weightings of the kind vendors publish (revenue 35, engagement 20, enablement
# 20, pipeline 15, satisfaction 10), bands at 80 and 50.
DEFAULT = HealthModelSpec.model_validate({
    "currency": "USD", "decay_half_life_days": None, "churn_risk_threshold": "0.5",
    "pillars": [
        {"key": "revenue", "name": "Revenue", "weight": 35, "measures": [
            {"measure": "revenue_won", "window": "365d", "target": "250000"},
            {"measure": "deals_won", "window": "90d", "target": "5"}]},
        {"key": "engagement", "name": "Engagement", "weight": 20, "measures": [
            {"measure": "days_since_activity", "direction": "lower_is_better",
             "target": "90", "floor": "7"},
            {"measure": "mdf_requests", "window": "365d", "target": "4"}]},
        {"key": "enablement", "name": "Enablement", "weight": 20, "measures": [
            {"measure": "active_certifications", "target": "3"},
            {"measure": "onboarding_completed", "target": "1"}]},
        {"key": "pipeline", "name": "Pipeline", "weight": 15, "measures": [
            {"measure": "deals_registered", "window": "90d", "target": "10"},
            {"measure": "win_rate", "window": "365d", "target": "0.5"}]},
        {"key": "satisfaction", "name": "Satisfaction", "weight": 10, "measures": [
            {"measure": "psat", "window": "365d", "target": "5", "floor": "1"},
            {"measure": "nps", "window": "365d", "target": "50"}]},
    ],
    "bands": [{"name": "healthy", "min_score": "80"}, {"name": "watch", "min_score": "50"},
              {"name": "at_risk", "min_score": "0"}],
})


def normalise(spec: MeasureSpec, value: Decimal) -> Decimal:
    """The measure's points, 0-100: linear between floor and target, flat beyond."""
    span = spec.target - spec.floor
    if spec.direction == "higher_is_better":
        share = (value - spec.floor) / span
    else:
        share = (spec.target - value) / span
    return min(max(share, Decimal(0)), Decimal(1)) * HUNDRED


@dataclass(frozen=True)
class MeasureScore:
    measure: str
    window: str
    direction: str
    value: Decimal | None  # None: no data (e.g. no survey answer); the measure then sits out
    points: Decimal | None  # 0-100
    contribution: Decimal  # its share of the whole score, in points


@dataclass(frozen=True)
class PillarScore:
    key: str
    name: str
    weight: int
    score: Decimal | None  # None when none of its measures has data
    contribution: Decimal
    measures: list[MeasureScore]


@dataclass(frozen=True)
class Score:
    score: Decimal | None  # None when no pillar that counts has data
    band: str | None
    pillars: list[PillarScore]


def measure_key(spec: MeasureSpec) -> tuple[str, str]:
    return spec.measure, spec.window


def score(model: HealthModelSpec, values: Mapping[tuple[str, str], Decimal | None]) -> Score:
    """Score from the measures' values (keyed by measure and window). A measure without data
    sits out of its pillar, and a pillar without any out of the score: the weights of the
    others then share its place, so that missing data neither punishes nor rewards."""
    pillars: list[tuple[PillarSpec, Decimal | None, list[tuple[MeasureSpec, Decimal | None,
                                                             Decimal | None]]]] = []
    for pillar in model.pillars:
        rows = []
        for spec in pillar.measures:
            value = values.get(measure_key(spec))
            rows.append((spec, value, None if value is None else normalise(spec, value)))
        present = [(spec.weight, points) for spec, _, points in rows if points is not None]
        weight = sum(w for w, _ in present)
        pillar_score = sum((w * p for w, p in present), Decimal(0)) / weight if weight else None
        pillars.append((pillar, pillar_score, rows))
    counted = [(p.weight, s) for p, s, _ in pillars if s is not None and p.weight > 0]
    total_weight = sum(w for w, _ in counted)
    result: Decimal | None = None
    if total_weight:
        raw = sum((w * s for w, s in counted), Decimal(0)) / total_weight
        result = min(max(raw, Decimal(0)), HUNDRED).quantize(CENT, ROUND_HALF_EVEN)
    out: list[PillarScore] = []
    for pillar, pillar_score, rows in pillars:
        share = (Decimal(pillar.weight) / total_weight
                 if total_weight and pillar_score is not None else Decimal(0))
        measure_weight = sum(spec.weight for spec, _, points in rows if points is not None)
        measures = [MeasureScore(
            measure=spec.measure, window=spec.window, direction=spec.direction, value=value,
            points=None if points is None else points.quantize(CENT, ROUND_HALF_EVEN),
            contribution=(share * spec.weight * points / measure_weight).quantize(
                CENT, ROUND_HALF_EVEN) if points is not None else Decimal("0.00"))
            for spec, value, points in rows]
        out.append(PillarScore(
            key=pillar.key, name=pillar.name, weight=pillar.weight,
            score=None if pillar_score is None else pillar_score.quantize(CENT,
                                                                          ROUND_HALF_EVEN),
            contribution=(share * pillar_score).quantize(CENT, ROUND_HALF_EVEN)
            if pillar_score is not None else Decimal("0.00"),
            measures=measures))
    return Score(score=result, band=band_of(model, result), pillars=out)


def band_of(model: HealthModelSpec, value: Decimal | None) -> str | None:
    if value is None:
        return None
    for band in model.bands:
        if value >= band.min_score:
            return band.name
    return model.bands[-1].name


def band_rank(model: HealthModelSpec, band: str | None) -> int | None:
    """0 for the best band; None for a band the model does not have (an older version's)."""
    names = [b.name for b in model.bands]
    return names.index(band) if band in names else None
