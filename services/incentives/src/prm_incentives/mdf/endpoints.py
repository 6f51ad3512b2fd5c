import contextlib
import datetime as dt
import uuid
from collections.abc import AsyncIterator, Collection
from typing import Annotated, Any

from fastapi import Depends, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import StreamingResponse
from pydantic import ValidationError
from starlette.datastructures import UploadFile

from prm_incentives.declaration import INCENTIVES_WRITE
from prm_incentives.directory.names import partner_name
from prm_incentives.mdf import service
from prm_incentives.mdf.listing import ALLOCATIONS, BUDGETS, CLAIMS, REQUESTS
from prm_incentives.mdf.proofs import ProofStores, content_disposition, proof_stores
from prm_incentives.mdf.schemas import (
    MAX_PROOF_BYTES,
    MAX_PROOFS,
    MAX_UPLOAD_BODY_BYTES,
    PROOF_TYPES,
    AllocationIn,
    AllocationOut,
    ApprovalIn,
    BudgetIn,
    BudgetOut,
    ClaimApprovalIn,
    ClaimIn,
    ClaimOut,
    DecisionIn,
    FundRequestIn,
    FundRequestOut,
    FundRequestPatch,
    PresignedUploadOut,
    PresignIn,
    ProofUploadIn,
    ProofUploadOut,
)
from prm_platform.bodies import UnsupportedMediaType
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
from prm_platform.problems import Unprocessable, problem_responses

router = service_router("/v1/mdf")

# Every route that takes a body may answer 413: the service's body limit (PRM_MAX_BODY_BYTES,
# 1 MiB by default) refuses a larger one before the route sees it.
_CREATED = {**problem_responses(404, 409, 413), **resource_headers(201, location=True)}
_ACTION = {**problem_responses(404, 409, 412, 413), **resource_headers()}


def _proof_stores(request: Request) -> ProofStores:
    """The app's proof file stores, made on first use (their client connects lazily)."""
    stores: ProofStores | None = getattr(request.app.state, "proof_stores", None)
    if stores is None:
        stores = request.app.state.proof_stores = proof_stores(request.app.state.settings)
    return stores


@contextlib.asynccontextmanager
async def _closing_proof_stores(app: Any) -> AsyncIterator[None]:
    try:
        yield
    finally:
        stores: ProofStores | None = getattr(app.state, "proof_stores", None)
        if stores is not None:
            await stores.close()


# Merged into the app's lifespan by include_router: the store's connections close with it.
router.lifespan_context = _closing_proof_stores


def _upload_ttl(request: Request) -> dt.timedelta:
    return dt.timedelta(hours=request.app.state.settings.proof_upload_ttl_hours)


def _tagged(row: Any, response: Response) -> None:
    response.headers["ETag"] = etag(row.version)


# --- budgets ------------------------------------------------------------------------------------


@router.post("/budgets", status_code=201, tags=["mdf budgets"], summary="Create a budget",
             description="A programme's market development funds for a period, in one "
             "currency: the amount is moved at once from the external funding account into "
             "the budget's pool, from which partners get allocations. Vendor keys only.",
             responses=_CREATED)
async def create_budget(body: BudgetIn, response: Response, session: Session, caller: Caller,
                        idempotency_key: IdempotencyKeyHeader = None) -> BudgetOut:
    row = await service.create_budget(session, caller, body)
    response.headers["Location"] = f"/v1/mdf/budgets/{row.id}"
    _tagged(row, response)
    return BudgetOut.of(row)


@router.get("/budgets", tags=["mdf budgets"], summary="List budgets",
            description="With what each pool holds for allocations. Filter by programme, "
            "period and currency, range on the amount and `created_at`, sort by programme or "
            "period, search programmes and periods with `q`, pull changes with "
            "`updated_since`. In creation order unless sorted, cursor-paginated. Vendor keys "
            "only.")
async def list_budgets(session: Session, caller: Caller,
                       query: Annotated[ListQuery, Depends(BUDGETS.query)]) -> Page[BudgetOut]:
    rows, next_cursor, total = await service.list_budgets(session, caller, query)
    return Page[BudgetOut](items=[BudgetOut.of(r) for r in rows], next_cursor=next_cursor,
                           total_count=total)


@router.get("/budgets/{budget_id:uuid}", tags=["mdf budgets"], summary="Get a budget",
            description="With its pool's balances (vendor keys).",
            responses={**problem_responses(404), **resource_headers()})
async def get_budget(budget_id: uuid.UUID, response: Response, session: Session,
                     caller: Caller) -> BudgetOut:
    row = await service.get_budget(session, caller, budget_id)
    _tagged(row, response)
    return BudgetOut.of(row)


# --- allocations --------------------------------------------------------------------------------


@router.post("/allocations", status_code=201, tags=["mdf allocations"],
             summary="Allocate funds to a partner",
             description="Moves the amount from the budget's pool to the partner's allocation "
             "(409 `insufficient-funds` if the pool cannot cover it). The partner must be "
             "active. One allocation per partner and budget. Vendor keys only.",
             responses=_CREATED)
async def create_allocation(body: AllocationIn, response: Response, session: Session,
                            caller: Caller, idempotency_key: IdempotencyKeyHeader = None
                            ) -> AllocationOut:
    row = await service.create_allocation(session, caller, body)
    response.headers["Location"] = f"/v1/mdf/allocations/{row.id}"
    _tagged(row, response)
    return AllocationOut.of(row)


@router.get("/allocations", tags=["mdf allocations"], summary="List allocations",
            description="With what is available, reserved and payable, and the partner's "
            "name. Filter by partner, budget and currency, range on the amount and "
            "`created_at`, pull changes with `updated_since`. A partner key sees its own "
            "org's (whatever `partner_id` says). In creation order unless sorted, "
            "cursor-paginated.")
async def list_allocations(session: Session, caller: Caller,
                           query: Annotated[ListQuery, Depends(ALLOCATIONS.query)]
                           ) -> Page[AllocationOut]:
    rows, next_cursor, total = await service.list_allocations(session, caller, query)
    return Page[AllocationOut](items=[AllocationOut.of(r) for r in rows],
                               next_cursor=next_cursor, total_count=total)


@router.get("/allocations/{allocation_id:uuid}", tags=["mdf allocations"],
            summary="Get an allocation",
            description="With its account's balances; a partner key sees its own org's "
            "only.",
            responses={**problem_responses(404), **resource_headers()})
async def get_allocation(allocation_id: uuid.UUID, response: Response, session: Session,
                         caller: Caller) -> AllocationOut:
    row = await service.get_allocation(session, caller, allocation_id)
    _tagged(row, response)
    return AllocationOut.of(row)


# --- fund requests ------------------------------------------------------------------------------


async def _request(session: Session, row: Any, response: Response) -> FundRequestOut:
    _tagged(row, response)
    return FundRequestOut.of(row, await partner_name(session, row.partner_id))


@router.post("/requests", status_code=201, tags=["mdf requests"], summary="Request funds",
             description="A partner asks for funds from its own allocation for an activity. "
             "The planned cost is reserved at once (a pending ledger transfer): 409 "
             "`insufficient-funds` if the allocation cannot cover it. A request under the "
             "budget's auto-approval amount is approved at once. Undecided requests expire "
             "after the decision period, releasing the funds.",
             responses=_CREATED)
async def submit_request(body: FundRequestIn, request: Request, response: Response,
                         session: Session, caller: Caller,
                         idempotency_key: IdempotencyKeyHeader = None) -> FundRequestOut:
    row = await service.submit_request(session, caller, body, request.app.state.settings)
    response.headers["Location"] = f"/v1/mdf/requests/{row.id}"
    return await _request(session, row, response)


@router.get("/requests", tags=["mdf requests"], summary="List fund requests",
            description="With the partner's name. Filter by partner, allocation, budget, "
            "status, activity type and currency; range on the activity's dates, the claim "
            "deadline, the planned cost and `created_at`; sort by start or end date or title; "
            "search titles with `q` (case and accents ignored); pull changes with "
            "`updated_since`. A partner key sees its own org's (whatever `partner_id` says). "
            "In submission order unless sorted, cursor-paginated.")
async def list_requests(session: Session, caller: Caller,
                        query: Annotated[ListQuery, Depends(REQUESTS.query)]
                        ) -> Page[FundRequestOut]:
    rows, next_cursor, total = await service.list_requests(session, caller, query)
    return Page[FundRequestOut](items=[FundRequestOut.of(r) for r in rows],
                                next_cursor=next_cursor, total_count=total)


@router.get("/requests/{request_id:uuid}", tags=["mdf requests"], summary="Get a fund request",
            description="Its status, the funds it reserves and the last decision's reason; "
            "a partner key sees its own org's only.",
            responses={**problem_responses(404), **resource_headers()})
async def get_request(request_id: uuid.UUID, response: Response, session: Session,
                      caller: Caller) -> FundRequestOut:
    return await _request(session, await service.get_request(session, caller, request_id),
                          response)


@router.patch("/requests/{request_id:uuid}", tags=["mdf requests"],
              summary="Revise a fund request",
              description="The partner's answer to a request for changes: only the fields "
              "sent change, and the request is submitted again. A new planned cost replaces "
              "the reservation.", responses=_ACTION)
async def update_request(request_id: uuid.UUID, body: FundRequestPatch, request: Request,
                         response: Response, session: Session, caller: Caller,
                         if_match: IfMatchHeader = None) -> FundRequestOut:
    row = await service.update_request(session, caller, request_id, body,
                                       request.app.state.settings, if_match)
    return await _request(session, row, response)


@router.post("/requests/{request_id:uuid}/approve", tags=["mdf requests"],
             summary="Approve a fund request",
             description="The funds stay reserved until the partner claims them, up to the "
             "claim deadline. Vendor keys only.", responses=_ACTION)
async def approve_request(request_id: uuid.UUID, request: Request, response: Response,
                          session: Session, caller: Caller, body: ApprovalIn | None = None,
                          if_match: IfMatchHeader = None,
                          idempotency_key: IdempotencyKeyHeader = None) -> FundRequestOut:
    row = await service.approve_request(session, caller, request_id, body or ApprovalIn(),
                                        request.app.state.settings, if_match)
    return await _request(session, row, response)


@router.post("/requests/{request_id:uuid}/reject", tags=["mdf requests"],
             summary="Reject a fund request",
             description="Releases the reserved funds to the allocation. Vendor keys only.",
             responses=_ACTION)
async def reject_request(request_id: uuid.UUID, body: DecisionIn, response: Response,
                         session: Session, caller: Caller, if_match: IfMatchHeader = None,
                         idempotency_key: IdempotencyKeyHeader = None) -> FundRequestOut:
    row = await service.reject_request(session, caller, request_id, body.reason, if_match)
    return await _request(session, row, response)


@router.post("/requests/{request_id:uuid}/request-changes", tags=["mdf requests"],
             summary="Ask for changes to a fund request",
             description="The partner revises it (PATCH) and it is submitted again; the funds "
             "stay reserved meanwhile. Vendor keys only.", responses=_ACTION)
async def request_changes(request_id: uuid.UUID, body: DecisionIn, response: Response,
                          session: Session, caller: Caller, if_match: IfMatchHeader = None,
                          idempotency_key: IdempotencyKeyHeader = None) -> FundRequestOut:
    row = await service.request_changes(session, caller, request_id, body.reason, if_match)
    return await _request(session, row, response)


# --- claims -------------------------------------------------------------------------------------


_RELATIONS = ("request", "allocation")
Expand = Annotated[list[str] | None, Query(description=(
    "Related records to answer inside each claim, comma-separated or repeated: `request` (the "
    "fund request it claims), `allocation` (the allocation the request draws on); one more "
    "query per relation for the whole answer. Null unless expanded."))]


def _relations(expand: list[str] | None) -> set[str]:
    wanted = {v.strip() for item in expand or () for v in item.split(",") if v.strip()}
    if unknown := sorted(wanted - set(_RELATIONS)):
        raise RequestValidationError([{
            "loc": ("query", "expand"), "type": "value_error",
            "msg": f"{', '.join(unknown)}: not a relation of a claim; "
                   f"one of {', '.join(_RELATIONS)}"}])
    return wanted


async def _claims_out(session: Session, rows: list[Any], relations: Collection[str],
                      partner_names: dict[uuid.UUID, str | None] | None = None
                      ) -> list[ClaimOut]:
    """Claims with their proof files and the relations asked for: one query for the proofs,
    one per relation, whatever the number of claims."""
    if not rows:
        return []
    proofs = await service.proofs_of(session, [r.id for r in rows])
    names = partner_names or {}
    claims = [ClaimOut.of(r, proofs[r.id], names.get(r.id)) for r in rows]
    request_ids = [r.request_id for r in rows]
    if "request" in relations:
        requests = await service.requests_by_id(session, request_ids)
        for claim in claims:
            claim.request = FundRequestOut.of(requests[claim.request_id])
    if "allocation" in relations:
        allocations = await service.allocations_of_requests(session, request_ids)
        for claim in claims:
            claim.allocation = AllocationOut.of(allocations[claim.request_id])
    return claims


async def _claim_out(session: Session, row: Any, response: Response,
                     relations: Collection[str] = ()) -> ClaimOut:
    _tagged(row, response)
    name = await partner_name(session, row.partner_id)
    [claim] = await _claims_out(session, [row], relations, {row.id: name})
    return claim


@router.post("/claims", status_code=201, tags=["mdf claims"], summary="Claim funds",
             description="The partner claims the cost of an approved request's activity, at "
             f"most its planned cost, with 1 to {MAX_PROOFS} proof-of-performance files, "
             "each uploaded first with `POST /v1/mdf/proofs` and named in `proof_ids` (the "
             "request's partner's, not expired, in no other claim; else 422 naming the id). "
             "One claim per request. Files sent inline in base64 (`proofs`, deprecated) "
             "count towards the request's body limit (413 above it) and go to the "
             "configured store (PostgreSQL, or an S3-compatible one): 503 with `Retry-After` "
             "if it is unavailable.", responses={**_CREATED, **problem_responses(503)})
async def submit_claim(body: ClaimIn, request: Request, response: Response, session: Session,
                       caller: Caller, idempotency_key: IdempotencyKeyHeader = None
                       ) -> ClaimOut:
    row = await service.submit_claim(session, caller, body,
                                     _proof_stores(request).writer, _upload_ttl(request))
    response.headers["Location"] = f"/v1/mdf/claims/{row.id}"
    return await _claim_out(session, row, response)


@router.get("/claims", tags=["mdf claims"], summary="List claims",
            description="With their proof files and the partner's name; `expand=request,"
            "allocation` answers each claim's fund request and allocation too. Filter by "
            "partner, fund request, status and currency, range on the amount and "
            "`created_at`, pull changes with `updated_since`. A partner key sees its own "
            "org's (whatever `partner_id` says). In submission order unless sorted, "
            "cursor-paginated.")
async def list_claims(session: Session, caller: Caller,
                      query: Annotated[ListQuery, Depends(CLAIMS.query)],
                      expand: Expand = None) -> Page[ClaimOut]:
    relations = _relations(expand)
    rows, next_cursor, total = await service.list_claims(session, caller, query)
    return Page[ClaimOut](items=await _claims_out(session, rows, relations),
                          next_cursor=next_cursor, total_count=total)


@router.get("/claims/{claim_id:uuid}", tags=["mdf claims"], summary="Get a claim",
            description="With its proof files' names, types, sizes and hashes, and the "
            "partner's name; `expand=request,allocation` answers its fund request and "
            "allocation too. A partner key sees its own org's only.",
            responses={**problem_responses(404), **resource_headers()})
async def get_claim(claim_id: uuid.UUID, response: Response, session: Session,
                    caller: Caller, expand: Expand = None) -> ClaimOut:
    relations = _relations(expand)
    return await _claim_out(session, await service.get_claim(session, caller, claim_id),
                            response, relations)


_FILE_RESPONSES: dict[int | str, dict[str, Any]] = {200: {
    "description": "The file's bytes",
    "content": {t: {"schema": {"type": "string", "format": "binary"}} for t in PROOF_TYPES}}}


@router.get("/claims/{claim_id:uuid}/proofs/{proof_id:uuid}", tags=["mdf claims"],
            summary="Download a proof file", response_class=Response,
            description="The file as uploaded, with its content type, streamed from the "
            "store that holds it; `Digest`-like `X-Content-SHA256` carries its SHA-256, which "
            "the file is checked against as it streams (a file that no longer matches is cut "
            "short). 503 with `Retry-After` if the store is unavailable.",
            responses={**problem_responses(404, 503), **_FILE_RESPONSES})
async def download_proof(claim_id: uuid.UUID, proof_id: uuid.UUID, request: Request,
                         session: Session, caller: Caller) -> Response:
    row = await service.get_proof(session, caller, claim_id, proof_id)
    return await _file(request, row)


async def _file(request: Request, row: Any) -> Response:
    # Opened before answering, so a store that cannot serve it is a 503, not a cut stream.
    chunks = await _proof_stores(request).open(row)
    return StreamingResponse(chunks, media_type=row.content_type, headers={
        "Content-Length": str(row.size),
        "Content-Disposition": content_disposition(row.filename, row.id),
        "X-Content-SHA256": row.sha256, "X-Content-Type-Options": "nosniff"})



@router.post("/claims/{claim_id:uuid}/approve", tags=["mdf claims"], summary="Approve a claim",
             description="In full, or in part (`amount`): the approved amount is posted from "
             "the reservation and becomes payable to the partner; the rest of the reservation "
             "goes back to the allocation. Vendor keys only.", responses=_ACTION)
async def approve_claim(claim_id: uuid.UUID, response: Response, session: Session,
                        caller: Caller, body: ClaimApprovalIn | None = None,
                        if_match: IfMatchHeader = None,
                        idempotency_key: IdempotencyKeyHeader = None) -> ClaimOut:
    row = await service.approve_claim(session, caller, claim_id, body or ClaimApprovalIn(),
                                      if_match)
    return await _claim_out(session, row, response)


@router.post("/claims/{claim_id:uuid}/reject", tags=["mdf claims"], summary="Reject a claim",
             description="With a reason. Final: the request is closed and its reserved funds "
             "go back to the allocation. Vendor keys only.", responses=_ACTION)
async def reject_claim(claim_id: uuid.UUID, body: DecisionIn, response: Response,
                       session: Session, caller: Caller, if_match: IfMatchHeader = None,
                       idempotency_key: IdempotencyKeyHeader = None) -> ClaimOut:
    row = await service.reject_claim(session, caller, claim_id, body.reason, if_match)
    return await _claim_out(session, row, response)


# --- proof files uploaded on their own ----------------------------------------------------------

_UPLOAD_FIELDS = ("file", "filename", "partner_id")
_FIELD_SCHEMAS = ProofUploadIn.model_json_schema()["properties"]
_UPLOAD_BODY = {"required": True, "content": {"multipart/form-data": {
    "schema": {"type": "object", "required": ["file"], "additionalProperties": False,
               "properties": {
                   "file": {"type": "string", "format": "binary", "description":
                            f"The file, at most {MAX_PROOF_BYTES // 1024} KiB; its part's "
                            f"Content-Type is one of {', '.join(PROOF_TYPES)}, and its "
                            "part's filename is the file's name unless `filename` is sent."},
                   "filename": {**_FIELD_SCHEMAS["filename"], "description": "The file's "
                                "name, if not the file part's own. "
                                f"{_FIELD_SCHEMAS['filename']['description']}"},
                   "partner_id": {"type": "string", "format": "uuid", "description":
                                  "The partner the file is for: required with a vendor key; "
                                  "a partner key's files are its own org's."}}},
    "encoding": {"file": {"contentType": ", ".join(PROOF_TYPES)}}}}}


def _upload_field(loc: tuple[Any, ...]) -> str:
    field = ".".join(str(part) for part in loc) or "(body)"
    return "file" if field == "content_type" else field


async def _read_upload(request: Request) -> tuple[ProofUploadIn, bytes]:
    """The upload's fields and file, checked as a JSON body would be: a form that is not
    multipart is a 415, a malformed one a 400, a field that fails its rules a 422 naming it. At
    most one byte more than a proof may hold is read, which is enough to refuse it."""
    media_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if media_type != "multipart/form-data":
        raise UnsupportedMediaType("the body must be multipart/form-data, not "
                                   f"{media_type or 'of no declared type'}")
    async with request.form(max_files=1, max_fields=len(_UPLOAD_FIELDS),
                            max_part_size=4096) as form:
        unknown = sorted(set(form.keys()) - set(_UPLOAD_FIELDS))
        file = form.get("file")
        errors = [{"location": "body", "field": name, "message": "not a field of an upload"}
                  for name in unknown]
        if not isinstance(file, UploadFile):
            errors.append({"location": "body", "field": "file",
                           "message": "one file part named file is required"})
        if errors:
            raise Unprocessable("the upload is not valid", errors=errors)
        assert isinstance(file, UploadFile)
        named = form.get("filename")
        partner = form.get("partner_id")
        content_type = (file.content_type or "").partition(";")[0].strip().lower()
        try:
            fields = ProofUploadIn.model_validate({
                "filename": named if named is not None else (file.filename or ""),
                "content_type": content_type,
                "partner_id": partner or None})
        except ValidationError as exc:
            raise Unprocessable("the upload is not valid", errors=[
                {"location": "body", "field": _upload_field(error["loc"]),
                 "message": (f"the file's Content-Type is {content_type or 'missing'}: it "
                             f"must be one of {', '.join(PROOF_TYPES)}")
                 if error["loc"] == ("content_type",) else error["msg"]}
                for error in exc.errors()]) from None
        content = await file.read(MAX_PROOF_BYTES + 1)
    return fields, content


@router.post("/proofs", status_code=201, tags=["mdf claims"], summary="Upload a proof file",
             description="A proof-of-performance file on its own, as `multipart/form-data` "
             f"(one file part `file`, at most {MAX_PROOF_BYTES // 1024} KiB, of "
             f"{', '.join(PROOF_TYPES)}; optionally `filename` and, for a vendor key, "
             "`partner_id`), stored with its SHA-256 in the configured store and kept for "
             "the partner's org until a claim names it in `proof_ids`. One that no claim "
             "names by `expires_at` (24 hours by default) is deleted. A file over the limit is "
             "a 413; the whole body may hold up to "
             f"{MAX_UPLOAD_BODY_BYTES // 1024} KiB, which the service's body limit always "
             "takes. 503 with `Retry-After` if the store is unavailable.",
             openapi_extra={"requestBody": _UPLOAD_BODY},
             responses={**problem_responses(404, 413, 415, 503),
                        **resource_headers(201, location=True, etag=False)})
async def upload_proof(request: Request, response: Response, session: Session, caller: Caller,
                       idempotency_key: IdempotencyKeyHeader = None) -> ProofUploadOut:
    caller.require(INCENTIVES_WRITE)
    fields, content = await _read_upload(request)
    row = await service.upload_proof(session, caller, fields, content,
                                     _proof_stores(request).writer)
    response.headers["Location"] = f"/v1/mdf/proofs/{row.id}"
    return ProofUploadOut.of(row, _upload_ttl(request))


@router.get("/proofs/{proof_id:uuid}", tags=["mdf claims"], summary="Get a proof file's record",
            description="Its name, type, size, SHA-256, the claim that names it and, until "
            "one does, when it expires; a partner key sees its own org's only.",
            responses=problem_responses(404))
async def get_upload(proof_id: uuid.UUID, request: Request, session: Session,
                     caller: Caller) -> ProofUploadOut:
    row = await service.get_upload(session, caller, proof_id)
    return ProofUploadOut.of(row, _upload_ttl(request))


@router.get("/proofs/{proof_id:uuid}/content", tags=["mdf claims"],
            summary="Download an uploaded proof file", response_class=Response,
            description="The file as uploaded, checked against its SHA-256 as it streams, like "
            "a claim's (`X-Content-SHA256`); a partner key reads its own org's only. 503 with "
            "`Retry-After` if the store is unavailable.",
            responses={**problem_responses(404, 503), **_FILE_RESPONSES})
async def download_upload(proof_id: uuid.UUID, request: Request, session: Session,
                          caller: Caller) -> Response:
    row = await service.get_upload(session, caller, proof_id, with_content=True)
    return await _file(request, row)


@router.post("/proofs/presigned", status_code=201, tags=["mdf claims"],
             summary="Upload a proof file straight to the store",
             description="With the S3-compatible proof store: the file's name, type, exact size "
             f"(at most {MAX_PROOF_BYTES // 1024} KiB) and SHA-256 are recorded as a `pending` "
             "file of the caller's org (a vendor key names `partner_id`), and the answer holds "
             "a presigned URL that takes the file's bytes in one `PUT` with the `headers` "
             "given, straight to the bucket, until `url_expires_at` (15 minutes by default). "
             "Then `POST /v1/mdf/proofs/{id}/complete`: only a completed file can be claimed. "
             "409 if the service keeps proof files in PostgreSQL (upload with `POST "
             "/v1/mdf/proofs` then); 503 with `Retry-After` if the store is unavailable.",
             responses={**problem_responses(404, 409, 413, 503),
                        **resource_headers(201, location=True, etag=False)})
async def presign_upload(body: PresignIn, request: Request, response: Response,
                         session: Session, caller: Caller,
                         idempotency_key: IdempotencyKeyHeader = None) -> PresignedUploadOut:
    seconds = request.app.state.settings.proof_presign_seconds
    row, url = await service.presign_upload(session, caller, body,
                                            _proof_stores(request).writer, seconds)
    response.headers["Location"] = f"/v1/mdf/proofs/{row.id}"
    return PresignedUploadOut(
        proof=ProofUploadOut.of(row, _upload_ttl(request)), method="PUT", url=url,
        headers={"Content-Type": row.content_type},
        url_expires_at=row.created_at + dt.timedelta(seconds=seconds))


@router.post("/proofs/{proof_id:uuid}/complete", tags=["mdf claims"],
             summary="Complete a presigned upload",
             description="The service reads the file back from the store: if it has the size "
             "and SHA-256 announced it is `stored` and may be claimed; if it does not, the "
             "object is deleted and the answer is a 422 (the URL, while valid, takes the file "
             "again). 409 if nothing has arrived yet or the upload expired. Completing a "
             "stored file answers it as it is.",
             responses={**problem_responses(404, 409, 503)})
async def complete_upload(proof_id: uuid.UUID, request: Request, session: Session,
                          caller: Caller, idempotency_key: IdempotencyKeyHeader = None
                          ) -> ProofUploadOut:
    row = await service.complete_upload(session, caller, proof_id, _proof_stores(request).s3,
                                        _upload_ttl(request))
    return ProofUploadOut.of(row, _upload_ttl(request))
