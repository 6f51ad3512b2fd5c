"""Property-based tests of rebates, SPIFFs and payouts: the rule chosen and its amount are
exact integer arithmetic within the deal; over random won deals (replays included, some undone)
of a volume programme, every deal accrues once, the accruals sum to exactly what the ledger
moved to the partner's payable account, and the period's true-up brings the total to the
period band's amount, up or down, once; SPIFF caps are never exceeded; a payout batch totals
exactly the payables it groups and pays them once."""

import datetime as dt
import itertools
import uuid
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from prm_incentives.accruals import service as accruals
from prm_incentives.rebates import service
from prm_incentives.rebates.rules import Line, choose, rebate_of
from prm_incentives.rebates.schemas import RebateProgrammeIn, RebateTrueUpIn

from .conftest import VENDOR, project_partner
from .rebate_helpers import won

rates = st.decimals(min_value=0, max_value=100, places=2)
rule = st.fixed_dictionaries({
    "rate": rates.map(str),
    "tier": st.sampled_from([None, "Gold", "Silver"]),
    "min_volume": st.one_of(st.none(), st.integers(0, 10**7)),
    "sku_prefix": st.sampled_from([None, "FW-", "SUP-"]),
    "deal_type": st.sampled_from([None, "new", "renewal"]),
})
lines = st.lists(st.builds(Line, st.sampled_from(["FW-1", "FW-2", "SUP-1", "HW-9"]),
                           st.integers(0, 10**7)), max_size=5)


@given(rules=st.lists(rule, min_size=1, max_size=6), tier=st.sampled_from([None, "Gold"]),
       deal_type=st.sampled_from(["new", "renewal", "upsell"]), lines=lines,
       deal_amount=st.integers(0, 10**8), extra=st.integers(0, 10**8))
def test_the_chosen_rule_is_the_first_match_and_never_exceeds_the_deal(
        rules, tier, deal_type, lines, deal_amount, extra):
    volume = deal_amount + extra
    choice = choose(rules, tier=tier, deal_type=deal_type, lines=lines,
                    deal_amount=deal_amount, volume=volume)
    if choice is None:
        return
    assert 0 <= choice.base <= deal_amount
    assert choice.amount == rebate_of(choice.base, choice.rate) <= choice.base
    picked = rules[choice.index]
    assert picked.get("min_volume") is None or volume >= picked["min_volume"]
    assert picked.get("tier") in (None, tier)
    # No earlier rule matched: choosing among the earlier rules alone finds nothing.
    assert choose(rules[:choice.index], tier=tier, deal_type=deal_type, lines=lines,
                  deal_amount=deal_amount, volume=volume) is None


_windows = itertools.count()

deals = st.lists(st.tuples(st.integers(1, 5_000_000), st.integers(0, 89),
                           st.sampled_from(["new", "renewal"]), st.booleans(), st.booleans()),
                 min_size=1, max_size=8)


async def _payable(session, programme_id, partner_id) -> int:
    return (await session.execute(text(
        "SELECT credits_posted - debits_posted FROM ledger_accounts WHERE kind = 'payable' "
        "AND budget_id = :p AND partner_id = :partner"),
        {"p": programme_id, "partner": partner_id})).scalar() or 0


@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
@given(deals=deals)
async def test_accruals_sum_to_the_ledger_and_true_up_once(committing, deals):
    """Some deals are undone after they accrued, so the period's band may end lower than the
    one a deal accrued at: the true-up then takes the difference back. Either way, after it
    the partner holds exactly what the period's band pays."""
    # A window of its own far in the future: these committed programmes meet no other test's
    # deals, nor other examples'.
    start = dt.date(2200, 1, 1) + dt.timedelta(days=100 * next(_windows)
                                               + uuid.uuid4().int % 2000 * 100)
    end = start + dt.timedelta(days=89)
    partner_id = uuid.uuid4()
    async with committing() as session:
        await project_partner(session, partner_id)
        programme = await service.create_programme(session, VENDOR, RebateProgrammeIn(
            name=f"prop-{uuid.uuid4().hex}", currency="EUR", basis="volume",
            trailing_days=90, starts_on=start, ends_on=end, rules=[
                {"min_volume": {"amount": "60000.00", "currency": "EUR"}, "rate": "3.3"},
                {"min_volume": {"amount": "20000.00", "currency": "EUR"}, "rate": "2"},
                {"deal_type": "renewal", "rate": "0.75"}]))
        await session.commit()
    sent, undone = [], set()
    for cents, day, deal_type, replay, undo in deals:
        deal = won(partner_id, f"{Decimal(cents).scaleb(-2):.2f}",
                   closed_on=start + dt.timedelta(days=day), deal_type=deal_type)
        for _ in range(2 if replay else 1):
            async with committing() as session:
                await service.accrue_won_deal(session, deal)
                await session.commit()
        sent.append(deal)
        if undo:
            undone.add(deal.deal_id)

    async with committing() as session:
        rows = list(await session.execute(text(
            "SELECT * FROM rebate_accruals WHERE programme_id = :p"), {"p": programme.id}))
        assert sorted(r.deal_id for r in rows) == sorted(d.deal_id for d in sent)
        for row in rows:
            assert row.amount == rebate_of(row.base_amount, Decimal(row.rate))
        assert await _payable(session, programme.id, partner_id) == sum(r.amount for r in rows)
        # Only an accrual that moved money is reversed; one that earned nothing stays.
        undone &= {r.deal_id for r in rows if r.status == "accrued"}
        for row in rows:
            if row.deal_id in undone:
                await accruals.reverse(session, VENDOR, service.BOOK, row.id, "undone", None)
        kept = [r for r in rows if r.deal_id not in undone]
        held = sum(r.amount for r in kept)
        assert await _payable(session, programme.id, partner_id) == held

        period = RebateTrueUpIn(partner_id=partner_id, period_from=start, period_to=end)
        after = end + dt.timedelta(days=1)
        true_up, created = await service.true_up(session, VENDOR, programme.id, period,
                                                 today=after)
        again, created_again = await service.true_up(session, VENDOR, programme.id, period,
                                                     today=after)
        assert created and not created_again and again.id == true_up.id
        volume = sum(r.deal_amount for r in kept)
        due = sum(c.amount for r in kept if (c := choose(
            programme.rules, tier=None, deal_type=r.deal_type, lines=[],
            deal_amount=r.deal_amount, volume=volume)) is not None)
        assert true_up.amount == abs(due - held)
        assert true_up.status == ("clawback" if due < held
                                  else "accrued" if due > held else "no_rebate")
        assert await _payable(session, programme.id, partner_id) == due
        await session.commit()


# --- SPIFF caps --------------------------------------------------------------------------------

spiff_deals = st.lists(st.tuples(st.integers(0, 3), st.integers(1, 400_000), st.booleans()),
                       min_size=1, max_size=12)


@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
@given(deals=spiff_deals, fund=st.integers(1, 20_000), cap=st.one_of(
    st.none(), st.integers(1, 8_000)), rate=st.sampled_from(["1", "2.5", "12.75"]))
async def test_spiff_caps_are_never_exceeded(committing, deals, fund, cap, rate):
    from prm_incentives.spiffs import service as spiffs
    from prm_incentives.spiffs.schemas import SpiffIn

    start = dt.date(2200, 1, 1) + dt.timedelta(days=uuid.uuid4().int % 200_000)
    partners = [uuid.uuid4() for _ in range(4)]

    def eur(cents: int) -> dict[str, str]:
        return {"amount": f"{Decimal(cents).scaleb(-2):.2f}", "currency": "EUR"}

    async with committing() as session:
        spiff = await spiffs.create_spiff(session, VENDOR, SpiffIn(
            name=f"prop-{uuid.uuid4().hex}", starts_on=start, ends_on=start, rate=rate,
            fund=eur(fund), partner_cap=None if cap is None else eur(cap)))
        await session.commit()
    for index, cents, replay in deals:
        deal = won(partners[index], f"{Decimal(cents).scaleb(-2):.2f}", closed_on=start)
        for _ in range(2 if replay else 1):
            async with committing() as session:
                await spiffs.accrue_won_deal(session, deal)
                await session.commit()
    async with committing() as session:
        rows = list(await session.execute(text(
            "SELECT * FROM spiff_accruals WHERE spiff_id = :s"), {"s": spiff.id}))
        # One accrual per deal that earns a bonus at all, replays included.
        assert len(rows) == sum(1 for _, cents, _ in deals
                                if rebate_of(cents, Decimal(rate)) > 0)
        total = sum(r.amount for r in rows)
        assert total <= fund
        for partner in partners:
            earned = sum(r.amount for r in rows if r.partner_id == partner)
            assert cap is None or earned <= cap
        for row in rows:
            assert row.amount == row.bonus or row.capped_by is not None
        pool = (await session.execute(text(
            "SELECT credits_posted - debits_posted - debits_pending FROM ledger_accounts "
            "WHERE id = :id"), {"id": spiff.pool_account_id})).scalar_one()
        payables = (await session.execute(text(
            "SELECT COALESCE(SUM(credits_posted - debits_posted), 0) FROM ledger_accounts "
            "WHERE kind = 'payable' AND budget_id = :s"), {"s": spiff.id})).scalar_one()
        assert pool == fund - total >= 0 and payables == total
        # Nothing was left unpaid while money remained: a capped accrual saw a cap reached.
        assert all(r.status == "accrued" or r.capped_by is not None for r in rows)


# --- payout batches ------------------------------------------------------------------------------

payables = st.lists(st.tuples(st.integers(0, 2), st.integers(1, 100_000), st.integers(0, 100)),
                    min_size=1, max_size=10)


@settings(max_examples=10, deadline=None, suppress_health_check=list(HealthCheck))
@given(payables=payables)
async def test_a_batch_totals_the_payables_it_groups_and_pays_them(committing, payables):
    from prm_incentives.ledger import repository as ledger
    from prm_incentives.ledger.service import TransferSpec, transfer
    from prm_incentives.payouts import service as payouts
    from prm_incentives.payouts.schemas import PayoutBatchIn, PayoutPaymentIn

    partner = uuid.uuid4()
    budgets = [uuid.uuid4() for _ in range(3)]
    expected = 0
    async with committing() as session:
        external = await ledger.ensure_account(session, kind="external", currency="EUR",
                                               name="prop external", non_negative=False,
                                               budget_id=uuid.uuid4())
        for index, amount, reversed_percent in payables:
            account = await ledger.ensure_account(
                session, kind="payable", currency="EUR", budget_id=budgets[index],
                partner_id=partner, non_negative=True, name="prop payable")
            made, _ = await transfer(session, TransferSpec(
                id=uuid.uuid4(), debit_account_id=external.id, credit_account_id=account.id,
                currency="EUR", amount=amount, code="prop"))
            back = amount * reversed_percent // 100
            if back:
                await transfer(session, TransferSpec(
                    id=uuid.uuid4(), debit_account_id=account.id,
                    credit_account_id=external.id, currency="EUR", amount=back, code="prop",
                    reverses_id=made.id))
            expected += amount - back
        await session.commit()
    today = dt.date.today()
    async with committing() as session:
        if expected == 0:
            return
        batch = await payouts.create_batch(session, VENDOR, PayoutBatchIn(
            partner_id=partner, currency="EUR", period_from=today, period_to=today))
        lines = await payouts.lines_of(session, batch.id)
        assert batch.total == sum(line.amount for line in lines) == expected
        assert batch.lines == len(lines) == sum(
            1 for _, amount, percent in payables if amount - amount * percent // 100 > 0)
        await payouts.approve_batch(session, VENDOR, batch.id, None)
        await payouts.mark_exported(session, VENDOR, batch.id, None)
        payment = PayoutPaymentIn(payment_reference=f"P-{uuid.uuid4().hex}", paid_on=today)
        _, changed = await payouts.record_payment(session, VENDOR, batch.id, payment, None)
        _, changed_again = await payouts.record_payment(session, VENDOR, batch.id, payment,
                                                        None)
        assert changed and not changed_again
        left, paid = (await session.execute(text(
            "SELECT COALESCE(SUM(credits_posted - debits_posted) FILTER "
            "(WHERE kind = 'payable'), 0), COALESCE(SUM(credits_posted - debits_posted) "
            "FILTER (WHERE kind = 'paid'), 0) FROM ledger_accounts WHERE partner_id = :p"),
            {"p": partner})).one()
        assert (left, paid) == (0, expected)
        await session.commit()
