"""200 fund requests at once against one allocation, each in its own transaction on its own
connection: the allocation is never overspent and the sums stay exact. Then rejections that
release funds race new requests for them. And claims racing for the same uploaded proof files,
in any order, while the expiry job runs: one claim gets them, none deadlocks."""

import asyncio
import datetime as dt
import random
import uuid

from sqlalchemy import text

from prm_incentives.config import Settings
from prm_incentives.ledger.service import InsufficientFunds
from prm_incentives.mdf import service
from prm_incentives.mdf.proofs import PostgresProofStore
from prm_incentives.mdf.schemas import (
    AllocationIn,
    ApprovalIn,
    BudgetIn,
    ClaimIn,
    FundRequestIn,
    ProofUploadIn,
)
from prm_platform.money import Money
from prm_platform.problems import InvalidTransition, Unprocessable

from .conftest import VENDOR, partner_principal, project_partner


def eur(amount: str) -> Money:
    return Money(amount=amount, currency="EUR")


async def test_two_hundred_requests_never_overspend(committing):
    settings = Settings()
    partner_id = uuid.uuid4()
    async with committing() as session:
        await project_partner(session, partner_id)
        budget = await service.create_budget(session, VENDOR, BudgetIn(
            programme=f"race-{uuid.uuid4().hex[:8]}", period="2025", amount=eur("10000.00")))
        allocation = await service.create_allocation(session, VENDOR, AllocationIn(
            budget_id=budget.id, partner_id=partner_id, amount=eur("10000.00")))
        await session.commit()
    partner = partner_principal(partner_id)
    today = dt.date.today()

    async def request(cost: str) -> uuid.UUID | None:
        async with committing() as session:
            try:
                row = await service.submit_request(session, partner, FundRequestIn(
                    allocation_id=allocation.id, activity_type="event", title="Race",
                    start_date=today, end_date=today, planned_cost=eur(cost),
                    expected_outcomes="leads"), settings)
                await session.commit()
                return row.id
            except InsufficientFunds:
                return None

    first = await asyncio.gather(*[request("100.00") for _ in range(200)])
    accepted = [r for r in first if r is not None]
    assert len(accepted) == 100  # exactly what 10,000.00 covers

    async def reject(request_id: uuid.UUID) -> bool:
        async with committing() as session:
            try:
                await service.reject_request(session, VENDOR, request_id, "no", None)
                await session.commit()
                return True
            except InvalidTransition:
                return False

    # 40 requests are each rejected twice at once (released once only) while 100 requests of
    # 50.00 compete for the 4,000.00 released.
    outcome = await asyncio.gather(*[reject(r) for r in accepted[:40]],
                                   *[reject(r) for r in accepted[:40]],
                                   *[request("50.00") for _ in range(100)])
    assert all(outcome[i] + outcome[40 + i] == 1 for i in range(40))
    second = [r for r in outcome[80:] if r is not None]
    async with committing() as session:
        seen = await service.get_allocation(session, VENDOR, allocation.id)
        reserved = (await session.execute(text(
            "SELECT coalesce(sum(planned_cost), 0) FROM mdf_requests "
            "WHERE allocation_id = :a AND status = 'submitted'"), {"a": allocation.id})
            ).scalar_one()
        unbalanced = (await session.execute(text(
            "SELECT currency FROM ledger_accounts GROUP BY currency "
            "HAVING sum(debits_posted) <> sum(credits_posted) "
            "OR sum(debits_pending) <> sum(credits_pending)"))).all()
    assert seen.available >= 0
    assert seen.available + seen.reserved == 1_000_000  # minor units: exact
    assert seen.reserved == reserved == (60 * 10_000 + len(second) * 5_000)
    assert len(second) <= 80 and unbalanced == []


async def test_claims_race_for_the_same_uploads(committing):
    settings = Settings()
    ttl = dt.timedelta(hours=settings.proof_upload_ttl_hours)
    store = PostgresProofStore()
    partner_id = uuid.uuid4()
    partner = partner_principal(partner_id)
    today = dt.date.today()
    async with committing() as session:
        await project_partner(session, partner_id)
        budget = await service.create_budget(session, VENDOR, BudgetIn(
            programme=f"race-{uuid.uuid4().hex[:8]}", period="2025", amount=eur("1000.00")))
        allocation = await service.create_allocation(session, VENDOR, AllocationIn(
            budget_id=budget.id, partner_id=partner_id, amount=eur("1000.00")))
        requests = []
        for _ in range(12):
            made = await service.submit_request(session, partner, FundRequestIn(
                allocation_id=allocation.id, activity_type="event", title="Race",
                start_date=today, end_date=today, planned_cost=eur("10.00"),
                expected_outcomes="leads"), settings)
            await service.approve_request(session, VENDOR, made.id, ApprovalIn(), settings, None)
            requests.append(made.id)
        uploads = [(await service.upload_proof(session, partner, ProofUploadIn(
            filename=f"p{n}.pdf", content_type="application/pdf"), f"%PDF {n}".encode(),
            store)).id for n in range(3)]
        # Expired uploads the job deletes meanwhile, and one the claims name too.
        stale = [(await service.upload_proof(session, partner, ProofUploadIn(
            filename=f"old{n}.pdf", content_type="application/pdf"), b"%PDF old",
            store)).id for n in range(20)]
        await session.execute(text(
            "UPDATE mdf_proof_files SET created_at = now() - interval '2 days' "
            "WHERE id = ANY(CAST(:ids AS uuid[]))"), {"ids": stale})
        await session.commit()

    async def claim(request_id: uuid.UUID, proof_ids: list[uuid.UUID]) -> uuid.UUID | None:
        async with committing() as session:
            try:
                row = await service.submit_claim(session, partner, ClaimIn(
                    request_id=request_id, amount=eur("10.00"), description="done",
                    proof_ids=proof_ids), store, ttl)
                await session.commit()
                return row.id
            except Unprocessable:
                return None

    async def expire() -> int:
        async with committing() as session:
            deleted = await service.expire_proof_uploads(session, ttl)
            await session.commit()
            return deleted

    shuffled = [random.sample(uploads, len(uploads)) for _ in range(10)]
    outcome = await asyncio.gather(*[claim(r, ids) for r, ids in zip(requests, shuffled,
                                                                     strict=False)],
                                   claim(requests[10], [uploads[0], stale[0]]),
                                   expire(), expire())
    claims = [c for c in outcome[:11] if c is not None]
    assert len(claims) == 1
    # A stale upload a refused claim held meanwhile was skipped, and goes on the next run.
    deleted = sum(outcome[11:]) + await expire()
    async with committing() as session:
        owners = (await session.execute(text(
            "SELECT DISTINCT claim_id FROM mdf_proof_files WHERE id = ANY(CAST(:ids AS uuid[]))"),
            {"ids": uploads})).scalars().all()
        left = (await session.execute(text(
            "SELECT count(*) FROM mdf_proof_files WHERE id = ANY(CAST(:ids AS uuid[]))"),
            {"ids": stale})).scalar_one()
    assert owners == claims
    assert left == 0 and deleted >= 20
