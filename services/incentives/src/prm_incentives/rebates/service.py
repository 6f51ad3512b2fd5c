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

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from prm_contracts import Amount, DealWonV1, RebateAccruedV1
from prm_events import outbox
from prm_incentives.config import EVENT_SOURCE
from prm_incentives.declaration import INCENTIVES_READ, INCENTIVES_WRITE
from prm_incentives.directory import repository as directory
from prm_incentives.ledger import repository as ledger
from prm_incentives.ledger.service import (
    TransferSpec,
    convert_minor,
    rate_on,
    transfer,
)
from prm_incentives.money import text_of
from prm_incentives.payouts import service as payouts
from prm_incentives.rebates.rules import Line, choose
from prm_incentives.rebates.schemas import RebateProgrammeIn, RebateTrueUpIn
from prm_platform.http import check_if_match
from prm_platform.ids import new_id
from prm_platform.money import minor_units
from prm_platform.pagination import PageRequest
from prm_platform.problems import Conflict, InvalidTransition, NotFound, Unprocessable
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
        ":expense, 1, now(), now()) ON CONFLICT ON CONSTRAINT uq_rebate_programmes_name "
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


async def list_programmes(session: AsyncSession, principal: Principal, page: PageRequest
                          ) -> list[Any]:
    _vendor_reader(principal)
    return list(await session.execute(text(
        "SELECT * FROM rebate_programmes WHERE (CAST(:after AS uuid) IS NULL "
        "OR id > CAST(:after AS uuid)) ORDER BY id LIMIT :limit"),
        {"after": page.after, "limit": page.limit + 1}))


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
                           closed_on: dt.date) -> int:
    return int((await session.execute(text(
        "SELECT COALESCE(SUM(deal_amount), 0) FROM rebate_accruals WHERE programme_id = :p "
        "AND partner_id = :partner AND kind = 'deal' AND status <> 'reversed' "
        "AND closed_on > :since AND closed_on <= :closed_on"),
        {"p": programme.id, "partner": partner_id, "closed_on": closed_on,
         "since": closed_on - dt.timedelta(days=programme.trailing_days)})).scalar_one())


_INSERT_ACCRUAL = text(
    "INSERT INTO rebate_accruals (id, programme_id, partner_id, kind, deal_id, closed_on, "
    "period_from, period_to, deal_type, tier, currency, deal_amount, lines, base_amount, "
    "volume, rate, rule, rule_index, amount, status, transfer_id, version, created_at, "
    "updated_at) VALUES (:id, :programme_id, :partner_id, :kind, :deal_id, :closed_on, "
    ":period_from, :period_to, :deal_type, :tier, :currency, :deal_amount, "
    "CAST(:lines AS jsonb), :base_amount, :volume, :rate, CAST(:rule AS jsonb), :rule_index, "
    ":amount, :status, :transfer_id, 1, now(), now()) RETURNING *")


async def _record(session: AsyncSession, programme: Any, values: dict[str, Any],
                  reference: str) -> Any:
    """Move the money (if any) and write the accrual; publish it when money moved."""
    accrual_id = new_id()
    transfer_id = None
    if values["amount"] > 0:
        payable = await _payable(session, programme, values["partner_id"])
        # Derived from the accrual's key: a replay that got this far finds its own transfer.
        key = values["deal_id"] or f"{values['period_from']}:{values['period_to']}"
        transfer_id = uuid.uuid5(programme.id, f"{values['kind']}:{values['partner_id']}:{key}")
        await transfer(session, TransferSpec(
            id=transfer_id, debit_account_id=programme.expense_account_id,
            credit_account_id=payable.id, currency=programme.currency,
            amount=values["amount"], code=f"rebate.{values['kind']}", reference=reference))
    row = (await session.execute(_INSERT_ACCRUAL, {
        **values, "id": accrual_id, "programme_id": programme.id,
        "currency": programme.currency, "transfer_id": transfer_id,
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


async def _existing_deal_accrual(session: AsyncSession, programme_id: uuid.UUID,
                                 deal_id: uuid.UUID) -> Any:
    return (await session.execute(text(
        "SELECT * FROM rebate_accruals WHERE programme_id = :p AND deal_id = :deal "
        "AND kind = 'deal'"), {"p": programme_id, "deal": deal_id})).first()


async def accrue_won_deal(session: AsyncSession, deal: DealWonV1) -> list[Any]:
    """One accrual per programme covering the deal's close date; one already made (a replay
    of the deals topic) is left as it is. Returns the accruals made now."""
    programmes = list(await session.execute(text(
        "SELECT * FROM rebate_programmes WHERE starts_on <= :closed_on "
        "AND (ends_on IS NULL OR ends_on >= :closed_on) ORDER BY id"),
        {"closed_on": deal.closed_on}))
    if not programmes:
        return []
    entry = await directory.get(session, deal.partner_id)
    tier = entry.tier if entry is not None else None
    made = []
    for programme in programmes:
        await _lock(session, programme.id, deal.partner_id)
        if await _existing_deal_accrual(session, programme.id, deal.deal_id) is not None:
            continue
        deal_amount, lines = await deal_amounts(session, deal, programme.currency)
        volume = await _trailing_volume(session, programme, deal.partner_id,
                                        deal.closed_on) + deal_amount
        choice = choose(programme.rules, tier=tier, deal_type=deal.deal_type, lines=lines,
                        deal_amount=deal_amount, volume=volume)
        made.append(await _record(session, programme, {
            "partner_id": deal.partner_id, "kind": "deal", "deal_id": deal.deal_id,
            "closed_on": deal.closed_on, "period_from": None, "period_to": None,
            "deal_type": deal.deal_type, "tier": tier, "deal_amount": deal_amount,
            "lines": [{"sku": line.sku, "amount": line.amount} for line in lines],
            "base_amount": 0 if choice is None else choice.base, "volume": volume,
            "rate": Decimal(0) if choice is None else choice.rate,
            "rule": None if choice is None else choice.rule,
            "rule_index": None if choice is None else choice.index,
            "amount": 0 if choice is None else choice.amount},
            f"rebate {programme.name}: deal {deal.deal_id}"))
    return made


async def _accrual(session: AsyncSession, principal: Principal, accrual_id: uuid.UUID, *,
                   for_update: bool = False) -> Any:
    lock = " FOR UPDATE" if for_update else ""
    row = (await session.execute(text(f"SELECT * FROM rebate_accruals WHERE id = :id{lock}"),
                                 {"id": accrual_id})).first()
    if row is None or not principal.can_see_partner(row.partner_id):
        raise NotFound("rebate accrual not found")
    return row


async def get_accrual(session: AsyncSession, principal: Principal, accrual_id: uuid.UUID
                      ) -> Any:
    principal.require(INCENTIVES_READ)
    return await _accrual(session, principal, accrual_id)


async def list_accruals(session: AsyncSession, principal: Principal, page: PageRequest, *,
                        partner_id: uuid.UUID | None, programme_id: uuid.UUID | None,
                        deal_id: uuid.UUID | None, status: str | None) -> list[Any]:
    principal.require(INCENTIVES_READ)
    partner = principal.partner_id if principal.is_partner else partner_id
    return list(await session.execute(text(
        "SELECT * FROM rebate_accruals WHERE (CAST(:after AS uuid) IS NULL "
        "OR id > CAST(:after AS uuid)) "
        "AND (CAST(:partner AS uuid) IS NULL OR partner_id = CAST(:partner AS uuid)) "
        "AND (CAST(:programme AS uuid) IS NULL OR programme_id = CAST(:programme AS uuid)) "
        "AND (CAST(:deal AS uuid) IS NULL OR deal_id = CAST(:deal AS uuid)) "
        "AND (CAST(:status AS varchar) IS NULL OR status = :status) "
        "ORDER BY id LIMIT :limit"),
        {"after": page.after, "partner": partner, "programme": programme_id,
         "deal": deal_id, "status": status, "limit": page.limit + 1}))


async def reverse_accrual(session: AsyncSession, principal: Principal, accrual_id: uuid.UUID,
                          reason: str, if_match: str | None) -> Any:
    """A won deal undone: the accrued amount goes back from the partner's payable to the
    expense account (a reversing transfer). Refused with insufficient-funds once it was paid
    out. The deals contracts have no event for a win undone, so the vendor says so here."""
    _vendor_writer(principal)
    row = await _accrual(session, principal, accrual_id, for_update=True)
    check_if_match(if_match, row.version)
    if row.status != "accrued":
        raise InvalidTransition(f"the accrual is {row.status}; only an accrued one is reversed")
    batch_id = await payouts.batched(session, row.transfer_id)
    if batch_id is not None:
        raise Conflict(f"the accrual is in payout batch {batch_id}; it is no longer reversed")
    programme = await _programme(session, row.programme_id)
    payable = await _payable(session, programme, row.partner_id)
    reversal_id = uuid.uuid5(row.transfer_id, "reversal")
    await transfer(session, TransferSpec(
        id=reversal_id, debit_account_id=payable.id,
        credit_account_id=programme.expense_account_id, currency=row.currency,
        amount=row.amount, code="rebate.reversal", reference=f"reversal of accrual {row.id}",
        reverses_id=row.transfer_id))
    return (await session.execute(text(
        "UPDATE rebate_accruals SET status = 'reversed', reversal_transfer_id = :transfer, "
        "reason = :reason, version = version + 1, updated_at = now() WHERE id = :id "
        "RETURNING *"), {"id": row.id, "transfer": reversal_id, "reason": reason})).one()


async def true_up(session: AsyncSession, principal: Principal, programme_id: uuid.UUID,
                  data: RebateTrueUpIn, *, today: dt.date | None = None) -> tuple[Any, bool]:
    """At a period's end, a volume programme pays the band the partner reached on the whole
    period's deals: what they would have earned at the period's volume, less what they
    accrued, if more. Once per (programme, partner, period): run again, it returns the same
    true-up. Returns (true-up, created)."""
    _vendor_writer(principal)
    programme = await _programme(session, programme_id)
    if programme.basis != "volume":
        raise Unprocessable("only volume programmes have true-ups")
    if data.period_to >= (today or dt.date.today()):
        raise Unprocessable("the period has not ended yet", errors=[
            {"location": "body", "field": "period_to", "message": "not in the past"}])
    await _lock(session, programme.id, data.partner_id)
    existing = (await session.execute(text(
        "SELECT * FROM rebate_accruals WHERE programme_id = :p AND partner_id = :partner "
        "AND kind = 'true_up' AND period_from = :from AND period_to = :to"),
        {"p": programme.id, "partner": data.partner_id, "from": data.period_from,
         "to": data.period_to})).first()
    if existing is not None:
        return existing, False
    deals = list(await session.execute(text(
        "SELECT * FROM rebate_accruals WHERE programme_id = :p AND partner_id = :partner "
        "AND kind = 'deal' AND status <> 'reversed' AND closed_on BETWEEN :from AND :to "
        "ORDER BY closed_on, id"),
        {"p": programme.id, "partner": data.partner_id, "from": data.period_from,
         "to": data.period_to}))
    volume = sum(row.deal_amount for row in deals)
    due = accrued = 0
    breakdown = []
    last = None
    for row in deals:
        choice = choose(programme.rules, tier=row.tier, deal_type=row.deal_type,
                        lines=[Line(line["sku"], line["amount"]) for line in row.lines],
                        deal_amount=row.deal_amount, volume=volume)
        owed = 0 if choice is None else choice.amount
        due += owed
        accrued += row.amount
        last = choice or last
        breakdown.append({"sku": f"deal:{row.deal_id}", "amount": owed - row.amount})
    difference = max(due - accrued, 0)
    row = await _record(session, programme, {
        "partner_id": data.partner_id, "kind": "true_up", "deal_id": None,
        "closed_on": data.period_to, "period_from": data.period_from,
        "period_to": data.period_to, "deal_type": None, "tier": None, "deal_amount": volume,
        "lines": breakdown, "base_amount": volume, "volume": volume,
        "rate": Decimal(0) if last is None else last.rate,
        "rule": None if last is None else last.rule,
        "rule_index": None if last is None else last.index, "amount": difference},
        f"rebate {programme.name}: true-up {data.period_from}..{data.period_to}")
    return row, True
