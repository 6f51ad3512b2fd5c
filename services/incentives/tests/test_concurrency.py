"""200 fund requests at once against one allocation, each in its own transaction on its own
connection: the allocation is never overspent and the sums stay exact. Then rejections that
release funds race new requests for them."""

import asyncio
import datetime as dt
import uuid

from sqlalchemy import text

from prm_incentives.config import Settings
from prm_incentives.ledger.service import InsufficientFunds
from prm_incentives.mdf import service
from prm_incentives.mdf.schemas import AllocationIn, BudgetIn, FundRequestIn
from prm_platform.money import Money
from prm_platform.problems import InvalidTransition

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
