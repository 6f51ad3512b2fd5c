import uuid
from collections import Counter
from typing import Annotated, Any

import orjson
from fastapi import Depends, Response

from prm_incentives.directory.names import partner_name
from prm_incentives.ledger import service
from prm_incentives.ledger.listing import ACCOUNTS, ENTRIES, FX_RATES, TRANSFERS
from prm_incentives.ledger.schemas import (
    MAX_BATCH,
    AccountOut,
    ConversionIn,
    ConversionOut,
    EntryOut,
    FxRateIn,
    FxRateOut,
    PostIn,
    TransferBatchIn,
    TransferBatchResult,
    TransferIn,
    TransferOut,
    transfer_values,
)
from prm_incentives.money import to_minor
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
from prm_platform.problems import ProblemError, problem_body, problem_responses

router = service_router("/v1/ledger", "ledger")


def _transfer(row: Any, response: Response) -> TransferOut:
    response.headers["ETag"] = etag(row.version)
    return TransferOut.of(row)


@router.get("/accounts", summary="List ledger accounts",
            description="Budget pools, partners' allocation, committed, payable and paid "
            "accounts, and the external and FX accounts, with their balances and their "
            "partner's name. Filter by kind, currency, partner and budget, range on "
            "`created_at`; `updated_since` pulls the accounts whose balances changed (every "
            "transfer changes its two accounts'). In creation order unless sorted, "
            "cursor-paginated. Vendor keys only.")
async def list_accounts(session: Session, caller: Caller,
                        query: Annotated[ListQuery, Depends(ACCOUNTS.query)]
                        ) -> Page[AccountOut]:
    rows, next_cursor, total = await service.list_accounts(session, caller, query)
    return Page[AccountOut](items=[AccountOut.of(r) for r in rows], next_cursor=next_cursor,
                            total_count=total)


@router.get("/accounts/{account_id:uuid}", summary="Get a ledger account",
            description="With its balances: posted and pending debits and credits, and what "
            "is available (posted credits minus posted and pending debits).",
            responses={**problem_responses(404), **resource_headers()})
async def get_account(account_id: uuid.UUID, response: Response, session: Session,
                      caller: Caller) -> AccountOut:
    row = await service.get_account(session, caller, account_id)
    response.headers["ETag"] = etag(row.version)
    return AccountOut.of(row, await partner_name(session, row.partner_id))


@router.get("/accounts/{account_id:uuid}/entries", summary="List an account's entries",
            description="The account's history, oldest first: each reservation (pending), "
            "movement (posted) and release of a reservation (released). Filter by side, "
            "phase and transfer, range on `created_at` and on the amount (a decimal amount "
            "in the account's currency). Entries never change: no change feed; pull what is "
            "new with `created_at[gte]`. Cursor-paginated.",
            responses=problem_responses(404))
async def list_account_entries(account_id: uuid.UUID, session: Session, caller: Caller,
                               query: Annotated[ListQuery, Depends(ENTRIES.query)]
                               ) -> Page[EntryOut]:
    rows, next_cursor, total = await service.list_entries(session, caller, account_id, query)
    return Page[EntryOut](items=[EntryOut.of(r) for r in rows], next_cursor=next_cursor,
                          total_count=total)


@router.post("/transfers", status_code=201, summary="Create a transfer",
             description="Moves money from the debit account to the credit account (same "
             "currency), at once or as a pending reservation (`pending`) to post, void or let "
             "expire later. The `id` is yours: sending the same transfer again answers 200 "
             "with it, the same id with other content 409 `transfer-id-reused`. A debit that "
             "would take a non-negative account below zero available is refused with 409 "
             "`insufficient-funds`. Transfers never change: correct one with a reversal "
             "(`reverses_id`).",
             responses={**problem_responses(404, 409, 413),
                        **resource_headers(201, location=True),
                        200: {"description": "The transfer made before with this id",
                              "model": TransferOut}})
async def create_transfer(body: TransferIn, response: Response, session: Session,
                          caller: Caller, idempotency_key: IdempotencyKeyHeader = None
                          ) -> TransferOut:
    row, created = await service.create_transfer(session, caller, body)
    response.status_code = 201 if created else 200
    response.headers["Location"] = f"/v1/ledger/transfers/{row.id}"
    return _transfer(row, response)


def _batch_item(index: int, result: service.Outcome | ProblemError) -> dict[str, Any]:
    """One item of a batch's answer (``TransferBatchItem``), as plain values."""
    problem = result if isinstance(result, ProblemError) else result.problem
    if problem is None:
        assert isinstance(result, service.Outcome)
        return {"index": index, "outcome": "created" if result.created else "replayed",
                "transfer": transfer_values(result.row), "problem": None}
    extra = dict(problem.extra)
    # The fields at fault, named from the request body's root (RFC 9457 ``errors`` as every
    # validation problem has them): ``transfers.<index>.<field>``.
    extra["errors"] = [{**error, "field": f"transfers.{index}.{error['field']}".rstrip(".")}
                       for error in extra.get("errors") or [
                           {"location": "body", "field": "", "message": problem.slug}]]
    return {"index": index, "outcome": "refused", "transfer": None,
            "problem": problem_body(problem.status, problem.slug, problem.detail, **extra)}


@router.post("/transfer-batches", summary="Create many transfers at once",
             description=f"Up to {MAX_BATCH} transfers in one request, each as `POST "
             "/v1/ledger/transfers` takes it and decided on its own, in order, on the balances "
             "the items before it left: `created`, `replayed` (its `id` was made before with "
             "the same content; nothing moves again) or `refused` with the problem the single "
             "endpoint would answer (`insufficient-funds`, `transfer-id-reused`, "
             "`currency-mismatch`, an unknown account, a validation error). Pending transfers "
             "are made like single ones; reversals are refused here (send them one by one). "
             "The created transfers are committed together; a refused item writes nothing and "
             "does not stop the others. Sending the same batch again answers every item "
             "`replayed`.",
             response_model=TransferBatchResult,
             responses=problem_responses(409, 413))
async def create_transfer_batch(body: TransferBatchIn, session: Session, caller: Caller,
                                idempotency_key: IdempotencyKeyHeader = None) -> Response:
    results = await service.create_transfers(session, caller, body.transfers)
    items = [_batch_item(index, result) for index, result in enumerate(results)]
    counts = Counter(item["outcome"] for item in items)
    # A ``TransferBatchResult``, rendered here without building a model per transfer (a test
    # holds each item to what GET /v1/ledger/transfers/{id} answers); the Idempotency-Key's
    # store keeps these very bytes.
    return Response(orjson.dumps({
        "created": counts["created"], "replayed": counts["replayed"],
        "refused": counts["refused"], "items": items}, option=orjson.OPT_UTC_Z,
        default=_uuid_text), media_type="application/json")


def _uuid_text(value: Any) -> str:
    # The driver's UUIDs subclass uuid.UUID, which orjson serialises only exactly.
    if isinstance(value, uuid.UUID):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


@router.get("/transfers", summary="List transfers",
            description="Filter by status, account (debited or credited), currency, code, "
            "the transfer a reversal reverses and the conversion of a leg; range on "
            "`created_at`, `resolved_at` and the amount (a decimal amount in each transfer's "
            "currency). Transfers never change but for a pending one's resolution: no change "
            "feed; pull what is new with `created_at[gte]`, resolutions with "
            "`resolved_at[gte]`. In the order they were made (their time, then id: the ids "
            "are the clients'), cursor-paginated. Vendor keys only.")
async def list_transfers(session: Session, caller: Caller,
                         query: Annotated[ListQuery, Depends(TRANSFERS.query)]
                         ) -> Page[TransferOut]:
    rows, next_cursor, total = await service.list_transfers(session, caller, query)
    return Page[TransferOut](items=[TransferOut.of(r) for r in rows], next_cursor=next_cursor,
                             total_count=total)


@router.get("/transfers/{transfer_id:uuid}", summary="Get a transfer",
            description="Its accounts, amount in the currency's minor unit, status (pending, "
            "posted, voided, expired) and what was posted.",
            responses={**problem_responses(404), **resource_headers()})
async def get_transfer(transfer_id: uuid.UUID, response: Response, session: Session,
                       caller: Caller) -> TransferOut:
    return _transfer(await service.get_transfer(session, caller, transfer_id), response)


@router.post("/transfers/{transfer_id:uuid}/post", summary="Post a pending transfer",
             description="Moves the reserved amount, or part of it (`amount`): the rest goes "
             "back to the debit account. Once: a transfer already posted, voided or expired "
             "is a 409. Transfers of fund requests are resolved through the requests.",
             responses={**problem_responses(404, 409, 412, 413), **resource_headers()})
async def post_transfer(transfer_id: uuid.UUID, response: Response, session: Session,
                        caller: Caller, body: PostIn | None = None,
                        if_match: IfMatchHeader = None,
                        idempotency_key: IdempotencyKeyHeader = None) -> TransferOut:
    amount = body.amount if body is not None else None
    row = await service.act_on_transfer(
        session, caller, transfer_id, "posted",
        None if amount is None else to_minor(amount),
        currency=None if amount is None else amount.currency, if_match=if_match)
    return _transfer(row, response)


@router.post("/transfers/{transfer_id:uuid}/void", summary="Void a pending transfer",
             description="Releases the whole reservation; nothing moves. Once.",
             responses={**problem_responses(404, 409, 412), **resource_headers()})
async def void_transfer(transfer_id: uuid.UUID, response: Response, session: Session,
                        caller: Caller, if_match: IfMatchHeader = None,
                        idempotency_key: IdempotencyKeyHeader = None) -> TransferOut:
    row = await service.act_on_transfer(session, caller, transfer_id, "voided",
                                        if_match=if_match)
    return _transfer(row, response)


@router.post("/fx-rates", status_code=201, summary="Record an exchange rate",
             description="Quote units per base unit from `effective_on`. Rates are never "
             "changed (a conversion names the rate it used); record a new date instead.",
             responses=problem_responses(409, 413))
async def record_fx_rate(body: FxRateIn, session: Session, caller: Caller,
                         idempotency_key: IdempotencyKeyHeader = None) -> FxRateOut:
    return FxRateOut.of(await service.record_rate(session, caller, body))


@router.get("/fx-rates", summary="List exchange rates",
            description="Filter by base and quote currency, range on `effective_on` and "
            "`created_at`, sort by `effective_on`. Rates never change: no change feed. In the "
            "order they were recorded unless sorted, cursor-paginated. Vendor keys only.")
async def list_fx_rates(session: Session, caller: Caller,
                        query: Annotated[ListQuery, Depends(FX_RATES.query)]
                        ) -> Page[FxRateOut]:
    rows, next_cursor, total = await service.list_rates(session, caller, query)
    return Page[FxRateOut](items=[FxRateOut.of(r) for r in rows], next_cursor=next_cursor,
                           total_count=total)


@router.post("/conversions", status_code=201, summary="Convert between currencies",
             description="Two linked transfers at the rate recorded on (or last before) the "
             "business date: source -> FX account of its currency, FX account of the "
             "destination currency -> destination. The amount is rounded half to even once, "
             "in the destination's minor unit. The `id` is yours, as for transfers.",
             responses={**problem_responses(409, 413), 200: {
                 "description": "The conversion made before with this id",
                 "model": ConversionOut}})
async def create_conversion(body: ConversionIn, response: Response, session: Session,
                            caller: Caller, idempotency_key: IdempotencyKeyHeader = None
                            ) -> ConversionOut:
    row, legs, created = await service.convert(session, caller, body)
    response.status_code = 201 if created else 200
    return ConversionOut.of(row, legs)


@router.get("/conversions/{conversion_id:uuid}", summary="Get a conversion",
            description="The two linked transfers of a move between currencies and the "
            "rate they used.",
            responses=problem_responses(404))
async def get_conversion(conversion_id: uuid.UUID, session: Session, caller: Caller
                         ) -> ConversionOut:
    row, legs = await service.get_conversion(session, caller, conversion_id)
    return ConversionOut.of(row, legs)
