"""Routes of the compliance part: certification types and agreements (the programme's set-up),
each partner's certifications and signatures, and its compliance check."""

import datetime as dt
import uuid
from typing import Annotated

from fastapi import APIRouter, Body, Depends, Query, Response

from prm_partners.compliance import service
from prm_partners.compliance.listing import (
    AGREEMENTS,
    CERTIFICATION_TYPES,
    CERTIFICATIONS,
    SIGNATURES,
)
from prm_partners.compliance.models import (
    Agreement,
    AgreementVersion,
    Certification,
    CertificationType,
)
from prm_partners.compliance.schemas import (
    AgreementCreate,
    AgreementOut,
    AgreementUpdate,
    AgreementVersionCreate,
    AgreementVersionOut,
    CertificationCreate,
    CertificationOut,
    CertificationRevocation,
    CertificationTypeCreate,
    CertificationTypeOut,
    CertificationTypeUpdate,
    ComplianceCheck,
    SignatureCreate,
    SignatureOut,
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
from prm_platform.types import QueryDate


def _router(prefix: str) -> APIRouter:
    return service_router(prefix, "compliance")


types_router = _router("/v1/certification-types")
agreements_router = _router("/v1/agreements")
partner_router = _router("/v1/partners/{partner_id:uuid}")

_SET_UP = ("A deleted {} leaves the list (and the change feed): set-up lists are small, a "
           "sync reads them whole.")


def _with_etag(version: int, response: Response) -> None:
    response.headers["ETag"] = etag(version)


# Certification types


def _type_out(row: CertificationType, response: Response) -> CertificationTypeOut:
    _with_etag(row.version, response)
    return CertificationTypeOut.model_validate(row)


@types_router.get("", summary="List certification types",
                  description="In creation order unless sorted (by name); filter by code "
                  "and whether required; search by code or name. Partner keys may read them. "
                  + _SET_UP.format("certification type"))
async def list_certification_types(
    session: Session, caller: Caller,
    query: Annotated[ListQuery, Depends(CERTIFICATION_TYPES.query)],
) -> Page[CertificationTypeOut]:
    rows, next_cursor, total = await service.list_types(session, caller, query)
    return Page[CertificationTypeOut](
        items=[CertificationTypeOut.model_validate(r) for r in rows], next_cursor=next_cursor,
        total_count=total)


@types_router.post("", status_code=201, summary="Create a certification type",
                   description="Vendor keys only. The code is unique (409 otherwise) and "
                   "cannot change later; `required` ones count towards compliance.",
                   responses={**problem_responses(409), **resource_headers(201, location=True)})
async def create_certification_type(body: CertificationTypeCreate, response: Response,
                                    session: Session, caller: Caller,
                                    idempotency_key: IdempotencyKeyHeader = None
                                    ) -> CertificationTypeOut:
    row = await service.create_type(session, caller, body)
    response.headers["Location"] = f"/v1/certification-types/{row.id}"
    return _type_out(row, response)


@types_router.get("/{type_id:uuid}", summary="Get a certification type",
                  description="The ETag is its version, for If-Match.",
                  responses={**problem_responses(404), **resource_headers()})
async def get_certification_type(type_id: uuid.UUID, response: Response, session: Session,
                                 caller: Caller) -> CertificationTypeOut:
    return _type_out(await service.get_type(session, caller, type_id), response)


@types_router.patch("/{type_id:uuid}", summary="Update a certification type",
                    description="Vendor keys only; changes only the fields sent. A new "
                    "validity applies to certifications earned from then on.",
                    responses={**problem_responses(404, 412), **resource_headers()})
async def update_certification_type(type_id: uuid.UUID, body: CertificationTypeUpdate,
                                    response: Response, session: Session, caller: Caller,
                                    if_match: IfMatchHeader = None) -> CertificationTypeOut:
    return _type_out(await service.update_type(session, caller, type_id, body, if_match),
                     response)


@types_router.delete("/{type_id:uuid}", status_code=204, summary="Delete a certification type",
                     description="Vendor keys only, and only while no certification of the "
                     "type was recorded (409 otherwise).",
                     responses=problem_responses(404, 409, 412))
async def delete_certification_type(type_id: uuid.UUID, session: Session, caller: Caller,
                                    if_match: IfMatchHeader = None) -> Response:
    await service.delete_type(session, caller, type_id, if_match)
    return Response(status_code=204)


# Agreements


def _agreement_out(agreement: Agreement, versions: list[AgreementVersion],
                   response: Response | None = None) -> AgreementOut:
    if response is not None:
        _with_etag(agreement.version, response)
    current = service.current_version(versions, dt.date.today())
    return AgreementOut(
        id=agreement.id, code=agreement.code, title=agreement.title,
        required=agreement.required, current_version=current.number if current else None,
        versions=[AgreementVersionOut.model_validate(v) for v in versions],
        version=agreement.version, created_at=agreement.created_at,
        updated_at=agreement.updated_at)


@agreements_router.get("", summary="List agreements",
                       description="In creation order unless sorted (by title), each with "
                       "its versions; filter by code and whether required; search by code or "
                       "title. Partner keys may read them. Agreements are never deleted.")
async def list_agreements(session: Session, caller: Caller,
                          query: Annotated[ListQuery, Depends(AGREEMENTS.query)]
                          ) -> Page[AgreementOut]:
    (rows, next_cursor, total), versions = await service.list_agreements(session, caller, query)
    return Page[AgreementOut](items=[_agreement_out(a, versions[a.id]) for a in rows],
                              next_cursor=next_cursor, total_count=total)


@agreements_router.post("", status_code=201, summary="Create an agreement",
                        description="Vendor keys only. The code is unique (409 otherwise) and "
                        "cannot change later. It has no version yet: add the first with "
                        "`POST /v1/agreements/{agreement_id}/versions`.",
                        responses={**problem_responses(409),
                                   **resource_headers(201, location=True)})
async def create_agreement(body: AgreementCreate, response: Response, session: Session,
                           caller: Caller, idempotency_key: IdempotencyKeyHeader = None
                           ) -> AgreementOut:
    agreement = await service.create_agreement(session, caller, body)
    response.headers["Location"] = f"/v1/agreements/{agreement.id}"
    return _agreement_out(agreement, [], response)


@agreements_router.get("/{agreement_id:uuid}", summary="Get an agreement",
                       description="With its versions and the one current today.",
                       responses={**problem_responses(404), **resource_headers()})
async def get_agreement(agreement_id: uuid.UUID, response: Response, session: Session,
                        caller: Caller) -> AgreementOut:
    return _agreement_out(*await service.get_agreement(session, caller, agreement_id),
                          response)


@agreements_router.patch("/{agreement_id:uuid}", summary="Update an agreement",
                         description="Vendor keys only; changes only the fields sent. Its "
                         "text changes by a new version, never here.",
                         responses={**problem_responses(404, 412), **resource_headers()})
async def update_agreement(agreement_id: uuid.UUID, body: AgreementUpdate, response: Response,
                           session: Session, caller: Caller, if_match: IfMatchHeader = None
                           ) -> AgreementOut:
    return _agreement_out(*await service.update_agreement(session, caller, agreement_id, body,
                                                          if_match), response)


@agreements_router.post("/{agreement_id:uuid}/versions", status_code=201,
                        summary="Add a version of an agreement",
                        description="Vendor keys only. Numbered 1, 2, 3...; it becomes the "
                        "current version on `effective_on` (not before the previous "
                        "version's). From then on, partners that signed an older version are "
                        "`outdated` in their compliance check. At most "
                        f"{service.MAX_AGREEMENT_VERSIONS} versions.",
                        responses={**problem_responses(404, 409, 412), **resource_headers(201)})
async def add_agreement_version(agreement_id: uuid.UUID, body: AgreementVersionCreate,
                                response: Response, session: Session, caller: Caller,
                                if_match: IfMatchHeader = None,
                                idempotency_key: IdempotencyKeyHeader = None) -> AgreementOut:
    return _agreement_out(*await service.add_version(session, caller, agreement_id, body,
                                                     if_match), response)


# A partner's certifications


def _certification_out(row: Certification, response: Response) -> CertificationOut:
    _with_etag(row.version, response)
    return CertificationOut.model_validate(row)


@partner_router.post(
    "/certifications", status_code=201, summary="Record a certification earned",
    description="Vendor keys only (an LMS integration among them). `expires_on` defaults to "
    "`earned_on` plus the type's validity. With `source: lms` and an `lms_record_id`, pushing "
    "the same record again answers 200 with the certification already recorded, and nothing "
    "else happens. Emits `prm.partner.certification_earned.v1`.",
    responses={200: {"description": "This LMS record was recorded already",
                     "model": CertificationOut},
               **problem_responses(404), **resource_headers(201, location=True)})
async def record_certification(partner_id: uuid.UUID, body: CertificationCreate,
                               response: Response, session: Session, caller: Caller,
                               idempotency_key: IdempotencyKeyHeader = None
                               ) -> CertificationOut:
    row, created = await service.earn(session, caller, partner_id, body)
    if not created:
        response.status_code = 200
    response.headers["Location"] = f"/v1/partners/{partner_id}/certifications/{row.id}"
    return _certification_out(row, response)


@partner_router.get("/certifications", summary="List a partner's certifications",
                    description="In the order recorded unless sorted (by the day earned); "
                    "filter by status, type code, contact and source, ranges of the days "
                    "earned and expiring; `updated_since` pulls what was recorded, expired or "
                    "revoked since. A partner key reads its own org's.",
                    responses=problem_responses(404))
async def list_certifications(
    partner_id: uuid.UUID, session: Session, caller: Caller,
    query: Annotated[ListQuery, Depends(CERTIFICATIONS.query)],
) -> Page[CertificationOut]:
    rows, next_cursor, total = await service.list_certifications(session, caller, partner_id,
                                                                 query)
    return Page[CertificationOut](items=[CertificationOut.model_validate(r) for r in rows],
                                  next_cursor=next_cursor, total_count=total)


@partner_router.get("/certifications/{certification_id:uuid}",
                    summary="Get a partner's certification",
                    description="A partner key reads its own org's; the ETag is its version.",
                    responses={**problem_responses(404), **resource_headers()})
async def get_certification(partner_id: uuid.UUID, certification_id: uuid.UUID,
                            response: Response, session: Session, caller: Caller
                            ) -> CertificationOut:
    row = await service.get_certification(session, caller, partner_id, certification_id)
    return _certification_out(row, response)


@partner_router.post("/certifications/{certification_id:uuid}/revoke",
                     summary="Revoke a certification",
                     description="Vendor keys only. From `active` to `revoked` (any other "
                     "status is a 409); emits `prm.partner.certification_expired.v1`.",
                     responses={**problem_responses(404, 409, 412), **resource_headers()})
async def revoke_certification(partner_id: uuid.UUID, certification_id: uuid.UUID,
                               response: Response, session: Session, caller: Caller,
                               body: Annotated[CertificationRevocation | None, Body()] = None,
                               if_match: IfMatchHeader = None,
                               idempotency_key: IdempotencyKeyHeader = None
                               ) -> CertificationOut:
    row = await service.revoke(session, caller, partner_id, certification_id, if_match,
                               body.reason if body else None)
    return _certification_out(row, response)


# A partner's signatures


@partner_router.post("/agreements", status_code=201, summary="Record a signed agreement",
                     description="Vendor keys only. The version defaults to the current one "
                     "(the latest effective today; a 409 if none is yet), `signed_on` to "
                     "today, `expires_on` to `signed_on` plus the version's term. The signer "
                     "is one of the partner's contacts or a name. Emits "
                     "`prm.partner.agreement_signed.v1`.",
                     responses={**problem_responses(404, 409),
                                **resource_headers(201, location=True, etag=False)})
async def sign_agreement(partner_id: uuid.UUID, body: SignatureCreate, response: Response,
                         session: Session, caller: Caller,
                         idempotency_key: IdempotencyKeyHeader = None) -> SignatureOut:
    row = await service.sign(session, caller, partner_id, body)
    response.headers["Location"] = f"/v1/partners/{partner_id}/agreements/{row.id}"
    return SignatureOut.model_validate(row)


@partner_router.get("/agreements", summary="List a partner's signed agreements",
                    description="In the order recorded unless sorted (by the day signed); "
                    "filter by agreement code and signing contact, ranges of the days signed "
                    "and expiring; `updated_since` pulls new signatures and those whose "
                    "signer's name an erasure blanked. A partner key reads its own org's.",
                    responses=problem_responses(404))
async def list_signatures(
    partner_id: uuid.UUID, session: Session, caller: Caller,
    query: Annotated[ListQuery, Depends(SIGNATURES.query)],
) -> Page[SignatureOut]:
    rows, next_cursor, total = await service.list_signatures(session, caller, partner_id,
                                                             query)
    return Page[SignatureOut](items=[SignatureOut.model_validate(r) for r in rows],
                              next_cursor=next_cursor, total_count=total)


@partner_router.get("/agreements/{signature_id:uuid}", summary="Get a partner's signature",
                    description="A partner key reads its own org's.",
                    responses=problem_responses(404))
async def get_signature(partner_id: uuid.UUID, signature_id: uuid.UUID, session: Session,
                        caller: Caller) -> SignatureOut:
    return SignatureOut.model_validate(
        await service.get_signature(session, caller, partner_id, signature_id))


# Compliance


@partner_router.get("/compliance", summary="Check a partner's compliance",
                    description="Every required agreement must be signed in its current "
                    "version and in force, every required certification held (valid on the "
                    "day). Each gap says what is wrong: `missing`, `expired` or `outdated` (an "
                    "older version signed). A partner key checks its own org.",
                    responses=problem_responses(404))
async def check_compliance(
    partner_id: uuid.UUID, session: Session, caller: Caller,
    on: Annotated[QueryDate | None, Query(description="The day to check for; today by "
                                          "default")] = None,
) -> ComplianceCheck:
    return await service.check(session, caller, partner_id, on)


routers = [types_router, agreements_router, partner_router]
