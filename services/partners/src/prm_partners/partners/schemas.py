import datetime as dt
import uuid
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from prm_platform.types import CountryCode, Name


class PartnerType(StrEnum):
    """What kind of partner an organisation is."""

    reseller = "reseller"
    msp = "msp"
    si = "si"
    isv = "isv"
    distributor = "distributor"
    referral = "referral"


class PartnerStatus(StrEnum):
    """Where a partner organisation is in its lifecycle."""

    onboarding = "onboarding"
    active = "active"
    suspended = "suspended"
    terminated = "terminated"


class PartnerCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"name": "Acme Cloud GmbH", "type": "msp",
                                         "country": "DE"}]},
    )

    name: Name
    type: PartnerType
    country: CountryCode


class PartnerUpdate(BaseModel):
    """Only the fields present are changed."""

    model_config = ConfigDict(extra="forbid",
                              json_schema_extra={"examples": [{"name": "Acme Cloud SE"}]})

    name: Name | None = None
    type: PartnerType | None = None
    country: CountryCode | None = None


class PartnerOut(BaseModel):
    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={"examples": [{
            "id": "0193c1c2-7e1a-7d2b-9a51-6f3f1c2d4e5f", "name": "Acme Cloud GmbH",
            "type": "msp", "country": "DE", "status": "onboarding", "version": 1,
            "created_at": "2026-11-22T09:30:00Z", "updated_at": "2026-11-22T09:30:00Z",
        }]},
    )

    id: uuid.UUID
    name: str
    type: PartnerType
    country: str
    status: PartnerStatus
    version: int = Field(description="Increases with every change; the ETag is its quoted value.")
    created_at: dt.datetime
    updated_at: dt.datetime
