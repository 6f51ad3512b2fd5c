"""Routes of the learning part: paths from the LMS, enrolments, completions (by API and the
LMS's signed intake), progress and KPIs."""

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Response

from prm_partners.declaration import LMS_INTAKE
from prm_partners.learning import service
from prm_partners.learning.listing import LEARNING_ENROLMENTS, LEARNING_PATHS
from prm_partners.learning.models import LearningPath, LearningPathVersion
from prm_partners.learning.schemas import (
    LearningCompletionBatch,
    LearningCompletionResults,
    LearningCourse,
    LearningEnrolmentIn,
    LearningEnrolmentOut,
    LearningKpisOut,
    LearningPathIn,
    LearningPathOut,
    LearningPathVersionOut,
    LearningProgressOut,
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
from prm_platform.signatures import signed_delivery

paths = service_router("/v1/learning-paths", "learning")
# Imported by the LMS's own id: a path of its own, since a path's id and the LMS's could not
# share one template under /v1/learning-paths.
by_external_id = service_router("/v1/learning-paths-by-external-id", "learning")
enrolments = service_router("/v1/learning-enrolments", "learning")
completions = service_router("/v1/learning-completions", "learning")
intake = service_router("/v1/lms-intake", "learning")
progress = service_router("/v1/learning-progress", "learning")
kpis = service_router("/v1/learning-kpis", "learning")


def path_out(path: LearningPath, versions: list[LearningPathVersion] | None = None
             ) -> LearningPathOut:
    return LearningPathOut(
        id=path.id, external_id=path.external_id, name=path.name,
        description=path.description, language=path.language, roles=path.roles,
        courses=[LearningCourse(**c) for c in path.courses], tiers=path.tiers,
        partner_types=path.partner_types, certification=path.certification_code,
        enrol_on=path.enrol_on, version=path.version, created_at=path.created_at,
        updated_at=path.updated_at,
        versions=None if versions is None else [LearningPathVersionOut(
            number=v.number, courses=[LearningCourse(**c) for c in v.content["courses"]],
            certification=v.content.get("certification"), created_at=v.created_at)
            for v in versions])


ExternalId = Annotated[str, Path(min_length=1, max_length=100, pattern=r"^[\x21-\x7e]+$",
                                 description="The LMS's id of the path.")]

_UPSERTED: dict[int | str, dict[str, Any]] = {
    200: {"description": "Changed (a new version) or unchanged", "model": LearningPathOut},
    **resource_headers(201, location=True)}


@by_external_id.put("/{external_id}", status_code=201, summary="Import a learning path",
           description="The LMS's path by its id: created (201), or changed (200; a new "
           "`version` when anything differs, every version kept). Vendor keys "
           "(`enablement:write`). A change keeps every enrolment: open ones count against "
           "the new course list (and complete if it is now all done), completed ones stay "
           "completed. `certification` must be a certification type's code. `If-Match` "
           "(optional): the version changed; `\"0\"` to create only.",
           responses={**problem_responses(403, 412, 422), **_UPSERTED})
async def import_learning_path(external_id: ExternalId, body: LearningPathIn,
                               response: Response, session: Session, caller: Caller,
                               if_match: IfMatchHeader = None) -> LearningPathOut:
    path, created = await service.upsert_path(session, caller, external_id, body, if_match)
    response.status_code = 201 if created else 200
    if created:
        response.headers["Location"] = f"/v1/learning-paths/{path.id}"
    response.headers["ETag"] = etag(path.version)
    return path_out(path)


@paths.get("", summary="List learning paths",
           description="Takes `enablement:read`; a partner key sees the paths for its type and "
           "tier. In creation order unless sorted (`sort=name`); filter by role, `enrol_on` "
           "and language, search names; `updated_since` for a sync.")
async def list_learning_paths(
    session: Session, caller: Caller,
    query: Annotated[ListQuery, Depends(LEARNING_PATHS.query)],
) -> Page[LearningPathOut]:
    rows, next_cursor, total = await service.list_paths(session, caller, query)
    return Page[LearningPathOut](items=[path_out(p) for p in rows], next_cursor=next_cursor,
                                 total_count=total)


@paths.get("/{path_id:uuid}", summary="Get a learning path",
           description="With every version. A partner key: only a path for its type and tier.",
           responses={**problem_responses(404), **resource_headers()})
async def get_learning_path(path_id: uuid.UUID, response: Response, session: Session,
                            caller: Caller) -> LearningPathOut:
    path, versions = await service.get_path(session, caller, path_id)
    response.headers["ETag"] = etag(path.version)
    return path_out(path, versions)


_ENROLLED: dict[int | str, dict[str, Any]] = {
    200: {"description": "Already enrolled: its enrolment", "model": LearningEnrolmentOut},
    **resource_headers(201, location=True)}


@enrolments.post("", status_code=201, summary="Enrol a contact in a learning path",
                 description="By hand (`enablement:write`): a vendor key any contact, a "
                 "partner key its own org's (in a path for its type and tier). A contact is "
                 "enrolled in a path once: enrolling again answers its enrolment (200). A "
                 "contact who already completed every course completes it at once.",
                 responses={**problem_responses(404, 422), **_ENROLLED})
async def enrol_in_learning_path(body: LearningEnrolmentIn, response: Response,
                                 session: Session, caller: Caller,
                                 idempotency_key: IdempotencyKeyHeader = None
                                 ) -> LearningEnrolmentOut:
    enrolment, created = await service.enrol_by_hand(session, caller, body)
    response.status_code = 201 if created else 200
    if created:
        response.headers["Location"] = f"/v1/learning-enrolments/{enrolment.id}"
    response.headers["ETag"] = etag(enrolment.version)
    return LearningEnrolmentOut.model_validate(enrolment)


@enrolments.get("", summary="List learning enrolments",
                description="Each person's progress (courses done of the path's total). A "
                "partner key sees its own org's. Filter by partner, path, contact, status, "
                "reason and ranges of when enrolled and completed; `updated_since` for a sync.")
async def list_learning_enrolments(
    session: Session, caller: Caller,
    query: Annotated[ListQuery, Depends(LEARNING_ENROLMENTS.query)],
) -> Page[LearningEnrolmentOut]:
    rows, next_cursor, total = await service.list_enrolments(session, caller, query)
    return Page[LearningEnrolmentOut](
        items=[LearningEnrolmentOut.model_validate(r) for r in rows],
        next_cursor=next_cursor, total_count=total)


@enrolments.get("/{enrolment_id:uuid}", summary="Get a learning enrolment",
                description="With each course of the path and when the contact completed it. "
                "Another org's is a 404 to a partner key.",
                responses={**problem_responses(404), **resource_headers()})
async def get_learning_enrolment(enrolment_id: uuid.UUID, response: Response,
                                 session: Session, caller: Caller) -> LearningEnrolmentOut:
    enrolment, courses = await service.get_enrolment(session, caller, enrolment_id)
    response.headers["ETag"] = etag(enrolment.version)
    out = LearningEnrolmentOut.model_validate(enrolment)
    out.courses = courses
    return out


_BATCH = ("Up to 1,000 completions, each on its own: a record id delivered before is a "
          "`duplicate` (nothing changes), an item that cannot be recorded (unknown or erased "
          "contact, a time in the future) is `refused` with its problem, and neither stops the "
          "others. A contact who has now completed every course of a path completes its "
          "enrolment; the path's certification is earned (source `lms`) in the same "
          "transaction.")


@completions.post("", summary="Record course completions",
                  description="For a vendor key (`enablement:write`). " + _BATCH,
                  responses=problem_responses(403, 422))
async def record_learning_completions(body: LearningCompletionBatch, session: Session,
                                      caller: Caller,
                                      idempotency_key: IdempotencyKeyHeader = None
                                      ) -> LearningCompletionResults:
    return await service.record_completions(session, caller, body, intake=False)


signed = signed_delivery(
    "LMS-Signature", LMS_INTAKE, "lms_secret",
    lambda: service.LmsIntakeNotConfigured("the LMS intake has no signing secret configured "
                                           "(PRM_PARTNERS_LMS_SECRET)"))


@intake.post("", summary="Deliver course completions (signed intake)",
             description="For the LMS: a vendor key that may do nothing else "
             "(`lms_intake:write`), every delivery signed with the shared secret "
             "(`LMS-Signature`, see docs/enablement.md): a missing, forged or stale signature "
             "is a 403 (`/problems/invalid-signature`); without a secret configured every "
             "delivery is refused (403, `/problems/lms-intake-not-configured`). " + _BATCH,
             dependencies=[Depends(signed)], responses=problem_responses(403, 422))
async def deliver_learning_completions(body: LearningCompletionBatch, session: Session,
                                       caller: Caller,
                                       idempotency_key: IdempotencyKeyHeader = None
                                       ) -> LearningCompletionResults:
    return await service.record_completions(session, caller, body, intake=True)


@progress.get("", summary="Get a partner's learning progress",
              description="Per path: its people enrolled, in progress and completed, and the "
              "courses done of the total over them. A partner key: its own org.",
              responses=problem_responses(404))
async def get_learning_progress(
    session: Session, caller: Caller,
    partner_id: Annotated[uuid.UUID, Query(description="The partner.")],
) -> LearningProgressOut:
    return await service.progress(session, caller, partner_id)


@kpis.get("", summary="Get the learning KPIs",
          description="Per path and in total: enrolled, completed, completion rate, median "
          "time to completion and time to first completion (definitions in "
          "docs/enablement.md), over the whole programme or one partner (`partner_id`); a "
          "partner key over its own org only.",
          responses=problem_responses(404))
async def get_learning_kpis(
    session: Session, caller: Caller,
    partner_id: Annotated[uuid.UUID | None, Query(description="One partner's.")] = None,
    path_id: Annotated[uuid.UUID | None, Query(description="One path's.")] = None,
) -> LearningKpisOut:
    return await service.kpis(session, caller, partner_id, path_id)


routers: list[APIRouter] = [paths, by_external_id, enrolments, completions, intake, progress,
                            kpis]
