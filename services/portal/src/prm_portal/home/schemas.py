"""The partner home's answer: one section per context, each with the time of the last event it
reflects (``as_of``), null where the caller may not read that context."""

from __future__ import annotations

import datetime as dt
import uuid

from pydantic import BaseModel, Field


class Sum(BaseModel):
    """An amount in one currency (a decimal string, signed: a balance may be owed back)."""

    amount: str = Field(examples=["7500.00"])
    currency: str = Field(examples=["EUR"])


class PartnerCard(BaseModel):
    name: str
    type: str
    country: str
    status: str
    tier: str | None
    as_of: dt.datetime


class ProgressShortfall(BaseModel):
    """What the partner still lacks for the next tier, on one criterion."""

    criterion: str
    code: str
    required: str
    actual: str
    currency: str | None = None
    message: str


class TierSection(BaseModel):
    current: str | None = Field(description="The partner's tier now")
    previous: str | None = Field(description="Its tier before the last change")
    direction: str | None = Field(description="promotion or demotion, of the last change")
    criteria: dict[str, str] = Field(description="The values that decided the last change, "
                                     "by criterion (decimal strings for money)")
    reason: str | None
    changed_at: dt.datetime | None
    next_tier: str | None = Field(default=None, description="The next tier up, at the last "
                                  "evaluation (none at the top)")
    shortfalls: list[ProgressShortfall] = Field(default_factory=list, description="What the "
                                            "next tier still takes, by criterion")
    evaluated_on: dt.date | None = Field(default=None, description="The day of the "
                                         "evaluation the progress is from")
    as_of: dt.datetime | None


class TaskDue(BaseModel):
    task_id: uuid.UUID
    title: str
    due_on: dt.date | None


class OnboardingSection(BaseModel):
    completed: bool
    completed_at: dt.datetime | None
    tasks_total: int | None = Field(default=None, description="Tasks of the onboarding plan "
                                    "(null before the partners service announced it)")
    tasks_done: int | None = None
    tasks_due: list[TaskDue] = Field(default_factory=list, description="Open tasks, soonest "
                                     "due first (at most 20)")
    as_of: dt.datetime | None


class ProtectionEnding(BaseModel):
    deal_id: uuid.UUID
    customer_name: str | None
    status: str
    protected_until: dt.date
    days_left: int


class DealsSection(BaseModel):
    open: int = Field(description="Registrations submitted, in review or approved")
    by_status: dict[str, int]
    pipeline: list[Sum] = Field(description="The open registrations' amounts, per currency")
    protection_ending: list[ProtectionEnding] = Field(
        description="Open registrations whose protection ends within the notice period (14 "
        "days by default), soonest first (at most 50)")
    as_of: dt.datetime | None


class MdfSection(BaseModel):
    allocated: list[Sum]
    available: list[Sum] = Field(description="What new fund requests may still reserve, per "
                                 "currency: allocated, less what open requests reserve and "
                                 "approved claims spent")
    requests_awaiting_decision: int
    requests_sent_back: int = Field(description="Requests the vendor sent back for changes")
    claims_awaiting_decision: int
    as_of: dt.datetime | None


class AccrualsSection(BaseModel):
    earned: list[Sum] = Field(description="Rebates and SPIFFs accrued, less reversals, per "
                              "currency")
    as_of: dt.datetime | None


class Payout(BaseModel):
    batch_id: uuid.UUID
    status: str
    total: Sum
    period_from: dt.date
    period_to: dt.date
    paid_on: dt.date | None
    payment_reference: str | None


class PayoutsSection(BaseModel):
    last: Payout | None = Field(description="The last batch paid")
    next: Payout | None = Field(description="The next batch to be paid (approved, not paid)")
    as_of: dt.datetime | None


class ExpiringCertification(BaseModel):
    certification_id: uuid.UUID
    code: str
    contact_id: uuid.UUID | None
    expires_on: dt.date


class CertificationsSection(BaseModel):
    active: int
    expiring: list[ExpiringCertification] = Field(
        description="Certifications expiring within the notice period (60 days by default), "
        "soonest first (at most 50)")
    as_of: dt.datetime | None


class PartnerHome(BaseModel):
    model_config = {"json_schema_extra": {"examples": [{
        "partner_id": "0191f3a4-0000-7000-8000-000000000001",
        "partner": {"name": "Acme Cloud GmbH", "type": "reseller", "country": "DE",
                    "status": "active", "tier": "Gold", "as_of": "2027-01-31T12:00:00Z"},
        "deals": {"open": 3, "by_status": {"approved": 2, "submitted": 1, "won": 4},
                  "pipeline": [{"amount": "125000.00", "currency": "EUR"}],
                  "protection_ending": [], "as_of": "2027-01-31T12:00:00Z"}}]}}

    partner_id: uuid.UUID
    partner: PartnerCard | None = Field(default=None, description="Null until the partner's "
                                        "first event arrived, or without partners:read")
    tier: TierSection | None = Field(default=None, description="Null without partners:read")
    onboarding: OnboardingSection | None = Field(default=None,
                                                 description="Null without partners:read")
    certifications: CertificationsSection | None = Field(
        default=None, description="Null without partners:read")
    deals: DealsSection | None = Field(default=None, description="Null without deals:read")
    mdf: MdfSection | None = Field(default=None, description="Null without incentives:read")
    accruals: AccrualsSection | None = Field(default=None,
                                             description="Null without incentives:read")
    payouts: PayoutsSection | None = Field(default=None,
                                           description="Null without incentives:read")
