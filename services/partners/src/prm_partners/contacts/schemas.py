import datetime as dt
import uuid
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from prm_partners.resources.schemas import EnablementResourceUseOut
from prm_platform.types import EmailAddress, Name


class ContactRole(StrEnum):
    """What a contact does for the partnership."""

    admin = "admin"
    sales = "sales"
    marketing = "marketing"
    technical = "technical"


Phone = Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=40,
                                         pattern=r"^\+?[0-9][0-9 ()./-]*$")]
JobTitle = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1,
                                            max_length=200)]
Roles = Annotated[list[ContactRole], Field(max_length=len(ContactRole), description=(
    "What the contact does for the partnership; each role once."))]


def _distinct(values: list[Any] | None) -> list[Any] | None:
    return None if values is None else list(dict.fromkeys(values))


class ContactCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "name": "Priya Raman", "email": "priya@northwind.example", "phone": "+44 20 7946 0018",
        "job_title": "Head of Alliances", "roles": ["admin", "sales"]}]})

    name: Name
    email: EmailAddress = Field(description="Unique among the partner's contacts, "
                                "case-insensitively.")
    phone: Phone | None = None
    job_title: JobTitle | None = None
    roles: Roles = Field(default_factory=list)

    @field_validator("roles")
    @classmethod
    def _no_repeats(cls, value: list[ContactRole]) -> list[ContactRole]:
        return _distinct(value) or []


class ContactUpdate(BaseModel):
    """Only the fields present are changed; `null` clears `phone` or `job_title`."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"job_title": "VP Partnerships", "roles": ["admin", "sales", "marketing"]}]})

    name: Name | None = None
    email: EmailAddress | None = None
    phone: Phone | None = None
    job_title: JobTitle | None = None
    roles: Roles | None = None

    @field_validator("name", "email", "roles", mode="before")
    @classmethod
    def _required_when_sent(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("may not be null")
        return value

    @field_validator("roles")
    @classmethod
    def _no_repeats(cls, value: list[ContactRole] | None) -> list[ContactRole] | None:
        return _distinct(value)


_CONTACT_EXAMPLE: dict[str, Any] = {
    "id": "0193c1d0-11aa-7bcd-8e0f-1a2b3c4d5e6f",
    "partner_id": "0193c1c2-7e1a-7d2b-9a51-6f3f1c2d4e5f", "name": "Priya Raman",
    "email": "priya@northwind.example", "phone": "+44 20 7946 0018",
    "job_title": "Head of Alliances", "roles": ["admin", "sales"], "erased": False,
    "erased_at": None, "deleted_at": None, "version": 1, "created_at": "2026-11-23T10:00:00Z",
    "updated_at": "2026-11-23T10:00:00Z"}


class ContactOut(BaseModel):
    model_config = ConfigDict(from_attributes=True,
                              json_schema_extra={"examples": [_CONTACT_EXAMPLE]})

    id: uuid.UUID
    partner_id: uuid.UUID
    name: str | None = Field(description="Null once the contact's personal data was erased.")
    email: str | None = Field(description="Null once erased.")
    phone: str | None
    job_title: str | None
    roles: list[ContactRole]
    erased: bool = Field(description="The personal data was erased; the record stays as a "
                         "tombstone that certifications and signatures still point to.")
    # A default only so that examples may leave it out (the contract's examples drop
    # nulls); answers always carry it.
    erased_at: dt.datetime | None = None
    deleted_at: dt.datetime | None = Field(default=None, description=(
        "When it was deleted: only the change feed (`updated_since`) shows a deleted "
        "contact, as a tombstone (erased, without personal data)."))
    version: int = Field(description="Increases with every change; the ETag is its quoted value.")
    created_at: dt.datetime
    updated_at: dt.datetime

    @classmethod
    def of(cls, contact: Any) -> "ContactOut":
        return cls.model_validate({
            **{field: getattr(contact, field) for field in cls.model_fields if field != "erased"},
            "erased": contact.erased_at is not None})


class AuditEntryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    action: str = Field(description="created, updated, exported, erased or deleted.")
    actor: str = Field(description="The API key (or user) that did it.")
    fields: list[str] = Field(description="The fields concerned (names, never values).")
    detail: str | None = None
    at: dt.datetime


class CertificationRecord(BaseModel):
    """A certification the contact earned, as the export shows it."""

    id: uuid.UUID
    code: str
    earned_on: dt.date
    expires_on: dt.date | None
    status: str
    source: str


class SignatureRecord(BaseModel):
    """An agreement the contact signed for the partner, as the export shows it."""

    id: uuid.UUID
    agreement: str = Field(description="The agreement's code.")
    agreement_version: int
    signed_on: dt.date
    signer_name: str | None
    expires_on: dt.date | None


class SurveyAnswerRecord(BaseModel):
    """A satisfaction survey answer the contact gave, as the export shows it."""

    id: uuid.UUID
    kind: str = Field(description="`psat` or `nps`.")
    score: int
    comment: str | None
    answered_at: dt.datetime


class ContactExport(BaseModel):
    """Everything held about one contact (GDPR Art. 15 and 20)."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "exported_at": "2026-11-23T10:00:00Z",
        "contact": _CONTACT_EXAMPLE,
        "certifications": [{"id": "0193c1d4-0000-7000-8000-000000000001", "code": "SEC-101",
                            "earned_on": "2026-10-01", "expires_on": "2028-10-01",
                            "status": "active", "source": "lms"}],
        "signatures": [{"id": "0193c1d5-0000-7000-8000-000000000002",
                        "agreement": "reseller-agreement", "agreement_version": 2,
                        "signed_on": "2026-11-01", "signer_name": "Priya Raman",
                        "expires_on": "2027-11-01"}],
        "survey_answers": [{"id": "0193c1e0-0000-7000-8000-000000000001", "kind": "nps",
                            "score": 9, "comment": "Deal registration is quick.",
                            "answered_at": "2026-11-23T10:00:00Z"}],
        "audit": [{"id": "0193c1d0-11aa-7bcd-8e0f-000000000003", "action": "created",
                   "actor": "key-0193c1c2", "fields": ["name", "email", "roles"],
                   "detail": None, "at": "2026-11-23T10:00:00Z"}]}]})

    exported_at: dt.datetime
    contact: ContactOut
    certifications: list[CertificationRecord] = Field(description="Earned by the contact.")
    signatures: list[SignatureRecord] = Field(description="Agreements the contact signed.")
    survey_answers: list[SurveyAnswerRecord] = Field(description="Satisfaction survey answers "
                                                     "the contact gave.")
    learning_enrolments: list["LearningEnrolmentRecord"] = Field(
        default_factory=list, description="The learning paths the contact is enrolled in, "
        "with its progress.")
    learning_completions: list["LearningCompletionRecord"] = Field(
        default_factory=list, description="The courses the contact completed, as the LMS "
        "reported them.")
    enablement_uses: list[EnablementResourceUseOut] = Field(
        default_factory=list, description="The contact's views and downloads of the "
        "enablement resource library.")
    audit: list[AuditEntryOut] = Field(description="Every change to, export and erasure of "
                                       "the contact's data, oldest first.")


class LearningEnrolmentRecord(BaseModel):
    """One of the contact's learning path enrolments, in its export."""

    id: uuid.UUID
    path_id: uuid.UUID
    status: str
    reason: str
    courses_done: int
    courses_total: int
    enrolled_at: dt.datetime
    completed_at: dt.datetime | None
    certification_id: uuid.UUID | None


class LearningCompletionRecord(BaseModel):
    """A course the contact completed, in its export."""

    id: uuid.UUID
    record_id: str
    course_id: str
    completed_at: dt.datetime
    source: str


ContactExport.model_rebuild()
