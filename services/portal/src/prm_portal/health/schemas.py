"""What the partner health endpoints take and answer. Scores and probabilities are decimal
strings (exact, as computed); the pillars say where every point comes from."""

from __future__ import annotations

import datetime as dt
import uuid
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from prm_portal.health.model import HealthModelSpec


class HealthModelOut(BaseModel):
    version: int = Field(description="Increases with every change; the ETag")
    spec: HealthModelSpec
    created_at: dt.datetime
    created_by: str | None
    measures: dict[str, str] = Field(description="The measures a pillar may use, and what "
                                     "each one counts")


class HealthModelVersionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    version: int
    spec: HealthModelSpec
    created_at: dt.datetime
    created_by: str | None


class HealthPreviewIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    spec: HealthModelSpec
    partner_ids: list[uuid.UUID] = Field(min_length=1, max_length=50)


class Evidence(BaseModel):
    """A fact behind a measure: the record, the day, the value and the event that said it."""

    kind: str = Field(examples=["deal_won"])
    ref_id: uuid.UUID = Field(description="The record: a deal, a certification, a survey "
                              "answer, a fund request or claim, an onboarding plan")
    occurred_on: dt.date
    value: str | None = Field(description="The amount or the score, a decimal string")
    currency: str | None
    event_id: uuid.UUID | None = Field(description="The event that recorded it (none for "
                                       "what is read from the partner's current records)")


class MeasureOut(BaseModel):
    measure: str
    window: str
    direction: str
    value: str | None = Field(description="None: nothing to measure (no answer, no closed "
                              "deal); the measure then sits out of its pillar")
    points: str | None = Field(description="0-100 after normalisation")
    contribution: str = Field(description="Its share of the whole score, in points")
    evidence: list[Evidence] = Field(default_factory=list, description=(
        "The newest facts behind the value (up to 20), in the scorecard"))
    evidence_count: int | None = Field(None, description="How many facts are behind it")


class PillarOut(BaseModel):
    key: str
    name: str
    weight: int
    score: str | None
    contribution: str = Field(description="Its share of the score, in points; the pillars' "
                              "contributions add up to the score (to the cent)")
    measures: list[MeasureOut]


class EstimateOut(BaseModel):
    probability: str | None = Field(description="0-1, a decimal string; none until the "
                                    "estimator has been trained on enough history")
    drivers: list[dict[str, object]] = Field(default_factory=list, description=(
        "What moves the estimate most: the feature, its value, its contribution to the "
        "log-odds and an English phrase"))


class PartnerHealthOut(BaseModel):
    partner_id: uuid.UUID
    score: str | None = Field(description="0-100, two decimal places")
    band: str | None
    model_version: int
    computed_on: dt.date
    computed_at: dt.datetime
    previous_score: str | None
    previous_band: str | None
    trend: str | None = Field(description="The score minus the score of 30 days before")
    churn_risk: EstimateOut
    growth: EstimateOut
    partner_type: str | None
    partner_tier: str | None
    partner_country: str | None
    version: int


class Satisfaction(BaseModel):
    answers: int
    psat: str | None = Field(description="Mean PSAT (1-5) of the period")
    psat_answers: int
    nps: str | None = Field(description="Promoters minus detractors, -100..100")
    nps_answers: int
    low_sample: bool = Field(description="Fewer than 30 answers: read with care")


class Kpis(BaseModel):
    deals_registered: int
    deals_won: int
    deals_lost: int
    won: list[dict[str, str]] = Field(description="Won amount per currency")
    open_pipeline: list[dict[str, str]] = Field(description="Open deals' amount per currency")
    mdf_requests: int
    claims_approved: int
    active_certifications: int


class ScorecardOut(BaseModel):
    partner_id: uuid.UUID
    name: str | None
    period_from: dt.date
    period_to: dt.date
    health: PartnerHealthOut | None = Field(description="None until the partner is scored")
    pillars: list[PillarOut]
    satisfaction: Satisfaction
    kpis: Kpis
    tier_progress: dict[str, object] | None = Field(description="The partner's standing "
                                                    "against the next tier, as last announced")


class HealthHistoryOut(BaseModel):
    computed_on: dt.date
    score: str | None
    band: str | None
    model_version: int
    pillars: dict[str, str | None] = Field(description="Each pillar's score that day")
    churn_risk: str | None
    growth: str | None


class HealthPreviewItem(BaseModel):
    partner_id: uuid.UUID
    score: str | None
    band: str | None
    current_score: str | None = Field(description="Its score under the model in force")
    current_band: str | None
    pillars: list[PillarOut]


class HealthPreviewOut(BaseModel):
    items: list[HealthPreviewItem]


class ProgrammeGroup(BaseModel):
    key: str | None = Field(description="The type, tier or country (none: without a tier)")
    partners: int = Field(description="Partners scored in the period")
    mean_score: str | None
    bands: dict[str, int]
    mean_churn_risk: str | None
    churn_risk_raised: int = Field(description="Partners whose churn risk is above the "
                                   "threshold now")
    satisfaction: Satisfaction


class ProgrammeGrouping(StrEnum):
    type = "type"
    tier = "tier"
    country = "country"


class ProgrammeHealthOut(BaseModel):
    group_by: ProgrammeGrouping
    period_from: dt.date
    period_to: dt.date
    model_version: int
    groups: list[ProgrammeGroup]
