"""Learning paths, enrolments, completions, progress and KPIs.

Paths come from the LMS (vendor keys, upserted by the LMS's id); each change is a new version,
and a change keeps every enrolment: their counts follow the path's current courses, and an
enrolment that completed stays completed. The partners worker enrols a partner's contacts when
the partner becomes active or moves tier (its own events, through its inbox); a contact added
later (or given another role) to an active partner is enrolled in the transaction that adds it.

A completion is kept once per LMS record id. When a contact has completed every course of a
path, the enrolment completes and, in the same transaction, the path's certification is earned
through the compliance part (source ``lms``, record id ``learning-path:<enrolment id>``, so a
replay earns nothing twice) and an onboarding fact ``learning_path_completed`` is kept.
Changes of an enrolment are announced by ``prm.enablement.enrolment_changed.v1``.
"""

import datetime as dt
import uuid
from collections.abc import Sequence
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from sqlalchemy import Float, and_, any_, func, literal, literal_column, or_, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from prm_contracts import LearningEnrolmentChangedV1
from prm_partners.contacts import repository as contacts
from prm_partners.contacts.models import Contact
from prm_partners.declaration import (
    ENABLEMENT_READ,
    ENABLEMENT_WRITE,
    LMS_INTAKE,
    PARTNERS_WRITE,
)
from prm_partners.learning.listing import LEARNING_ENROLMENTS, LEARNING_PATHS
from prm_partners.learning.models import (
    LearningCompletion,
    LearningEnrolment,
    LearningPath,
    LearningPathVersion,
)
from prm_partners.learning.schemas import (
    LearningCompletionBatch,
    LearningCompletionIn,
    LearningCompletionOutcome,
    LearningCompletionResult,
    LearningCompletionResults,
    LearningCourseProgress,
    LearningEnrolmentIn,
    LearningEnrolmentReason,
    LearningEnrolOn,
    LearningItemProblem,
    LearningKpi,
    LearningKpisOut,
    LearningPathIn,
    LearningPathProgress,
    LearningProgressOut,
)
from prm_partners.onboarding import service as onboarding
from prm_partners.partners import repository as partners
from prm_partners.partners.models import Partner
from prm_partners.partners.service import ensure_own, ensure_visible, publish
from prm_platform.http import check_if_match
from prm_platform.ids import new_id
from prm_platform.listing import ListQuery
from prm_platform.problems import (
    Forbidden,
    NotFound,
    ProblemError,
    Unprocessable,
    field_error,
    problem_title,
    problem_type,
)
from prm_platform.security import Principal, PrincipalKind

# Who earns a path's certification: the learning part itself, for the LMS (vendor-side).
_LEARNING = Principal(subject="learning-paths", kind=PrincipalKind.vendor,
                      scopes=frozenset({PARTNERS_WRITE}))
# How far ahead of our clock a completion's time may be (clocks differ a little).
_CLOCK_SKEW = dt.timedelta(minutes=5)
# Whole seconds between two times (the KPIs' unit).
_SECONDS = "extract(epoch FROM date_trunc('second', {a}) - date_trunc('second', {b}))"


class LmsIntakeNotConfigured(Forbidden):
    """The LMS intake has no signing secret: every delivery is refused (fail closed)."""

    slug = "lms-intake-not-configured"


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


async def _lock(session: AsyncSession, key: str) -> None:
    await session.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"),
                          {"key": key})


def _bad(field: str, message: str, detail: str) -> Unprocessable:
    return Unprocessable(detail, errors=[field_error(f"body.{field}", message)])


# Paths -----------------------------------------------------------------------------------


def _content(data: LearningPathIn) -> dict[str, Any]:
    return data.model_dump(mode="json")


def _path_values(data: LearningPathIn) -> dict[str, Any]:
    content = _content(data)
    return {"name": data.name, "description": data.description, "language": data.language,
            "roles": content["roles"], "tiers": content["tiers"],
            "partner_types": content["partner_types"], "courses": content["courses"],
            "certification_code": data.certification, "enrol_on": content["enrol_on"]}


async def upsert_path(session: AsyncSession, principal: Principal, external_id: str,
                      data: LearningPathIn, if_match: str | None
                      ) -> tuple[LearningPath, bool]:
    """Create the path, or change it (a new version when anything differs); True if created.
    Its open enrolments then count against the new course list."""
    principal.require(ENABLEMENT_WRITE)
    principal.ensure_vendor()
    if data.certification is not None:
        from prm_partners.compliance.models import CertificationType

        if await session.scalar(select(CertificationType.id).where(
                CertificationType.code == data.certification)) is None:
            raise _bad("certification", "unknown certification type",
                       f"no certification type {data.certification!r}")
    await _lock(session, f"learning-path:{external_id}")
    path = (await session.execute(select(LearningPath).where(
        LearningPath.external_id == external_id).with_for_update())).scalar_one_or_none()
    values, now = _path_values(data), _now()
    if path is None:
        if if_match is not None:
            check_if_match(if_match, 0)
        path = LearningPath(id=new_id(), external_id=external_id, **values, version=1,
                            created_at=now, updated_at=now)
        session.add(path)
        session.add(LearningPathVersion(path_id=path.id, number=1, content=_content(data),
                                        created_at=now))
        await session.flush()
        return path, True
    check_if_match(if_match, path.version)
    changes = {k: v for k, v in values.items() if getattr(path, k) != v}
    if not changes:
        return path, False
    for field, value in changes.items():
        setattr(path, field, value)
    path.version += 1
    path.updated_at = now
    session.add(LearningPathVersion(path_id=path.id, number=path.version,
                                    content=_content(data), created_at=now))
    await session.flush()
    if "courses" in changes:
        still_open = (LearningEnrolment.path_id == path.id,
                      LearningEnrolment.status != "completed",
                      LearningEnrolment.contact_id.is_not(None))
        # Their partners' rows first, in one order, as every writer of enrolments takes them.
        await session.execute(select(Partner.id).where(Partner.id.in_(
            select(LearningEnrolment.partner_id).where(*still_open)))
            .order_by(Partner.id).with_for_update())
        open_ones = list((await session.execute(select(LearningEnrolment).where(*still_open)
            .order_by(LearningEnrolment.partner_id, LearningEnrolment.id)
            .with_for_update())).scalars())
        for enrolment in open_ones:
            await _refresh(session, enrolment, path)
    return path, False


def _audience(partner: Partner) -> Any:
    """The paths a partner's key sees: for its type and its tier (or for any)."""
    return and_(or_(func.cardinality(LearningPath.partner_types) == 0,
                    literal(partner.type) == any_(LearningPath.partner_types)),
                or_(func.cardinality(LearningPath.tiers) == 0,
                    literal(partner.tier) == any_(LearningPath.tiers)))


async def _partner_of_key(session: AsyncSession, principal: Principal) -> Partner:
    assert principal.partner_id is not None
    partner = await partners.get(session, principal.partner_id)
    if partner is None:
        raise NotFound("partner not found")
    return partner


async def list_paths(session: AsyncSession, principal: Principal, query: ListQuery
                     ) -> tuple[list[LearningPath], str | None, int | None]:
    principal.require(ENABLEMENT_READ)
    statement = select(LearningPath)
    if principal.is_partner:
        statement = statement.where(_audience(await _partner_of_key(session, principal)))
    return await LEARNING_PATHS.page(session, statement, query)


async def get_path(session: AsyncSession, principal: Principal, path_id: uuid.UUID
                   ) -> tuple[LearningPath, list[LearningPathVersion]]:
    principal.require(ENABLEMENT_READ)
    statement = select(LearningPath).where(LearningPath.id == path_id)
    if principal.is_partner:
        statement = statement.where(_audience(await _partner_of_key(session, principal)))
    path = (await session.execute(statement)).scalar_one_or_none()
    if path is None:
        raise NotFound("learning path not found")
    versions = list((await session.execute(select(LearningPathVersion).where(
        LearningPathVersion.path_id == path.id).order_by(LearningPathVersion.number))
    ).scalars())
    return path, versions


# Enrolments ------------------------------------------------------------------------------


async def _announce(session: AsyncSession, enrolment: LearningEnrolment,
                    path: LearningPath) -> None:
    assert enrolment.contact_id is not None
    await publish(session, enrolment.partner_id, LearningEnrolmentChangedV1(
        enrolment_id=enrolment.id, path_id=enrolment.path_id, partner_id=enrolment.partner_id,
        contact_id=enrolment.contact_id, status=enrolment.status, reason=enrolment.reason,
        courses_done=enrolment.courses_done, courses_total=enrolment.courses_total,
        completed_at=enrolment.completed_at,
        certification_code=path.certification_code if enrolment.status == "completed"
        else None, version=enrolment.version))


async def _done_courses(session: AsyncSession, contact_id: uuid.UUID, course_ids: list[str]
                        ) -> dict[str, dt.datetime]:
    """Each of ``course_ids`` the contact completed, with its first completion's time."""
    rows = await session.execute(
        select(LearningCompletion.course_id, func.min(LearningCompletion.completed_at))
        .where(LearningCompletion.contact_id == contact_id,
               LearningCompletion.course_id.in_(course_ids))
        .group_by(LearningCompletion.course_id))
    return {course: at for course, at in rows}


async def _refresh(session: AsyncSession, enrolment: LearningEnrolment, path: LearningPath,
                   *, announce: bool = False) -> bool:
    """Count the enrolment's courses again (the path as it is now); complete it, earning the
    path's certification, when every course is done. Announced if anything changed (or
    ``announce``). True if it completed now. The caller holds the enrolment's row."""
    if enrolment.status == "completed" or enrolment.contact_id is None:
        return False
    course_ids = [c["course_id"] for c in path.courses]
    done = await _done_courses(session, enrolment.contact_id, course_ids)
    before = (enrolment.courses_done, enrolment.courses_total, enrolment.status)
    enrolment.courses_done, enrolment.courses_total = len(done), len(course_ids)
    enrolment.first_completion_at = min(done.values()) if done else None
    completed = len(done) == len(course_ids)
    if completed:
        enrolment.status = "completed"
        enrolment.completed_at = max(done.values())
    else:
        enrolment.status = "in_progress" if done else "enrolled"
    changed = before != (enrolment.courses_done, enrolment.courses_total, enrolment.status)
    if changed and not announce:
        enrolment.version += 1
        enrolment.updated_at = _now()
    if completed:
        await _grant(session, enrolment, path)
    await session.flush()
    if changed or announce:
        await _announce(session, enrolment, path)
    return completed


async def _grant(session: AsyncSession, enrolment: LearningEnrolment, path: LearningPath
                 ) -> None:
    """What a completed path gives: its certification (through the compliance part, as any
    LMS certification) and the onboarding fact of the path."""
    # Imported here: the compliance part reads contacts, whose changes enrol through this one.
    from prm_partners.compliance import service as compliance
    from prm_partners.compliance.schemas import CertificationCreate, CertificationSource

    assert enrolment.completed_at is not None and enrolment.contact_id is not None
    if path.certification_code is not None:
        certification, _ = await compliance.earn(
            session, _LEARNING, enrolment.partner_id, CertificationCreate(
                code=path.certification_code, contact_id=enrolment.contact_id,
                earned_on=min(enrolment.completed_at.astimezone(dt.UTC).date(),
                              dt.date.today()),
                source=CertificationSource.lms,
                lms_record_id=f"learning-path:{enrolment.id}"))
        enrolment.certification_id = certification.id
    await onboarding.record_fact(
        session, kind="learning_path_completed", natural_id=enrolment.id,
        partner_id=enrolment.partner_id, code=path.external_id,
        occurred_at=enrolment.completed_at, event_type=LearningEnrolmentChangedV1.event_type)


async def enrol(session: AsyncSession, path: LearningPath, partner_id: uuid.UUID,
                contact_id: uuid.UUID, reason: LearningEnrolmentReason
                ) -> tuple[LearningEnrolment, bool]:
    """The contact's enrolment in the path: made now (True), or the one it has (False). A
    contact who already completed the path's courses completes it at once."""
    now = _now()
    enrolment_id = new_id()
    inserted = await session.scalar(insert(LearningEnrolment).values(
        id=enrolment_id, path_id=path.id, partner_id=partner_id, contact_id=contact_id,
        status="enrolled", reason=reason.value, path_version=path.version, courses_done=0,
        courses_total=len(path.courses), enrolled_at=now, version=1, created_at=now,
        updated_at=now).on_conflict_do_nothing(
        constraint="uq_learning_enrolments_path_id").returning(LearningEnrolment.id))
    enrolment = (await session.execute(select(LearningEnrolment).where(
        LearningEnrolment.path_id == path.id, LearningEnrolment.contact_id == contact_id)
        .with_for_update().execution_options(populate_existing=True))).scalar_one()
    if inserted is None:
        return enrolment, False
    await _refresh(session, enrolment, path, announce=True)
    return enrolment, True


def _wants(path: LearningPath, roles: Sequence[str]) -> bool:
    return not path.roles or bool(set(path.roles) & set(roles))


async def _paths_for(session: AsyncSession, partner: Partner, trigger: LearningEnrolOn
                     ) -> list[LearningPath]:
    conditions = [literal(trigger.value) == any_(LearningPath.enrol_on),
                  or_(func.cardinality(LearningPath.partner_types) == 0,
                      literal(partner.type) == any_(LearningPath.partner_types))]
    if trigger is LearningEnrolOn.tier_changed:
        # A tier's paths: those naming the tier, or naming none (every move of tier).
        if partner.tier is None:
            return []
        conditions.append(or_(func.cardinality(LearningPath.tiers) == 0,
                              literal(partner.tier) == any_(LearningPath.tiers)))
    else:
        conditions.append(or_(func.cardinality(LearningPath.tiers) == 0,
                              literal(partner.tier) == any_(LearningPath.tiers)))
    return list((await session.execute(select(LearningPath).where(*conditions)
                                       .order_by(LearningPath.id))).scalars())


async def enrol_partner(session: AsyncSession, partner_id: uuid.UUID,
                        trigger: LearningEnrolOn) -> int:
    """Enrol the contacts of an active partner in the paths that ``trigger`` starts and that
    fit the partner and each contact's roles (the partner as it is now: a stale event enrols
    in what the partner is for today). Enrolments already made stay; how many were made."""
    partner = await partners.get(session, partner_id, for_update=True)
    if partner is None or partner.status != "active":
        return 0
    paths = await _paths_for(session, partner, trigger)
    if not paths:
        return 0
    people = list((await session.execute(select(Contact).where(
        Contact.partner_id == partner_id, Contact.erased_at.is_(None),
        Contact.deleted_at.is_(None)).order_by(Contact.id))).scalars())
    reason = LearningEnrolmentReason(trigger.value)
    made = 0
    for path in paths:
        for contact in people:
            if _wants(path, contact.roles):
                made += (await enrol(session, path, partner_id, contact.id, reason))[1]
    return made


async def contact_changed(session: AsyncSession, contact: Contact) -> None:
    """A contact added to (or given roles at) an active partner joins the paths its partner's
    contacts were enrolled in by its joining and its current tier. No authorisation: the
    contacts part calls it in its own transaction."""
    if contact.erased_at is not None or contact.deleted_at is not None:
        return
    partner = await partners.get(session, contact.partner_id, for_update=True)
    if partner is None or partner.status != "active":
        return
    for trigger in LearningEnrolOn:
        for path in await _paths_for(session, partner, trigger):
            if _wants(path, contact.roles):
                await enrol(session, path, partner.id, contact.id,
                            LearningEnrolmentReason(trigger.value))


async def enrol_by_hand(session: AsyncSession, principal: Principal, data: LearningEnrolmentIn
                        ) -> tuple[LearningEnrolment, bool]:
    principal.require(ENABLEMENT_WRITE)
    contact = (await session.execute(select(Contact).where(
        Contact.id == data.contact_id, Contact.deleted_at.is_(None)))).scalar_one_or_none()
    if contact is None or not principal.can_see_partner(contact.partner_id):
        raise _bad("contact_id", "no such contact", "the contact does not exist")
    if contact.erased_at is not None:
        raise _bad("contact_id", "erased", "the contact's personal data was erased")
    ensure_own(principal, contact.partner_id, "contact")
    statement = select(LearningPath).where(LearningPath.id == data.path_id)
    if principal.is_partner:
        statement = statement.where(_audience(await _partner_of_key(session, principal)))
    path = (await session.execute(statement)).scalar_one_or_none()
    if path is None:
        raise _bad("path_id", "no such learning path", "the learning path does not exist")
    await partners.get(session, contact.partner_id, for_update=True)
    return await enrol(session, path, contact.partner_id, contact.id,
                       LearningEnrolmentReason.by_hand)


async def list_enrolments(session: AsyncSession, principal: Principal, query: ListQuery
                          ) -> tuple[list[LearningEnrolment], str | None, int | None]:
    principal.require(ENABLEMENT_READ)
    statement = select(LearningEnrolment)
    if principal.is_partner:
        statement = statement.where(LearningEnrolment.partner_id == principal.partner_id)
    return await LEARNING_ENROLMENTS.page(session, statement, query)


async def get_enrolment(session: AsyncSession, principal: Principal, enrolment_id: uuid.UUID
                        ) -> tuple[LearningEnrolment, list[LearningCourseProgress]]:
    principal.require(ENABLEMENT_READ)
    enrolment = (await session.execute(select(LearningEnrolment).where(
        LearningEnrolment.id == enrolment_id))).scalar_one_or_none()
    if enrolment is None:
        raise NotFound("learning enrolment not found")
    await ensure_visible(session, principal, enrolment.partner_id, "learning enrolment")
    path = await session.get_one(LearningPath, enrolment.path_id)
    done = ({} if enrolment.contact_id is None else await _done_courses(
        session, enrolment.contact_id, [c["course_id"] for c in path.courses]))
    return enrolment, [LearningCourseProgress(course_id=c["course_id"], name=c["name"],
                                              completed_at=done.get(c["course_id"]))
                       for c in path.courses]


# Completions -----------------------------------------------------------------------------


async def _contact_of(session: AsyncSession, item: LearningCompletionIn) -> Contact:
    if item.contact_id is not None:
        contact = (await session.execute(select(Contact).where(
            Contact.id == item.contact_id, Contact.deleted_at.is_(None)))
        ).scalar_one_or_none()
        if contact is not None and item.partner_id not in (None, contact.partner_id):
            contact = None
    else:
        assert item.partner_id is not None and item.email is not None
        contact = await contacts.by_email(session, item.partner_id, item.email)
        if contact is not None and contact.deleted_at is not None:
            contact = None
    if contact is None:
        raise _bad("contact_id" if item.contact_id else "email", "no such contact",
                   "no contact of that id (or e-mail address at that partner)")
    if contact.erased_at is not None:
        raise _bad("contact_id", "erased", "the contact's personal data was erased")
    return contact


async def _complete_one(session: AsyncSession, item: LearningCompletionIn, source: str
                        ) -> LearningCompletionResult:
    """One completion; its partner's row is locked already (``record_completions``)."""
    known = await session.scalar(select(LearningCompletion.id).where(
        LearningCompletion.record_id == item.record_id))
    if known is not None:
        return LearningCompletionResult(index=0, record_id=item.record_id,
                                        outcome=LearningCompletionOutcome.duplicate,
                                        completion_id=known)
    if item.completed_at > _now() + _CLOCK_SKEW:
        raise _bad("completed_at", "in the future", "completed_at is in the future")
    contact = await _contact_of(session, item)
    await partners.get(session, contact.partner_id, for_update=True)
    completion_id = await session.scalar(insert(LearningCompletion).values(
        id=new_id(), record_id=item.record_id, partner_id=contact.partner_id,
        contact_id=contact.id, course_id=item.course_id, completed_at=item.completed_at,
        source=source, created_at=_now()).on_conflict_do_nothing(
        index_elements=["record_id"]).returning(LearningCompletion.id))
    if completion_id is None:  # the same record, in a delivery that committed meanwhile
        return LearningCompletionResult(
            index=0, record_id=item.record_id, outcome=LearningCompletionOutcome.duplicate,
            completion_id=await session.scalar(select(LearningCompletion.id).where(
                LearningCompletion.record_id == item.record_id)))
    rows = (await session.execute(
        select(LearningEnrolment, LearningPath)
        .join(LearningPath, LearningPath.id == LearningEnrolment.path_id)
        .where(LearningEnrolment.contact_id == contact.id,
               LearningEnrolment.status != "completed",
               LearningPath.courses.contains([{"course_id": item.course_id}]))
        .order_by(LearningEnrolment.id)
        .with_for_update(of=LearningEnrolment))).all()
    completed = [enrolment.id for enrolment, path in rows
                 if await _refresh(session, enrolment, path)]
    return LearningCompletionResult(index=0, record_id=item.record_id,
                                    outcome=LearningCompletionOutcome.recorded,
                                    completion_id=completion_id,
                                    enrolments_completed=completed)


async def _lock_partners(session: AsyncSession, items: Sequence[LearningCompletionIn]) -> None:
    """The rows of every partner the delivery names, in one order, before any item: two
    deliveries (or a delivery and a path's change, a hand enrolment, the worker) then take
    partners in the same order and cannot deadlock, and one partner's events commit in
    order."""
    named = {i.partner_id for i in items if i.partner_id is not None}
    ids = [i.contact_id for i in items if i.contact_id is not None]
    if ids:
        named |= set((await session.execute(select(Contact.partner_id).where(
            Contact.id.in_(ids)).distinct())).scalars())
    if named:
        await session.execute(select(Partner.id).where(Partner.id.in_(named))
                              .order_by(Partner.id).with_for_update())


async def record_completions(session: AsyncSession, principal: Principal,
                             batch: LearningCompletionBatch, *, intake: bool
                             ) -> LearningCompletionResults:
    """Each completion on its own (a savepoint each): one refused item refuses nothing
    else."""
    if intake:
        principal.require(LMS_INTAKE)
    else:
        principal.require(ENABLEMENT_WRITE)
    principal.ensure_vendor()
    await _lock_partners(session, batch.completions)
    results: list[LearningCompletionResult] = []
    for index, item in enumerate(batch.completions):
        try:
            async with session.begin_nested():
                result = await _complete_one(session, item, "intake" if intake else "api")
        except ProblemError as problem:
            result = LearningCompletionResult(
                index=index, record_id=item.record_id,
                outcome=LearningCompletionOutcome.refused,
                problem=LearningItemProblem(type=problem_type(problem.slug),
                                            title=problem_title(problem.slug),
                                            detail=problem.detail or ""))
        result.index = index
        results.append(result)
    return LearningCompletionResults(
        recorded=sum(r.outcome is LearningCompletionOutcome.recorded for r in results),
        duplicates=sum(r.outcome is LearningCompletionOutcome.duplicate for r in results),
        refused=sum(r.outcome is LearningCompletionOutcome.refused for r in results),
        results=results)


# Progress and KPIs -----------------------------------------------------------------------


async def progress(session: AsyncSession, principal: Principal, partner_id: uuid.UUID
                   ) -> LearningProgressOut:
    principal.require(ENABLEMENT_READ)
    await ensure_visible(session, principal, partner_id, "partner")
    if await partners.get(session, partner_id) is None:
        raise NotFound("partner not found")
    e = LearningEnrolment
    rows = await session.execute(
        select(e.path_id, LearningPath.name, func.count(),
               func.count().filter(e.status == "in_progress"),
               func.count().filter(e.status == "completed"),
               func.sum(e.courses_done), func.sum(e.courses_total))
        .join(LearningPath, LearningPath.id == e.path_id)
        .where(e.partner_id == partner_id)
        .group_by(e.path_id, LearningPath.name).order_by(LearningPath.name, e.path_id))
    return LearningProgressOut(partner_id=partner_id, paths=[
        LearningPathProgress(path_id=r[0], path_name=r[1], enrolled=r[2], in_progress=r[3],
                             completed=r[4], courses_done=r[5], courses_total=r[6])
        for r in rows])


def _kpi(path_id: uuid.UUID | None, name: str | None, row: Any) -> LearningKpi:
    enrolled, completed, median, first = row
    rate = (None if not enrolled else (Decimal(completed) / Decimal(enrolled)).quantize(
        Decimal("0.0001"), rounding=ROUND_HALF_EVEN))
    return LearningKpi(path_id=path_id, path_name=name, enrolled=enrolled, completed=completed,
                       completion_rate=rate,
                       median_seconds_to_completion=None if median is None
                       else Decimal(median),
                       seconds_to_first_completion=None if first is None else int(first))


async def kpis(session: AsyncSession, principal: Principal, partner_id: uuid.UUID | None,
               path_id: uuid.UUID | None) -> LearningKpisOut:
    """Per path and in total, over the programme or one partner; exact, from the rows."""
    principal.require(ENABLEMENT_READ)
    if principal.is_partner:
        partner_id = partner_id or principal.partner_id
    if partner_id is not None:
        await ensure_visible(session, principal, partner_id, "partner")
    e = LearningEnrolment
    done = e.status == "completed"
    measures = (
        func.count(), func.count().filter(done),
        func.percentile_cont(0.5).within_group(literal_column(_SECONDS.format(
            a="learning_enrolments.completed_at", b="learning_enrolments.enrolled_at"),
            Float)).filter(done),
        literal_column(_SECONDS.format(a="min(learning_enrolments.completed_at)",
                                       b="min(learning_enrolments.enrolled_at)"), Float))
    scope = []
    if partner_id is not None:
        scope.append(e.partner_id == partner_id)
    if path_id is not None:
        scope.append(e.path_id == path_id)
    per_path = await session.execute(
        select(e.path_id, LearningPath.name, *measures)
        .join(LearningPath, LearningPath.id == e.path_id).where(*scope)
        .group_by(e.path_id, LearningPath.name).order_by(LearningPath.name, e.path_id))
    total = (await session.execute(select(*measures).select_from(e).where(*scope))).one()
    return LearningKpisOut(
        partner_id=partner_id,
        paths=[_kpi(r[0], r[1], r[2:]) for r in per_path],
        total=_kpi(None, None, total))


# Personal data ---------------------------------------------------------------------------


async def contact_learning(session: AsyncSession, contact_id: uuid.UUID
                           ) -> tuple[list[LearningEnrolment], list[LearningCompletion]]:
    """The contact's enrolments and completions (for its export)."""
    enrolments = list((await session.execute(select(LearningEnrolment).where(
        LearningEnrolment.contact_id == contact_id).order_by(LearningEnrolment.id))).scalars())
    completions = list((await session.execute(select(LearningCompletion).where(
        LearningCompletion.contact_id == contact_id).order_by(LearningCompletion.id)
    )).scalars())
    return enrolments, completions


async def forget_contact(session: AsyncSession, contact_id: uuid.UUID) -> list[str]:
    """On erasure: the contact's enrolments and completions no longer name it (the counts of
    the programme keep them); what was detached, for the audit entry."""
    now = _now()
    enrolments = (await session.execute(
        update(LearningEnrolment).where(LearningEnrolment.contact_id == contact_id)
        .values(contact_id=None, version=LearningEnrolment.version + 1, updated_at=now)
        .returning(LearningEnrolment.id))).all()
    completions = (await session.execute(
        update(LearningCompletion).where(LearningCompletion.contact_id == contact_id)
        .values(contact_id=None).returning(LearningCompletion.id))).all()
    return ((["learning_enrolments"] if enrolments else [])
            + (["learning_completions"] if completions else []))
