import datetime as dt
import uuid
from enum import StrEnum
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StringConstraints,
    field_validator,
)

from prm_platform.types import CountryCode, Currency, DomainName, LanguageTag, Name


class PartnerType(StrEnum):
    """What kind of partner an organisation is."""

    reseller = "reseller"  # reseller or value-added reseller (VAR)
    msp = "msp"
    mssp = "mssp"
    si = "si"
    isv = "isv"
    distributor = "distributor"
    referral = "referral"  # referral partner or influencer


class PartnerStatus(StrEnum):
    """Where a partner organisation is in its lifecycle."""

    applicant = "applicant"
    onboarding = "onboarding"
    active = "active"
    suspended = "suspended"
    offboarded = "offboarded"


def _folded(value: Any) -> Any:
    return " ".join(value.lower().split()) if isinstance(value, str) else value


# Lower-cased and spaces folded before the pattern is checked: "Cloud  Security" is
# "cloud security".
Specialisation = Annotated[str, BeforeValidator(_folded), StringConstraints(
    min_length=1, max_length=60, pattern=r"^[a-z0-9][a-z0-9 &/+.-]*$")]
ExternalId = Annotated[str, StringConstraints(min_length=1, max_length=100,
                                              pattern=r"^[\x21-\x7e]+$")]


def _distinct(values: list[Any]) -> list[Any]:
    """Keep the first of repeated values, in order (a set that still reads as sent)."""
    return list(dict.fromkeys(values))


class _Profile(BaseModel):
    """The fields a partner organisation is described by."""

    model_config = ConfigDict(extra="forbid")

    countries_served: list[CountryCode] | None = Field(
        default=None, max_length=250, description="Where it sells (ISO 3166-1 alpha-2).")
    default_currency: Currency | None = Field(
        default=None, description="The currency it trades in (ISO 4217).")
    languages: list[LanguageTag] | None = Field(default=None, max_length=20,
                                                description="BCP 47 tags, e.g. en-GB.")
    specialisations: list[Specialisation] | None = Field(
        default=None, max_length=50, description="E.g. cloud security, SAP, healthcare.")
    website_domain: DomainName | None = None
    external_id: ExternalId | None = Field(
        default=None, description="The vendor's CRM id of the org; unique.")
    parent_id: uuid.UUID | None = Field(
        default=None, description="Two-tier distribution: the distributor this reseller "
        "buys through (a top-level partner of type distributor).")
    parent_access: StrictBool | None = Field(
        default=None, description="Whether the parent distributor's keys may read this "
        "partner's records.")
    employees: StrictInt | None = Field(default=None, ge=1, le=10_000_000, strict=True)

    @field_validator("countries_served", "languages", "specialisations")
    @classmethod
    def _no_repeats(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else _distinct(value)


class PartnerCreate(_Profile):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{
            "name": "Acme Cloud GmbH", "type": "msp", "country": "DE",
            "countries_served": ["DE", "AT", "CH"], "default_currency": "EUR",
            "languages": ["de", "en"], "specialisations": ["cloud security"],
            "website_domain": "acme-cloud.example", "external_id": "0015g00000XyZ1A"}]},
    )

    name: Name
    type: PartnerType
    country: CountryCode

    def columns(self) -> dict[str, Any]:
        """The table's columns (lists empty, flags false where not sent)."""
        values = self.model_dump()
        for field in ("countries_served", "languages", "specialisations"):
            values[field] = values[field] or []
        values["parent_access"] = bool(values["parent_access"])
        values["type"] = self.type.value
        return values


class PartnerUpdate(_Profile):
    """Only the fields present are changed; `null` clears an optional field."""

    model_config = ConfigDict(extra="forbid",
                              json_schema_extra={"examples": [{"name": "Acme Cloud SE"}]})

    name: Name | None = None
    type: PartnerType | None = None
    country: CountryCode | None = None

    @field_validator("name", "type", "country", "countries_served", "languages",
                     "specialisations", "parent_access", mode="before")
    @classmethod
    def _required_when_sent(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("may not be null")
        return value


class StatusChange(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"reason": "the reseller agreement lapsed"}]})

    reason: str | None = Field(default=None, min_length=1, max_length=500,
                               description="Why; required to suspend, offboard or reinstate.")


class PartnerOut(BaseModel):
    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={"examples": [{
            "id": "0193c1c2-7e1a-7d2b-9a51-6f3f1c2d4e5f", "name": "Acme Cloud GmbH",
            "type": "msp", "country": "DE", "countries_served": ["DE", "AT", "CH"],
            "default_currency": "EUR", "languages": ["de", "en"],
            "specialisations": ["cloud security"], "website_domain": "acme-cloud.example",
            "external_id": "0015g00000XyZ1A",
            "parent_id": "0193c1c2-7e1a-7d2b-9a51-6f3f1c2d4e00", "parent_access": True,
            "employees": 120, "tier": "Silver", "status": "active",
            "status_reason": "reseller agreement signed again",
            "status_changed_at": "2026-11-23T10:00:00Z", "activated_at": "2026-11-23T10:00:00Z",
            "version": 3, "created_at": "2026-11-22T09:30:00Z",
            "updated_at": "2026-11-23T10:00:00Z",
        }]},
    )

    id: uuid.UUID
    name: str
    type: PartnerType
    country: str
    countries_served: list[str]
    default_currency: str | None
    languages: list[str]
    specialisations: list[str]
    website_domain: str | None
    external_id: str | None
    parent_id: uuid.UUID | None
    parent_access: bool
    employees: int | None
    tier: str | None = Field(description="The programme tier it holds, if any.")
    status: PartnerStatus
    status_reason: str | None = Field(description="Why the status last changed.")
    status_changed_at: dt.datetime | None
    activated_at: dt.datetime | None = Field(description="When it first became active.")
    version: int = Field(description="Increases with every change; the ETag is its quoted value.")
    created_at: dt.datetime
    updated_at: dt.datetime
