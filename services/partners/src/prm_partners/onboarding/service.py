"""Onboarding: the vendor's templates, and each partner's plan copied from one when the partner
enters ``onboarding``. Tasks complete by hand or from what the partner did (the facts its
events recorded, its contacts); the last one completes the plan, emits
``prm.partner.onboarding_completed.v1`` once and, if the template says so, activates the
partner. A plan started, and every change of its tasks, is announced as
``prm.partner.onboarding_progress.v1``: once per change, at its end, however many tasks moved.

Lock order, on every path that changes a plan: the partner's row first (the aggregate its
events are keyed by, so its outbox rows commit in order), then the plan's.
"""

import datetime as dt
import logging
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import String, any_, bindparam, func, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from prm_contracts import (
    OnboardingCompletedV1,
    OnboardingProgressV1,
    OnboardingTaskDue,
    PartnerSnapshot,
)
from prm_partners.contacts import repository as contacts_repository
from prm_partners.declaration import PARTNERS_READ, PARTNERS_WRITE, PROGRAMME_READ, PROGRAMME_WRITE
from prm_partners.names import partner_names
from prm_partners.onboarding.listing import TASKS, TEMPLATES
from prm_partners.onboarding.models import (
    OnboardingFact,
    OnboardingPlan,
    OnboardingTask,
    OnboardingTemplate,
)
from prm_partners.onboarding.schemas import (
    OnboardingPlanOut as PlanOut,
)
from prm_partners.onboarding.schemas import (
    OnboardingProgress as Progress,
)
from prm_partners.onboarding.schemas import (
    OnboardingTaskCompletedHow as CompletedHow,
)
from prm_partners.onboarding.schemas import (
    OnboardingTaskIn as TaskIn,
)
from prm_partners.onboarding.schemas import (
    OnboardingTaskKind as TaskKind,
)
from prm_partners.onboarding.schemas import (
    OnboardingTaskOut as TaskOut,
)
from prm_partners.onboarding.schemas import (
    OnboardingTaskStatus as TaskStatus,
)
from prm_partners.onboarding.schemas import (
    OnboardingTemplateIn as TemplateIn,
)
from prm_partners.onboarding.schemas import (
    OnboardingTemplatePatch as TemplatePatch,
)
from prm_partners.partners import repository as partners
from prm_partners.partners import service as partner_service
from prm_partners.partners.models import Partner
from prm_platform.http import check_if_match
from prm_platform.ids import new_id
from prm_platform.listing import ListQuery
from prm_platform.problems import Conflict, Forbidden, NotFound
from prm_platform.security import Principal

log = logging.getLogger("prm.partners.onboarding")

# Facts by (kind, code): when, and which event said so.
Facts = dict[tuple[str, str | None], tuple[dt.datetime, str]]
# The open tasks a progress event lists, soonest due first.
MAX_TASKS_DUE = 20


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _vendor(principal: Principal, scope: str) -> None:
    principal.require(scope)
    principal.ensure_vendor()


# Templates


def _task_rows(tasks: Sequence[TaskIn]) -> list[dict[str, Any]]:
    return [{"key": t.key, "title": t.title, "kind": t.kind.value,
             "params": t.params.model_dump(exclude_none=True), "due_in_days": t.due_in_days}
            for t in tasks]


async def create_template(session: AsyncSession, principal: Principal, data: TemplateIn
                          ) -> OnboardingTemplate:
    _vendor(principal, PROGRAMME_WRITE)
    now = _now()
    template = OnboardingTemplate(
        id=new_id(), name=data.name, partner_types=[t.value for t in data.partner_types],
        activates_partner=data.activates_partner, tasks=_task_rows(data.tasks), version=1,
        created_at=now, updated_at=now)
    session.add(template)
    await session.flush()
    return template


async def get_template(session: AsyncSession, principal: Principal, template_id: uuid.UUID,
                       *, for_update: bool = False) -> OnboardingTemplate:
    principal.require(PROGRAMME_READ)
    query = select(OnboardingTemplate).where(OnboardingTemplate.id == template_id)
    if for_update:
        query = query.with_for_update()
    template = (await session.execute(query)).scalar_one_or_none()
    if template is None:
        raise NotFound("onboarding template not found")
    return template


async def list_templates(session: AsyncSession, principal: Principal, query: ListQuery
                         ) -> tuple[list[OnboardingTemplate], str | None, int | None]:
    principal.require(PROGRAMME_READ)
    return await TEMPLATES.page(session, select(OnboardingTemplate), query)


async def update_template(session: AsyncSession, principal: Principal, template_id: uuid.UUID,
                          data: TemplatePatch, if_match: str | None) -> OnboardingTemplate:
    _vendor(principal, PROGRAMME_WRITE)
    template = await get_template(session, principal, template_id, for_update=True)
    check_if_match(if_match, template.version)
    sent = data.model_dump(exclude_unset=True)
    changes: dict[str, Any] = {}
    if "name" in sent:
        changes["name"] = data.name
    if "partner_types" in sent and data.partner_types is not None:
        changes["partner_types"] = [t.value for t in data.partner_types]
    if "activates_partner" in sent:
        changes["activates_partner"] = data.activates_partner
    if "tasks" in sent and data.tasks is not None:
        changes["tasks"] = _task_rows(data.tasks)
    changes = {k: v for k, v in changes.items() if getattr(template, k) != v}
    if changes:  # plans copied their tasks: nothing else changes
        for field, value in changes.items():
            setattr(template, field, value)
        template.version += 1
        template.updated_at = _now()
        await session.flush()
    return template


async def delete_template(session: AsyncSession, principal: Principal, template_id: uuid.UUID,
                          if_match: str | None) -> None:
    _vendor(principal, PROGRAMME_WRITE)
    template = await get_template(session, principal, template_id, for_update=True)
    check_if_match(if_match, template.version)
    await session.delete(template)  # plans keep their copy; their template_id becomes null
    await session.flush()


# The template for a partner of a type: the most specific (naming the type, fewest types
# first), then the newest; one for every type only when none names it. Built once: every
# partner entering onboarding asks it (a programme without templates included).
_TYPES = func.cardinality(OnboardingTemplate.partner_types)
_CHOOSE = (select(OnboardingTemplate)
           .where(or_(bindparam("partner_type", type_=String) == any_(
               OnboardingTemplate.partner_types), _TYPES == 0))
           .order_by(_TYPES == 0, _TYPES, OnboardingTemplate.id.desc()).limit(1))


async def choose_template(session: AsyncSession, partner_type: str
                          ) -> OnboardingTemplate | None:
    return (await session.execute(_CHOOSE, {"partner_type": partner_type})
            ).scalar_one_or_none()


# Plans


async def start_plan(session: AsyncSession, snapshot: PartnerSnapshot, started_at: dt.datetime
                     ) -> OnboardingPlan | None:
    """The plan of a partner that entered onboarding at ``snapshot.version``; None when there
    is nothing to start. A plan already started for this onboarding or a later one, or still
    open, means a redelivery or replay: nothing new."""
    # No template for the type (a programme without onboarding plans): nothing to start, known
    # from one query, before the partner is locked.
    template = await choose_template(session, snapshot.type)
    if template is None:
        return None
    partner = await partners.get(session, snapshot.id, for_update=True)
    if partner is None or partner.status != "onboarding":
        return None  # a replay of an onboarding long over
    started = await session.scalar(select(OnboardingPlan.id).where(
        OnboardingPlan.partner_id == partner.id,
        or_(OnboardingPlan.partner_version >= snapshot.version,
            OnboardingPlan.status == "open")).limit(1))
    if started is not None:
        return None
    # Its progress events go on from the partner's earlier plans' (consumers keep the newest).
    announced = await session.scalar(select(func.max(OnboardingPlan.progress_version)).where(
        OnboardingPlan.partner_id == partner.id))
    now = _now()
    plan = OnboardingPlan(
        id=new_id(), partner_id=partner.id, partner_version=snapshot.version,
        template_id=template.id, template_name=template.name,
        template_version=template.version, activates_partner=template.activates_partner,
        status="open", started_at=started_at, version=1, progress_version=announced or 0,
        created_at=now, updated_at=now)
    session.add(plan)
    await session.flush()
    for position, task in enumerate(template.tasks, start=1):
        due = task.get("due_in_days")
        session.add(OnboardingTask(
            id=new_id(), plan_id=plan.id, partner_id=partner.id, position=position,
            key=task["key"], title=task["title"], kind=task["kind"],
            params=task.get("params") or {},
            due_at=None if due is None else started_at + dt.timedelta(days=due),
            created_at=now, updated_at=now))
    await session.flush()
    # Facts that came before the plan; its start is announced with what they completed.
    await reconcile(session, plan, partner, changed=True)
    return plan


async def _tasks(session: AsyncSession, plan_id: uuid.UUID) -> list[OnboardingTask]:
    return list((await session.execute(
        select(OnboardingTask).where(OnboardingTask.plan_id == plan_id)
        .order_by(OnboardingTask.position))).scalars())


async def _locked_plan(session: AsyncSession, plan_id: uuid.UUID) -> OnboardingPlan:
    return (await session.execute(
        select(OnboardingPlan).where(OnboardingPlan.id == plan_id).with_for_update()
        .execution_options(populate_existing=True))).scalar_one()


async def _contact_count(session: AsyncSession, partner_id: uuid.UUID) -> int:
    """How many usable contacts the partner has (erased ones not counted). A failing query
    fails the caller: a task is never completed, nor skipped, on a guess."""
    return await contacts_repository.count(session, partner_id)


async def _facts(session: AsyncSession, partner_id: uuid.UUID, tasks: list[OnboardingTask]
                 ) -> Facts:
    agreements = [t.params["agreement"] for t in tasks if t.kind == TaskKind.agreement_signed]
    certifications = [t.params["certification"] for t in tasks
                      if t.kind == TaskKind.certification_earned]
    deals = any(t.kind == TaskKind.first_deal_registered for t in tasks)
    paths = [t.params["learning_path"] for t in tasks
             if t.kind == TaskKind.learning_path_completed]
    if not (agreements or certifications or deals or paths):
        return {}
    wanted: list[Any] = []
    if agreements:
        wanted.append((OnboardingFact.kind == "agreement_signed")
                      & OnboardingFact.code.in_(agreements))
    if certifications:
        wanted.append((OnboardingFact.kind == "certification_earned")
                      & OnboardingFact.code.in_(certifications))
    if deals:
        wanted.append(OnboardingFact.kind == "first_deal_registered")
    if paths:
        wanted.append((OnboardingFact.kind == "learning_path_completed")
                      & OnboardingFact.code.in_(paths))
    rows = await session.execute(
        select(OnboardingFact.kind, OnboardingFact.code, OnboardingFact.occurred_at,
               OnboardingFact.event_type)
        .where(OnboardingFact.partner_id == partner_id, or_(*wanted))
        .order_by(OnboardingFact.occurred_at.desc()))
    # Ordered latest first, so the earliest fact of each (kind, code) is the one kept.
    return {(row.kind, row.code): (row.occurred_at, row.event_type) for row in rows}


def _finish_task(task: OnboardingTask, at: dt.datetime, how: CompletedHow, by: str,
                 note: str | None = None) -> None:
    task.completed_at, task.completed_how, task.completed_by = at, how.value, by[:200]
    task.note = note
    task.updated_at = _now()


async def reconcile(session: AsyncSession, plan: OnboardingPlan, partner: Partner,
                    *, contacts: int | None = None, changed: bool = False) -> None:
    """Complete the open tasks the partner's facts and contacts satisfy, then the plan if
    none is left, and announce the plan's progress once if anything changed (``changed``:
    the caller changed it already, e.g. started it or completed a task). Every change of a
    plan ends here. The caller holds the partner's and the plan's locks."""
    if plan.status != "open":
        return
    tasks = await _tasks(session, plan.id)
    open_tasks = [t for t in tasks if t.completed_at is None]
    facts = await _facts(session, partner.id, open_tasks)
    if contacts is None and any(t.kind == TaskKind.contacts_added for t in open_tasks):
        contacts = await _contact_count(session, partner.id)
    completed = False
    for task in open_tasks:
        fact = None
        if task.kind == TaskKind.agreement_signed:
            fact = facts.get(("agreement_signed", task.params["agreement"]))
        elif task.kind == TaskKind.certification_earned:
            fact = facts.get(("certification_earned", task.params["certification"]))
        elif task.kind == TaskKind.first_deal_registered:
            fact = facts.get(("first_deal_registered", None))
        elif task.kind == TaskKind.learning_path_completed:
            fact = facts.get(("learning_path_completed", task.params["learning_path"]))
        elif task.kind == TaskKind.contacts_added and contacts is not None \
                and contacts >= task.params["contacts"]:
            _finish_task(task, _now(), CompletedHow.check, "contact_count")
            completed = True
        if fact is not None:
            # Not before the plan: a fact that came first counts from the plan's start.
            _finish_task(task, max(fact[0], plan.started_at), CompletedHow.event, fact[1])
            completed = True
    if completed:
        plan.version += 1
        plan.updated_at = _now()
    if all(t.completed_at is not None for t in tasks):
        await _complete_plan(session, plan, partner, tasks)
    if changed or completed:
        await _announce_progress(session, plan, tasks)
    await session.flush()


def _due_first(task: OnboardingTask) -> tuple[Any, ...]:
    """Soonest due first, tasks without a date last, then in the order they were created."""
    return (task.due_at is None, task.due_at or dt.datetime.max.replace(tzinfo=dt.UTC),
            task.created_at, task.position)


async def _announce_progress(session: AsyncSession, plan: OnboardingPlan,
                             tasks: list[OnboardingTask]) -> None:
    """``prm.partner.onboarding_progress.v1``: the plan's counts and its open tasks as they
    are at the end of the change. Under the plan's lock, so versions do not collide."""
    plan.progress_version += 1
    due = sorted((t for t in tasks if t.completed_at is None), key=_due_first)
    await partner_service.publish(session, plan.partner_id, OnboardingProgressV1(
        partner_id=plan.partner_id, plan_id=plan.id, tasks_total=len(tasks),
        tasks_done=sum(1 for t in tasks if t.completed_at is not None),
        tasks_due=[OnboardingTaskDue(
            task_id=t.id, title=t.title,
            due_on=t.due_at.astimezone(dt.UTC).date() if t.due_at else None)
            for t in due[:MAX_TASKS_DUE]],
        version=plan.progress_version))


async def _complete_plan(session: AsyncSession, plan: OnboardingPlan, partner: Partner,
                         tasks: list[OnboardingTask]) -> None:
    """Only from ``open`` under the plan's lock: the event is emitted once."""
    done = [t.completed_at for t in tasks if t.completed_at is not None]
    plan.status = "completed"
    plan.completed_at = max(done) if done else _now()
    plan.updated_at = _now()
    await session.flush()
    await partner_service.publish(session, partner.id, OnboardingCompletedV1(
        partner_id=partner.id, plan_id=plan.id, completed_at=plan.completed_at))
    if plan.activates_partner and partner.status == "onboarding":
        await partner_service.move(session, partner, "activate", "onboarding plan completed")


# Facts from events


# A fact kept, or moved to an earlier time; a row back only when it changed. Plain SQL: the
# expression built per event cost more than the statement (a fact per registration).
_FACT = text("""
    INSERT INTO onboarding_facts AS f (kind, natural_id, partner_id, code, occurred_at,
                                       event_type)
    VALUES (:kind, :natural_id, :partner_id, :code, :occurred_at, :event_type)
    ON CONFLICT (kind, natural_id) DO UPDATE SET occurred_at = excluded.occurred_at,
        code = excluded.code, event_type = excluded.event_type
    WHERE excluded.occurred_at < f.occurred_at
    RETURNING f.kind""")


async def record_fact(session: AsyncSession, *, kind: str, natural_id: uuid.UUID,
                      partner_id: uuid.UUID, code: str | None, occurred_at: dt.datetime,
                      event_type: str) -> None:
    """Keep what an event said (the earliest time wins, so replays and late arrivals change
    nothing), then let the partner's open plan, if any, take it into account. A fact that
    changed nothing (a partner's every registration after its first) reads no plan: a plan
    started since took every fact there was into account when it started."""
    changed = (await session.execute(_FACT, {
        "kind": kind, "natural_id": natural_id, "partner_id": partner_id, "code": code,
        "occurred_at": occurred_at, "event_type": event_type})).first()
    if changed is not None:
        await _reconcile_open_plan(session, partner_id)


async def _reconcile_open_plan(session: AsyncSession, partner_id: uuid.UUID,
                               *, contacts: int | None = None) -> None:
    plan_id = await session.scalar(select(OnboardingPlan.id).where(
        OnboardingPlan.partner_id == partner_id, OnboardingPlan.status == "open"))
    if plan_id is None:
        return
    partner = await partners.get(session, partner_id, for_update=True)
    if partner is None:
        return
    await reconcile(session, await _locked_plan(session, plan_id), partner, contacts=contacts)


# Reads and the hand's completion


async def _current_plan(session: AsyncSession, partner_id: uuid.UUID) -> OnboardingPlan | None:
    """The open plan, else the latest one."""
    return (await session.execute(
        select(OnboardingPlan).where(OnboardingPlan.partner_id == partner_id)
        .order_by((OnboardingPlan.status == "open").desc(), OnboardingPlan.id.desc())
        .limit(1).execution_options(populate_existing=True))).scalar_one_or_none()


async def plan_of(session: AsyncSession, principal: Principal, partner_id: uuid.UUID
                  ) -> tuple[OnboardingPlan, list[OnboardingTask], str | None]:
    """The plan as it stands. Reads only: the contacts tasks complete when a contact is added
    (``contact_added``) and by the periodic check, never on a read."""
    principal.require(PARTNERS_READ)
    await partner_service.ensure_visible(session, principal, partner_id, "onboarding plan")
    plan = await _current_plan(session, partner_id)
    if plan is None:
        raise NotFound("this partner has no onboarding plan")
    names = await partner_names(session, [partner_id])
    return plan, await _tasks(session, plan.id), names.get(partner_id)


async def contact_added(session: AsyncSession, partner_id: uuid.UUID) -> None:
    """Contacts send no event: the contacts part calls this in the transaction that added
    one. The partner's open plan then completes the contacts tasks it satisfies, counted under
    the partner's lock (of two contacts added at once, the later transaction counts both)."""
    waiting = await session.scalar(
        select(OnboardingTask.id)
        .join(OnboardingPlan, OnboardingPlan.id == OnboardingTask.plan_id)
        .where(OnboardingTask.partner_id == partner_id, OnboardingTask.completed_at.is_(None),
               OnboardingTask.kind == TaskKind.contacts_added.value,
               OnboardingPlan.status == "open")
        .limit(1))
    if waiting is not None:
        await _reconcile_open_plan(session, partner_id)


async def complete_task(session: AsyncSession, principal: Principal, partner_id: uuid.UUID,
                        task_id: uuid.UUID, note: str | None, if_match: str | None
                        ) -> tuple[OnboardingPlan, list[OnboardingTask], str]:
    principal.require(PARTNERS_WRITE)
    partner_service.ensure_own(principal, partner_id, "onboarding task")
    partner = await partners.get(session, partner_id, for_update=True)
    task = await session.scalar(select(OnboardingTask).where(
        OnboardingTask.id == task_id, OnboardingTask.partner_id == partner_id))
    if partner is None or task is None:
        raise NotFound("onboarding task not found")
    plan = await _locked_plan(session, task.plan_id)
    check_if_match(if_match, plan.version)
    if principal.is_partner and task.kind != TaskKind.manual:
        raise Forbidden("a partner key completes only manual tasks; the others complete "
                        "themselves from what the partner does")
    if task.completed_at is not None:
        raise Conflict(f"this task was done at {task.completed_at.isoformat()}")
    _finish_task(task, _now(), CompletedHow.by_hand, principal.subject, note)
    plan.version += 1
    plan.updated_at = _now()
    await reconcile(session, plan, partner, changed=True)
    return plan, await _tasks(session, plan.id), partner.name


async def list_tasks(session: AsyncSession, principal: Principal, query: ListQuery
                     ) -> tuple[list[OnboardingTask], str | None, int | None,
                                dict[uuid.UUID, str]]:
    """A page of tasks across partners, and their partners' names."""
    principal.require(PARTNERS_READ)
    visible = select(OnboardingTask)
    if principal.is_partner:  # its own org's tasks only
        visible = visible.where(OnboardingTask.partner_id == principal.partner_id)
    rows, next_cursor, total = await TASKS.page(session, visible, query)
    return rows, next_cursor, total, await partner_names(session, (t.partner_id for t in rows))


# The periodic check


async def check_contacts(session: AsyncSession, batch: int = 200) -> int:
    """Open plans waiting for contacts, least recently checked first: complete what the
    partner's contacts now satisfy. Returns the plans that moved."""
    waiting = select(OnboardingTask.id).where(
        OnboardingTask.plan_id == OnboardingPlan.id, OnboardingTask.completed_at.is_(None),
        OnboardingTask.kind == TaskKind.contacts_added.value).exists()
    rows = (await session.execute(
        select(OnboardingPlan.id, OnboardingPlan.partner_id)
        .where(OnboardingPlan.status == "open", waiting)
        .order_by(OnboardingPlan.checked_at.asc().nulls_first(), OnboardingPlan.id)
        .limit(batch))).all()
    moved = 0
    for plan_id, partner_id in rows:
        needed = await session.scalar(select(func.min(
            OnboardingTask.params["contacts"].as_integer())).where(
            OnboardingTask.plan_id == plan_id, OnboardingTask.completed_at.is_(None),
            OnboardingTask.kind == TaskKind.contacts_added.value))
        contacts = await _contact_count(session, partner_id)
        if needed is not None and contacts >= needed:
            await _reconcile_open_plan(session, partner_id, contacts=contacts)
            moved += 1
    if rows:
        await session.execute(update(OnboardingPlan).where(
            OnboardingPlan.id.in_([r.id for r in rows])).values(checked_at=_now()))
    return moved


# Shaping


def task_out(task: OnboardingTask, now: dt.datetime, partner_name: str | None) -> TaskOut:
    if task.completed_at is not None:
        status = TaskStatus.done
    elif task.due_at is not None and task.due_at < now:
        status = TaskStatus.overdue
    else:
        status = TaskStatus.open
    return TaskOut(
        id=task.id, plan_id=task.plan_id, partner_id=task.partner_id,
        partner_name=partner_name, position=task.position,
        key=task.key, title=task.title, kind=TaskKind(task.kind), params=task.params,
        due_at=task.due_at, status=status, completed_at=task.completed_at,
        completed_how=CompletedHow(task.completed_how) if task.completed_how else None,
        completed_by=task.completed_by, note=task.note, created_at=task.created_at,
        updated_at=task.updated_at)


def plan_out(plan: OnboardingPlan, tasks: list[OnboardingTask], partner_name: str | None
             ) -> PlanOut:
    now = _now()
    done = sum(1 for t in tasks if t.completed_at is not None)
    total = len(tasks)
    return PlanOut(
        id=plan.id, partner_id=plan.partner_id, partner_name=partner_name,
        template_id=plan.template_id,
        template_name=plan.template_name, template_version=plan.template_version,
        activates_partner=plan.activates_partner, status=plan.status,
        started_at=plan.started_at, completed_at=plan.completed_at,
        progress=Progress(done=done, total=total, percent=done * 100 // total if total else 100),
        tasks=[task_out(t, now, partner_name) for t in tasks], version=plan.version)
