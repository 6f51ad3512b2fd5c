"""Requests and answers of the learning part: paths from the LMS, enrolments, completions,
progress and KPIs."""

import datetime as dt
import uuid
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Self

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from prm_partners.contacts.schemas import ContactRole
from prm_partners.partners.schemas import PartnerType
from prm_platform.types import EmailAddress, IsoDateTime, LanguageTag, Name

# Ids the LMS gives its paths, courses and completion records.
LmsId = Annotated[str, StringConstraints(min_length=1, max_length=100,
                                         pattern=r"^[\x21-\x7e]+$")]
CertificationCode = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1,
                                                     max_length=60)]
TierName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1,
                                            max_length=60)]
# A delivery of completions holds at most this many.
MAX_COMPLETIONS = 1000
MAX_COURSES = 200


class LearningEnrolOn(StrEnum):
    """When the programme enrols a partner's contacts in a path by itself."""

    joined = "joined"  # the partner became active
    tier_changed = "tier_changed"  # the partner moved to a tier the path is for


class LearningEnrolmentStatus(StrEnum):
    enrolled = "enrolled"  # no course of the path done yet
    in_progress = "in_progress"
    completed = "completed"


class LearningEnrolmentReason(StrEnum):
    joined = "joined"
    tier_changed = "tier_changed"
    onboarding = "onboarding"
    by_hand = "by_hand"


class LearningCompletionOutcome(StrEnum):
    recorded = "recorded"
    duplicate = "duplicate"  # this record id was delivered before: nothing changed
    refused = "refused"  # this item only (see its problem); the others are answered apart


class LearningCourse(BaseModel):
    model_config = ConfigDict(extra="forbid")

    course_id: LmsId = Field(description="The LMS's id of the course.")
    name: Name


class LearningPathIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "name": "Selling the platform", "description": "For new sales people.",
        "language": "en", "roles": ["sales"],
        "courses": [{"course_id": "crs-101", "name": "The product in 30 minutes"},
                    {"course_id": "crs-102", "name": "Discovery calls"}],
        "tiers": [], "partner_types": ["reseller", "msp"], "certification": "SALES-101",
        "enrol_on": ["joined"]}]})

    name: Name
    description: str | None = Field(default=None, max_length=5000)
    language: LanguageTag
    roles: list[ContactRole] = Field(default_factory=list, max_length=len(ContactRole),
                                     description="The contact roles it is for; empty: all.")
    courses: list[LearningCourse] = Field(min_length=1, max_length=MAX_COURSES,
                                          description="In order; course ids unique.")
    tiers: list[TierName] = Field(default_factory=list, max_length=50, description=(
        "The tiers (names) it applies to; empty: every tier (and none)."))
    partner_types: list[PartnerType] = Field(default_factory=list, max_length=len(PartnerType),
                                             description="Empty: every partner type.")
    certification: CertificationCode | None = Field(default=None, description=(
        "The certification type's code it grants on completion (`/v1/certification-types`)."))
    enrol_on: list[LearningEnrolOn] = Field(default_factory=list, max_length=2, description=(
        "`joined`: contacts of a partner that becomes active; `tier_changed`: of a partner "
        "moving to one of `tiers`. Empty: by hand only."))

    @model_validator(mode="after")
    def _distinct(self) -> Self:
        ids = [c.course_id for c in self.courses]
        if len(set(ids)) != len(ids):
            raise ValueError("course ids must be unique within a path")
        return self


class LearningPathVersionOut(BaseModel):
    number: int
    courses: list[LearningCourse]
    certification: str | None = None
    created_at: dt.datetime


class LearningPathOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": "0193c1f0-0000-7000-8000-000000000001", "external_id": "path-sales-1",
        "name": "Selling the platform", "description": "For new sales people.",
        "language": "en", "roles": ["sales"],
        "courses": [{"course_id": "crs-101", "name": "The product in 30 minutes"}],
        "tiers": [], "partner_types": [], "certification": "SALES-101",
        "enrol_on": ["joined"], "version": 1, "created_at": "2026-12-01T10:00:00Z",
        "updated_at": "2026-12-01T10:00:00Z", "versions": None}]})

    id: uuid.UUID
    external_id: str
    name: str
    description: str | None = None
    language: str
    roles: list[ContactRole]
    courses: list[LearningCourse]
    tiers: list[str]
    partner_types: list[PartnerType]
    certification: str | None = None
    enrol_on: list[LearningEnrolOn]
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime
    versions: list[LearningPathVersionOut] | None = Field(default=None, description=(
        "Every version, oldest first (on a single path's answer only)."))


class LearningEnrolmentIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "path_id": "0193c1f0-0000-7000-8000-000000000001",
        "contact_id": "0193c1d0-11aa-7bcd-8e0f-1a2b3c4d5e6f"}]})

    path_id: uuid.UUID
    contact_id: uuid.UUID = Field(description="A contact (not erased) of the caller's org for "
                                  "a partner key.")


class LearningCourseProgress(BaseModel):
    course_id: str
    name: str
    completed_at: dt.datetime | None = None


class LearningEnrolmentOut(BaseModel):
    model_config = ConfigDict(from_attributes=True, json_schema_extra={"examples": [{
        "id": "0193c1f1-0000-7000-8000-000000000001",
        "path_id": "0193c1f0-0000-7000-8000-000000000001",
        "partner_id": "0193c1c2-7e1a-7d2b-9a51-6f3f1c2d4e5f",
        "contact_id": "0193c1d0-11aa-7bcd-8e0f-1a2b3c4d5e6f", "status": "in_progress",
        "reason": "joined", "path_version": 1, "courses_done": 1, "courses_total": 2,
        "enrolled_at": "2026-12-01T10:00:00Z", "first_completion_at": "2026-12-02T10:00:00Z",
        "completed_at": None, "certification_id": None, "version": 2,
        "created_at": "2026-12-01T10:00:00Z", "updated_at": "2026-12-02T10:00:00Z",
        "courses": None}]})

    id: uuid.UUID
    path_id: uuid.UUID
    partner_id: uuid.UUID
    contact_id: uuid.UUID | None = Field(default=None, description="Null once the contact "
                                         "was erased.")
    status: LearningEnrolmentStatus
    reason: LearningEnrolmentReason
    path_version: int = Field(description="The path's version when enrolled.")
    courses_done: int = Field(description="Courses of the path as it is now the contact "
                              "completed.")
    courses_total: int
    enrolled_at: dt.datetime
    first_completion_at: dt.datetime | None = None
    completed_at: dt.datetime | None = None
    certification_id: uuid.UUID | None = Field(default=None, description=(
        "The certification its completion granted, if the path grants one."))
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime
    courses: list[LearningCourseProgress] | None = Field(default=None, description=(
        "Each course of the path and when the contact completed it (single reads only)."))


class LearningCompletionIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "record_id": "lms-rec-5521", "contact_id": "0193c1d0-11aa-7bcd-8e0f-1a2b3c4d5e6f",
        "course_id": "crs-101", "completed_at": "2026-12-02T10:00:00Z"}]})

    record_id: LmsId = Field(description="The LMS's id of this completion: delivered again, "
                             "it is a `duplicate` and changes nothing.")
    contact_id: uuid.UUID | None = Field(default=None, description="The contact; or `email` "
                                         "with `partner_id`.")
    partner_id: uuid.UUID | None = None
    email: EmailAddress | None = None
    course_id: LmsId
    completed_at: IsoDateTime = Field(description="Not in the future.")

    @model_validator(mode="after")
    def _who(self) -> Self:
        if self.contact_id is None and (self.email is None or self.partner_id is None):
            raise ValueError("name the contact: contact_id, or email with partner_id")
        if self.contact_id is not None and self.email is not None:
            raise ValueError("contact_id or email, not both")
        return self


class LearningCompletionBatch(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "completions": [{"record_id": "lms-rec-5521",
                         "contact_id": "0193c1d0-11aa-7bcd-8e0f-1a2b3c4d5e6f",
                         "course_id": "crs-101", "completed_at": "2026-12-02T10:00:00Z"}]}]})

    completions: list[LearningCompletionIn] = Field(min_length=1, max_length=MAX_COMPLETIONS)


class LearningItemProblem(BaseModel):
    type: str
    title: str
    detail: str


class LearningCompletionResult(BaseModel):
    index: int
    record_id: str
    outcome: LearningCompletionOutcome
    completion_id: uuid.UUID | None = None
    enrolments_completed: list[uuid.UUID] = Field(default_factory=list, description=(
        "Enrolments this completion completed."))
    problem: LearningItemProblem | None = None


class LearningCompletionResults(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "recorded": 1, "duplicates": 0, "refused": 0,
        "results": [{"index": 0, "record_id": "lms-rec-5521", "outcome": "recorded",
                     "completion_id": "0193c1f2-0000-7000-8000-000000000001",
                     "enrolments_completed": [], "problem": None}]}]})

    recorded: int
    duplicates: int
    refused: int
    results: list[LearningCompletionResult]


class LearningPathProgress(BaseModel):
    path_id: uuid.UUID
    path_name: str
    enrolled: int = Field(description="Enrolments, whatever their status.")
    in_progress: int
    completed: int
    courses_done: int = Field(description="Summed over the enrolments.")
    courses_total: int


class LearningProgressOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "partner_id": "0193c1c2-7e1a-7d2b-9a51-6f3f1c2d4e5f",
        "paths": [{"path_id": "0193c1f0-0000-7000-8000-000000000001",
                   "path_name": "Selling the platform", "enrolled": 3, "in_progress": 1,
                   "completed": 1, "courses_done": 5, "courses_total": 6}]}]})

    partner_id: uuid.UUID
    paths: list[LearningPathProgress]


class LearningKpi(BaseModel):
    path_id: uuid.UUID | None = Field(default=None, description="Null on the totals over "
                                      "every path.")
    path_name: str | None = None
    enrolled: int
    completed: int
    completion_rate: Decimal | None = Field(default=None, description=(
        "completed / enrolled, 4 decimals (half even); null without enrolments."))
    median_seconds_to_completion: Decimal | None = Field(default=None, description=(
        "Median of completed_at − enrolled_at over the completed enrolments (whole seconds; "
        "the mean of the two middle ones for an even count)."))
    seconds_to_first_completion: int | None = Field(default=None, description=(
        "The first completion's completed_at − the first enrolled_at."))


class LearningKpisOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "partner_id": None,
        "paths": [{"path_id": "0193c1f0-0000-7000-8000-000000000001",
                   "path_name": "Selling the platform", "enrolled": 4, "completed": 1,
                   "completion_rate": "0.2500", "median_seconds_to_completion": "86400",
                   "seconds_to_first_completion": 86400}],
        "total": {"path_id": None, "path_name": None, "enrolled": 4, "completed": 1,
                  "completion_rate": "0.2500", "median_seconds_to_completion": "86400",
                  "seconds_to_first_completion": 86400}}]})

    partner_id: uuid.UUID | None = Field(default=None, description=(
        "The partner counted; null: the whole programme."))
    paths: list[LearningKpi]
    total: LearningKpi
