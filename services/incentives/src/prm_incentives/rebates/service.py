"""Rebate programmes and their accruals. A won deal (``prm.deal.won.v1``) accrues once per
programme that covers its close date: the first matching rule's rate of the deal (or of its
lines of a product family) moves from the programme's expense account to the partner's payable
account on the ledger, and the accrual records the rate, the rule and the volume it used.

Keys make everything safe to repeat: an accrual is unique per (programme, deal) and its ledger
transfer id is derived from that key; a true-up is unique per (programme, partner, period).
Accruals of one partner in one programme are serialised by a transaction-scoped advisory lock,
so the trailing volume a band is chosen by cannot be read by two accruals at once.
"""

import datetime as dt
import json
import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from prm_contracts import Amount, DealWonV1, RebateAccruedV1, RebateReversedV1
from prm_events import outbox
from prm_incentives.accruals import service as accruals
from prm_incentives.accruals.service import AccrualBook
from prm_incentives.config import EVENT_SOURCE
from prm_incentives.db import columns
from prm_incentives.declaration import INCENTIVES_READ, INCENTIVES_WRITE
from prm_incentives.directory import repository as directory
from prm_incentives.ledger import repository as ledger
from prm_incentives.ledger.service import TransferSpec, rate_on, transfer
from prm_incentives.money import text_of
from prm_incentives.payouts import service as payouts
from prm_incentives.rebates.listing import ACCRUALS, PROGRAMMES
from prm_incentives.rebates.models import RebateAccrual, RebateProgramme
from prm_incentives.rebates.rules import Line, choose
from prm_incentives.rebates.schemas import RebateProgrammeIn, RebateTrueUpIn
from prm_platform.ids import new_id
from prm_platform.listing import ListQuery
from prm_platform.money import convert_minor, minor_units
from prm_platform.problems import Conflict, NotFound, Unprocessable
from prm_platform.security import Principal


def _minor(amount: Amount) -> int:
    return int(Decimal(amount.amount).scaleb(minor_units(amount.currency)))


def _vendor_reader(principal: Principal) -> None:
    principal.require(INCENTIVES_READ)
    principal.ensure_vendor()


def _vendor_writer(principal: Principal) -> None:
    principal.require(INCENTIVES_WRITE)
    principal.ensure_vendor()


async def _lock(session: AsyncSession, programme_id: uuid.UUID, partner_id: uuid.UUID) -> None:
    await session.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"),
                          {"key": f"rebate:{programme_id}:{partner_id}"})


# --- programmes -----------------------------------------------------------------------------


async def create_programme(session: AsyncSession, principal: Principal,
                           data: RebateProgrammeIn) -> Any:
    _vendor_writer(principal)
    programme_id = new_id()
    expense = await ledger.ensure_account(
        session, kind="external", currency=data.currency, budget_id=programme_id,
        name=f"Rebates {data.name}: expense", non_negative=False)
    row = (await session.execute(text(
        "INSERT INTO rebate_programmes (id, name, currency, basis, trailing_days, starts_on, "
        "ends_on, rules, expense_account_id, version, created_at, updated_at) VALUES (:id, "
        ":name, :currency, :basis, :trailing, :starts_on, :ends_on, CAST(:rules AS jsonb), "
        ":expense, 1, now(), statement_timestamp()) "
        "ON CONFLICT ON CONSTRAINT uq_rebate_programmes_name "
        "DO NOTHING RETURNING *"),
        {"id": programme_id, "name": data.name, "currency": data.currency,
         "basis": data.basis, "trailing": data.trailing_days, "starts_on": data.starts_on,
         "ends_on": data.ends_on, "rules": json.dumps(data.stored_rules()),
         "expense": expense.id})).first()
    if row is None:
        raise Conflict(f"a rebate programme named {data.name!r} exists")
    return row


async def _programme(session: AsyncSession, programme_id: uuid.UUID) -> Any:
    row = (await session.execute(text("SELECT * FROM rebate_programmes WHERE id = :id"),
                                 {"id": programme_id})).first()
    if row is None:
        raise NotFound("rebate programme not found")
    return row


async def get_programme(session: AsyncSession, principal: Principal, programme_id: uuid.UUID
                        ) -> Any:
    _vendor_reader(principal)
    return await _programme(session, programme_id)


async def list_programmes(session: AsyncSession, principal: Principal, query: ListQuery
                          ) -> tuple[list[Any], str | None, int | None]:
    _vendor_reader(principal)
    return await PROGRAMMES.page(session, select(*columns(RebateProgramme)), query)


# --- accruals -------------------------------------------------------------------------------


async def _payable(session: AsyncSession, programme: Any, partner_id: uuid.UUID) -> Any:
    return await ledger.ensure_account(
        session, kind="payable", currency=programme.currency, budget_id=programme.id,
        partner_id=partner_id, non_negative=True,
        name=f"Rebates {programme.name}: payable to partner {partner_id}")


async def deal_amounts(session: AsyncSession, deal: DealWonV1, currency: str
                       ) -> tuple[int, list[Line]]:
    """The deal's amount and its product lines in minor units of ``currency``, converted at
    the ledger's rate for the close date (fx-rate-missing if none is recorded: the event is
    retried, then dead-lettered, and replayed once the rate is there)."""
    source = deal.amount.currency
    products = [p for p in deal.products if p.unit_price.currency == source]
    amounts = [_minor(deal.amount)] + [p.quantity * _minor(p.unit_price) for p in products]
    if source != currency:
        rate, _ = await rate_on(session, source, currency, deal.closed_on)
        amounts = [convert_minor(amount, source, currency, rate) for amount in amounts]
    return amounts[0], [Line(p.sku, amount)
                        for p, amount in zip(products, amounts[1:], strict=True)]


async def _trailing_volume(session: AsyncSession, programme: Any, partner_id: uuid.UUID,
                           closed_on: dt.date, deal_id: uuid.UUID) -> int:
    """The partner's won volume in the programme's trailing period, the deal's own earlier
    win (which its newer one replaces) not counted."""
    return int((await session.execute(text(
        "SELECT COALESCE(SUM(deal_amount), 0) FROM rebate_accruals WHERE programme_id = :p "
        "AND partner_id = :partner AND kind = 'deal' "
        "AND status NOT IN ('reversed', 'superseded') AND deal_id <> :deal "
        "AND closed_on > :since AND closed_on <= :closed_on"),
        {"p": programme.id, "partner": partner_id, "closed_on": closed_on, "deal": deal_id,
         "since": closed_on - dt.timedelta(days=programme.trailing_days)})).scalar_one())


_INSERT_ACCRUAL = text(
    "INSERT INTO rebate_accruals (id, programme_id, partner_id, kind, deal_id, closed_on, "
    "period_from, period_to, deal_type, tier, currency, deal_amount, lines, base_amount, "
    "volume, rate, rule, rule_index, amount, status, transfer_id, reason, deal_version, "
    "version, created_at, updated_at) VALUES (:id, :programme_id, :partner_id, :kind, "
    ":deal_id, :closed_on, :period_from, :period_to, :deal_type, :tier, :currency, "
    ":deal_amount, CAST(:lines AS jsonb), :base_amount, :volume, :rate, CAST(:rule AS jsonb), "
    ":rule_index, :amount, :status, :transfer_id, :reason, :deal_version, 1, now(), "
    "statement_timestamp()) "
    "RETURNING *")


async def _record(session: AsyncSession, programme: Any, values: dict[str, Any],
                  reference: str) -> Any:
    """Move the money (if any) and write the accrual; publish it when money moved."""
    accrual_id = new_id()
    transfer_id = None
    if values["amount"] > 0:
        payable = await _payable(session, programme, values["partner_id"])
        # Derived from the accrual's key (a deal's: with the version of its win, which a newer
        # win's accrual does not share): a replay that got this far finds its own transfer.
        key = (f"{values['deal_id']}:{values['deal_version']}" if values["deal_id"]
               else f"{values['period_from']}:{values['period_to']}")
        transfer_id = uuid.uuid5(programme.id, f"{values['kind']}:{values['partner_id']}:{key}")
        await transfer(session, TransferSpec(
            id=transfer_id, debit_account_id=programme.expense_account_id,
            credit_account_id=payable.id, currency=programme.currency,
            amount=values["amount"], code=f"rebate.{values['kind']}", reference=reference))
    row = (await session.execute(_INSERT_ACCRUAL, {
        "reason": None, "deal_version": None, **values, "id": accrual_id,
        "programme_id": programme.id, "currency": programme.currency, "transfer_id": transfer_id,
        "lines": json.dumps(values["lines"]),
        "rule": None if values["rule"] is None else json.dumps(values["rule"]),
        "status": "accrued" if values["amount"] > 0 else "no_rebate"})).one()
    if row.amount > 0:
        await outbox.publish(session, RebateAccruedV1(
            accrual_id=row.id, programme_id=row.programme_id, partner_id=row.partner_id,
            deal_id=row.deal_id, kind=row.kind,
            amount=Amount(amount=text_of(row.amount, row.currency), currency=row.currency),
            rate=format(Decimal(row.rate).normalize(), "f"), version=row.version),
            source=EVENT_SOURCE, aggregate_id=row.id, partner_id=row.partner_id)
    return row


def _same_deal(row: Any, values: dict[str, Any]) -> bool:
    """Whether an accrual was computed from the very deal ``values`` describe (a win sent
    again at a newer version, unchanged): then it stands as it is."""
    return (row.deal_amount, row.closed_on, row.deal_type, row.lines) == (
        values["deal_amount"], values["closed_on"], values["deal_type"], values["lines"])


async def accrue_won_deal(session: AsyncSession, deal: DealWonV1) -> list[Any]:
    """The win that stands (``accruals.stands``: the deal's newest) accrues once per programme
    covering its close date. An accrual of an earlier win of the deal is superseded (its money
    moved back) and the newer win's takes its place, unless it is unchanged; a reversed one
    stays reversed. Returns the accruals made now."""
    programmes = list(await session.execute(text(
        "SELECT * FROM rebate_programmes WHERE starts_on <= :closed_on "
        "AND (ends_on IS NULL OR ends_on >= :closed_on) ORDER BY id"),
        {"closed_on": deal.closed_on}))
    made = []
    tier = None
    if programmes:
        entry = await directory.get(session, deal.partner_id)
        tier = entry.tier if entry is not None else None
    for programme in programmes:
        await _lock(session, programme.id, deal.partner_id)
        existing = await accruals.standing_of_deal(session, BOOK, programme.id, deal.deal_id)
        if existing is not None and not accruals.replaced_by(existing, deal.version):
            continue
        deal_amount, lines = await deal_amounts(session, deal, programme.currency)
        volume = await _trailing_volume(session, programme, deal.partner_id,
                                        deal.closed_on, deal.deal_id) + deal_amount
        choice = choose(programme.rules, tier=tier, deal_type=deal.deal_type, lines=lines,
                        deal_amount=deal_amount, volume=volume)
        values = {
            "partner_id": deal.partner_id, "kind": "deal", "deal_id": deal.deal_id,
            "closed_on": deal.closed_on, "period_from": None, "period_to": None,
            "deal_type": deal.deal_type, "tier": tier, "deal_amount": deal_amount,
            "lines": [{"sku": line.sku, "amount": line.amount} for line in lines],
            "base_amount": 0 if choice is None else choice.base, "volume": volume,
            "rate": Decimal(0) if choice is None else choice.rate,
            "rule": None if choice is None else choice.rule,
            "rule_index": None if choice is None else choice.index,
            "amount": 0 if choice is None else choice.amount, "deal_version": deal.version}
        if existing is not None:
            if _same_deal(existing, values):
                await accruals.mark_version(session, BOOK, existing, deal.version)
                continue
            if not await accruals.supersede(session, BOOK, existing, deal.version):
                continue
        made.append(await _record(session, programme, values,
                                  f"rebate {programme.name}: deal {deal.deal_id}"))
    await accruals.replace_elsewhere(session, BOOK, deal, {p.id for p in programmes})
    return made


def _reversed(row: Any, amount: int) -> RebateReversedV1:
    return RebateReversedV1(
        accrual_id=row.id, programme_id=row.programme_id, partner_id=row.partner_id,
        deal_id=row.deal_id, kind=row.kind,
        amount=Amount(amount=text_of(amount, row.currency), currency=row.currency),
        reason=row.reason, version=row.version)


# A won deal undone: the accrued amount goes back from the partner's payable to the expense
# account, by the vendor (POST .../reverse) or on prm.deal.win_reversed.v1 (rebates.handlers).
BOOK = AccrualBook(table="rebate_accruals", owner="programme_id", noun="rebate accrual",
                   code="rebate.reversal", reference="accrual", reversed_event=_reversed,
                   model=RebateAccrual, listing=ACCRUALS)


async def true_up(session: AsyncSession, principal: Principal, programme_id: uuid.UUID,
                  data: RebateTrueUpIn, *, today: dt.date | None = None) -> tuple[Any, bool]:
    """A partner's period trued up on request (the scheduled job does every partner of a
    programme once its period has ended). Returns (true-up, created)."""
    _vendor_writer(principal)
    programme = await _programme(session, programme_id)
    if programme.basis != "volume":
        raise Unprocessable("only volume programmes have true-ups")
    if data.period_to >= (today or dt.date.today()):
        raise Unprocessable("the period has not ended yet", errors=[
            {"location": "body", "field": "period_to", "message": "not in the past"}])
    return await settle_period(session, programme, data.partner_id, data.period_from,
                               data.period_to)


async def settle_period(session: AsyncSession, programme: Any, partner_id: uuid.UUID,
                        period_from: dt.date, period_to: dt.date) -> tuple[Any, bool]:
    """At a period's end, a volume programme pays the band the partner reached on the whole
    period's deals: what they earn at the period's volume, less what the partner holds for
    them (the deals' accruals and the true-ups of periods within this one, net of what was
    reversed of them). More is accrued; less is taken back by reversing the newest of those
    transfers not yet in a payout batch, as far as they go (what they cannot cover is said in
    the true-up's reason). Once per (programme, partner, period): run again, it returns the
    same true-up. Returns (true-up, created)."""
    await _lock(session, programme.id, partner_id)
    existing = (await session.execute(text(
        "SELECT * FROM rebate_accruals WHERE programme_id = :p AND partner_id = :partner "
        "AND kind = 'true_up' AND period_from = :from AND period_to = :to"),
        {"p": programme.id, "partner": partner_id, "from": period_from,
         "to": period_to})).first()
    if existing is not None:
        return existing, False
    deals = list(await session.execute(text(
        "SELECT * FROM rebate_accruals WHERE programme_id = :p AND partner_id = :partner "
        "AND kind = 'deal' AND status NOT IN ('reversed', 'superseded') "
        "AND closed_on BETWEEN :from AND :to "
        "ORDER BY closed_on, id"),
        {"p": programme.id, "partner": partner_id, "from": period_from, "to": period_to}))
    earlier = list(await session.execute(text(
        "SELECT * FROM rebate_accruals WHERE programme_id = :p AND partner_id = :partner "
        "AND kind = 'true_up' AND status = 'accrued' AND period_from >= :from "
        "AND period_to <= :to ORDER BY closed_on, id"),
        {"p": programme.id, "partner": partner_id, "from": period_from, "to": period_to}))
    volume = sum(row.deal_amount for row in deals)
    due = 0
    breakdown = []
    last = None
    for row in deals:
        choice = choose(programme.rules, tier=row.tier, deal_type=row.deal_type,
                        lines=[Line(line["sku"], line["amount"]) for line in row.lines],
                        deal_amount=row.deal_amount, volume=volume)
        owed = 0 if choice is None else choice.amount
        due += owed
        last = choice or last
        breakdown.append({"sku": f"deal:{row.deal_id}", "amount": owed - row.amount})
    credited = [row for row in (*deals, *earlier) if row.transfer_id is not None]
    held = await accruals.left_to_reverse(session, [row.transfer_id for row in credited])
    difference = due - sum(held.values())
    values = {
        "partner_id": partner_id, "kind": "true_up", "deal_id": None, "closed_on": period_to,
        "period_from": period_from, "period_to": period_to, "deal_type": None, "tier": None,
        "deal_amount": volume, "lines": breakdown, "base_amount": volume, "volume": volume,
        "rate": Decimal(0) if last is None else last.rate,
        "rule": None if last is None else last.rule,
        "rule_index": None if last is None else last.index}
    if difference >= 0:
        row = await _record(session, programme, {**values, "amount": difference},
                            f"rebate {programme.name}: true-up {period_from}..{period_to}")
        return row, True
    return await _take_back(session, programme, values, -difference,
                            sorted(credited, key=lambda r: (r.closed_on, r.id), reverse=True),
                            held), True


async def _take_back(session: AsyncSession, programme: Any, values: dict[str, Any],
                     wanted: int, credited: list[Any], held: dict[uuid.UUID, int]) -> Any:
    """Reverse ``wanted`` out of ``credited`` (newest first), skipping what a payout batch
    holds; record the true-up as a clawback of what was taken and announce it."""
    partner_id = values["partner_id"]
    currency = programme.currency
    await payouts.hold(session, partner_id, currency)
    batched = await payouts.batched_of(session, [row.transfer_id for row in credited])
    key = f"true_up:{partner_id}:{values['period_from']}:{values['period_to']}"
    taken = 0
    lines = list(values["lines"])
    for row in credited:
        amount = min(held[row.transfer_id], wanted - taken)
        if amount <= 0 or row.transfer_id in batched:
            continue
        original = await accruals.transfer_of(session, row.transfer_id)
        reversal_id = uuid.uuid5(programme.id, f"{key}:{row.transfer_id}")
        await transfer(session, TransferSpec(
            id=reversal_id, debit_account_id=original.credit_account_id,
            credit_account_id=original.debit_account_id, currency=currency, amount=amount,
            code="rebate.true_up", reference=f"rebate {programme.name}: true-up "
            f"{values['period_from']}..{values['period_to']} takes back of accrual {row.id}",
            reverses_id=row.transfer_id))
        lines.append({"sku": f"reversal:{reversal_id}", "amount": -amount})
        taken += amount
    reason = (f"the period's band pays {text_of(wanted, currency)} {currency} less than was "
              "accrued")
    if taken < wanted:
        reason += (f"; {text_of(wanted - taken, currency)} {currency} could not be taken back: "
                   "the rest is in payout batches")
    row = (await session.execute(_INSERT_ACCRUAL, {
        **values, "deal_version": None, "id": new_id(), "programme_id": programme.id,
        "currency": currency,
        "transfer_id": None, "lines": json.dumps(lines), "amount": taken,
        "rule": None if values["rule"] is None else json.dumps(values["rule"]),
        "status": "clawback", "reason": reason})).one()
    if taken > 0:
        await outbox.publish(session, _reversed(row, taken), source=EVENT_SOURCE,
                             aggregate_id=row.id, partner_id=partner_id)
    return row


async def true_up_ended(session: AsyncSession, batch: int = 100, *,
                        today: dt.date | None = None, delay_days: int = 0) -> int:
    """The scheduled job: every partner with deals in a volume programme whose period ended
    (``delay_days`` ago, for wins recorded late) is trued up for the whole period, once: the
    true-up's key (programme, partner, period) makes a rerun find it and change nothing."""
    until = (today or dt.date.today()) - dt.timedelta(days=delay_days)
    due = list(await session.execute(text(
        "SELECT DISTINCT a.programme_id, a.partner_id FROM rebate_programmes p "
        "JOIN rebate_accruals a ON a.programme_id = p.id AND a.kind = 'deal' "
        "WHERE p.basis = 'volume' AND p.ends_on < :until AND NOT EXISTS (SELECT 1 "
        "FROM rebate_accruals t WHERE t.programme_id = p.id AND t.partner_id = a.partner_id "
        "AND t.kind = 'true_up' AND t.period_from = p.starts_on AND t.period_to = p.ends_on) "
        "ORDER BY a.programme_id, a.partner_id LIMIT :batch"),
        {"until": until, "batch": batch}))
    for programme_id, partner_id in due:
        programme = await _programme(session, programme_id)
        await settle_period(session, programme, partner_id, programme.starts_on,
                            programme.ends_on)
    return len(due)
