import datetime as dt
import uuid
from enum import StrEnum
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StringConstraints,
    model_validator,
)

from prm_deals.registrations.schemas import ConditionReason, DealRegistration, DealType, ShortText
from prm_platform.money import Money
from prm_platform.types import CountryCode

MAX_RULES = 200
Label = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40)]
Sku = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]


class RuleOutcome(StrEnum):
    """What a rule of engagement decides when it fires: `approve`, `reject` (with its
    reason) or `review` (the channel team decides)."""

    approve = "approve"
    reject = "reject"
    review = "review"


class RuleAppliesTo(StrEnum):
    """What a rule of engagement decides: a new `registration`, or a partner's request to
    `extension` of a registration's protection."""

    registration = "registration"
    extension = "extension"


class ConflictCondition(StrEnum):
    """What the conflict check found, as a rule's condition: `registration`, another
    partner's; `direct_account`, a vendor's named account; `any`, either; `none`, nothing."""

    none = "none"
    any = "any"
    registration = "registration"
    direct_account = "direct_account"



class Conditions(BaseModel):
    """All given conditions must hold for the rule to fire; a condition left out holds always."""

    model_config = ConfigDict(extra="forbid")

    partner_tiers: list[Label] | None = Field(default=None, max_length=50, description=(
        "The registering partner's tier is one of these (as the partner directory holds it)."))
    partner_types: list[Label] | None = Field(default=None, max_length=50)
    countries: list[CountryCode] | None = Field(default=None, max_length=250,
                                                description="The customer's country.")
    deal_types: list[DealType] | None = None
    products: list[Sku] | None = Field(default=None, max_length=200, description=(
        "Some product of the deal has one of these SKUs."))
    amount_at_least: Money | None = Field(default=None, description=(
        "The deal's amount is at least this; a deal in another currency does not match."))
    amount_below: Money | None = Field(default=None, description=(
        "The deal's amount is below this; a deal in another currency does not match."))
    private_offer: StrictBool | None = None
    conflict: ConflictCondition | None = Field(
        default=None, description="What the conflict check found (`registration`: another "
        "partner's; `direct_account`: a vendor's named account; `any`: either; `none`: "
        "nothing).")
    conflict_score_at_least: StrictFloat | None = Field(default=None, ge=0, le=1, description=(
        "The best conflict's score (another partner's or an account's) is at least this."))


class RuleIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "name": "Gold partners under 50k EUR are approved at once",
        "conditions": {"partner_tiers": ["Gold", "Platinum"], "conflict": "none",
                       "amount_below": {"amount": "50000.00", "currency": "EUR"}},
        "outcome": "approve", "protection_days": 120}]})

    name: ShortText
    conditions: Conditions = Field(default_factory=Conditions)
    outcome: RuleOutcome = Field(description="`approve`, `reject` (with `reason`) or `review` "
                                 "(the channel team decides).")
    applies_to: RuleAppliesTo = Field(default=RuleAppliesTo.registration, description=(
        "What the rule decides: a new `registration`, or a partner's request to `extension` "
        "of a registration's protection (the conditions then look at the registration)."))
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1,
                                             max_length=500)] | None = Field(
        default=None, description="Told to the partner; required to reject.")
    protection_days: StrictInt | None = Field(default=None, ge=1, le=3650, description=(
        "How long a registration this rule decides is protected, instead of the default."))
    position: StrictInt | None = Field(default=None, ge=0, le=100_000, description=(
        "Rules are evaluated by ascending position (then creation); last if left out."))
    enabled: StrictBool = True

    @model_validator(mode="after")
    def _reject_says_why(self) -> "RuleIn":
        if self.outcome == "reject" and not self.reason:
            raise ValueError("a rule that rejects needs a reason the partner can read")
        return self


class RulePatch(BaseModel):
    """Only the fields sent change."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"enabled": False}]})

    name: ShortText | None = None
    conditions: Conditions | None = None
    outcome: RuleOutcome | None = None
    applies_to: RuleAppliesTo | None = None
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1,
                                             max_length=500)] | None = None
    protection_days: StrictInt | None = Field(default=None, ge=1, le=3650)
    position: StrictInt | None = Field(default=None, ge=0, le=100_000)
    enabled: StrictBool | None = None


class RuleOut(BaseModel):
    model_config = ConfigDict(from_attributes=True, json_schema_extra={"examples": [{
        "id": "0193c1d0-1b2c-7e3f-8a9b-0c1d2e3f4a5b", "position": 10,
        "name": "Gold partners under 50k EUR are approved at once",
        "conditions": {"partner_tiers": ["Gold", "Platinum"], "conflict": "none",
                       "amount_below": {"amount": "50000.00", "currency": "EUR"}},
        "outcome": "approve", "reason": None, "protection_days": 120, "enabled": True,
        "version": 1, "created_at": "2026-11-22T09:30:00Z",
        "updated_at": "2026-11-22T09:30:00Z"}]})

    id: uuid.UUID
    position: int
    name: str
    conditions: Conditions
    outcome: RuleOutcome
    applies_to: RuleAppliesTo = RuleAppliesTo.registration
    reason: str | None = None
    protection_days: int | None = None
    enabled: bool
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime


class RuleVersion(BaseModel):
    version: int
    rule: dict[str, Any] = Field(description="The rule as it was at that version.")
    changed_by: str
    changed_at: dt.datetime


class DryRun(BaseModel):
    model_config = ConfigDict(extra="forbid")

    registration: DealRegistration = Field(description="As `POST /v1/deals` would take it; "
                                           "`partner_id` names the registering partner.")


class RuleTrace(BaseModel):
    id: uuid.UUID
    name: str
    version: int
    fired: bool
    failed: list[str] = Field(description="The conditions that did not hold, in words.")
    failed_codes: list[ConditionReason] = Field(
        default_factory=list, description="The same conditions in the same order, each as a "
        "stable code with its params, for portals that translate them.")
