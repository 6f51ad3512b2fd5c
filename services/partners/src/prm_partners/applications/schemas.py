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
    field_validator,
    model_validator,
)

from prm_partners.partners.schemas import PartnerType, Specialisation
from prm_platform.types import CountryCode, DomainName, EmailAddress, Name


class FitReasonCode(StrEnum):
    """The stable code of a fit criterion's reason (docs/partner-programme.md)."""

    value_in = "value_in"
    value_not_in = "value_not_in"
    list_has_none = "list_has_none"
    list_has = "list_has"
    list_has_some = "list_has_some"
    value_missing = "value_missing"
    range_inside = "range_inside"
    range_outside = "range_outside"


class ApplicationStatus(StrEnum):
    submitted = "submitted"
    approved = "approved"
    declined = "declined"


class ApplicationContact(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name
    email: EmailAddress
    phone: Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=40,
                                            pattern=r"^\+?[0-9 ()./-]+$")] | None = None
    job_title: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1,
                                                max_length=120)] | None = None


class ApplicationSubmit(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "company_name": "Northwind Security Ltd", "type": "mssp", "country": "GB",
        "countries_served": ["GB", "IE"], "specialisations": ["cloud security", "soc"],
        "website_domain": "northwind-security.example", "employees": 85,
        "contact": {"name": "Priya Shah", "email": "priya@northwind-security.example",
                    "job_title": "Head of Alliances"},
        "message": "We run a 24/7 SOC for mid-market customers."}]})

    company_name: Name
    type: PartnerType
    country: CountryCode
    countries_served: list[CountryCode] = Field(default_factory=list, max_length=250)
    specialisations: list[Specialisation] = Field(default_factory=list, max_length=50)
    website_domain: DomainName | None = None
    employees: StrictInt | None = Field(default=None, ge=1, le=10_000_000, strict=True)
    contact: ApplicationContact
    message: str | None = Field(default=None, max_length=4000)

    @field_validator("countries_served", "specialisations")
    @classmethod
    def _no_repeats(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(value))


class ApplicationDecision(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"reason": "strong fit in the UK mid-market"}]})

    reason: str | None = Field(default=None, min_length=1, max_length=500,
                               description="Why; required to decline.")


class FitCriterionScore(BaseModel):
    field: str
    weight: int
    points: str = Field(description="Points earned of `weight`, as an exact decimal string.")
    reason: str = Field(description="Why, in English.",
                        examples=["type mssp is one of msp, mssp (+30 of 30)"])
    reason_code: FitReasonCode | None = Field(
        default=None, description="The reason as a stable code, for a portal to word in its "
        "reader's language with `reason_params` (null for applications scored before codes "
        "were kept). `value_in`/`value_not_in`: `value` is (not) one of `wanted`; "
        "`list_has_none`: none of `wanted`; `list_has`: has `found` (all it takes); "
        "`list_has_some`: has `found` of `wanted`; `value_missing`: no value given; "
        "`range_inside`/`range_outside`: `value` is (not) within `minimum`..`maximum` (null: "
        "unbounded).", examples=["value_in"])
    reason_params: dict[str, Any] | None = Field(
        default=None, description="The code's values; always `field`, `points` (as in "
        "`reason`) and `weight`.", examples=[{
            "field": "type", "value": "mssp", "wanted": ["msp", "mssp"], "points": "30",
            "weight": 30}])


class ApplicationFit(BaseModel):
    score: int = Field(ge=0, le=100, description="Weighted fit, 0..100, rounded half up.")
    profile_version: int | None = Field(description="The profile version it was scored "
                                        "against (none when no profile was set).")
    criteria: list[FitCriterionScore]


class ApplicationOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": "0193c1c2-7e1a-7d2b-9a51-6f3f1c2d4e60", "company_name": "Northwind Security Ltd",
        "type": "mssp", "country": "GB", "countries_served": ["GB", "IE"],
        "specialisations": ["cloud security", "soc"],
        "website_domain": "northwind-security.example", "employees": 85,
        "contact": {"name": "Priya Shah", "email": "priya@northwind-security.example"},
        "message": "We run a 24/7 SOC for mid-market customers.", "status": "approved",
        "fit": {"score": 80, "profile_version": 2, "criteria": [
            {"field": "type", "weight": 30, "points": "30",
             "reason": "type mssp is one of msp, mssp (+30 of 30)", "reason_code": "value_in",
             "reason_params": {"field": "type", "value": "mssp", "wanted": ["msp", "mssp"],
                               "points": "30", "weight": 30}}]},
        "decision_reason": "strong fit in the UK mid-market",
        "decided_at": "2026-11-30T10:00:00Z",
        "partner_id": "0193c1c2-7e1a-7d2b-9a51-6f3f1c2d4e5f",
        "partner_name": "Northwind Security Ltd", "version": 2,
        "created_at": "2026-11-30T08:00:00Z", "updated_at": "2026-11-30T10:00:00Z"}]})

    id: uuid.UUID
    company_name: str
    type: PartnerType
    country: str
    countries_served: list[str]
    specialisations: list[str]
    website_domain: str | None
    employees: int | None
    contact: ApplicationContact | None = Field(
        description="Only for keys that may read applications.")
    message: str | None
    status: ApplicationStatus
    fit: ApplicationFit | None = Field(
        description="The fit score and its reasons; only for keys that may read applications "
        "(not for the public intake key).")
    decision_reason: str | None
    decided_at: dt.datetime | None
    partner_id: uuid.UUID | None = Field(description="The partner created on approval.")
    partner_name: str | None = Field(default=None, description="That partner's name in the "
                                     "directory now (null before approval).")
    version: int = Field(description="Increases with every change; the ETag is its quoted value.")
    created_at: dt.datetime
    updated_at: dt.datetime




class ProfileField(StrEnum):
    """The field of an application a criterion of the Ideal Partner Profile looks at."""

    type = "type"
    country = "country"
    countries_served = "countries_served"
    specialisations = "specialisations"
    employees = "employees"


class CriterionMatch(StrEnum):
    """How a list criterion scores: `all`, the share of its values the applicant has; `any`,
    all of its weight once the applicant has one."""

    any = "any"
    all = "all"


_VALUE_FIELDS = ("type", "country", "countries_served", "specialisations")


class ProfileCriterion(BaseModel):
    """One weighted criterion. `type`, `country`: the applicant's value must be one of `values`;
    `countries_served`, `specialisations`: the share of `values` it has (or all of the weight
    with `match: any` once it has one); `employees`: inside `minimum`..`maximum`."""

    model_config = ConfigDict(extra="forbid")

    field: ProfileField
    weight: StrictInt = Field(ge=1, le=100, strict=True)
    values: list[Annotated[str, StringConstraints(min_length=1, max_length=60)]] = Field(
        default_factory=list, max_length=250)
    match: CriterionMatch = CriterionMatch.all
    minimum: StrictInt | None = Field(default=None, ge=0, strict=True)
    maximum: StrictInt | None = Field(default=None, ge=0, strict=True)

    @model_validator(mode="after")
    def _fits_the_field(self) -> Self:
        if self.field in _VALUE_FIELDS:
            if not self.values:
                raise ValueError(f"a {self.field} criterion needs values")
            if self.minimum is not None or self.maximum is not None:
                raise ValueError(f"a {self.field} criterion takes values, not a range")
        else:
            if self.values:
                raise ValueError(f"a {self.field} criterion takes a range, not values")
            if self.minimum is None and self.maximum is None:
                raise ValueError(f"a {self.field} criterion needs a minimum or a maximum")
            if self.minimum is not None and self.maximum is not None \
                    and self.minimum > self.maximum:
                raise ValueError("minimum is above maximum")
        return self


class IdealPartnerProfileIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"criteria": [
        {"field": "type", "weight": 30, "values": ["msp", "mssp"]},
        {"field": "country", "weight": 20, "values": ["GB", "IE", "DE"]},
        {"field": "specialisations", "weight": 30, "values": ["cloud security", "soc"]},
        {"field": "employees", "weight": 20, "minimum": 20, "maximum": 5000}]}]})

    criteria: list[ProfileCriterion] = Field(max_length=50, description="Weighted criteria; an "
                                        "empty list scores every application 0.")


class IdealPartnerProfileOut(IdealPartnerProfileIn):
    model_config = ConfigDict(json_schema_extra={"examples": [{"criteria": [
        {"field": "type", "weight": 30, "values": ["msp", "mssp"], "match": "all",
         "minimum": None, "maximum": None}], "version": 2,
        "updated_at": "2026-11-30T08:00:00Z"}]})

    version: int = Field(description="Increases with every change; the ETag is its quoted "
                         "value. 0 while no profile was set.")
    updated_at: dt.datetime | None
