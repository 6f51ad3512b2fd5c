import datetime as dt
import uuid
from enum import StrEnum
from typing import Annotated, Any, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StringConstraints,
    field_validator,
    model_validator,
)

from prm_partners.contacts.schemas import ContactRole
from prm_partners.contacts.schemas import _distinct as distinct
from prm_partners.partners.schemas import PartnerStatus, PartnerType
from prm_partners.tiers.schemas import TierName
from prm_platform.types import IsoDateTime, Name


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
    invitation_id: uuid.UUID | None = Field(default=None, description=(
        "The campaign's invitation it answers (`invitation_id` of "
        "`prm.partner.survey_requested.v1`), so that it counts for the campaign: of the same "
        "partner and survey; its contact is the answer's unless another is named (422)."))

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
    invitation_id: uuid.UUID | None = Field(default=None, description="The campaign's "
                                            "invitation it answers, if named.")
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


# -- campaigns ---------------------------------------------------------------------------------

class CampaignTrigger(StrEnum):
    """When a campaign invites: every `every_days` days, or after an `event`."""

    schedule = "schedule"
    event = "event"


class CampaignEvent(StrEnum):
    """What an event-triggered campaign follows: a partner's onboarding plan completed
    (`prm.partner.onboarding_completed.v1`), or a payout of its incentives (MDF claims,
    rebates, SPIFFs) paid (`prm.payout.paid.v1`)."""

    onboarding_completed = "onboarding_completed"
    claim_paid = "claim_paid"


EVERY_DAYS = (7, 730)


def check_trigger(trigger: CampaignTrigger | str, every_days: int | None,
                  event: CampaignEvent | str | None) -> str | None:
    """What is wrong with a campaign's trigger, if anything: a schedule needs `every_days`
    (7-730) and no `event`, an event trigger an `event` and no `every_days`."""
    if trigger == CampaignTrigger.schedule:
        if every_days is None or not EVERY_DAYS[0] <= every_days <= EVERY_DAYS[1]:
            return "a scheduled campaign needs every_days, from 7 to 730"
        if event is not None:
            return "a scheduled campaign names no event"
    elif event is None or every_days is not None:
        return "an event-triggered campaign names its event and no every_days"
    return None


_DISTINCT_LISTS = ("contact_roles", "partner_types", "partner_tiers", "partner_statuses")

_CAMPAIGN_EXAMPLE: dict[str, Any] = {
    "name": "Partner NPS after onboarding", "kind": "nps", "contact_roles": ["admin", "sales"],
    "partner_types": ["msp", "reseller"], "partner_tiers": [], "partner_statuses": ["active"],
    "trigger": "event", "event": "onboarding_completed", "every_days": None, "delay_days": 14,
    "min_days_between": 90, "active": True}


class CampaignFields(BaseModel):
    """What a campaign's creation and its changes share."""

    model_config = ConfigDict(extra="forbid")

    @field_validator(*_DISTINCT_LISTS, check_fields=False)
    @classmethod
    def _once_each(cls, values: list[Any] | None) -> list[Any] | None:
        return distinct(values)


class CampaignIn(CampaignFields):
    """A survey campaign: which contacts of which partners are invited to which survey, and
    when."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        _CAMPAIGN_EXAMPLE,
        {"name": "Quarterly PSAT", "kind": "psat", "contact_roles": ["admin"],
         "trigger": "schedule", "every_days": 91}]})

    name: Name
    kind: SurveyKind
    contact_roles: list[ContactRole] = Field(min_length=1, max_length=len(ContactRole),
                                             description="The contacts invited: those holding "
                                             "any of these roles.")
    partner_types: list[PartnerType] = Field(default_factory=list, max_length=len(PartnerType),
                                             description="Only partners of these types "
                                             "(empty: every type).")
    partner_tiers: list[TierName] = Field(default_factory=list, max_length=50, description=(
        "Only partners holding these tiers (empty: any tier, or none)."))
    partner_statuses: list[PartnerStatus] = Field(
        default_factory=lambda: [PartnerStatus.active], min_length=1,
        max_length=len(PartnerStatus), description="Only partners in these statuses "
        "(active ones by default).")
    trigger: CampaignTrigger
    every_days: StrictInt | None = Field(default=None, description=(
        "A scheduled campaign: each contact is invited once every this many days (7-730)."))
    event: CampaignEvent | None = Field(default=None, description=(
        "An event-triggered campaign: what it follows."))
    delay_days: StrictInt = Field(default=0, ge=0, le=365, description=(
        "An event-triggered campaign invites this many days after the event (0: at once)."))
    min_days_between: StrictInt = Field(default=90, ge=1, le=730, description=(
        "The quiet period: a contact invited by any campaign within this many days is not "
        "invited again."))
    active: StrictBool = Field(default=True, description="False pauses it: it invites no one "
                               "(invitations already due are still sent).")

    @model_validator(mode="after")
    def _trigger_whole(self) -> Self:
        if (problem := check_trigger(self.trigger, self.every_days, self.event)) is not None:
            raise ValueError(problem)
        return self


class CampaignPatch(CampaignFields):
    """Only the fields sent change; `null` clears `every_days` or `event` (when the trigger
    changes). The trigger is checked whole after the change (422)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"active": False}, {"every_days": 182, "contact_roles": ["admin", "marketing"]}]})

    name: Name | None = None
    contact_roles: list[ContactRole] | None = Field(default=None, min_length=1,
                                                    max_length=len(ContactRole))
    partner_types: list[PartnerType] | None = Field(default=None,
                                                    max_length=len(PartnerType))
    partner_tiers: list[TierName] | None = Field(default=None, max_length=50)
    partner_statuses: list[PartnerStatus] | None = Field(default=None, min_length=1,
                                                         max_length=len(PartnerStatus))
    trigger: CampaignTrigger | None = None
    every_days: StrictInt | None = None
    event: CampaignEvent | None = None
    delay_days: StrictInt | None = Field(default=None, ge=0, le=365)
    min_days_between: StrictInt | None = Field(default=None, ge=1, le=730)
    active: StrictBool | None = None

    @field_validator("name", "contact_roles", "partner_types", "partner_tiers",
                     "partner_statuses", "trigger", "delay_days", "min_days_between", "active",
                     mode="before")
    @classmethod
    def _required_when_sent(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("may not be null")
        return value


class CampaignOut(BaseModel):
    model_config = ConfigDict(from_attributes=True, json_schema_extra={"examples": [{
        "id": "0193c1f0-0000-7000-8000-000000000001", **_CAMPAIGN_EXAMPLE,
        "invited": 120, "pending": 4, "answered": 37, "version": 2,
        "created_at": "2026-11-23T10:00:00Z", "updated_at": "2026-11-30T08:12:00Z"}]})

    id: uuid.UUID
    name: str
    kind: SurveyKind
    contact_roles: list[ContactRole]
    partner_types: list[PartnerType]
    partner_tiers: list[str]
    partner_statuses: list[PartnerStatus]
    trigger: CampaignTrigger
    every_days: int | None = Field(default=None, description="A scheduled campaign's period.")
    event: CampaignEvent | None = Field(default=None, description="What an event-triggered "
                                        "campaign follows.")
    delay_days: int
    min_days_between: int
    active: bool
    invited: int = Field(default=0, description="Invitations sent.")
    pending: int = Field(default=0, description="Invitations waiting for their delay.")
    answered: int = Field(default=0, description="Invitations sent whose answer came back "
                          "naming them (`invitation_id`). Counts are not part of the version "
                          "(the ETag): read without If-None-Match for the latest.")
    version: int = Field(description="Increases with every change; the ETag is its quoted "
                         "value.")
    created_at: dt.datetime
    updated_at: dt.datetime
