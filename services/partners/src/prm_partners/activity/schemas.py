import datetime as dt
import uuid

from pydantic import BaseModel, ConfigDict, Field, StrictInt

from prm_partners.activity.models import MAX_INACTIVITY_DAYS, MIN_INACTIVITY_DAYS
from prm_partners.partners.schemas import PartnerStatus


class ProgrammePolicyIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"inactivity_days": 60}]})

    inactivity_days: StrictInt = Field(
        ge=MIN_INACTIVITY_DAYS, le=MAX_INACTIVITY_DAYS, strict=True,
        description="An active partner with no deal registered, no certification earned and "
        "no API call for this many days is flagged inactive.")


class ProgrammePolicyOut(BaseModel):
    model_config = ConfigDict(from_attributes=True, json_schema_extra={"examples": [
        {"inactivity_days": 90, "version": 1, "updated_at": "2026-11-01T09:00:00Z"}]})

    inactivity_days: int
    version: int = Field(description="Increases with every change; the ETag is its quoted value.")
    updated_at: dt.datetime


class ActivityDeal(BaseModel):
    deal_id: uuid.UUID
    registered_at: dt.datetime = Field(description="When the registration's event was emitted.")


class ActivityCertification(BaseModel):
    code: str
    earned_at: dt.datetime = Field(description="When the certification's event was emitted.")


class TimeToFirstDeal(BaseModel):
    seconds: int = Field(ge=0)
    days: int = Field(ge=0, description="Whole days, rounded down.")


class InactivityFlag(BaseModel):
    inactivity_days: int = Field(description="The programme policy's threshold.")
    flagged: bool = Field(description="Flagged inactive, with no activity since.")
    # Defaults only so that the example of a partner never flagged may leave them out (the
    # contract's examples drop nulls); answers always carry them.
    flagged_at: dt.datetime | None = Field(
        default=None, description="When the current or last flag was raised.")
    inactive_since: dt.datetime | None = Field(
        default=None, description="Where the flagged stretch began: its last sign of activity "
        "(or its activation).")


class PartnerActivityOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "partner_id": "0193c1c2-7e1a-7d2b-9a51-6f3f1c2d4e5f", "status": "active",
        "activated_at": "2026-11-23T10:00:00Z",
        "first_deal": {"deal_id": "0193d000-0000-7000-8000-000000000001",
                       "registered_at": "2026-12-02T14:30:00Z"},
        "time_to_first_deal": {"seconds": 793800, "days": 9},
        "last_deal": {"deal_id": "0193e000-0000-7000-8000-000000000009",
                      "registered_at": "2027-01-15T08:00:00Z"},
        "last_certification": {"code": "SEC-101", "earned_at": "2026-12-10T11:00:00Z"},
        "last_api_call_at": "2027-01-20T16:00:00Z",
        "last_activity_at": "2027-01-20T16:00:00Z",
        "inactivity": {"inactivity_days": 90, "flagged": False, "flagged_at": None,
                       "inactive_since": None}}]})

    partner_id: uuid.UUID
    status: PartnerStatus
    activated_at: dt.datetime | None = Field(description="When it first became active.")
    first_deal: ActivityDeal | None = Field(description="Its earliest deal registration.")
    time_to_first_deal: TimeToFirstDeal | None = Field(
        description="From its first activation to its first deal registration (zero if it "
        "registered one while still onboarding); null until both happened.")
    last_deal: ActivityDeal | None
    last_certification: ActivityCertification | None
    last_api_call_at: dt.datetime | None = Field(
        description="A call by its own key to this service, to within an hour.")
    last_activity_at: dt.datetime | None = Field(description="The latest of the three.")
    inactivity: InactivityFlag
