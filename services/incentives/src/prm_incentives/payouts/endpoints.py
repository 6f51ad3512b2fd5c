import uuid
from typing import Annotated, Any

from fastapi import Depends, Query, Response

from prm_incentives.directory.names import partner_name
from prm_incentives.money import money
from prm_incentives.payouts import service
from prm_incentives.payouts.listing import BATCHES, STATEMENT
from prm_incentives.payouts.schemas import (
    PayoutBatchIn,
    PayoutBatchOut,
    PayoutExportFormat,
    PayoutExportOut,
    PayoutLineOut,
    PayoutPaymentIn,
    PayoutStatementItem,
    PayoutStatementOut,
    PayoutStatementTotal,
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

router = service_router("/v1/payouts", "payouts")
_ACTION = {**problem_responses(404, 409, 412), **resource_headers()}


async def _batch(session: Session, row: Any, response: Response) -> PayoutBatchOut:
    response.headers["ETag"] = etag(row.version)
    return PayoutBatchOut.of(row, await partner_name(session, row.partner_id))


@router.post("/batches", status_code=201, summary="Create a payout batch",
             description="Groups what became payable to the partner in the currency during "
             "the period (rebate and SPIFF accruals, approved MDF claims; what reversals left "
             "of them) and is not in a batch yet, up to "
             f"{service.MAX_LINES} amounts (the rest goes into the next batch). 422 if there "
             "is nothing to pay. A draft until approved. Vendor keys only.",
             responses={**problem_responses(413, 422), **resource_headers(201, location=True)})
async def create_payout_batch(body: PayoutBatchIn, response: Response, session: Session,
                              caller: Caller, idempotency_key: IdempotencyKeyHeader = None
                              ) -> PayoutBatchOut:
    row = await service.create_batch(session, caller, body)
    response.headers["Location"] = f"/v1/payouts/batches/{row.id}"
    return await _batch(session, row, response)


@router.get("/batches", summary="List payout batches",
            description="With the partner's name. Filter by partner, status, currency and "
            "payment reference; range on the period's days, the day paid, the total and "
            "`created_at`; sort by the period's days; pull changes (approvals, exports, "
            "payments) with `updated_since`. A partner key sees its own org's (whatever "
            "`partner_id` says). In creation order unless sorted, cursor-paginated.")
async def list_payout_batches(session: Session, caller: Caller,
                              query: Annotated[ListQuery, Depends(BATCHES.query)]
                              ) -> Page[PayoutBatchOut]:
    rows, next_cursor, total = await service.list_batches(session, caller, query)
    return Page[PayoutBatchOut](items=[PayoutBatchOut.of(r) for r in rows],
                                next_cursor=next_cursor, total_count=total)


@router.get("/batches/{batch_id:uuid}", summary="Get a payout batch",
            description="Its total, status and payment. A partner key sees its own org's "
            "only.", responses={**problem_responses(404), **resource_headers()})
async def get_payout_batch(batch_id: uuid.UUID, response: Response, session: Session,
                           caller: Caller) -> PayoutBatchOut:
    return await _batch(session, await service.get_batch(session, caller, batch_id), response)


@router.post("/batches/{batch_id:uuid}/approve", summary="Approve a payout batch",
             description="draft -> approved; the finance system may export it then "
             "(`prm.payout.approved.v1`). Vendor keys only.", responses=_ACTION)
async def approve_payout_batch(batch_id: uuid.UUID, response: Response, session: Session,
                               caller: Caller, if_match: IfMatchHeader = None,
                               idempotency_key: IdempotencyKeyHeader = None
                               ) -> PayoutBatchOut:
    row = await service.approve_batch(session, caller, batch_id, if_match)
    return await _batch(session, row, response)


ExportFormat = Annotated[PayoutExportFormat, Query(description="json or csv")]
_EXPORT_FILE = {
    "description": "The batch's amounts",
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/PayoutExportOut"}},
                "text/csv": {"schema": {"type": "string"}}}}


async def _export(session: Session, row: Any, lines: list[Any], format: str) -> Response:
    """The export file of a batch, as JSON (``PayoutExportOut``) or CSV, with its ETag."""
    headers = {"ETag": etag(row.version)}
    if format == "csv":
        headers["Content-Disposition"] = f'attachment; filename="payout-{row.id}.csv"'
        return Response(content=service.to_csv(row, lines), media_type="text/csv; charset=utf-8",
                        headers=headers)
    batch = PayoutBatchOut.of(row, await partner_name(session, row.partner_id))
    document = PayoutExportOut(batch=batch, lines=[PayoutLineOut(
        transfer_id=line.transfer_id, source=line.source, source_id=line.source_id,
        earned_on=line.earned_on, amount=money(line.amount, row.currency)) for line in lines])
    return Response(content=document.model_dump_json(), media_type="application/json",
                    headers=headers)


@router.get("/batches/{batch_id:uuid}/export", summary="Read a payout batch's export file",
            description="The batch and its amounts for the finance system, as JSON or CSV "
            f"(columns {', '.join(service.CSV_COLUMNS)}; amounts decimal strings), as the "
            "batch stands: reading it changes nothing (`POST .../export` marks it exported). "
            "A draft is a 409. Vendor keys only.",
            response_model=PayoutExportOut,
            responses={**problem_responses(404, 409), **resource_headers(),
                       200: _EXPORT_FILE})
async def export_payout_batch(batch_id: uuid.UUID, session: Session, caller: Caller,
                              format: ExportFormat = PayoutExportFormat.json) -> Response:
    row, lines = await service.export_batch(session, caller, batch_id)
    return await _export(session, row, lines, format)


@router.post("/batches/{batch_id:uuid}/export", summary="Export a payout batch",
             description="approved -> exported: the finance system takes the batch, and the "
             "answer is its export file, as `GET .../export` gives it (JSON or CSV, "
             "`format`), of the exported batch. Once: exporting an exported (or paid) batch "
             "is a 409; read the file again with the GET. Vendor keys only.",
             response_model=PayoutExportOut,
             responses={**problem_responses(404, 409, 412), **resource_headers(),
                        200: _EXPORT_FILE})
async def mark_payout_batch_exported(batch_id: uuid.UUID, session: Session, caller: Caller,
                                     format: ExportFormat = PayoutExportFormat.json,
                                     if_match: IfMatchHeader = None,
                                     idempotency_key: IdempotencyKeyHeader = None
                                     ) -> Response:
    row, lines = await service.mark_exported(session, caller, batch_id, if_match)
    return await _export(session, row, lines, format)


@router.post("/batches/{batch_id:uuid}/paid", summary="Record a payout batch paid",
             description="The finance system's confirmation, with its payment reference: "
             "every amount of the batch moves from the partner's payable to paid on the "
             "ledger (`prm.payout.paid.v1`). The same reference again answers the paid batch "
             "and changes nothing; another reference for a paid batch, or one that paid "
             "another batch, is a 409. Only an exported batch is paid. Vendor keys only.",
             responses={**_ACTION, **problem_responses(413)})
async def record_payout_paid(batch_id: uuid.UUID, body: PayoutPaymentIn, response: Response,
                             session: Session, caller: Caller, if_match: IfMatchHeader = None,
                             idempotency_key: IdempotencyKeyHeader = None) -> PayoutBatchOut:
    row, _ = await service.record_payment(session, caller, batch_id, body, if_match)
    return await _batch(session, row, response)


@router.get("/statement", summary="A partner's statement",
            description="What the partner earned in the period (`from`..`to`, by the date "
            "each amount was earned: a deal's close date, a claim's approval), why (the "
            "rebate or SPIFF accrual, the MDF claim), and whether and when it was paid; "
            "totals per currency over every item the filters keep. The items filter by "
            "`source` (rebate, spiff, mdf_claim), currency and `transfer_id`, come in the "
            "order they became payable, and are cursor-paginated; the statement is a report "
            "of its period, without a change feed (amounts are paid by batches, whose list "
            "has one). A partner key sees its own org's only.",
            responses=problem_responses(404, 422))
async def get_payout_statement(
    session: Session, caller: Caller,
    partner_id: Annotated[uuid.UUID, Query(description="The partner")],
    from_: Annotated[QueryDate, Query(alias="from", description="First day")],
    to: Annotated[QueryDate, Query(description="Last day")],
    query: Annotated[ListQuery, Depends(STATEMENT.query)],
) -> PayoutStatementOut:
    (rows, next_cursor, total), totals = await service.statement(
        session, caller, partner_id, from_, to, query)
    return PayoutStatementOut.model_validate({
        "partner_id": partner_id, "partner_name": await partner_name(session, partner_id),
        "from": from_, "to": to, "next_cursor": next_cursor, "total_count": total,
        "totals": [PayoutStatementTotal(
            currency=t.currency, earned=money(int(t.earned), t.currency),
            paid=money(int(t.paid), t.currency),
            unpaid=money(int(t.earned) - int(t.paid), t.currency)) for t in totals],
        "items": [PayoutStatementItem(
            transfer_id=r.id, source=r.source, source_id=r.source_id, earned_on=r.earned_on,
            amount=money(r.amount, r.currency), why=service.why(r), batch_id=r.batch_id,
            batch_status=r.batch_status, paid_on=r.paid_on,
            payment_reference=r.payment_reference) for r in rows]})
