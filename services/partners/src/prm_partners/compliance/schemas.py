import datetime as dt
import uuid
from enum import StrEnum
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    HttpUrl,
    StrictBool,
    StrictInt,
    StringConstraints,
    field_validator,
    model_validator,
)

from prm_platform.types import IsoDate, Name

Code = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=60,
                                        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")]
Months = Annotated[StrictInt, Field(ge=1, le=600)]
Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
LmsRecordId = Annotated[str, StringConstraints(min_length=1, max_length=100,
                                               pattern=r"^[\x21-\x7e]+$")]

_VERSION = Field(description="Increases with every change; the ETag is its quoted value.")


def _not_null(value: Any) -> Any:
    if value is None:
        raise ValueError("may not be null")
    return value


# Certification types


class CertificationTypeCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "code": "SEC-101", "name": "Security Fundamentals", "validity_months": 24,
        "required": True}]})

    code: Code = Field(description="Unique; what certifications and LMS pushes name it by. "
                       "Cannot change later.")
    name: Name
    validity_months: Months | None = Field(
        default=None, description="How long a certification stays valid; none: no expiry.")
    required: StrictBool = Field(default=False, description="Required for compliance.")


class CertificationTypeUpdate(BaseModel):
    """Only the fields present are changed; `null` makes `validity_months` unlimited (for
    certifications earned from then on)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"validity_months": 36, "required": False}]})

    name: Name | None = None
    validity_months: Months | None = None
    required: StrictBool | None = None

    @field_validator("name", "required", mode="before")
    @classmethod
    def _required_when_sent(cls, value: Any) -> Any:
        return _not_null(value)


class CertificationTypeOut(BaseModel):
    model_config = ConfigDict(from_attributes=True, json_schema_extra={"examples": [{
        "id": "0193c1e0-0000-7000-8000-00000000000a", "code": "SEC-101",
        "name": "Security Fundamentals", "validity_months": 24, "required": True,
        "version": 1, "created_at": "2026-11-01T09:00:00Z",
        "updated_at": "2026-11-01T09:00:00Z"}]})

    id: uuid.UUID
    code: str
    name: str
    validity_months: int | None = Field(description="Null: certifications never expire.")
    required: bool = Field(description="Required for compliance.")
    version: int = _VERSION
    created_at: dt.datetime
    updated_at: dt.datetime


# Certifications


class CertificationSource(StrEnum):
    api = "api"
    lms = "lms"


class CertificationStatus(StrEnum):
    active = "active"
    expired = "expired"
    revoked = "revoked"


class CertificationCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "code": "SEC-101", "contact_id": "0193c1d0-11aa-7bcd-8e0f-1a2b3c4d5e6f",
        "earned_on": "2026-10-01", "source": "lms", "lms_record_id": "enrol-88412"}]})

    code: Code = Field(description="The certification type's code.")
    contact_id: uuid.UUID | None = Field(default=None, description=(
        "The partner's contact who earned it (not an erased one)."))
    earned_on: IsoDate = Field(description="Not in the future.")
    expires_on: IsoDate | None = Field(default=None, description=(
        "The last day it is valid; by default `earned_on` plus the type's validity."))
    source: CertificationSource = CertificationSource.api
    lms_record_id: LmsRecordId | None = Field(default=None, description=(
        "The LMS's id of the record (with `source: lms`): pushing the same id again for the "
        "partner answers 200 with the certification already recorded."))

    @model_validator(mode="after")
    def _consistent(self) -> "CertificationCreate":
        if self.expires_on is not None and self.expires_on < self.earned_on:
            raise ValueError("expires_on is before earned_on")
        if self.lms_record_id is not None and self.source is not CertificationSource.lms:
            raise ValueError("lms_record_id goes with source lms")
        return self


class CertificationRevocation(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"reason": "exam result withdrawn by the LMS"}]})

    reason: Reason | None = None


class CertificationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True, json_schema_extra={"examples": [{
        "id": "0193c1d4-0000-7000-8000-000000000001",
        "partner_id": "0193c1c2-7e1a-7d2b-9a51-6f3f1c2d4e5f", "code": "SEC-101",
        "contact_id": "0193c1d0-11aa-7bcd-8e0f-1a2b3c4d5e6f", "earned_on": "2026-10-01",
        "expires_on": "2028-10-01", "status": "active", "source": "lms",
        "lms_record_id": "enrol-88412", "ended_on": None, "revoked_reason": None,
        "version": 1, "created_at": "2026-10-01T12:00:00Z",
        "updated_at": "2026-10-01T12:00:00Z"}]})

    id: uuid.UUID
    partner_id: uuid.UUID
    code: str = Field(description="The certification type's code.")
    contact_id: uuid.UUID | None
    earned_on: dt.date
    expires_on: dt.date | None = Field(description="The last day it is valid; null: never "
                                       "expires.")
    status: CertificationStatus
    source: CertificationSource
    lms_record_id: str | None
    # Defaults only so that examples of an active one may leave them out (the contract's
    # examples drop nulls); answers always carry them.
    ended_on: dt.date | None = Field(default=None, description="When it expired or was "
                                     "revoked.")
    revoked_reason: str | None = None
    version: int = _VERSION
    created_at: dt.datetime
    updated_at: dt.datetime


# Agreements


class AgreementCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "code": "reseller-agreement", "title": "Reseller Agreement", "required": True}]})

    code: Code = Field(description="Unique; signatures name it by. Cannot change later.")
    title: Name
    required: StrictBool = Field(default=False, description="Required for compliance.")


class AgreementUpdate(BaseModel):
    """Only the fields present are changed."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"title": "Reseller and Referral Agreement"}]})

    title: Name | None = None
    required: StrictBool | None = None

    @field_validator("title", "required", mode="before")
    @classmethod
    def _required_when_sent(cls, value: Any) -> Any:
        return _not_null(value)


class AgreementVersionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "effective_on": "2027-01-01", "term_months": 12,
        "document_url": "https://partners.vendor.example/legal/reseller-agreement-v2.pdf"}]})

    effective_on: IsoDate = Field(description="From when it is the current version; not "
                                  "before the previous version's.")
    term_months: Months | None = Field(default=None, description=(
        "How long a signature of this version holds; none: until a newer version."))
    document_url: HttpUrl | None = Field(default=None, max_length=2000)


class AgreementVersionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    number: int = Field(description="1, 2, 3... in the order they were added.")
    effective_on: dt.date
    term_months: int | None
    document_url: str | None
    created_at: dt.datetime


class AgreementOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": "0193c1e1-0000-7000-8000-00000000000b", "code": "reseller-agreement",
        "title": "Reseller Agreement", "required": True, "current_version": 1,
        "versions": [{"number": 1, "effective_on": "2026-01-01", "term_months": 12,
                      "document_url": "https://partners.vendor.example/legal/ra-v1.pdf",
                      "created_at": "2025-12-01T09:00:00Z"}],
        "version": 2, "created_at": "2025-12-01T09:00:00Z",
        "updated_at": "2025-12-01T09:00:00Z"}]})

    id: uuid.UUID
    code: str
    title: str
    required: bool = Field(description="Required for compliance.")
    current_version: int | None = Field(description="The latest version effective today; "
                                        "null before the first takes effect.")
    versions: list[AgreementVersionOut] = Field(description="Oldest first.")
    version: int = Field(description="The record's own version, for If-Match (adding an "
                         "agreement version increases it); the ETag is its quoted value.")
    created_at: dt.datetime
    updated_at: dt.datetime


# Signatures


class SignatureCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "agreement": "reseller-agreement", "signed_on": "2026-11-20",
        "signer_contact_id": "0193c1d0-11aa-7bcd-8e0f-1a2b3c4d5e6f"}]})

    agreement: Code = Field(description="The agreement's code.")
    version: StrictInt | None = Field(default=None, ge=1, le=100_000, description=(
        "The version signed; by default the current one (the latest effective today)."))
    signed_on: IsoDate | None = Field(default=None, description="Not in the future; today "
                                      "by default.")
    signer_contact_id: uuid.UUID | None = Field(default=None, description=(
        "The partner's contact who signed; or give `signer_name`."))
    signer_name: Name | None = Field(default=None, description=(
        "Who signed, when not one of the partner's contacts."))
    expires_on: IsoDate | None = Field(default=None, description=(
        "The last day the signature holds; by default from the version's term."))

    @model_validator(mode="after")
    def _one_signer(self) -> "SignatureCreate":
        if (self.signer_contact_id is None) == (self.signer_name is None):
            raise ValueError("give either signer_contact_id or signer_name")
        if self.expires_on and self.signed_on and self.expires_on < self.signed_on:
            raise ValueError("expires_on is before signed_on")
        return self


class SignatureOut(BaseModel):
    model_config = ConfigDict(from_attributes=True, json_schema_extra={"examples": [{
        "id": "0193c1d5-0000-7000-8000-000000000002",
        "partner_id": "0193c1c2-7e1a-7d2b-9a51-6f3f1c2d4e5f",
        "agreement": "reseller-agreement", "agreement_version": 1, "signed_on": "2026-11-20",
        "expires_on": "2027-11-20",
        "signer_contact_id": "0193c1d0-11aa-7bcd-8e0f-1a2b3c4d5e6f",
        "signer_name": "Priya Raman", "created_at": "2026-11-20T15:00:00Z",
        "updated_at": "2026-11-20T15:00:00Z"}]})

    id: uuid.UUID
    partner_id: uuid.UUID
    agreement: str = Field(validation_alias="code", description="The agreement's code.")
    agreement_version: int = Field(description="The version signed.")
    signed_on: dt.date
    expires_on: dt.date | None = Field(description="The last day it holds; null: until "
                                       "superseded.")
    signer_contact_id: uuid.UUID | None
    signer_name: str | None = Field(description="Null when the signing contact's data was "
                                    "erased.")
    created_at: dt.datetime
    updated_at: dt.datetime = Field(description="When it last changed: recorded, or its "
                                    "signer's name blanked by an erasure.")


# Compliance


class ComplianceGapKind(StrEnum):
    """What compliance lacks: an `agreement` or a `certification`."""

    agreement = "agreement"
    certification = "certification"


class ComplianceIssue(StrEnum):
    """`missing`: never signed or earned (or revoked); `expired`: it ran out; `outdated`:
    signed an older version than the current one."""

    missing = "missing"
    expired = "expired"
    outdated = "outdated"


class ComplianceGap(BaseModel):
    kind: ComplianceGapKind
    code: str = Field(description="The agreement's or certification type's code.")
    issue: ComplianceIssue = Field(description=(
        "`missing`: never signed or earned (or revoked); `expired`: it ran out; `outdated`: "
        "signed an older version than the current one."))
    detail: str


class ComplianceCheck(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "partner_id": "0193c1c2-7e1a-7d2b-9a51-6f3f1c2d4e5f", "checked_for": "2026-11-23",
        "compliant": False,
        "gaps": [{"kind": "agreement", "code": "reseller-agreement", "issue": "outdated",
                  "detail": "version 1 signed; version 2 is current since 2026-11-01"},
                 {"kind": "certification", "code": "SEC-101", "issue": "missing",
                  "detail": "no valid SEC-101 certification"}]}]})

    partner_id: uuid.UUID
    checked_for: dt.date = Field(description="The day the requirements were checked for.")
    compliant: bool = Field(description="Every required agreement signed in its current "
                            "version and in force, and every required certification held.")
    gaps: list[ComplianceGap]
