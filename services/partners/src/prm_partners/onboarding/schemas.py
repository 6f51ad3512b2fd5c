import datetime as dt
import uuid
from enum import StrEnum
from typing import Annotated, Any, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StringConstraints,
    field_validator,
    model_validator,
)

from prm_partners.partners.schemas import PartnerType
from prm_platform.types import Name

MAX_TASKS = 50

TaskKey = Annotated[str, StringConstraints(min_length=1, max_length=60,
                                           pattern=r"^[a-z0-9][a-z0-9_-]*$")]
# An agreement's or certification's code in the programme (e.g. reseller-agreement, SEC-101).
Code = Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=r"^[\x21-\x7e]+$")]


class OnboardingTaskKind(StrEnum):
    """How a task completes: by hand, or by itself from what the partner did."""

    manual = "manual"
    agreement_signed = "agreement_signed"
    certification_earned = "certification_earned"
    contacts_added = "contacts_added"
    first_deal_registered = "first_deal_registered"
    # One of the partner's contacts completed the learning path (its LMS external id).
    learning_path_completed = "learning_path_completed"


# The parameter each kind needs (none for the others).
KIND_PARAM = {OnboardingTaskKind.agreement_signed: "agreement",
              OnboardingTaskKind.certification_earned: "certification",
              OnboardingTaskKind.contacts_added: "contacts",
              OnboardingTaskKind.learning_path_completed: "learning_path"}


class OnboardingTaskParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    agreement: Code | None = Field(default=None, description="`agreement_signed`: the "
                                   "agreement's code.")
    certification: Code | None = Field(default=None, description="`certification_earned`: "
                                       "the certification's code.")
    contacts: StrictInt | None = Field(default=None, ge=1, le=1000, strict=True,
                                 description="`contacts_added`: how many contacts the partner "
                                 "must have.")
    learning_path: Code | None = Field(default=None, description="`learning_path_completed`: "
                                       "the learning path's `external_id` (the LMS's id of "
                                       "it); done when one of the partner's contacts "
                                       "completes it.")


class OnboardingTaskIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "key": "sign-reseller-agreement", "title": "Sign the reseller agreement",
        "kind": "agreement_signed", "params": {"agreement": "reseller-agreement"},
        "due_in_days": 14}]})

    key: TaskKey = Field(description="Unique within the template; names the task in plans.")
    title: Name
    kind: OnboardingTaskKind
    params: OnboardingTaskParams = Field(default_factory=OnboardingTaskParams,
                               description="What completes it: the agreement or certification "
                               "code, or the number of contacts.")
    due_in_days: StrictInt | None = Field(default=None, ge=0, le=365, strict=True,
                                    description="Due this many days after the plan started; "
                                    "null: no due date.")

    @model_validator(mode="after")
    def _params_fit_kind(self) -> Self:
        wanted = KIND_PARAM.get(self.kind)
        sent = {k for k, v in self.params.model_dump().items() if v is not None}
        if wanted and wanted not in sent:
            raise ValueError(f"a {self.kind.value} task needs params.{wanted}")
        if extra := sent - {wanted}:
            raise ValueError(f"a {self.kind.value} task takes no params.{sorted(extra)[0]}")
        return self


def _distinct_keys(tasks: list[OnboardingTaskIn] | None) -> list[OnboardingTaskIn] | None:
    if tasks is not None:
        keys = [t.key for t in tasks]
        if len(set(keys)) != len(keys):
            raise ValueError("task keys must be unique")
    return tasks


_EXAMPLE: dict[str, Any] = {
    "name": "MSP onboarding", "partner_types": ["msp", "mssp"], "activates_partner": True,
    "tasks": [
        {"key": "sign-reseller-agreement", "title": "Sign the reseller agreement",
         "kind": "agreement_signed", "params": {"agreement": "reseller-agreement"},
         "due_in_days": 14},
        {"key": "sales-certification", "title": "Earn the sales certification",
         "kind": "certification_earned", "params": {"certification": "SALES-101"},
         "due_in_days": 30},
        {"key": "add-contacts", "title": "Add your sales and technical contacts",
         "kind": "contacts_added", "params": {"contacts": 2}, "due_in_days": 7},
        {"key": "kick-off", "title": "Kick-off call with your partner manager",
         "kind": "manual", "params": {}, "due_in_days": 10},
        {"key": "first-deal", "title": "Register your first deal",
         "kind": "first_deal_registered", "params": {}, "due_in_days": 90},
    ],
}


class OnboardingTemplateIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [_EXAMPLE]})

    name: Name
    partner_types: list[PartnerType] = Field(
        default_factory=list, max_length=len(PartnerType),
        description="The partner types it applies to; empty: every type. A partner entering "
        "onboarding gets the newest template naming its type (fewest types first), else the "
        "newest for every type.")
    activates_partner: StrictBool = Field(default=False, strict=True, description="Whether "
                                    "completing the plan activates the partner (if it is still "
                                    "onboarding).")
    tasks: list[OnboardingTaskIn] = Field(min_length=1, max_length=MAX_TASKS,
                                description="In the order the partner should do them.")

    @field_validator("tasks")
    @classmethod
    def _unique_keys(cls, value: list[OnboardingTaskIn] | None) -> list[OnboardingTaskIn] | None:
        return _distinct_keys(value)

    @field_validator("partner_types")
    @classmethod
    def _no_repeats(cls, value: list[PartnerType]) -> list[PartnerType]:
        return list(dict.fromkeys(value))


class OnboardingTemplatePatch(BaseModel):
    """Only the fields present change; `tasks` replaces the whole list. Plans already started
    keep the tasks they copied."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"name": "MSP onboarding (2027)", "activates_partner": False}]})

    name: Name | None = None
    partner_types: list[PartnerType] | None = Field(default=None, max_length=len(PartnerType))
    activates_partner: StrictBool | None = None
    tasks: list[OnboardingTaskIn] | None = Field(default=None, min_length=1, max_length=MAX_TASKS)

    @field_validator("tasks")
    @classmethod
    def _unique_keys(cls, value: list[OnboardingTaskIn] | None) -> list[OnboardingTaskIn] | None:
        return _distinct_keys(value)

    @field_validator("name", "partner_types", "activates_partner", "tasks", mode="before")
    @classmethod
    def _required_when_sent(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("may not be null")
        return value

    @field_validator("partner_types")
    @classmethod
    def _no_repeats(cls, value: list[PartnerType] | None) -> list[PartnerType] | None:
        return None if value is None else list(dict.fromkeys(value))


class OnboardingTemplateTask(BaseModel):
    key: str
    title: str
    kind: OnboardingTaskKind
    params: dict[str, Any] = Field(description="What completes it (see the task kinds).")
    due_in_days: int | None


class OnboardingTemplateOut(BaseModel):
    model_config = ConfigDict(from_attributes=True, json_schema_extra={"examples": [{
        "id": "0193c1c2-7e1a-7d2b-9a51-6f3f1c2d4e60", **_EXAMPLE, "version": 2,
        "created_at": "2026-11-01T09:00:00Z", "updated_at": "2026-11-20T09:00:00Z"}]})

    id: uuid.UUID
    name: str
    partner_types: list[PartnerType]
    activates_partner: bool
    tasks: list[OnboardingTemplateTask]
    version: int = Field(description="Increases with every change; the ETag is its quoted value.")
    created_at: dt.datetime
    updated_at: dt.datetime


class OnboardingTaskStatus(StrEnum):
    open = "open"
    overdue = "overdue"
    done = "done"


class OnboardingTaskCompletedHow(StrEnum):
    """``by_hand``: someone marked it done; ``event``: an event said the partner did it;
    ``check``: a check of the partner's records (its contacts)."""

    by_hand = "by_hand"
    event = "event"
    check = "check"


class OnboardingTaskOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": "0193c1c3-0000-7000-8000-000000000001",
        "plan_id": "0193c1c3-0000-7000-8000-000000000000",
        "partner_id": "0193c1c2-7e1a-7d2b-9a51-6f3f1c2d4e5f",
        "partner_name": "Northwind Security Ltd", "position": 1,
        "key": "sign-reseller-agreement", "title": "Sign the reseller agreement",
        "kind": "agreement_signed", "params": {"agreement": "reseller-agreement"},
        "due_at": "2026-12-07T10:00:00Z", "status": "done",
        "completed_at": "2026-11-25T15:12:00Z", "completed_how": "event",
        "completed_by": "prm.partner.agreement_signed.v1",
        "note": "signed by the managing director", "created_at": "2026-11-23T10:00:00Z",
        "updated_at": "2026-11-25T15:12:05Z"}]})

    id: uuid.UUID
    plan_id: uuid.UUID
    partner_id: uuid.UUID
    partner_name: str | None = Field(description="The partner's name in the directory.")
    position: int = Field(description="Its place in the plan, from 1.")
    key: str
    title: str
    kind: OnboardingTaskKind
    params: dict[str, Any]
    due_at: dt.datetime | None
    status: OnboardingTaskStatus = Field(description="`overdue`: open past its due date.")
    completed_at: dt.datetime | None
    completed_how: OnboardingTaskCompletedHow | None = Field(description="How it was done.")
    completed_by: str | None = Field(description="The key or user that marked it done, or the "
                                     "event type or check that did.")
    note: str | None
    created_at: dt.datetime = Field(description="When its plan started it.")
    updated_at: dt.datetime = Field(description="When it last changed (created, then done).")


class OnboardingProgress(BaseModel):
    done: int
    total: int
    percent: int = Field(ge=0, le=100, description="done / total, rounded down.")


class OnboardingPlanOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": "0193c1c3-0000-7000-8000-000000000000",
        "partner_id": "0193c1c2-7e1a-7d2b-9a51-6f3f1c2d4e5f",
        "partner_name": "Northwind Security Ltd",
        "template_id": "0193c1c2-7e1a-7d2b-9a51-6f3f1c2d4e60",
        "template_name": "MSP onboarding", "template_version": 2, "activates_partner": True,
        "status": "open", "started_at": "2026-11-23T10:00:00Z", "completed_at": None,
        "progress": {"done": 1, "total": 5, "percent": 20}, "tasks": [], "version": 2}]})

    id: uuid.UUID
    partner_id: uuid.UUID
    partner_name: str | None = Field(description="The partner's name in the directory.")
    template_id: uuid.UUID | None = Field(description="Null once the template was deleted.")
    template_name: str
    template_version: int = Field(description="The template's version the plan copied.")
    activates_partner: bool
    status: str = Field(description="`open` or `completed`.")
    started_at: dt.datetime = Field(description="When the partner entered onboarding.")
    completed_at: dt.datetime | None = None  # default: the example of an open plan
    progress: OnboardingProgress
    tasks: list[OnboardingTaskOut]
    version: int = Field(description="Increases with every task done; the ETag is its quoted "
                         "value.")


class OnboardingTaskCompletion(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"note": "kick-off call held with Jane"}]})

    note: str | None = Field(default=None, min_length=1, max_length=500,
                             description="What was done, for the record.")
