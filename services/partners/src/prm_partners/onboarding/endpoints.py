"""Onboarding templates, each partner's plan and the tasks across partners."""

import datetime as dt
import uuid
from typing import Annotated

from fastapi import APIRouter, Body, Depends, Response

from prm_partners.onboarding import service
from prm_partners.onboarding.listing import TASKS, TEMPLATES
from prm_partners.onboarding.models import OnboardingPlan, OnboardingTask, OnboardingTemplate
from prm_partners.onboarding.schemas import (
    OnboardingPlanOut,
    OnboardingTaskCompletion,
    OnboardingTaskOut,
    OnboardingTemplateIn,
    OnboardingTemplateOut,
    OnboardingTemplatePatch,
)
from prm_platform.http import (
    Caller,
    IdempotencyKeyHeader,
    IfMatchHeader,
    Session,
    etag,
    resource_headers,
    service_router,
)
from prm_platform.listing import ListQuery, Page
from prm_platform.problems import problem_responses


def _router(prefix: str) -> APIRouter:
    # record_api_call: a partner key's call counts as the partner's activity.
    return service_router(prefix, "onboarding")


templates = _router("/v1/onboarding-templates")
plans = _router("/v1/partners")
tasks = _router("/v1/onboarding-tasks")


def _template_out(template: OnboardingTemplate, response: Response) -> OnboardingTemplateOut:
    response.headers["ETag"] = etag(template.version)
    return OnboardingTemplateOut.model_validate(template)


def _plan_out(plan: OnboardingPlan, rows: list[OnboardingTask], partner_name: str | None,
              response: Response) -> OnboardingPlanOut:
    response.headers["ETag"] = etag(plan.version)
    return service.plan_out(plan, rows, partner_name)


@templates.post("", status_code=201, summary="Create an onboarding template",
                description="Vendor keys only. A partner entering `onboarding` gets a plan "
                "copied from the template for its type: the newest naming its type (the one "
                "naming fewest types first), else the newest for every type (empty "
                "`partner_types`). Tasks complete by hand (`manual`) or by themselves: an "
                "agreement signed, a certification earned, enough contacts, a first deal "
                "registered.",
                responses=resource_headers(201, location=True))
async def create_onboarding_template(body: OnboardingTemplateIn, response: Response,
                                     session: Session, caller: Caller,
                                     idempotency_key: IdempotencyKeyHeader = None
                                     ) -> OnboardingTemplateOut:
    template = await service.create_template(session, caller, body)
    response.headers["Location"] = f"/v1/onboarding-templates/{template.id}"
    return _template_out(template, response)


@templates.get("", summary="List onboarding templates",
               description="In creation order unless sorted (by name); filter by the partner "
               "types they apply to and whether they activate the partner; search by name. "
               "A deleted template leaves the list (and the change feed): set-up lists are "
               "small, a sync reads them whole.")
async def list_onboarding_templates(session: Session, caller: Caller,
                                    query: Annotated[ListQuery, Depends(TEMPLATES.query)]
                                    ) -> Page[OnboardingTemplateOut]:
    rows, next_cursor, total = await service.list_templates(session, caller, query)
    return Page[OnboardingTemplateOut](
        items=[OnboardingTemplateOut.model_validate(t) for t in rows], next_cursor=next_cursor,
        total_count=total)


@templates.get("/{template_id:uuid}", summary="Get an onboarding template",
               description="The ETag is its version, for If-Match on changes.",
               responses={**problem_responses(404), **resource_headers()})
async def get_onboarding_template(template_id: uuid.UUID, response: Response,
                                  session: Session, caller: Caller) -> OnboardingTemplateOut:
    return _template_out(await service.get_template(session, caller, template_id), response)


@templates.patch("/{template_id:uuid}", summary="Change an onboarding template",
                 description="Vendor keys only; only the fields sent change (`tasks` as a "
                 "whole). Plans already started keep the tasks they copied.",
                 responses={**problem_responses(404, 412), **resource_headers()})
async def update_onboarding_template(template_id: uuid.UUID, body: OnboardingTemplatePatch,
                                     response: Response, session: Session, caller: Caller,
                                     if_match: IfMatchHeader = None) -> OnboardingTemplateOut:
    return _template_out(await service.update_template(session, caller, template_id, body,
                                                        if_match), response)


@templates.delete("/{template_id:uuid}", status_code=204,
                  summary="Delete an onboarding template",
                  description="Vendor keys only. Plans started from it carry on with their "
                  "copy of its tasks.", responses=problem_responses(404, 412))
async def delete_onboarding_template(template_id: uuid.UUID, session: Session, caller: Caller,
                                     if_match: IfMatchHeader = None) -> Response:
    await service.delete_template(session, caller, template_id, if_match)
    return Response(status_code=204)


@plans.get("/{partner_id:uuid}/onboarding", summary="Get a partner's onboarding plan",
           description="Its open plan, else its latest one: each task `done` (when, how and "
           "by whom or what), `open` or `overdue`, and the progress. Reading it changes "
           "nothing: a contacts task completes when the contacts are added. A partner key "
           "sees its own org's; another org's is a 404.",
           responses={**problem_responses(404), **resource_headers()})
async def get_onboarding_plan(partner_id: uuid.UUID, response: Response, session: Session,
                              caller: Caller) -> OnboardingPlanOut:
    plan, rows, name = await service.plan_of(session, caller, partner_id)
    return _plan_out(plan, rows, name, response)


@plans.post("/{partner_id:uuid}/onboarding/tasks/{task_id:uuid}/complete",
            summary="Mark an onboarding task done",
            description="A vendor key may complete any task; a partner key only its own "
            "org's `manual` tasks (the others complete themselves from what the partner "
            "does). The last task completes the plan: `prm.partner.onboarding_completed.v1`, "
            "and the partner is activated if the template says so. If-Match takes the plan's "
            "ETag; a task already done is a 409.",
            responses={**problem_responses(404, 409, 412), **resource_headers()})
async def complete_onboarding_task(
    partner_id: uuid.UUID, task_id: uuid.UUID, response: Response, session: Session,
    caller: Caller, body: Annotated[OnboardingTaskCompletion | None, Body()] = None,
    if_match: IfMatchHeader = None, idempotency_key: IdempotencyKeyHeader = None,
) -> OnboardingPlanOut:
    plan, rows, name = await service.complete_task(session, caller, partner_id, task_id,
                                                   body.note if body else None, if_match)
    return _plan_out(plan, rows, name, response)


@tasks.get("", summary="List onboarding tasks across partners",
           description="In creation order unless sorted (`sort=due_at`: soonest due first, "
           "tasks without a due date last); filter by status now (`status=overdue`: open "
           "tasks past their due date; `status=open,overdue`: everything not done), partner, "
           "plan, kind and key, ranges of due, completion and creation times; "
           "`updated_since` pulls what was started or done since. Each task names its "
           "partner. A partner key sees its own org's tasks only.")
async def list_onboarding_tasks(session: Session, caller: Caller,
                                query: Annotated[ListQuery, Depends(TASKS.query)]
                                ) -> Page[OnboardingTaskOut]:
    rows, next_cursor, total, names = await service.list_tasks(session, caller, query)
    now = dt.datetime.now(dt.UTC)
    return Page[OnboardingTaskOut](
        items=[service.task_out(t, now, names.get(t.partner_id)) for t in rows],
        next_cursor=next_cursor, total_count=total)


routers: list[APIRouter] = [templates, plans, tasks]
