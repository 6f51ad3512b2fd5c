"""The deal handlers' path (the deal's row returned locked by its upsert, the rest read in one
statement, the history kept between events while its revision stands, one write statement)
gives what a full recomputation gives: over random stories of deals sharing customers (some
registered late, approved, won, lost, touched for their customer), applied in committed
transactions of one to three events as the worker applies them, after every event the deal's
credits and results are what ``recompute`` finds with nothing kept (the history read afresh):
it has nothing to change. Committed for real, so that the history revision moves at commit as
in production; everything is deleted afterwards."""

from __future__ import annotations

import datetime as dt
import uuid

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from prm_attribution.deals.handlers import HANDLERS
from prm_attribution.results import service
from prm_attribution.results.service import recompute

DEALS, PARTNERS, DOMAINS = 4, 3, 2

operation = st.one_of(
    st.tuples(st.just("register"), st.integers(0, DEALS - 1)),
    st.tuples(st.just("approve"), st.integers(0, DEALS - 1)),
    st.tuples(st.just("win"), st.integers(0, DEALS - 1)),
    st.tuples(st.just("lose"), st.integers(0, DEALS - 1)),
    st.tuples(st.just("customer_touch"), st.integers(0, DOMAINS - 1),
              st.integers(0, PARTNERS - 1)),
    st.tuples(st.just("deal_touch"), st.integers(0, DEALS - 1), st.integers(0, PARTNERS - 1)),
)


async def _fully_recomputed_changes_nothing(session: AsyncSession, deal_id: uuid.UUID) -> bool:
    """Whether ``recompute`` with nothing kept finds nothing to change (in a savepoint rolled
    back; the kept histories are put back as they were)."""
    kept = dict(service._HISTORIES)
    service._HISTORIES.clear()
    try:
        async with session.begin_nested() as savepoint:
            changed = await recompute(session, deal_id)
            await savepoint.rollback()
    finally:
        service._HISTORIES.clear()
        service._HISTORIES.update(kept)
    return not changed


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(story=st.lists(st.tuples(operation, st.integers(1, 3)), min_size=1, max_size=14))
# A deal won after the history was kept, then a deal of its partners credited in a later
# transaction (the kept history is stale: the revision moved), and in the same one.
@example(story=[(("register", 0), 1), (("deal_touch", 0, 1), 1), (("win", 0), 1),
                (("register", 2), 1), (("deal_touch", 2, 0), 1), (("lose", 1), 2),
                (("customer_touch", 0, 1), 1)])
async def test_every_event_leaves_what_a_full_recompute_gives(engine, kit, story):
    sessions = async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)
    partners = [uuid.uuid4() for _ in range(PARTNERS)]
    domains = [f"{uuid.uuid4().hex}.example" for _ in range(DOMAINS)]
    deals = [kit.DealStory(partners[i % PARTNERS], domain=domains[i % DOMAINS])
             for i in range(DEALS)]
    at = kit.T0
    try:
        transactions, ops = [], [op for op, _ in story]
        for _, size in story:  # the sizes cut the operations into transactions
            if ops:
                transactions.append(ops[:size])
                ops = ops[size:]
        for operations in transactions:
            async with sessions() as session:
                for op, first, *rest in operations:
                    at += dt.timedelta(hours=7)
                    target = await _apply(session, op, first, rest, deals, partners, domains, at)
                    for deal_id in target:
                        assert await _fully_recomputed_changes_nothing(session, deal_id)
                await session.commit()
        # (Only the deals an event recomputes: another deal's data-driven credits follow the
        # history when the scheduled recompute comes, as before.)
    finally:
        async with sessions() as session:
            ids = [d.deal_id for d in deals]
            for table in ("attribution_credits", "attribution_results", "deals"):
                await session.execute(text(f"DELETE FROM {table} WHERE deal_id = ANY(:ids)"),
                                      {"ids": ids})
            await session.execute(text(
                "DELETE FROM touchpoints WHERE deal_id = ANY(:ids) OR customer_domain = "
                "ANY(:domains)"), {"ids": ids, "domains": domains})
            await session.commit()


async def _apply(session, op, first, rest, deals, partners, domains, at) -> list[uuid.UUID]:
    """Apply one event (as the worker's handler does) or record a touch and recompute the
    deals it counts for (as the API does); the deals recomputed."""
    if op == "customer_touch":
        domain, partner = domains[first], partners[rest[0]]
        await session.execute(text(
            "INSERT INTO touchpoints (id, partner_id, customer_domain, kind, occurred_at, "
            "evidence, source, recorded_by, recorded_at) VALUES (:id, :p, :d, 'co_sell', :at, "
            "'{}', 'api', 'test', :at)"), {"id": uuid.uuid4(), "p": partner, "d": domain,
                                          "at": at})
        counted = list((await session.execute(text(
            "SELECT deal_id FROM deals WHERE customer_domain = :d AND (status = ANY(:open) "
            "OR status = 'won') ORDER BY deal_id"),
            {"d": domain, "open": list(service.OPEN_STATUSES)})).scalars())
        for deal_id in counted:
            await recompute(session, deal_id)
        return counted
    deal = deals[first]
    if op == "deal_touch":
        await session.execute(text(
            "INSERT INTO touchpoints (id, partner_id, deal_id, customer_domain, kind, "
            "occurred_at, evidence, source, recorded_by, recorded_at) VALUES (:id, :p, :deal, "
            ":d, 'referral', :at, '{}', 'api', 'test', :at)"),
            {"id": uuid.uuid4(), "p": partners[rest[0]], "deal": deal.deal_id,
             "d": deal.customer.domain, "at": at})
        await recompute(session, deal.deal_id)
        return [deal.deal_id]
    event = {"register": lambda: deal.registered(at=at),
             "approve": lambda: deal.approved(at=at),
             "win": lambda: deal.won(closed_on=at.date(), at=at),
             "lose": lambda: deal.lost(at=at)}[op]()
    await HANDLERS[event.type](session, event)
    return [deal.deal_id]
