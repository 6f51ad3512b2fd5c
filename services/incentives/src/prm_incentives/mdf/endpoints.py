import contextlib
import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import Depends, Query, Request, Response
from fastapi.responses import StreamingResponse

from prm_incentives.mdf import service
from prm_incentives.mdf.proofs import ProofStores, content_disposition, proof_stores
from prm_incentives.mdf.schemas import (
    MAX_PROOF_BYTES,
    MAX_PROOFS,
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
    RequestStatus,
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
from prm_platform.pagination import Page, PageRequest, page_request
from prm_platform.problems import problem_responses

router = service_router("/v1/mdf")

Pages = Annotated[PageRequest, Depends(page_request)]
PartnerFilter = Annotated[uuid.UUID | None, Query(description="Only this partner's (a partner "
                                                  "key always sees only its own org's)")]
_CREATED = {**problem_responses(404, 409), **resource_headers(201, location=True)}
_ACTION = {**problem_responses(404, 409, 412), **resource_headers()}


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
            description="Oldest first, cursor-paginated. Vendor keys only.")
async def list_budgets(session: Session, caller: Caller, page: Pages) -> Page[BudgetOut]:
    items, next_cursor = page.page(await service.list_budgets(session, caller, page))
    return Page[BudgetOut](items=[BudgetOut.of(r) for r in items], next_cursor=next_cursor)


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
            description="With what is available, reserved and payable. A partner key sees "
            "its own org's. Oldest first, cursor-paginated.")
async def list_allocations(
    session: Session, caller: Caller, page: Pages, partner_id: PartnerFilter = None,
    budget_id: Annotated[uuid.UUID | None, Query(description="Only this budget's")] = None,
) -> Page[AllocationOut]:
    rows = await service.list_allocations(session, caller, page, partner_id=partner_id,
                                          budget_id=budget_id)
    items, next_cursor = page.page(rows)
    return Page[AllocationOut](items=[AllocationOut.of(r) for r in items],
                               next_cursor=next_cursor)


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


def _request(row: Any, response: Response) -> FundRequestOut:
    _tagged(row, response)
    return FundRequestOut.of(row)


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
    return _request(row, response)


@router.get("/requests", tags=["mdf requests"], summary="List fund requests",
            description="A partner key sees its own org's. Oldest first, cursor-paginated.")
async def list_requests(
    session: Session, caller: Caller, page: Pages, partner_id: PartnerFilter = None,
    allocation_id: Annotated[uuid.UUID | None, Query(description="Only this allocation's")
                             ] = None,
    status: Annotated[RequestStatus | None, Query(description="Only in this status")] = None,
) -> Page[FundRequestOut]:
    rows = await service.list_requests(session, caller, page, partner_id=partner_id,
                                       allocation_id=allocation_id, status=status)
    items, next_cursor = page.page(rows)
    return Page[FundRequestOut](items=[FundRequestOut.of(r) for r in items],
                                next_cursor=next_cursor)


@router.get("/requests/{request_id:uuid}", tags=["mdf requests"], summary="Get a fund request",
            description="Its status, the funds it reserves and the last decision's reason; "
            "a partner key sees its own org's only.",
            responses={**problem_responses(404), **resource_headers()})
async def get_request(request_id: uuid.UUID, response: Response, session: Session,
                      caller: Caller) -> FundRequestOut:
    return _request(await service.get_request(session, caller, request_id), response)


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
    return _request(row, response)


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
    return _request(row, response)


@router.post("/requests/{request_id:uuid}/reject", tags=["mdf requests"],
             summary="Reject a fund request",
             description="Releases the reserved funds to the allocation. Vendor keys only.",
             responses=_ACTION)
async def reject_request(request_id: uuid.UUID, body: DecisionIn, response: Response,
                         session: Session, caller: Caller, if_match: IfMatchHeader = None,
                         idempotency_key: IdempotencyKeyHeader = None) -> FundRequestOut:
    row = await service.reject_request(session, caller, request_id, body.reason, if_match)
    return _request(row, response)


@router.post("/requests/{request_id:uuid}/request-changes", tags=["mdf requests"],
             summary="Ask for changes to a fund request",
             description="The partner revises it (PATCH) and it is submitted again; the funds "
             "stay reserved meanwhile. Vendor keys only.", responses=_ACTION)
async def request_changes(request_id: uuid.UUID, body: DecisionIn, response: Response,
                          session: Session, caller: Caller, if_match: IfMatchHeader = None,
                          idempotency_key: IdempotencyKeyHeader = None) -> FundRequestOut:
    row = await service.request_changes(session, caller, request_id, body.reason, if_match)
    return _request(row, response)


# --- claims -------------------------------------------------------------------------------------


async def _claim_out(session: Session, row: Any, response: Response) -> ClaimOut:
    _tagged(row, response)
    proofs = await service.proofs_of(session, [row.id])
    return ClaimOut.of(row, proofs[row.id])


@router.post("/claims", status_code=201, tags=["mdf claims"], summary="Claim funds",
             description="The partner claims the cost of an approved request's activity, at "
             f"most its planned cost, with 1 to {MAX_PROOFS} proof-of-performance files "
             f"(base64; each at most {MAX_PROOF_BYTES // 1024} KiB; "
             f"{', '.join(PROOF_TYPES)}). One claim per request. The files go to the "
             "configured store (PostgreSQL, or an S3-compatible one): 503 with `Retry-After` "
             "if it is unavailable.", responses={**_CREATED, **problem_responses(503)})
async def submit_claim(body: ClaimIn, request: Request, response: Response, session: Session,
                       caller: Caller, idempotency_key: IdempotencyKeyHeader = None
                       ) -> ClaimOut:
    row = await service.submit_claim(session, caller, body,
                                     _proof_stores(request).writer)
    response.headers["Location"] = f"/v1/mdf/claims/{row.id}"
    return await _claim_out(session, row, response)


@router.get("/claims", tags=["mdf claims"], summary="List claims",
            description="A partner key sees its own org's. Oldest first, cursor-paginated.")
async def list_claims(
    session: Session, caller: Caller, page: Pages, partner_id: PartnerFilter = None,
    request_id: Annotated[uuid.UUID | None, Query(description="Only this request's")] = None,
    status: Annotated[str | None, Query(pattern="^(submitted|approved|rejected)$",
                                        description="Only in this status")] = None,
) -> Page[ClaimOut]:
    rows = await service.list_claims(session, caller, page, partner_id=partner_id,
                                     request_id=request_id, status=status)
    items, next_cursor = page.page(rows)
    proofs = await service.proofs_of(session, [r.id for r in items])
    return Page[ClaimOut](items=[ClaimOut.of(r, proofs[r.id]) for r in items],
                          next_cursor=next_cursor)


@router.get("/claims/{claim_id:uuid}", tags=["mdf claims"], summary="Get a claim",
            description="With its proof files' names, types, sizes and hashes; a partner "
            "key sees its own org's only.",
            responses={**problem_responses(404), **resource_headers()})
async def get_claim(claim_id: uuid.UUID, response: Response, session: Session,
                    caller: Caller) -> ClaimOut:
    return await _claim_out(session, await service.get_claim(session, caller, claim_id),
                            response)


@router.get("/claims/{claim_id:uuid}/proofs/{proof_id:uuid}", tags=["mdf claims"],
            summary="Download a proof file", response_class=Response,
            description="The file as uploaded, with its content type, streamed from the "
            "store that holds it; `Digest`-like `X-Content-SHA256` carries its SHA-256, which "
            "the file is checked against as it streams (a file that no longer matches is cut "
            "short). 503 with `Retry-After` if the store is unavailable.",
            responses={**problem_responses(404, 503), 200: {
                "description": "The file's bytes",
                "content": {t: {"schema": {"type": "string", "format": "binary"}}
                            for t in PROOF_TYPES}}})
async def download_proof(claim_id: uuid.UUID, proof_id: uuid.UUID, request: Request,
                         session: Session, caller: Caller) -> Response:
    row = await service.get_proof(session, caller, claim_id, proof_id)
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
