"""Market development funds: a budget funds a pool, the vendor allocates from it to partners,
a partner's fund request reserves part of its allocation (a pending ledger transfer
allocation -> committed), and an approved claim posts that reservation, in full or in part,
and makes the approved amount payable (committed -> payable). Rejections and expiries release
the reservation. The ledger guarantees no allocation is overspent, whatever the concurrency.

Lock order, the same everywhere so that concurrent operations cannot deadlock: claim, request,
uploaded proof files (in id order; the expiry job skips locked ones), ledger transfer, ledger
accounts (in id order).
"""

import asyncio
import datetime as dt
import hashlib
import uuid
from typing import Any

from sqlalchemy import Select, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from prm_contracts import (
    Amount,
    MdfAllocationCreatedV1,
    MdfClaimApprovedV1,
    MdfClaimRejectedV1,
    MdfClaimSubmittedV1,
    MdfRequestApprovedV1,
    MdfRequestChangesRequestedV1,
    MdfRequestExpiredV1,
    MdfRequestRejectedV1,
    MdfRequestSubmittedV1,
)
from prm_contracts import EventPayload as _Payload
from prm_events import outbox
from prm_incentives.config import EVENT_SOURCE, Settings
from prm_incentives.db import columns
from prm_incentives.declaration import INCENTIVES_READ, INCENTIVES_WRITE
from prm_incentives.directory import repository as directory
from prm_incentives.directory.names import named, visible
from prm_incentives.ledger import repository as ledger
from prm_incentives.ledger.models import Account
from prm_incentives.ledger.repository import Page
from prm_incentives.ledger.service import TransferSpec, resolve, transfer
from prm_incentives.mdf.listing import ALLOCATIONS, BUDGETS, CLAIMS, REQUESTS
from prm_incentives.mdf.models import Allocation, Budget, Claim, FundRequest
from prm_incentives.mdf.proofs import (
    ObjectTooLarge,
    ProofStore,
    ProofStoreUnavailable,
    S3ProofStore,
)
from prm_incentives.mdf.schemas import (
    MAX_PROOF_BYTES,
    AllocationIn,
    ApprovalIn,
    BudgetIn,
    ClaimApprovalIn,
    ClaimIn,
    FundRequestIn,
    FundRequestPatch,
    PresignIn,
    ProofUploadIn,
)
from prm_incentives.money import text_of, to_minor
from prm_platform.http import check_if_match
from prm_platform.ids import new_id
from prm_platform.listing import ListQuery
from prm_platform.problems import (
    Conflict,
    InvalidTransition,
    NotFound,
    PayloadTooLarge,
    ProblemError,
    Unprocessable,
)
from prm_platform.security import Principal


class PartnerNotEligible(ProblemError):
    status, slug = 422, "funds-partner-not-eligible"


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _amount(minor: int, currency: str) -> Amount:
    return Amount(amount=text_of(minor, currency), currency=currency)


async def _publish(session: AsyncSession, payload: _Payload, aggregate_id: uuid.UUID,
                   partner_id: uuid.UUID) -> None:
    await outbox.publish(session, payload, source=EVENT_SOURCE, aggregate_id=aggregate_id,
                         partner_id=partner_id)


def _vendor_writer(principal: Principal) -> None:
    principal.require(INCENTIVES_WRITE)
    principal.ensure_vendor()


async def _active_partner(session: AsyncSession, partner_id: uuid.UUID) -> None:
    entry = await directory.get(session, partner_id)
    if entry is None or entry.status != "active":
        raise PartnerNotEligible(f"partner {partner_id} is not an active partner")


# --- budgets --------------------------------------------------------------------------------

_pool = aliased(Account, name="pool")


def _budgets() -> Select[Any]:
    """Budgets with what their pool holds for allocations."""
    return select(*columns(Budget), (_pool.credits_posted - _pool.debits_posted
                                     - _pool.debits_pending).label("pool_available")).join(
        _pool, _pool.id == Budget.pool_account_id)


async def create_budget(session: AsyncSession, principal: Principal, data: BudgetIn) -> Any:
    _vendor_writer(principal)
    currency = data.amount.currency
    budget_id = new_id()
    name = f"MDF {data.programme} {data.period} {currency}"
    pool = await ledger.ensure_account(session, kind="budget_pool", currency=currency,
                                       name=f"{name}: pool", non_negative=True,
                                       budget_id=budget_id)
    external = await ledger.ensure_account(session, kind="external", currency=currency,
                                           name=f"External funding {currency}",
                                           non_negative=False)
    inserted = (await session.execute(text(
        "INSERT INTO mdf_budgets (id, programme, period, currency, amount, pool_account_id, "
        "auto_approve_below, version, created_at, updated_at) VALUES (:id, :programme, "
        ":period, :currency, :amount, :pool, :auto, 1, now(), statement_timestamp()) "
        "ON CONFLICT ON CONSTRAINT uq_mdf_budgets_programme DO NOTHING RETURNING id"),
        {"id": budget_id, "programme": data.programme, "period": data.period,
         "currency": currency, "amount": to_minor(data.amount), "pool": pool.id,
         "auto": None if data.auto_approve_below is None else to_minor(
             data.auto_approve_below)})).first()
    if inserted is None:
        raise Conflict(f"a {currency} budget of {data.programme} for {data.period} exists")
    await transfer(session, TransferSpec(
        id=new_id(), debit_account_id=external.id, credit_account_id=pool.id,
        currency=currency, amount=to_minor(data.amount), code="mdf.budget",
        reference=name))
    return await _budget(session, budget_id)


async def _budget(session: AsyncSession, budget_id: uuid.UUID) -> Any:
    row = (await session.execute(_budgets().where(Budget.id == budget_id))).first()
    if row is None:
        raise NotFound("budget not found")
    return row


async def get_budget(session: AsyncSession, principal: Principal, budget_id: uuid.UUID
                     ) -> Any:
    principal.require(INCENTIVES_READ)
    principal.ensure_vendor()
    return await _budget(session, budget_id)


async def list_budgets(session: AsyncSession, principal: Principal, query: ListQuery
                       ) -> Page:
    principal.require(INCENTIVES_READ)
    principal.ensure_vendor()
    return await BUDGETS.page(session, _budgets(), query)


# --- allocations ----------------------------------------------------------------------------

_held = aliased(Account, name="held")
_committed = aliased(Account, name="committed")
_payable = aliased(Account, name="payable_account")


def _allocations() -> Select[Any]:
    """Allocations with what is available, reserved and payable, and the partner's name."""
    return named(select(
        *columns(Allocation),
        (_held.credits_posted - _held.debits_posted - _held.debits_pending).label("available"),
        (_committed.credits_pending + _committed.credits_posted - _committed.debits_posted
         - _committed.debits_pending).label("reserved"),
        (_payable.credits_posted - _payable.debits_posted).label("payable"),
    ).join(_held, _held.id == Allocation.allocation_account_id)
     .join(_committed, _committed.id == Allocation.committed_account_id)
     .join(_payable, _payable.id == Allocation.payable_account_id), Allocation.partner_id)


async def create_allocation(session: AsyncSession, principal: Principal, data: AllocationIn
                            ) -> Any:
    _vendor_writer(principal)
    budget = await _budget(session, data.budget_id)
    if data.amount.currency != budget.currency:
        raise Unprocessable(f"the budget is in {budget.currency}", errors=[
            {"location": "body", "field": "amount.currency", "message": "not the budget's"}])
    await _active_partner(session, data.partner_id)
    allocation_id = new_id()
    accounts = {}
    for kind in ("allocation", "committed", "payable"):
        accounts[kind] = await ledger.ensure_account(
            session, kind=kind, currency=budget.currency, budget_id=budget.id,
            partner_id=data.partner_id, non_negative=True,
            name=f"MDF {budget.programme} {budget.period} {budget.currency}: {kind} of "
                 f"partner {data.partner_id}")
    inserted = (await session.execute(text(
        "INSERT INTO mdf_allocations (id, budget_id, partner_id, currency, amount, "
        "allocation_account_id, committed_account_id, payable_account_id, version, "
        "created_at, updated_at) VALUES (:id, :budget, :partner, :currency, :amount, "
        ":allocation, :committed, :payable, 1, now(), statement_timestamp()) "
        "ON CONFLICT ON CONSTRAINT uq_mdf_allocations_budget_id DO NOTHING RETURNING id"),
        {"id": allocation_id, "budget": budget.id, "partner": data.partner_id,
         "currency": budget.currency, "amount": to_minor(data.amount),
         "allocation": accounts["allocation"].id, "committed": accounts["committed"].id,
         "payable": accounts["payable"].id})).first()
    if inserted is None:
        raise Conflict(f"partner {data.partner_id} already has an allocation of this budget")
    await transfer(session, TransferSpec(
        id=new_id(), debit_account_id=budget.pool_account_id,
        credit_account_id=accounts["allocation"].id, currency=budget.currency,
        amount=to_minor(data.amount), code="mdf.allocation",
        reference=f"allocation {allocation_id}"))
    await _publish(session, MdfAllocationCreatedV1(
        allocation_id=allocation_id, partner_id=data.partner_id, budget_id=budget.id,
        amount=_amount(to_minor(data.amount), budget.currency), version=1),
        aggregate_id=allocation_id, partner_id=data.partner_id)
    return await _allocation(session, principal, allocation_id)


async def _allocation(session: AsyncSession, principal: Principal, allocation_id: uuid.UUID
                      ) -> Any:
    row = (await session.execute(_allocations().where(Allocation.id == allocation_id))
           ).first()
    if row is None or not principal.can_see_partner(row.partner_id):
        raise NotFound("allocation not found")
    return row


async def get_allocation(session: AsyncSession, principal: Principal,
                         allocation_id: uuid.UUID) -> Any:
    principal.require(INCENTIVES_READ)
    return await _allocation(session, principal, allocation_id)


async def list_allocations(session: AsyncSession, principal: Principal, query: ListQuery
                           ) -> Page:
    principal.require(INCENTIVES_READ)
    statement, query = visible(principal, _allocations(), query, Allocation.partner_id)
    return await ALLOCATIONS.page(session, statement, query)


# --- fund requests --------------------------------------------------------------------------

_REQUEST = "SELECT * FROM mdf_requests"


async def _request(session: AsyncSession, principal: Principal, request_id: uuid.UUID, *,
                   for_update: bool = False) -> Any:
    lock = " FOR UPDATE" if for_update else ""
    row = (await session.execute(text(f"{_REQUEST} WHERE id = :id{lock}"),
                                 {"id": request_id})).first()
    if row is None or not principal.can_see_partner(row.partner_id):
        raise NotFound("fund request not found")
    return row


async def _reserve(session: AsyncSession, allocation: Any, request_id: uuid.UUID, amount: int
                   ) -> uuid.UUID:
    """The pending transfer allocation -> committed: refused by the ledger if the allocation
    cannot cover it (insufficient-funds)."""
    reservation_id = new_id()
    await transfer(session, TransferSpec(
        id=reservation_id, debit_account_id=allocation.allocation_account_id,
        credit_account_id=allocation.committed_account_id, currency=allocation.currency,
        amount=amount, pending=True, code="mdf.reservation",
        reference=f"fund request {request_id}"))
    return reservation_id


def _request_change(row: Any) -> dict[str, Any]:
    return {"request_id": row.id, "partner_id": row.partner_id,
            "allocation_id": row.allocation_id, "budget_id": row.budget_id,
            "status": row.status, "planned_cost": _amount(row.planned_cost, row.currency),
            "version": row.version}


async def submit_request(session: AsyncSession, principal: Principal, data: FundRequestIn,
                         settings: Settings) -> Any:
    principal.require(INCENTIVES_WRITE)
    allocation = await _allocation(session, principal, data.allocation_id)
    if data.planned_cost.currency != allocation.currency:
        raise Unprocessable(f"the allocation is in {allocation.currency}", errors=[
            {"location": "body", "field": "planned_cost.currency",
             "message": "not the allocation's"}])
    await _active_partner(session, allocation.partner_id)
    budget = await _budget(session, allocation.budget_id)
    request_id = new_id()
    cost = to_minor(data.planned_cost)
    reservation_id = await _reserve(session, allocation, request_id, cost)
    auto = budget.auto_approve_below is not None and cost < budget.auto_approve_below
    now = _now()
    row = (await session.execute(text(
        "INSERT INTO mdf_requests (id, allocation_id, budget_id, partner_id, currency, "
        "activity_type, title, description, start_date, end_date, planned_cost, "
        "expected_outcomes, expected_leads, status, reservation_id, decision_due_at, "
        "version, created_at, updated_at) VALUES (:id, :allocation, :budget, :partner, "
        ":currency, :activity_type, :title, :description, :start_date, :end_date, :cost, "
        ":expected_outcomes, :expected_leads, 'submitted', :reservation, :due, 1, :now, :now) "
        "RETURNING *"),
        {"id": request_id, "allocation": allocation.id, "budget": budget.id,
         "partner": allocation.partner_id, "currency": allocation.currency,
         "activity_type": data.activity_type, "title": data.title,
         "description": data.description, "start_date": data.start_date,
         "end_date": data.end_date, "cost": cost, "expected_outcomes": data.expected_outcomes,
         "expected_leads": data.expected_leads, "reservation": reservation_id,
         "due": now + dt.timedelta(days=settings.request_decision_days), "now": now})).one()
    await _publish(session, MdfRequestSubmittedV1(
        **_request_change(row), activity_type=row.activity_type, start_date=row.start_date,
        end_date=row.end_date), row.id, row.partner_id)
    if auto:
        row = await _approve(session, row, "rule", None, settings)
    return row


async def _approve(session: AsyncSession, row: Any, by: str, reason: str | None,
                   settings: Settings) -> Any:
    claim_due = row.end_date + dt.timedelta(days=settings.claim_window_days)
    row = (await session.execute(text(
        "UPDATE mdf_requests SET status = 'approved', approved_by = :by, reason = :reason, "
        "claim_due_on = :claim_due, version = version + 1, updated_at = statement_timestamp() "
        "WHERE id = :id RETURNING *"),
        {"id": row.id, "by": by, "reason": reason, "claim_due": claim_due})).one()
    await _publish(session, MdfRequestApprovedV1(
        **_request_change(row), approved_by=by, claim_due_on=claim_due), row.id,
        row.partner_id)
    return row


_VERBS = {"approve": "approved", "reject": "rejected", "request_changes": "sent back for "
          "changes", "update": "changed"}
_REQUEST_MOVES = {
    "approve": {"submitted"},
    "reject": {"submitted", "changes_requested"},
    "request_changes": {"submitted"},
    "update": {"changes_requested"},
}


async def _for_action(session: AsyncSession, principal: Principal, request_id: uuid.UUID,
                      action: str, if_match: str | None) -> Any:
    row = await _request(session, principal, request_id, for_update=True)
    check_if_match(if_match, row.version)
    if row.status not in _REQUEST_MOVES[action]:
        raise InvalidTransition(f"a {row.status} fund request cannot be {_VERBS[action]}")
    return row


async def approve_request(session: AsyncSession, principal: Principal, request_id: uuid.UUID,
                          data: ApprovalIn, settings: Settings, if_match: str | None) -> Any:
    _vendor_writer(principal)
    row = await _for_action(session, principal, request_id, "approve", if_match)
    return await _approve(session, row, "vendor", data.reason, settings)


async def reject_request(session: AsyncSession, principal: Principal, request_id: uuid.UUID,
                         reason: str, if_match: str | None) -> Any:
    _vendor_writer(principal)
    row = await _for_action(session, principal, request_id, "reject", if_match)
    await resolve(session, row.reservation_id, "voided")
    row = (await session.execute(text(
        "UPDATE mdf_requests SET status = 'rejected', reason = :reason, "
        "version = version + 1, updated_at = statement_timestamp() WHERE id = :id RETURNING *"),
        {"id": row.id, "reason": reason})).one()
    await _publish(session, MdfRequestRejectedV1(**_request_change(row), reason=reason),
                   row.id, row.partner_id)
    return row


async def request_changes(session: AsyncSession, principal: Principal, request_id: uuid.UUID,
                          reason: str, if_match: str | None) -> Any:
    """The funds stay reserved while the partner revises the request."""
    _vendor_writer(principal)
    row = await _for_action(session, principal, request_id, "request_changes", if_match)
    row = (await session.execute(text(
        "UPDATE mdf_requests SET status = 'changes_requested', reason = :reason, "
        "version = version + 1, updated_at = statement_timestamp() WHERE id = :id RETURNING *"),
        {"id": row.id, "reason": reason})).one()
    await _publish(session, MdfRequestChangesRequestedV1(**_request_change(row), reason=reason),
                   row.id, row.partner_id)
    return row


async def update_request(session: AsyncSession, principal: Principal, request_id: uuid.UUID,
                         data: FundRequestPatch, settings: Settings, if_match: str | None
                         ) -> Any:
    """The partner's revision after a request for changes; the request is submitted again. A
    new planned cost replaces the reservation (the old one is voided first, so the new one
    may use the funds it held)."""
    principal.require(INCENTIVES_WRITE)
    row = await _for_action(session, principal, request_id, "update", if_match)
    changes = data.model_dump(exclude_unset=True, exclude_none=True)
    start = changes.get("start_date", row.start_date)
    end = changes.get("end_date", row.end_date)
    if end < start:
        raise Unprocessable("end_date is before start_date")
    reservation_id = row.reservation_id
    if data.planned_cost is not None:
        if data.planned_cost.currency != row.currency:
            raise Unprocessable(f"the request is in {row.currency}", errors=[
                {"location": "body", "field": "planned_cost.currency",
                 "message": "not the request's"}])
        cost = to_minor(data.planned_cost)
        changes["planned_cost"] = cost
        if cost != row.planned_cost:
            await resolve(session, row.reservation_id, "voided")
            allocation = await _allocation(session, principal, row.allocation_id)
            reservation_id = await _reserve(session, allocation, row.id, cost)
    changes["reservation_id"] = reservation_id
    assignments = ", ".join(f"{column} = :{column}" for column in changes)
    row = (await session.execute(text(
        f"UPDATE mdf_requests SET {assignments}, status = 'submitted', reason = NULL, "
        "version = version + 1, updated_at = statement_timestamp() WHERE id = :id RETURNING *"),
        {**changes, "id": row.id})).one()
    await _publish(session, MdfRequestSubmittedV1(
        **_request_change(row), activity_type=row.activity_type, start_date=row.start_date,
        end_date=row.end_date), row.id, row.partner_id)
    budget = await _budget(session, row.budget_id)
    if budget.auto_approve_below is not None and row.planned_cost < budget.auto_approve_below:
        row = await _approve(session, row, "rule", None, settings)
    return row


async def get_request(session: AsyncSession, principal: Principal, request_id: uuid.UUID
                      ) -> Any:
    principal.require(INCENTIVES_READ)
    return await _request(session, principal, request_id)


async def list_requests(session: AsyncSession, principal: Principal, query: ListQuery
                        ) -> Page:
    principal.require(INCENTIVES_READ)
    statement, query = visible(principal, named(select(*columns(FundRequest)),
                                                FundRequest.partner_id),
                               query, FundRequest.partner_id)
    return await REQUESTS.page(session, statement, query)


async def requests_by_id(session: AsyncSession, request_ids: list[uuid.UUID]
                         ) -> dict[uuid.UUID, Any]:
    """These fund requests, with their partner's name, in one query (a page of claims
    expanded; the caller may see them already)."""
    rows = await session.execute(named(select(*columns(FundRequest)), FundRequest.partner_id)
                                 .where(FundRequest.id.in_(request_ids)))
    return {row.id: row for row in rows}


async def allocations_of_requests(session: AsyncSession, request_ids: list[uuid.UUID]
                                  ) -> dict[uuid.UUID, Any]:
    """The allocation of each of these fund requests, by request id, in one query."""
    rows = await session.execute(_allocations().add_columns(
        FundRequest.id.label("request_id")).join(
        FundRequest, FundRequest.allocation_id == Allocation.id).where(
        FundRequest.id.in_(request_ids)))
    return {row.request_id: row for row in rows}


async def expire_requests(session: AsyncSession, batch: int = 200) -> int:
    """The scheduled job: requests undecided past their decision deadline, and approved ones
    not claimed by their claim deadline, expire; their reservations are released. Rows another
    replica (or a decision in flight) holds are skipped and looked at next time."""
    due = list(await session.execute(text(
        "SELECT r.id FROM mdf_requests r WHERE "
        "(r.status IN ('submitted', 'changes_requested') AND r.decision_due_at <= now()) OR "
        "(r.status = 'approved' AND r.claim_due_on < CAST(now() AS date)) "
        "ORDER BY r.id LIMIT :batch FOR UPDATE SKIP LOCKED"), {"batch": batch}))
    for (request_id,) in due:
        row = (await session.execute(text(f"{_REQUEST} WHERE id = :id"),
                                     {"id": request_id})).one()
        await resolve(session, row.reservation_id, "expired")
        updated = (await session.execute(text(
            "UPDATE mdf_requests SET status = 'expired', version = version + 1, "
            "updated_at = statement_timestamp() WHERE id = :id RETURNING *"),
            {"id": request_id})).one()
        await _publish(session, MdfRequestExpiredV1(
            **_request_change(updated), previous_status=row.status), updated.id,
            updated.partner_id)
    return len(due)


# --- claims ---------------------------------------------------------------------------------


async def _claim(session: AsyncSession, principal: Principal, claim_id: uuid.UUID, *,
                 for_update: bool = False) -> Any:
    lock = " FOR UPDATE" if for_update else ""
    row = (await session.execute(text(f"SELECT * FROM mdf_claims WHERE id = :id{lock}"),
                                 {"id": claim_id})).first()
    if row is None or not principal.can_see_partner(row.partner_id):
        raise NotFound("claim not found")
    return row


async def proofs_of(session: AsyncSession, claim_ids: list[uuid.UUID]) -> dict[uuid.UUID,
                                                                             list[Any]]:
    found: dict[uuid.UUID, list[Any]] = {claim_id: [] for claim_id in claim_ids}
    rows = await session.execute(text(
        "SELECT id, claim_id, filename, content_type, size, sha256, created_at "
        "FROM mdf_proof_files WHERE claim_id = ANY(CAST(:ids AS uuid[])) ORDER BY id"),
        {"ids": claim_ids})
    for row in rows:
        found[row.claim_id].append(row)
    return found


def _claim_change(row: Any) -> dict[str, Any]:
    return {"claim_id": row.id, "request_id": row.request_id, "partner_id": row.partner_id,
            "status": row.status, "claimed": _amount(row.amount, row.currency),
            "version": row.version}


async def _check_uploads(session: AsyncSession, proof_ids: list[uuid.UUID],
                         partner_id: uuid.UUID, ttl: dt.timedelta) -> None:
    """The uploads a claim names must be its partner's, in no claim yet and not expired. They
    are locked (in id order, as the expiry job skips locked rows) until the claim commits, so
    no other claim can take them meanwhile. Another org's file is answered like an unknown
    one."""
    if not proof_ids:
        return
    found = {row.id: row for row in await session.execute(text(
        "SELECT f.id, COALESCE(f.partner_id, c.partner_id) AS partner_id, f.claim_id, "
        "f.status, f.created_at + make_interval(secs => :ttl) <= now() AS expired "
        "FROM mdf_proof_files f LEFT JOIN mdf_claims c ON c.id = f.claim_id "
        "WHERE f.id = ANY(CAST(:ids AS uuid[])) ORDER BY f.id FOR UPDATE OF f"),
        {"ids": proof_ids, "ttl": ttl.total_seconds()})}
    errors = []
    for index, proof_id in enumerate(proof_ids):
        row = found.get(proof_id)
        if row is None or row.partner_id != partner_id:
            message = "no proof file of the request's partner has this id"
        elif row.claim_id is not None:
            message = "this proof file is part of another claim"
        elif row.expired:
            message = "this upload expired: upload the file again"
        elif row.status != "stored":
            message = "this presigned upload is not completed: complete it first"
        else:
            continue
        errors.append({"location": "body", "field": f"proof_ids[{index}]",
                       "message": message})
    if errors:
        raise Unprocessable("the claim names proof files it cannot have", errors=errors)


async def submit_claim(session: AsyncSession, principal: Principal, data: ClaimIn,
                       store: ProofStore, upload_ttl: dt.timedelta) -> Any:
    """``store`` takes the proof files sent inline; their rows, with the SHA-256, are written
    here, and the uploads named in ``proof_ids`` become the claim's."""
    principal.require(INCENTIVES_WRITE)
    request = await _request(session, principal, data.request_id, for_update=True)
    if request.status != "approved":
        raise InvalidTransition(f"a {request.status} fund request cannot be claimed")
    if request.claim_due_on is not None and request.claim_due_on < _now().date():
        raise InvalidTransition(f"the claim was due on {request.claim_due_on}")
    if data.amount.currency != request.currency:
        raise Unprocessable(f"the request is in {request.currency}", errors=[
            {"location": "body", "field": "amount.currency", "message": "not the request's"}])
    amount = to_minor(data.amount)
    if amount > request.planned_cost:
        raise Unprocessable("a claim may not exceed the request's planned cost", errors=[
            {"location": "body", "field": "amount", "message": "more than the planned cost"}])
    await _check_uploads(session, data.proof_ids, request.partner_id, upload_ttl)
    claim_id = new_id()
    try:
        async with session.begin_nested():
            row = (await session.execute(text(
                "INSERT INTO mdf_claims (id, request_id, partner_id, currency, amount, "
                "description, status, version, created_at, updated_at) VALUES (:id, "
                ":request, :partner, :currency, :amount, :description, 'submitted', 1, now(), "
                "statement_timestamp()) RETURNING *"),
                {"id": claim_id, "request": request.id, "partner": request.partner_id,
                 "currency": request.currency, "amount": amount,
                 "description": data.description})).one()
    except IntegrityError:
        raise Conflict("the fund request already has a claim") from None
    contents = [proof.content for proof in data.proofs]
    for proof, content in zip(data.proofs, contents, strict=True):
        if len(content) > MAX_PROOF_BYTES:
            raise PayloadTooLarge(f"{proof.filename} exceeds {MAX_PROOF_BYTES} bytes")
    # Every check is passed before the first upload, so a refused claim leaves nothing in an
    # object store; one that fails later leaves objects the worker sweeps (mdf.proofs).
    ids = [new_id() for _ in data.proofs]
    digests = [hashlib.sha256(content).hexdigest() for content in contents]
    placed = await asyncio.gather(*(
        store.put(proof_id, content, proof.content_type, digest)
        for proof_id, proof, content, digest in zip(ids, data.proofs, contents, digests,
                                                    strict=True)))
    for proof_id, proof, content, digest, where in zip(ids, data.proofs, contents, digests,
                                                       placed, strict=True):
        await session.execute(text(
            "INSERT INTO mdf_proof_files (id, claim_id, partner_id, filename, content_type, "
            "size, sha256, store, object_key, content, created_at) VALUES (:id, :claim, "
            ":partner, :filename, :content_type, :size, :sha256, :store, :object_key, "
            ":content, now())"),
            {"id": proof_id, "claim": claim_id, "partner": request.partner_id,
             "filename": proof.filename, "content_type": proof.content_type,
             "size": len(content), "sha256": digest, "store": where.store,
             "object_key": where.object_key, "content": where.content})
    if data.proof_ids:
        await session.execute(text(
            "UPDATE mdf_proof_files SET claim_id = :claim WHERE id = ANY(CAST(:ids AS uuid[]))"),
            {"claim": claim_id, "ids": data.proof_ids})
    await session.execute(text(
        "UPDATE mdf_requests SET status = 'claimed', version = version + 1, "
        "updated_at = statement_timestamp() "
        "WHERE id = :id"), {"id": request.id})
    await _publish(session, MdfClaimSubmittedV1(
        **_claim_change(row), proofs=len(data.proofs) + len(data.proof_ids)),
        row.request_id, row.partner_id)
    return row


async def _claim_for_decision(session: AsyncSession, principal: Principal,
                              claim_id: uuid.UUID, if_match: str | None) -> tuple[Any, Any]:
    _vendor_writer(principal)
    claim = await _claim(session, principal, claim_id, for_update=True)
    check_if_match(if_match, claim.version)
    if claim.status != "submitted":
        raise InvalidTransition(f"the claim is {claim.status} already")
    request = await _request(session, principal, claim.request_id, for_update=True)
    return claim, request


async def approve_claim(session: AsyncSession, principal: Principal, claim_id: uuid.UUID,
                        data: ClaimApprovalIn, if_match: str | None) -> Any:
    """Posts the reservation for the approved amount (the rest of it goes back to the
    allocation) and moves that amount on to payable."""
    claim, request = await _claim_for_decision(session, principal, claim_id, if_match)
    approved = claim.amount
    if data.amount is not None:
        if data.amount.currency != claim.currency:
            raise Unprocessable(f"the claim is in {claim.currency}", errors=[
                {"location": "body", "field": "amount.currency", "message": "not the claim's"}])
        approved = to_minor(data.amount)
        if approved > claim.amount:
            raise Unprocessable("the approved amount may not exceed the claim", errors=[
                {"location": "body", "field": "amount", "message": "more than claimed"}])
    allocation = await _allocation(session, principal, request.allocation_id)
    await ledger.get_transfer(session, request.reservation_id, for_update=True)
    await ledger.lock_accounts(session, [allocation.allocation_account_id,
                                         allocation.committed_account_id,
                                         allocation.payable_account_id])
    await resolve(session, request.reservation_id, "posted", approved)
    payable_id = new_id()
    await transfer(session, TransferSpec(
        id=payable_id, debit_account_id=allocation.committed_account_id,
        credit_account_id=allocation.payable_account_id, currency=claim.currency,
        amount=approved, code="mdf.claim", reference=f"claim {claim.id}"))
    row = (await session.execute(text(
        "UPDATE mdf_claims SET status = 'approved', approved_amount = :approved, "
        "reason = :reason, payable_transfer_id = :payable, version = version + 1, "
        "updated_at = statement_timestamp() WHERE id = :id RETURNING *"),
        {"id": claim.id, "approved": approved, "reason": data.reason, "payable": payable_id})
        ).one()
    await session.execute(text(
        "UPDATE mdf_requests SET status = 'completed', version = version + 1, "
        "updated_at = statement_timestamp() WHERE id = :id"), {"id": request.id})
    await _publish(session, MdfClaimApprovedV1(
        **_claim_change(row), approved=_amount(approved, row.currency),
        released=_amount(request.planned_cost - approved, row.currency)),
        row.request_id, row.partner_id)
    return row


async def reject_claim(session: AsyncSession, principal: Principal, claim_id: uuid.UUID,
                       reason: str, if_match: str | None) -> Any:
    """Final: the request is closed and its reservation released."""
    claim, request = await _claim_for_decision(session, principal, claim_id, if_match)
    await resolve(session, request.reservation_id, "voided")
    row = (await session.execute(text(
        "UPDATE mdf_claims SET status = 'rejected', reason = :reason, version = version + 1, "
        "updated_at = statement_timestamp() WHERE id = :id RETURNING *"),
        {"id": claim.id, "reason": reason})
        ).one()
    await session.execute(text(
        "UPDATE mdf_requests SET status = 'closed', version = version + 1, "
        "updated_at = statement_timestamp() WHERE id = :id"), {"id": request.id})
    await _publish(session, MdfClaimRejectedV1(**_claim_change(row), reason=reason),
                   row.request_id, row.partner_id)
    return row


async def get_claim(session: AsyncSession, principal: Principal, claim_id: uuid.UUID) -> Any:
    principal.require(INCENTIVES_READ)
    return await _claim(session, principal, claim_id)


async def list_claims(session: AsyncSession, principal: Principal, query: ListQuery
                      ) -> Page:
    principal.require(INCENTIVES_READ)
    statement, query = visible(principal, named(select(*columns(Claim)), Claim.partner_id),
                               query, Claim.partner_id)
    return await CLAIMS.page(session, statement, query)


async def get_proof(session: AsyncSession, principal: Principal, claim_id: uuid.UUID,
                    proof_id: uuid.UUID) -> Any:
    principal.require(INCENTIVES_READ)
    await _claim(session, principal, claim_id)
    row = (await session.execute(text(
        "SELECT id, filename, content_type, size, sha256, store, object_key, content "
        "FROM mdf_proof_files "
        "WHERE id = :id AND claim_id = :claim"), {"id": proof_id, "claim": claim_id})).first()
    if row is None:
        raise NotFound("proof file not found")
    return row


# --- proof files uploaded on their own --------------------------------------------------------

_UPLOAD = """SELECT f.id, COALESCE(f.partner_id, c.partner_id) AS partner_id, f.claim_id,
    f.filename, f.content_type, f.size, f.sha256, f.store, f.object_key, f.status,
    f.created_at{content}
    FROM mdf_proof_files f LEFT JOIN mdf_claims c ON c.id = f.claim_id WHERE f.id = :id"""


async def _owner(session: AsyncSession, principal: Principal, partner_id: uuid.UUID | None
                 ) -> uuid.UUID:
    """Whose a new file is: a partner key's own org's, or the partner a vendor key names."""
    if principal.is_partner:
        assert principal.partner_id is not None
        if partner_id is not None and partner_id != principal.partner_id:
            raise NotFound("partner not found")  # another org's, as for any of its records
        return principal.partner_id
    if partner_id is None:
        raise Unprocessable("a vendor key uploads for a partner: name it", errors=[
            {"location": "body", "field": "partner_id", "message": "required with a vendor key"}])
    if await directory.get(session, partner_id) is None:
        raise NotFound("partner not found")
    return partner_id


async def upload_proof(session: AsyncSession, principal: Principal, data: ProofUploadIn,
                       content: bytes, store: ProofStore) -> Any:
    """A proof file of the caller's org (a vendor key names the partner), kept until a claim
    names it or it expires. Every check is passed before the file goes to the store."""
    principal.require(INCENTIVES_WRITE)
    partner_id = await _owner(session, principal, data.partner_id)
    if len(content) > MAX_PROOF_BYTES:
        raise PayloadTooLarge(f"the file exceeds {MAX_PROOF_BYTES} bytes")
    if not content:
        raise Unprocessable("the file is empty", errors=[
            {"location": "body", "field": "file", "message": "empty"}])
    proof_id = new_id()
    digest = hashlib.sha256(content).hexdigest()
    where = await store.put(proof_id, content, data.content_type, digest)
    await session.execute(text(
        "INSERT INTO mdf_proof_files (id, claim_id, partner_id, filename, content_type, size, "
        "sha256, store, object_key, content, created_at) VALUES (:id, NULL, :partner, "
        ":filename, :content_type, :size, :sha256, :store, :object_key, :content, now())"),
        {"id": proof_id, "partner": partner_id, "filename": data.filename,
         "content_type": data.content_type, "size": len(content), "sha256": digest,
         "store": where.store, "object_key": where.object_key, "content": where.content})
    return await _upload(session, principal, proof_id)


async def _upload(session: AsyncSession, principal: Principal, proof_id: uuid.UUID, *,
                  with_content: bool = False, for_update: bool = False) -> Any:
    query = _UPLOAD.format(content=", f.content" if with_content else "")
    lock = " FOR UPDATE OF f" if for_update else ""
    row = (await session.execute(text(query + lock), {"id": proof_id})).first()
    if row is None or not principal.can_see_partner(row.partner_id):
        raise NotFound("proof file not found")
    return row


async def get_upload(session: AsyncSession, principal: Principal, proof_id: uuid.UUID, *,
                     with_content: bool = False) -> Any:
    """A proof file by its own id, claimed or not; a partner key sees its own org's only."""
    principal.require(INCENTIVES_READ)
    row = await _upload(session, principal, proof_id, with_content=with_content)
    if with_content and row.status != "stored":
        raise InvalidTransition("the presigned upload of this file is not completed")
    return row


class PresignedUploadsUnavailable(Conflict):
    """Presigned uploads go to an S3-compatible store, which is not where files go now."""


async def presign_upload(session: AsyncSession, principal: Principal, data: PresignIn,
                         store: ProofStore, seconds: int) -> tuple[Any, str]:
    """A ``pending`` file of the caller's org and the URL its bytes go to, straight to the
    bucket; ``complete_upload`` checks them."""
    principal.require(INCENTIVES_WRITE)
    partner_id = await _owner(session, principal, data.partner_id)
    if not isinstance(store, S3ProofStore):
        raise PresignedUploadsUnavailable(
            "presigned uploads need the S3-compatible proof store, which is not configured: "
            "upload the file with POST /v1/mdf/proofs")
    proof_id = new_id()
    url = await store.presign_put(proof_id, data.content_type, seconds)
    await session.execute(text(
        "INSERT INTO mdf_proof_files (id, claim_id, partner_id, filename, content_type, size, "
        "sha256, store, object_key, content, status, created_at) VALUES (:id, NULL, :partner, "
        ":filename, :content_type, :size, :sha256, :store, :object_key, NULL, 'pending', "
        "now())"),
        {"id": proof_id, "partner": partner_id, "filename": data.filename,
         "content_type": data.content_type, "size": data.size, "sha256": data.sha256,
         "store": store.name, "object_key": store.key(proof_id)})
    return await _upload(session, principal, proof_id), url


async def complete_upload(session: AsyncSession, principal: Principal, proof_id: uuid.UUID,
                          store: S3ProofStore | None, ttl: dt.timedelta) -> Any:
    """Reads a presigned upload's object back: the file is ``stored`` if it has the size and
    SHA-256 announced. Otherwise the object is deleted (the URL, while valid, takes the file
    again). Completing a stored file changes nothing."""
    principal.require(INCENTIVES_WRITE)
    row = await _upload(session, principal, proof_id, for_update=True)
    if row.status == "stored":
        return row
    if row.created_at + ttl <= _now():
        raise InvalidTransition("this upload expired: presign the file again")
    if store is None:
        raise ProofStoreUnavailable("proof files in the s3 store cannot be read: it is not "
                                    "configured")
    try:
        content = await store.fetch(row.object_key, MAX_PROOF_BYTES)
    except ObjectTooLarge as exc:
        content, size = None, exc.size
    else:
        if content is None:
            raise InvalidTransition("no file has arrived at the upload's URL yet")
        size = len(content)
    digest = hashlib.sha256(content).hexdigest() if content is not None else None
    if (size, digest) != (row.size, row.sha256):
        await store.delete_one(row.object_key)
        raise Unprocessable("the file that arrived is not the one announced, and was deleted: "
                            f"{size} bytes (announced {row.size})" + (
                                "" if size != row.size else ", another SHA-256"))
    await session.execute(text(
        "UPDATE mdf_proof_files SET status = 'stored' WHERE id = :id"), {"id": row.id})
    return await _upload(session, principal, proof_id)


async def expire_proof_uploads(session: AsyncSession, ttl: dt.timedelta,
                               batch: int = 500) -> int:
    """The scheduled job: deletes uploads that no claim named within ``ttl``. Rows a claim in
    flight holds are skipped (it either names them or lets them go). In an S3-compatible
    store the object outlives its row until the orphan sweep (``mdf.proofs``) deletes it."""
    deleted = await session.execute(text(
        "DELETE FROM mdf_proof_files WHERE id IN (SELECT id FROM mdf_proof_files "
        "WHERE claim_id IS NULL AND created_at <= now() - make_interval(secs => :ttl) "
        "ORDER BY created_at LIMIT :batch FOR UPDATE SKIP LOCKED) RETURNING id"),
        {"ttl": ttl.total_seconds(), "batch": batch})
    return len(deleted.all())
