"""Property-based tests of the ledger: random sequences of transfers, pending transfers, posts
(full and partial), voids, expiries and retries, each in its own committed transaction, keep
debits equal to credits per currency, never take a flagged account below zero available, and
match a model of what should have happened, exactly (integers, no rounding)."""

import asyncio
import uuid
from dataclasses import dataclass, field

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from prm_incentives.ledger import repository
from prm_incentives.ledger.service import (
    CurrencyMismatch,
    InsufficientFunds,
    TransferIdReused,
    TransferSpec,
    expire_due,
    resolve,
    transfer,
    transfer_batch,
)
from prm_platform.http import autocommit_connection
from prm_platform.problems import InvalidTransition, Unprocessable

CURRENCIES = ("EUR", "JPY", "KWD")
ACCOUNTS = 4  # per currency: 0 is external (may go negative), 1-3 must not

operation = st.one_of(
    st.tuples(st.just("transfer"), st.sampled_from(CURRENCIES), st.integers(0, ACCOUNTS - 1),
              st.integers(0, ACCOUNTS - 1), st.integers(1, 5000), st.booleans()),
    st.tuples(st.just("post"), st.integers(0, 50), st.integers(0, 100)),
    st.tuples(st.just("void"), st.integers(0, 50)),
    st.tuples(st.just("expire"), st.integers(0, 50)),
    st.tuples(st.just("retry"), st.integers(0, 50), st.booleans()),
)


@dataclass
class Model:
    """What every account's balances must be: [debits_posted, credits_posted, debits_pending,
    credits_pending]."""

    balances: dict[uuid.UUID, list[int]] = field(default_factory=dict)
    flagged: set[uuid.UUID] = field(default_factory=set)
    made: list[TransferSpec] = field(default_factory=list)
    status: dict[uuid.UUID, str] = field(default_factory=dict)

    def available(self, account: uuid.UUID) -> int:
        d, c, dp, _ = self.balances[account]
        return c - d - dp


async def open_accounts(committing, model: Model) -> dict[str, list[uuid.UUID]]:
    scope = uuid.uuid4()  # a budget id of its own: these accounts belong to this example
    found: dict[str, list[uuid.UUID]] = {}
    async with committing() as session:
        for currency in CURRENCIES:
            found[currency] = []
            for index in range(ACCOUNTS):
                row = await repository.ensure_account(
                    session, kind="external" if index == 0 else "allocation",
                    currency=currency, name=f"property {index}", non_negative=index > 0,
                    budget_id=scope, partner_id=None if index == 0 else uuid.uuid4())
                found[currency].append(row.id)
                model.balances[row.id] = [0, 0, 0, 0]
                if index > 0:
                    model.flagged.add(row.id)
        await session.commit()
    return found


async def apply(committing, model: Model, accounts, op) -> None:
    kind = op[0]
    async with committing() as session:
        if kind == "transfer":
            _, currency, d, c, amount, pending = op
            if d == c:
                return
            spec = TransferSpec(id=uuid.uuid4(), debit_account_id=accounts[currency][d],
                                credit_account_id=accounts[currency][c], currency=currency,
                                amount=amount, pending=pending)
            enough = (spec.debit_account_id not in model.flagged
                      or model.available(spec.debit_account_id) >= amount)
            try:
                row, created = await transfer(session, spec)
                await session.commit()
            except InsufficientFunds:
                assert not enough
                return
            assert enough and created and row.status == ("pending" if pending else "posted")
            model.made.append(spec)
            model.status[spec.id] = row.status
            debit, credit = model.balances[spec.debit_account_id], model.balances[
                spec.credit_account_id]
            slot = 2 if pending else 0
            debit[slot] += amount
            credit[slot + 1] += amount
        elif kind in ("post", "void", "expire"):
            pending = [s for s in model.made if s.pending]
            if not pending:
                return
            spec = pending[op[1] % len(pending)]
            posted = max(1, spec.amount * op[2] // 100) if kind == "post" else 0
            action = {"post": "posted", "void": "voided", "expire": "expired"}[kind]
            try:
                row = await resolve(session, spec.id, action, posted if kind == "post" else None)
                await session.commit()
            except InvalidTransition:
                assert model.status[spec.id] != "pending"  # resolved once, never twice
                return
            assert model.status[spec.id] == "pending" and row.status == action
            model.status[spec.id] = action
            debit, credit = model.balances[spec.debit_account_id], model.balances[
                spec.credit_account_id]
            debit[2] -= spec.amount
            credit[3] -= spec.amount
            debit[0] += posted
            credit[1] += posted
        elif kind == "retry" and model.made:
            spec = model.made[op[1] % len(model.made)]
            if op[2]:
                row, created = await transfer(session, spec)
                assert not created and row.id == spec.id and row.amount == spec.amount
            else:
                changed = TransferSpec(**{**spec.__dict__, "amount": spec.amount + 1})
                with pytest.raises(TransferIdReused):
                    await transfer(session, changed)
            await session.commit()


async def check(committing, model: Model) -> None:
    ids = list(model.balances)
    async with committing() as session:
        rows = {r.id: r for r in await session.execute(text(
            "SELECT id, currency, non_negative, debits_posted, credits_posted, debits_pending, "
            "credits_pending FROM ledger_accounts WHERE id = ANY(:ids)"), {"ids": ids})}
        # Pending balance from the history: reserved, less released, less what was posted
        # out of a reservation.
        entries = {r.account_id: r for r in await session.execute(text(
            "SELECT e.account_id, "
            "coalesce(sum(e.amount) FILTER (WHERE side = 'debit' AND phase = 'posted'), 0) AS dp,"
            "coalesce(sum(e.amount) FILTER (WHERE side = 'credit' AND phase = 'posted'), 0) "
            "    AS cp,"
            "coalesce(sum(CASE WHEN phase = 'pending' THEN e.amount ELSE -e.amount END) "
            "    FILTER (WHERE side = 'debit' AND (phase <> 'posted' OR t.pending)), 0) AS dr,"
            "coalesce(sum(CASE WHEN phase = 'pending' THEN e.amount ELSE -e.amount END) "
            "    FILTER (WHERE side = 'credit' AND (phase <> 'posted' OR t.pending)), 0) AS cr "
            "FROM ledger_entries e JOIN ledger_transfers t ON t.id = e.transfer_id "
            "WHERE e.account_id = ANY(:ids) GROUP BY e.account_id"),
            {"ids": ids})}
    totals: dict[str, list[int]] = {}
    for account_id, expected in model.balances.items():
        row = rows[account_id]
        actual = [row.debits_posted, row.credits_posted, row.debits_pending,
                  row.credits_pending]
        assert actual == expected, account_id
        if row.non_negative:
            assert row.credits_posted - row.debits_posted - row.debits_pending >= 0
        if account_id in entries:  # the history adds up to the balances
            e = entries[account_id]
            assert [e.dp, e.cp, e.dr, e.cr] == actual
        total = totals.setdefault(row.currency, [0, 0, 0, 0])
        for index, value in enumerate(actual):
            total[index] += value
    for d, c, dp, cp in totals.values():
        assert d == c and dp == cp  # double entry, per currency


async def assert_whole_ledger_balances(session) -> None:
    unbalanced = (await session.execute(text(
        "SELECT currency FROM ledger_accounts GROUP BY currency "
        "HAVING sum(debits_posted) <> sum(credits_posted) "
        "OR sum(debits_pending) <> sum(credits_pending)"))).all()
    assert unbalanced == []


@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
@given(ops=st.lists(operation, min_size=1, max_size=25))
async def test_random_sequences_keep_the_ledger_balanced(committing, ops):
    model = Model()
    accounts = await open_accounts(committing, model)
    # Fund the flagged accounts a little, so that transfers between them happen too.
    for currency in CURRENCIES:
        for index in (1, 2):
            await apply(committing, model, accounts,
                        ("transfer", currency, 0, index, 3000, False))
    for op in ops:
        await apply(committing, model, accounts, op)
        await check(committing, model)
    async with committing() as session:
        await assert_whole_ledger_balances(session)


async def test_concurrent_transfers_never_overdraw(committing):
    """Fifty debits of 30 from an account holding 1000, each in its own transaction at once,
    and transfers both ways between two accounts (no deadlock: id-ordered locks)."""
    model = Model()
    accounts = (await open_accounts(committing, model))["EUR"]
    await apply(committing, model, {"EUR": accounts}, ("transfer", "EUR", 0, 1, 1000, False))
    await apply(committing, model, {"EUR": accounts}, ("transfer", "EUR", 0, 2, 1000, False))

    async def debit(source: int, target: int) -> bool:
        async with committing() as session:
            try:
                await transfer(session, TransferSpec(
                    id=uuid.uuid4(), debit_account_id=accounts[source],
                    credit_account_id=accounts[target], currency="EUR", amount=30,
                    pending=source == 1))
                await session.commit()
                return True
            except InsufficientFunds:
                return False

    results = await asyncio.gather(*[debit(1, 3) for _ in range(50)],
                                   *[debit(2, 1) if i % 2 else debit(1, 2) for i in range(20)])
    async with committing() as session:
        rows = {r.id: r for r in await session.execute(text(
            "SELECT * FROM ledger_accounts WHERE id = ANY(:ids)"), {"ids": accounts})}
        await assert_whole_ledger_balances(session)
    for account_id in accounts[1:]:
        row = rows[account_id]
        assert row.credits_posted - row.debits_posted - row.debits_pending >= 0
    assert sum(results) > 0
    assert sum(r.credits_posted + r.credits_pending for r in rows.values()) == sum(
        r.debits_posted + r.debits_pending for r in rows.values())


async def test_the_expiry_job_expires_once(committing):
    model = Model()
    accounts = (await open_accounts(committing, model))["JPY"]
    await apply(committing, model, {"JPY": accounts}, ("transfer", "JPY", 0, 1, 500, False))
    spec = TransferSpec(id=uuid.uuid4(), debit_account_id=accounts[1],
                        credit_account_id=accounts[2], currency="JPY", amount=400,
                        pending=True, timeout_seconds=1)
    async with committing() as session:
        await transfer(session, spec)
        await session.commit()
    await asyncio.sleep(1.2)

    async def run_job() -> int:
        async with committing() as session:
            done = await expire_due(session)
            await session.commit()
            return done

    # Two replicas at once: the transfer expires exactly once.
    counts = await asyncio.gather(run_job(), run_job())
    async with committing() as session:
        row = await repository.get_transfer(session, spec.id)
        account = await repository.get_account(session, accounts[1])
        with pytest.raises(InvalidTransition):
            await resolve(session, spec.id, "posted")
    assert row.status == "expired" and row.posted_amount == 0
    assert account.debits_pending == 0 and account.credits_posted == 500
    assert sum(counts) >= 1 and row.version == 2


async def test_transfers_are_immutable(committing):
    model = Model()
    accounts = (await open_accounts(committing, model))["EUR"]
    await apply(committing, model, {"EUR": accounts}, ("transfer", "EUR", 0, 1, 10, False))
    from sqlalchemy.exc import DBAPIError
    for statement in ("UPDATE ledger_transfers SET amount = 1 WHERE id = :id",
                      "DELETE FROM ledger_transfers WHERE id = :id",
                      "UPDATE ledger_entries SET amount = 1 WHERE transfer_id = :id"):
        async with committing() as session:
            with pytest.raises(DBAPIError):
                await session.execute(text(statement), {"id": model.made[0].id})


# A batch item: a new transfer (currency, debit, credit, amount, pending), the same id as an
# earlier item or transfer (sent again as it was, or changed), or a transfer across currencies.
batch_item = st.one_of(
    st.tuples(st.just("new"), st.sampled_from(CURRENCIES), st.integers(0, ACCOUNTS - 1),
              st.integers(0, ACCOUNTS - 1), st.integers(1, 2500), st.booleans()),
    st.tuples(st.just("again"), st.integers(0, 200), st.booleans()),
    st.tuples(st.just("across"), st.integers(1, ACCOUNTS - 1)),
)


def expected_outcome(model: Model, spec: TransferSpec, known: dict[uuid.UUID, TransferSpec],
                     currency_of: dict[uuid.UUID, str]) -> str:
    """What the ledger must answer for ``spec``, given what it holds and what was accepted
    before it in its batch; updates the model when the transfer is made."""
    if spec.id in known:
        return "replayed" if known[spec.id] == spec else "reused"
    if not currency_of[spec.debit_account_id] == currency_of[spec.credit_account_id] \
            == spec.currency:
        return "currency"
    if spec.debit_account_id in model.flagged and model.available(
            spec.debit_account_id) < spec.amount:
        return "funds"
    known[spec.id] = spec
    model.made.append(spec)
    model.status[spec.id] = "pending" if spec.pending else "posted"
    slot = 2 if spec.pending else 0
    model.balances[spec.debit_account_id][slot] += spec.amount
    model.balances[spec.credit_account_id][slot + 1] += spec.amount
    return "created"


def seen_outcome(outcome) -> str:
    if outcome.created:
        return "created"
    problem = outcome.problem
    if problem is None:
        return "replayed"
    return {TransferIdReused: "reused", CurrencyMismatch: "currency",
            InsufficientFunds: "funds"}[type(problem)]


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(batches=st.lists(st.lists(batch_item, min_size=1, max_size=30), min_size=1, max_size=5))
async def test_batches_decide_each_transfer_in_order(committing, batches):
    """Each item of a batch is made, replayed or refused exactly as one transfer after the
    other would be, in one transaction per batch; balances, history and double entry hold."""
    model = Model()
    accounts = await open_accounts(committing, model)
    currency_of = {a: c for c, ids in accounts.items() for a in ids}
    for currency in CURRENCIES:
        for index in (1, 2):
            await apply(committing, model, accounts,
                        ("transfer", currency, 0, index, 3000, False))
    known = {spec.id: spec for spec in model.made}
    for items in batches:
        specs: list[TransferSpec] = []
        for item in items:
            if item[0] == "new":
                _, currency, d, c, amount, pending = item
                if d == c:
                    continue
                specs.append(TransferSpec(
                    id=uuid.uuid4(), debit_account_id=accounts[currency][d],
                    credit_account_id=accounts[currency][c], currency=currency,
                    amount=amount, pending=pending))
            elif item[0] == "again":
                earlier = list(known.values()) + specs
                spec = earlier[item[1] % len(earlier)]
                specs.append(spec if item[2] else TransferSpec(
                    **{**spec.__dict__, "amount": spec.amount + 1}))
            else:
                specs.append(TransferSpec(
                    id=uuid.uuid4(), debit_account_id=accounts["EUR"][item[1]],
                    credit_account_id=accounts["JPY"][0], currency="EUR", amount=1))
        expected = [expected_outcome(model, spec, known, currency_of) for spec in specs]
        async with committing() as session:
            outcomes = await transfer_batch(session, specs)
            await session.commit()
        assert [seen_outcome(o) for o in outcomes] == expected
        for outcome in outcomes:
            if outcome.problem is None:  # made now or before: the transfer as asked
                assert outcome.spec.matches(outcome.row)
        await check(committing, model)
    async with committing() as session:
        await assert_whole_ledger_balances(session)


async def test_concurrent_batches_never_overdraw(committing):
    """Ten batches at once, each of twenty debits of 30 from one account holding 1000 and of
    transfers both ways between two others, beside single transfers on the same accounts:
    exactly what the account covers is accepted (no deadlock, no overdraft)."""
    model = Model()
    accounts = (await open_accounts(committing, model))["EUR"]
    await apply(committing, model, {"EUR": accounts}, ("transfer", "EUR", 0, 1, 1000, False))
    await apply(committing, model, {"EUR": accounts}, ("transfer", "EUR", 0, 2, 500, False))
    await apply(committing, model, {"EUR": accounts}, ("transfer", "EUR", 0, 3, 500, False))

    def spec(debit: int, credit: int, pending: bool = False) -> TransferSpec:
        return TransferSpec(id=uuid.uuid4(), debit_account_id=accounts[debit],
                            credit_account_id=accounts[credit], currency="EUR", amount=30,
                            pending=pending)

    async def batch(number: int) -> list:
        async with committing() as session:
            outcomes = await transfer_batch(session, [
                *(spec(1, 0, pending=i % 2 == 0) for i in range(20)),
                spec(2, 3) if number % 2 else spec(3, 2)])
            await session.commit()
            return outcomes

    async def single(debit: int, credit: int) -> bool:
        async with committing() as session:
            try:
                await transfer(session, spec(debit, credit))
                await session.commit()
                return True
            except InsufficientFunds:
                return False

    results = await asyncio.gather(*(batch(n) for n in range(10)),
                                   *(single(1, 0) for _ in range(10)),
                                   *(single(3, 2) if n % 2 else single(2, 3) for n in range(10)))
    batches, singles = results[:10], results[10:20]
    from_one = sum(1 for outcomes in batches for o in outcomes[:20] if o.created) + sum(singles)
    assert from_one == 1000 // 30  # 33 debits of 30 fit in 1000, and no more
    refused = [o.problem for outcomes in batches for o in outcomes[:20] if not o.created]
    assert all(isinstance(p, InsufficientFunds) for p in refused)
    assert all(outcomes[20].created for outcomes in batches)  # 2 <-> 3 never ran short
    async with committing() as session:
        rows = {r.id: r for r in await session.execute(text(
            "SELECT * FROM ledger_accounts WHERE id = ANY(:ids)"), {"ids": accounts})}
        await assert_whole_ledger_balances(session)
    one = rows[accounts[1]]
    assert one.credits_posted - one.debits_posted - one.debits_pending == 1000 - 33 * 30
    assert rows[accounts[2]].credits_posted - rows[accounts[2]].debits_posted + rows[
        accounts[3]].credits_posted - rows[accounts[3]].debits_posted == 1000


async def test_a_batch_refuses_what_cannot_be_made(committing):
    """Unknown accounts and reversals are refused per item; the rest of the batch is made."""
    model = Model()
    accounts = (await open_accounts(committing, model))["KWD"]
    made = TransferSpec(id=uuid.uuid4(), debit_account_id=accounts[0],
                        credit_account_id=accounts[1], currency="KWD", amount=7)
    async with committing() as session:
        outcomes = await transfer_batch(session, [
            made,
            TransferSpec(id=uuid.uuid4(), debit_account_id=uuid.uuid4(),
                         credit_account_id=accounts[1], currency="KWD", amount=1),
            TransferSpec(id=uuid.uuid4(), debit_account_id=accounts[1],
                         credit_account_id=accounts[0], currency="KWD", amount=7,
                         reverses_id=made.id)])
        await session.commit()
        assert await transfer_batch(session, []) == []
    assert outcomes[0].created and outcomes[0].row.status == "posted"
    assert all(isinstance(o.problem, Unprocessable) and o.row is None for o in outcomes[1:])


async def test_a_transfer_is_one_statement_on_an_autocommit_connection(engine, committing):
    """Ten transfers of 30 from an account holding 100, each sent twice at once, each send on
    its own autocommit connection: three are made, once each; the duplicates find them."""
    model = Model()
    accounts = (await open_accounts(committing, model))["EUR"]
    await apply(committing, model, {"EUR": accounts}, ("transfer", "EUR", 0, 1, 100, False))
    specs = [TransferSpec(id=uuid.uuid4(), debit_account_id=accounts[1],
                          credit_account_id=accounts[2], currency="EUR", amount=30)
             for _ in range(10)]

    async def send(spec: TransferSpec) -> bool | None:
        async with autocommit_connection(engine) as connection:
            try:
                row, created = await transfer(connection, spec)
            except InsufficientFunds:
                return None
            assert spec.matches(row)
            return created

    results = await asyncio.gather(*(send(s) for s in specs), *(send(s) for s in specs))
    made = [s for i, s in enumerate(specs) if True in (results[i], results[10 + i])]
    assert len(made) == 3
    for i, spec in enumerate(specs):
        pair = {results[i], results[10 + i]}
        assert pair == ({True, False} if spec in made else {None})
        if spec in made:
            model.balances[spec.debit_account_id][0] += 30
            model.balances[spec.credit_account_id][1] += 30
    await check(committing, model)
