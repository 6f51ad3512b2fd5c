import datetime as dt
import uuid
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

from prm_attribution.rules.schemas import TouchKind
from prm_platform.types import DomainName


class RecordedTouchKind(StrEnum):
    """The kinds of touch recorded through the API: an influence of some kind (a
    `registration` comes only from the deals' own events; a partner cannot claim one by
    hand)."""

    co_sell = "co_sell"
    referral = "referral"
    consulting = "consulting"
    implementation = "implementation"
    integration = "integration"
    technical_validation = "technical_validation"
    marketing = "marketing"
    training = "training"
    other = "other"


class TouchpointSource(StrEnum):
    """How a touch was recorded: through the API (`api`) or from the events of the deals
    (registrations) and the campaigns (engagements) (`event`)."""

    api = "api"
    event = "event"


Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]
Url = Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000,
                                       pattern=r"^https://")]


class TouchpointEvidence(BaseModel):
    """What shows the touch happened: enough for a dispute."""

    model_config = ConfigDict(extra="forbid")

    description: Text
    url: Url | None = Field(default=None, description="A document, meeting record or CRM "
                            "activity (https)")
    reference: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] | \
        None = Field(default=None, description="An id in the system of record, e.g. a CRM "
                     "activity id")


class TouchpointIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "partner_id": "0193c1d0-1b2c-7e3f-8a9b-0c1d2e3f4a5b",
        "deal_id": "0193c1d0-2b2c-7e3f-8a9b-0c1d2e3f4a5c", "kind": "consulting",
        "occurred_at": "2026-10-02T14:00:00Z",
        "evidence": {"description": "Architecture workshop with the customer's IT team",
                     "url": "https://crm.example.com/activities/8812"}}]})

    partner_id: uuid.UUID | None = Field(default=None, description=(
        "The partner that made the touch; a partner key may leave it out (its own org) and "
        "may name no other."))
    deal_id: uuid.UUID | None = Field(default=None, description=(
        "The deal touched; or give `customer_domain` for a touch on the customer, which counts "
        "for the customer's deals closed after it."))
    customer_domain: DomainName | None = None
    kind: RecordedTouchKind
    occurred_at: AwareDatetime = Field(description="When it happened (RFC 3339)")
    evidence: TouchpointEvidence
    mdf_request_id: uuid.UUID | None = Field(default=None, description=(
        "The MDF activity (fund request) this touch was part of, of the same partner: the "
        "partner's credit on the deal counts towards the activity's return (MDF ROI)."))


class TouchpointOut(BaseModel):
    model_config = ConfigDict(from_attributes=True, json_schema_extra={"examples": [{
        "id": "0193c1d0-3b2c-7e3f-8a9b-0c1d2e3f4a5d",
        "partner_id": "0193c1d0-1b2c-7e3f-8a9b-0c1d2e3f4a5b", "partner_name": "Acme Cloud GmbH",
        "deal_id": "0193c1d0-2b2c-7e3f-8a9b-0c1d2e3f4a5c", "customer_domain": "globex.example",
        "kind": "consulting", "occurred_at": "2026-10-02T14:00:00Z",
        "evidence": {"description": "Architecture workshop with the customer's IT team",
                     "url": "https://crm.example.com/activities/8812"},
        "source": "api", "recorded_by": "key-vendor", "recorded_at": "2026-10-03T08:00:00Z",
        "version": 1}]})

    id: uuid.UUID
    partner_id: uuid.UUID
    partner_name: str | None = Field(default=None, description=(
        "From the partner directory; null while it has not heard of the partner"))
    deal_id: uuid.UUID | None = None
    customer_domain: str | None = None
    kind: TouchKind | str = Field(description="registration (from the deal's own events), "
                                  "co_sell, referral, consulting, ...")
    occurred_at: dt.datetime
    evidence: dict[str, Any] = Field(description="As recorded: a description, a URL, a "
                                     "reference; for an event's touch, the event's id and type")
    source: TouchpointSource
    recorded_by: str
    recorded_at: dt.datetime
    mdf_request_id: uuid.UUID | None = None
    campaign_id: uuid.UUID | None = Field(default=None, description=(
        "The campaign whose engagement this touch is (from the campaigns' events)"))
    launch_id: uuid.UUID | None = Field(default=None, description=(
        "The partner's launch of the campaign that was engaged with"))
    version: int = Field(default=1, description="Touchpoints never change once recorded")
