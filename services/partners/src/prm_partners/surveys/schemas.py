import datetime as dt
import uuid
from enum import StrEnum
from typing import Annotated, Any, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    StringConstraints,
    model_validator,
)

from prm_platform.types import IsoDateTime


class SurveyKind(StrEnum):
    """Which survey an answer is to: partner satisfaction (PSAT, 1-5) or the partner Net
    Promoter Score question (NPS, 0-10)."""

    psat = "psat"
    nps = "nps"


# Each kind's scale, both ends included.
SCALES: dict[SurveyKind, tuple[int, int]] = {SurveyKind.psat: (1, 5), SurveyKind.nps: (0, 10)}

Comment = Annotated[str, StringConstraints(max_length=2000)]
ExternalId = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1,
                                              max_length=200)]

_ANSWER_EXAMPLE: dict[str, Any] = {
    "partner_id": "0193c1c2-7e1a-7d2b-9a51-6f3f1c2d4e5f",
    "contact_id": "0193c1d0-11aa-7bcd-8e0f-1a2b3c4d5e6f", "kind": "nps", "score": 9,
    "comment": "Deal registration is quick; MDF claims take too long.",
    "answered_at": "2026-11-23T10:00:00Z", "external_id": "typeform-resp-8812"}


class SurveyAnswerIn(BaseModel):
    """An answer to a satisfaction survey. The score is checked against the kind's scale."""

    model_config = ConfigDict(extra="forbid",
                              json_schema_extra={"examples": [_ANSWER_EXAMPLE]})

    partner_id: uuid.UUID | None = Field(default=None, description=(
        "The partner that answered: a partner key may leave it out (its own org, the only "
        "one it may name); a vendor key names it."))
    contact_id: uuid.UUID | None = Field(default=None, description=(
        "The partner's contact who answered (not an erased one), if known."))
    kind: SurveyKind
    score: StrictInt = Field(description="PSAT 1-5, NPS 0-10.")
    comment: Comment | None = Field(default=None, description="Free text, up to 2,000 "
                                    "characters: personal data, erased with the contact.")
    answered_at: IsoDateTime | None = Field(default=None, description=(
        "When it was answered (RFC 3339); now if left out. Not in the future."))
    external_id: ExternalId | None = Field(default=None, description=(
        "The survey tool's id of the response: the same id again (for the same partner) "
        "updates the score and comment of the answer instead of adding one."))

    @model_validator(mode="after")
    def _on_the_scale(self) -> Self:
        low, high = SCALES[self.kind]
        if not low <= self.score <= high:
            raise ValueError(f"a {self.kind.value} score is from {low} to {high}")
        if self.answered_at is not None and self.answered_at.utcoffset() is None:
            raise ValueError("answered_at needs its offset from UTC (e.g. Z)")
        return self


class SurveyIntakeIn(SurveyAnswerIn):
    """A survey tool's delivery: an answer naming its partner and the tool's response id."""

    model_config = ConfigDict(extra="forbid",
                              json_schema_extra={"examples": [_ANSWER_EXAMPLE]})

    partner_id: uuid.UUID = Field(description="The partner that answered.")
    external_id: ExternalId = Field(description=(
        "The survey tool's id of the response: a delivery of the same id updates the answer "
        "(score, comment); one that changes nothing changes nothing."))


class SurveyResponseOut(BaseModel):
    model_config = ConfigDict(from_attributes=True, json_schema_extra={"examples": [{
        **_ANSWER_EXAMPLE, "id": "0193c1e0-0000-7000-8000-000000000001", "version": 1,
        "created_at": "2026-11-23T10:00:02Z", "updated_at": "2026-11-23T10:00:02Z"}]})

    id: uuid.UUID
    partner_id: uuid.UUID
    contact_id: uuid.UUID | None = Field(description="Kept after the contact's erasure.")
    kind: SurveyKind
    score: int
    comment: str | None = Field(description="Null if none, or once the contact was erased.")
    answered_at: dt.datetime
    external_id: str | None = None
    version: int = Field(description="Increases with every change.")
    created_at: dt.datetime
    updated_at: dt.datetime


class NpsResult(BaseModel):
    """Partner NPS: promoters answer 9-10, passives 7-8, detractors 0-6;
    NPS = % promoters − % detractors, from −100 to 100."""

    responses: int = Field(description="The sample size.")
    promoters: int
    passives: int
    detractors: int
    nps: str | None = Field(description="A decimal with one digit after the point; null "
                            "without answers.", examples=["42.9"])
    low_sample: bool = Field(description="Fewer than 30 answers: read with care.")


class PsatResult(BaseModel):
    """Partner satisfaction on a 1-5 scale."""

    responses: int = Field(description="The sample size.")
    mean: str | None = Field(description="The mean score, two digits after the point; null "
                             "without answers.", examples=["4.25"])
    satisfied: int = Field(description="Answers of 4 or 5.")
    satisfied_percent: str | None = Field(description="The share of 4-5 answers in percent, "
                                          "one digit after the point.", examples=["75.0"])
    low_sample: bool = Field(description="Fewer than 30 answers: read with care.")


class SatisfactionOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "partner_id": "0193c1c2-7e1a-7d2b-9a51-6f3f1c2d4e5f", "from_date": "2026-09-01",
        "to_date": "2026-12-01",
        "nps": {"responses": 7, "promoters": 4, "passives": 2, "detractors": 1, "nps": "42.9",
                "low_sample": True},
        "psat": {"responses": 4, "mean": "4.25", "satisfied": 3, "satisfied_percent": "75.0",
                 "low_sample": True}}]})

    partner_id: uuid.UUID
    from_date: dt.date = Field(description="The period's first day (UTC).")
    to_date: dt.date = Field(description="The day after the period's last (half-open).")
    nps: NpsResult
    psat: PsatResult
