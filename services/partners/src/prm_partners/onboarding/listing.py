"""The onboarding templates' and tasks' list grammar (prm_platform.listing)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from typing import Any

from sqlalchemy import ColumnElement, bindparam, or_

from prm_partners.onboarding.models import OnboardingTask, OnboardingTemplate
from prm_partners.onboarding.schemas import OnboardingTaskKind, OnboardingTaskStatus, TaskKey
from prm_partners.partners.schemas import PartnerType
from prm_platform.listing import Filter, Listing, QueryTime, Range


@dataclasses.dataclass(frozen=True)
class AppliesTo(Filter):
    """Templates that apply to any of the partner types: naming one of them, or naming none
    (a template for every type). Both are served by the GIN index on the array."""

    def condition(self, values: list[Any]) -> ColumnElement[bool]:
        types = self.column.type
        return or_(self.column.overlap(bindparam(None, values, type_=types)),
                   self.column == bindparam(None, [], type_=types))


@dataclasses.dataclass(frozen=True)
class TaskStatus(Filter):
    """A task's status as answers show it, at the time of the request: ``done``, ``overdue``
    (open past its due date) or ``open``. ``column`` is ``completed_at``; the index on
    ``(completed_at, due_at)`` serves each."""

    def condition(self, values: list[Any]) -> ColumnElement[bool]:
        now = dt.datetime.now(dt.UTC)
        done, due_at = self.column.is_not(None), OnboardingTask.due_at
        alternatives = []
        for value in values:
            if value == OnboardingTaskStatus.done:
                alternatives.append(done)
            elif value == OnboardingTaskStatus.overdue:
                alternatives.append(~done & (due_at < now))
            else:
                alternatives.append(~done & (due_at.is_(None) | (due_at >= now)))
        return or_(*alternatives)


TEMPLATES = Listing(
    OnboardingTemplate.id,
    AppliesTo("partner_type", OnboardingTemplate.partner_types, PartnerType,
              "Only templates that apply to any of these partner types (naming it, or naming "
              "none: for every type)."),
    Filter("activates_partner", OnboardingTemplate.activates_partner, bool,
           "Only templates whose completion does (true) or does not (false) activate the "
           "partner."),
    Range("created_at", OnboardingTemplate.created_at, QueryTime, "When it was created"),
    sorts={"name": OnboardingTemplate.name},
    search=OnboardingTemplate.search_text, search_fields=("name",),
    updated=OnboardingTemplate.updated_at,
)

TASKS = Listing(
    OnboardingTask.id,
    TaskStatus("status", OnboardingTask.completed_at, OnboardingTaskStatus,
               "Only tasks in these statuses now: `open`, `overdue` (open past its due date), "
               "`done`."),
    Filter("partner_id", OnboardingTask.partner_id, uuid.UUID, "Only these partners' tasks."),
    Filter("plan_id", OnboardingTask.plan_id, uuid.UUID, "Only these plans' tasks."),
    Filter("kind", OnboardingTask.kind, OnboardingTaskKind, "Only tasks of these kinds."),
    Filter("key", OnboardingTask.key, TaskKey, "Only tasks with these keys (as the template "
           "names them)."),
    Range("due_at", OnboardingTask.due_at, QueryTime, "When it is due"),
    Range("completed_at", OnboardingTask.completed_at, QueryTime, "When it was done"),
    Range("created_at", OnboardingTask.created_at, QueryTime, "When its plan started it"),
    sorts={"due_at": OnboardingTask.due_order},
    updated=OnboardingTask.updated_at,
)
