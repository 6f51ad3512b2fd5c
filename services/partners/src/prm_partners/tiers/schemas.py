import datetime as dt
import uuid
from enum import StrEnum
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StringConstraints,
    field_validator,
)

from prm_platform.money import Money
from prm_platform.types import Currency

TierName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=60)]
# Positive, at most 12 digits either side of the point: what NUMERIC(24, 12) holds exactly.
RATE_PATTERN = r"^[0-9]{1,12}(\.[0-9]{1,12})?$"
MAX_TIERS = 50

_TIER_EXAMPLE: dict[str, Any] = {"name": "Gold", "rank": 30,
                 "description": "Our strongest resellers: MDF and the best discounts.",
                 "min_revenue": {"amount": "250000.00", "currency": "EUR"},
                 "min_active_certifications": 3, "min_won_deals": 5,
                 "compliance_required": True}


class _Criteria(BaseModel):
    model_config = ConfigDict(extra="forbid")

    description: str | None = Field(default=None, max_length=500,
                                    description="What the tier gives, for people.")
    min_revenue: Money | None = Field(
        default=None, description="Minimum won-deal revenue over the trailing window, in the "
        "programme's base currency (null: no revenue criterion).")
    min_active_certifications: StrictInt = Field(default=0, ge=0, le=1000, strict=True,
                                           description="Minimum active certifications.")
    min_won_deals: StrictInt = Field(default=0, ge=0, le=1_000_000, strict=True,
                               description="Minimum deals won over the trailing window.")
    compliance_required: StrictBool = Field(default=False, strict=True, description="Whether the "
                                      "partner must be compliant (agreements signed, "
                                      "requirements met).")


class TierIn(_Criteria):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [_TIER_EXAMPLE]})

    name: TierName = Field(description="Unique, e.g. Registered, Silver, Gold, Platinum.")
    rank: StrictInt = Field(ge=0, le=1000, strict=True, description="Order in the programme: a "
                      "higher rank is a higher tier; unique.")


class TierPatch(BaseModel):
    """Only the fields sent change; `null` clears `description` and `min_revenue`."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"min_revenue": {"amount": "300000.00", "currency": "EUR"}, "min_won_deals": 6}]})

    name: TierName | None = None
    rank: StrictInt | None = Field(default=None, ge=0, le=1000, strict=True)
    description: str | None = Field(default=None, max_length=500)
    min_revenue: Money | None = None
    min_active_certifications: StrictInt | None = Field(default=None, ge=0, le=1000, strict=True)
    min_won_deals: StrictInt | None = Field(default=None, ge=0, le=1_000_000, strict=True)
    compliance_required: StrictBool | None = Field(default=None, strict=True)

    @field_validator("name", "rank", "min_active_certifications", "min_won_deals",
                     "compliance_required", mode="before")
    @classmethod
    def _required_when_sent(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("may not be null")
        return value


class TierOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": "0193c1c2-7e1a-7d2b-9a51-6f3f1c2d4e5f", **_TIER_EXAMPLE, "version": 1,
        "created_at": "2026-11-22T09:30:00Z", "updated_at": "2026-11-22T09:30:00Z"}]})

    id: uuid.UUID
    name: str
    rank: int
    description: str | None
    min_revenue: Money | None
    min_active_certifications: int
    min_won_deals: int
    compliance_required: bool
    version: int = Field(description="Increases with every change; the ETag is its quoted value.")
    created_at: dt.datetime
    updated_at: dt.datetime


class TierProgrammeIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"base_currency": "EUR", "demotion_grace_days": 30, "window_months": 12}]})

    base_currency: Currency = Field(description="What revenue is converted to and tier "
                                    "minimums are stated in (ISO 4217).")
    demotion_grace_days: StrictInt = Field(ge=0, le=3650, strict=True, description="How long a "
                                     "partner may stay below its tier before it is demoted.")
    window_months: StrictInt = Field(default=12, ge=1, le=120, strict=True, description="The "
                               "trailing window revenue and won deals are counted over.")


class TierProgrammeOut(TierProgrammeIn):
    model_config = ConfigDict(from_attributes=True, json_schema_extra={"examples": [
        {"base_currency": "EUR", "demotion_grace_days": 30, "window_months": 12, "version": 2,
         "updated_at": "2026-11-22T09:30:00Z"}]})

    version: int
    updated_at: dt.datetime


class TierRateUsed(BaseModel):
    currency: str = Field(description="The deals' currency.")
    rate: str = Field(description="To the base currency.")
    effective_on: dt.date = Field(description="The rate's effective date.")
    deals: int
    amount: str = Field(description="The deals' total in their currency.")
    base_amount: str = Field(description="Their total in the base currency (each deal rounded "
                             "half-even to its minor unit).")


class UnconvertedDeal(BaseModel):
    currency: str
    deals: int
    amount: str = Field(description="Not counted in the revenue until a rate to the base "
                        "currency effective on or before their close dates exists.")


class TierCriteriaValues(BaseModel):
    """A partner's values on one day, as the tiers' criteria read them."""

    revenue: Money = Field(description="Won-deal revenue over the window, in the base "
                           "currency (converted deals only).")
    won_deals: int
    active_certifications: int
    compliant: bool
    window_from: dt.date = Field(description="Deals closed after this day count...")
    window_to: dt.date = Field(description="...up to and including this one.")
    rates_used: list[TierRateUsed] = Field(description="The FX rates that converted the window's "
                                       "deals (at most 100 rows).")
    unconverted: list[UnconvertedDeal] = Field(description="Won deals awaiting a rate.")


class TierPendingDemotion(BaseModel):
    to_tier: str | None = Field(description="What it would be demoted to (null: no tier).")
    since: dt.date = Field(description="The first evaluation that found it below its tier.")
    effective_on: dt.date = Field(description="When the demotion happens unless it "
                                  "qualifies again before.")


class TierCriterion(StrEnum):
    """A tier's criterion, named as in `criteria` (`revenue` is `min_revenue`,
    `active_certifications` `min_active_certifications`, `won_deals` `min_won_deals`,
    `compliant` `compliance_required`)."""

    revenue = "revenue"
    active_certifications = "active_certifications"
    won_deals = "won_deals"
    compliant = "compliant"


class TierShortfallCode(StrEnum):
    """What falls short of a tier's criterion. Stable: never reworded."""

    revenue_below_minimum = "revenue_below_minimum"
    revenue_currency_mismatch = "revenue_currency_mismatch"
    certifications_below_minimum = "certifications_below_minimum"
    won_deals_below_minimum = "won_deals_below_minimum"
    not_compliant = "not_compliant"


class TierChangeDirection(StrEnum):
    """A tier change: a `promotion` or a `demotion`."""

    promotion = "promotion"
    demotion = "demotion"


class TierShortfall(BaseModel):
    """One criterion of the next tier that does not hold yet, as values a portal can show in
    its own words: ``code`` is stable, ``params`` are its values, ``message`` the English."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"criterion": "revenue", "required": {"amount": "500000.00", "currency": "EUR"},
         "actual": {"amount": "180000.00", "currency": "EUR"}, "code": "revenue_below_minimum",
         "params": {"actual": "180000.00", "required": "500000.00", "short": "320000.00",
                    "currency": "EUR"},
         "message": "revenue 180000.00 EUR of 500000.00 EUR (320000.00 short)"},
        {"criterion": "won_deals", "required": 5, "actual": 4,
         "code": "won_deals_below_minimum", "params": {"actual": 4, "required": 5},
         "message": "4 won deals of 5"}]})

    criterion: TierCriterion = Field(
        description="The tier's criterion, named as in `criteria` (`revenue` is "
        "`min_revenue`, `active_certifications` `min_active_certifications`, `won_deals` "
        "`min_won_deals`, `compliant` `compliance_required`).")
    required: Money | StrictInt | StrictBool = Field(
        description="What the tier takes: money for `revenue` (in the currency the tier states "
        "it), a count for `active_certifications` and `won_deals`, `true` for `compliant`.")
    actual: Money | StrictInt | StrictBool = Field(
        description="The partner's value, of the same kind (revenue in the base currency).")
    code: TierShortfallCode = Field(description="Stable: what falls short; never reworded.")
    params: dict[str, str | int] = Field(
        description="The code's values: `actual`, `required` (and `short`, `currency` for "
        "revenue; amounts as decimal strings); `required_currency` and `base_currency` for "
        "`revenue_currency_mismatch`; none for `not_compliant`.")
    message: str = Field(description="The same in English (the item of `missing`).")


class NextTierGap(BaseModel):
    name: str
    missing: list[str] = Field(description="What it lacks, in English words (one per item of "
                               "`shortfalls`).")
    shortfalls: list[TierShortfall] = Field(
        description="What it lacks, criterion by criterion: required and actual values and a "
        "stable code with parameters, for a portal to show in its reader's language.")


class PartnerTierOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "partner_id": "0193c1c2-7e1a-7d2b-9a51-6f3f1c2d4e5f", "tier": "Gold",
        "qualifying_tier": "Silver", "as_of": "2026-11-23", "evaluated_on": "2026-11-23",
        "criteria": {"revenue": {"amount": "180000.00", "currency": "EUR"}, "won_deals": 4,
                     "active_certifications": 3, "compliant": True,
                     "window_from": "2025-11-23", "window_to": "2026-11-23",
                     "rates_used": [{"currency": "USD", "rate": "0.92", "effective_on":
                                     "2026-01-01", "deals": 1, "amount": "20000.00",
                                     "base_amount": "18400.00"}],
                     "unconverted": []},
        "pending_demotion": {"to_tier": "Silver", "since": "2026-11-20",
                             "effective_on": "2026-12-20"},
        "next_tier": {"name": "Platinum", "missing": [
            "revenue 180000.00 EUR of 500000.00 EUR (320000.00 short)"], "shortfalls": [
            {"criterion": "revenue", "required": {"amount": "500000.00", "currency": "EUR"},
             "actual": {"amount": "180000.00", "currency": "EUR"},
             "code": "revenue_below_minimum",
             "params": {"actual": "180000.00", "required": "500000.00", "short": "320000.00",
                        "currency": "EUR"},
             "message": "revenue 180000.00 EUR of 500000.00 EUR (320000.00 short)"}]}}]})

    partner_id: uuid.UUID
    tier: str | None = Field(description="The tier it holds.")
    qualifying_tier: str | None = Field(description="The highest tier whose criteria all "
                                        "hold on `as_of`.")
    as_of: dt.date
    evaluated_on: dt.date | None = Field(description="The day its last evaluation was for.")
    criteria: TierCriteriaValues
    pending_demotion: TierPendingDemotion | None
    next_tier: NextTierGap | None = Field(description="The next tier up, with what it lacks.")


class TierChangeOut(BaseModel):
    model_config = ConfigDict(from_attributes=True, json_schema_extra={"examples": [{
        "id": "0193c1c2-7e1a-7d2b-9a51-6f3f1c2d4e5f",
        "partner_id": "0193c1c2-7e1a-7d2b-9a51-6f3f1c2d4e60", "from_tier": "Silver",
        "to_tier": "Gold", "direction": "promotion",
        "reason": "meets every criterion of Gold: revenue 260000.00 EUR, 6 won deals, 3 "
                  "active certifications, compliant",
        "criteria": {"revenue": {"amount": "260000.00", "currency": "EUR"}, "won_deals": 6,
                     "active_certifications": 3, "compliant": True,
                     "window_from": "2025-11-23", "window_to": "2026-11-23",
                     "rates_used": [], "unconverted": []},
        "as_of": "2026-11-23", "partner_version": 7, "changed_at": "2026-11-23T10:00:00Z"}]})

    id: uuid.UUID
    partner_id: uuid.UUID
    from_tier: str | None
    to_tier: str | None
    direction: TierChangeDirection = Field(description="promotion or demotion")
    reason: str
    criteria: TierCriteriaValues = Field(description="Every value that decided it.")
    as_of: dt.date = Field(description="The day it was evaluated for.")
    partner_version: int = Field(description="The partner's version after the change.")
    changed_at: dt.datetime
