"""SPIFFs: time-boxed bonuses, a fixed amount or a percentage, on won deals of given products
or deal types. A SPIFF's fund is moved into its pool (a non-negative ledger account) when it is
created; each accrual moves pool -> the partner's payable account. What one partner may earn is
capped (``partner_cap``), and what the SPIFF pays in all can never exceed its pool: an accrual
takes what the caps leave, possibly less than the bonus, possibly nothing.

An accrual is unique per (SPIFF, deal), and its transfer id derived from that key: a replay of
the deals topic changes nothing. Accruals of one partner in one SPIFF are serialised by an
advisory lock (the partner's cap), and every accrual of a SPIFF locks its pool account before
reading what is left (the SPIFF's cap); the ledger's CHECK stays the authority.
"""

import json
import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy import Select, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from prm_contracts import Amount, DealWonV1, SpiffAccruedV1, SpiffReversedV1
from prm_events import outbox
from prm_incentives.accruals import service as accruals
from prm_incentives.accruals.service import AccrualBook
from prm_incentives.config import EVENT_SOURCE
from prm_incentives.db import columns
from prm_incentives.declaration import INCENTIVES_READ, INCENTIVES_WRITE
from prm_incentives.ledger import repository as ledger
from prm_incentives.ledger.models import Account
from prm_incentives.ledger.service import TransferSpec, transfer
from prm_incentives.money import text_of, to_minor
from prm_incentives.rebates.rules import rebate_of
from prm_incentives.rebates.service import deal_amounts
from prm_incentives.spiffs.listing import ACCRUALS, SPIFFS
from prm_incentives.spiffs.models import Spiff, SpiffAccrual
from prm_incentives.spiffs.schemas import SpiffIn
from prm_platform.ids import new_id
from prm_platform.listing import ListQuery
from prm_platform.problems import Conflict, NotFound
from prm_platform.security import Principal


def capped(bonus: int, partner_left: int | None, pool_left: int) -> tuple[int, str | None]:
    """What to accrue of ``bonus`` given what the partner's cap and the pool have left, and
    which cap cut it."""
    amount, by = bonus, None
    if partner_left is not None and partner_left < amount:
        amount, by = max(partner_left, 0), "partner"
    if pool_left < amount:
        amount, by = max(pool_left, 0), "spiff"
    return amount, by


def _vendor(principal: Principal, scope: str) -> None:
    principal.require(scope)
    principal.ensure_vendor()


_SPIFF = """SELECT s.*, a.credits_posted - a.debits_posted - a.debits_pending AS remaining
    FROM spiffs s JOIN ledger_accounts a ON a.id = s.pool_account_id"""


async def create_spiff(session: AsyncSession, principal: Principal, data: SpiffIn) -> Any:
    _vendor(principal, INCENTIVES_WRITE)
    currency = data.fund.currency
    spiff_id = new_id()
    pool = await ledger.ensure_account(session, kind="budget_pool", currency=currency,
                                       budget_id=spiff_id, non_negative=True,
                                       name=f"SPIFF {data.name}: pool")
    external = await ledger.ensure_account(session, kind="external", currency=currency,
                                           name=f"External funding {currency}",
                                           non_negative=False)
    inserted = (await session.execute(text(
        "INSERT INTO spiffs (id, name, currency, starts_on, ends_on, bonus_kind, fixed_amount, "
        "rate, sku_prefixes, deal_types, fund, partner_cap, pool_account_id, version, "
        "created_at, updated_at) VALUES (:id, :name, :currency, :starts_on, :ends_on, :kind, "
        ":fixed, :rate, CAST(:skus AS jsonb), CAST(:types AS jsonb), :fund, :cap, :pool, 1, "
        "now(), statement_timestamp()) ON CONFLICT ON CONSTRAINT uq_spiffs_name DO NOTHING "
        "RETURNING id"),
        {"id": spiff_id, "name": data.name, "currency": currency, "starts_on": data.starts_on,
         "ends_on": data.ends_on, "kind": "fixed" if data.fixed_amount else "percent",
         "fixed": None if data.fixed_amount is None else to_minor(data.fixed_amount),
         "rate": data.rate, "skus": json.dumps(data.sku_prefixes),
         "types": json.dumps(data.deal_types), "fund": to_minor(data.fund),
         "cap": None if data.partner_cap is None else to_minor(data.partner_cap),
         "pool": pool.id})).first()
    if inserted is None:
        raise Conflict(f"a SPIFF named {data.name!r} exists")
    await transfer(session, TransferSpec(
        id=uuid.uuid5(spiff_id, "fund"), debit_account_id=external.id,
        credit_account_id=pool.id, currency=currency, amount=to_minor(data.fund),
        code="spiff.fund", reference=f"SPIFF {data.name}"))
    return await _spiff(session, spiff_id)


_pool = aliased(Account, name="pool")


def _spiffs() -> Select[Any]:
    """SPIFFs with what their pool has left to pay out."""
    return select(*columns(Spiff), (_pool.credits_posted - _pool.debits_posted
                                    - _pool.debits_pending).label("remaining")).join(
        _pool, _pool.id == Spiff.pool_account_id)


async def _spiff(session: AsyncSession, spiff_id: uuid.UUID) -> Any:
    row = (await session.execute(_spiffs().where(Spiff.id == spiff_id))).first()
    if row is None:
        raise NotFound("SPIFF not found")
    return row


async def get_spiff(session: AsyncSession, principal: Principal, spiff_id: uuid.UUID) -> Any:
    _vendor(principal, INCENTIVES_READ)
    return await _spiff(session, spiff_id)


async def list_spiffs(session: AsyncSession, principal: Principal, query: ListQuery
                      ) -> tuple[list[Any], str | None, int | None]:
    _vendor(principal, INCENTIVES_READ)
    return await SPIFFS.page(session, _spiffs(), query)


async def _payable(session: AsyncSession, spiff: Any, partner_id: uuid.UUID) -> Any:
    return await ledger.ensure_account(
        session, kind="payable", currency=spiff.currency, budget_id=spiff.id,
        partner_id=partner_id, non_negative=True,
        name=f"SPIFF {spiff.name}: payable to partner {partner_id}")


async def accrue_won_deal(session: AsyncSession, deal: DealWonV1) -> list[Any]:
    """The win that stands (``accruals.stands``: the deal's newest) accrues once per SPIFF
    whose dates, products and deal types it meets. An accrual of an earlier win of the deal is
    superseded (its money back in the pool) and the newer win's takes its place, unless the
    deal is unchanged; a reversed one stays reversed. Returns the accruals made now."""
    spiffs = list(await session.execute(text(
        f"{_SPIFF} WHERE s.starts_on <= :closed_on AND s.ends_on >= :closed_on "
        "ORDER BY s.id"), {"closed_on": deal.closed_on}))
    made = []
    applied: set[uuid.UUID] = set()
    for spiff in spiffs:
        if spiff.deal_types and deal.deal_type not in spiff.deal_types:
            continue
        if spiff.sku_prefixes and not any(
                product.sku.startswith(tuple(spiff.sku_prefixes)) for product in deal.products):
            continue
        await session.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"),
                              {"key": f"spiff:{spiff.id}:{deal.partner_id}"})
        existing = await accruals.standing_of_deal(session, BOOK, spiff.id, deal.deal_id)
        if existing is not None and not accruals.replaced_by(existing, deal.version):
            applied.add(spiff.id)
            continue
        deal_amount, lines = await deal_amounts(session, deal, spiff.currency)
        base = deal_amount
        if spiff.sku_prefixes:
            base = min(deal_amount, sum(line.amount for line in lines
                                        if line.sku.startswith(tuple(spiff.sku_prefixes))))
        bonus = (spiff.fixed_amount if spiff.bonus_kind == "fixed"
                 else rebate_of(base, Decimal(spiff.rate)))
        if bonus <= 0:
            continue  # earns nothing: an earlier win's accrual is superseded below
        applied.add(spiff.id)
        if existing is not None:
            if (existing.deal_amount, existing.base_amount, existing.bonus, existing.closed_on,
                    existing.deal_type) == (deal_amount, base, bonus, deal.closed_on,
                                            deal.deal_type):
                await accruals.mark_version(session, BOOK, existing, deal.version)
                continue
            if not await accruals.supersede(session, BOOK, existing, deal.version):
                continue
        payable = await _payable(session, spiff, deal.partner_id)
        await ledger.lock_accounts(session, [spiff.pool_account_id, payable.id])
        pool = await ledger.get_account(session, spiff.pool_account_id)
        partner_left = None
        if spiff.partner_cap is not None:
            earned = (await session.execute(text(
                "SELECT COALESCE(SUM(amount), 0) FROM spiff_accruals WHERE spiff_id = :s "
                "AND partner_id = :p AND status NOT IN ('reversed', 'superseded')"),
                {"s": spiff.id, "p": deal.partner_id})).scalar_one()
            partner_left = spiff.partner_cap - int(earned)
        amount, capped_by = capped(
            bonus, partner_left, pool.credits_posted - pool.debits_posted - pool.debits_pending)
        transfer_id = None
        if amount > 0:
            # Derived from the accrual's key, the version of the win included (a newer win's
            # accrual has its own): a replay that got this far finds its own transfer.
            transfer_id = uuid.uuid5(spiff.id, f"deal:{deal.deal_id}:{deal.version}")
            await transfer(session, TransferSpec(
                id=transfer_id, debit_account_id=spiff.pool_account_id,
                credit_account_id=payable.id, currency=spiff.currency, amount=amount,
                code="spiff.accrual", reference=f"SPIFF {spiff.name}: deal {deal.deal_id}"))
        row = (await session.execute(text(
            "INSERT INTO spiff_accruals (id, spiff_id, partner_id, deal_id, closed_on, "
            "deal_type, currency, deal_amount, base_amount, bonus, amount, capped_by, status, "
            "transfer_id, deal_version, version, created_at, updated_at) VALUES (:id, :spiff, "
            ":partner, :deal, :closed_on, :deal_type, :currency, :deal_amount, :base, :bonus, "
            ":amount, :capped_by, :status, :transfer, :deal_version, 1, now(), "
            "statement_timestamp()) "
            "RETURNING *"),
            {"id": new_id(), "spiff": spiff.id, "partner": deal.partner_id,
             "deal": deal.deal_id, "closed_on": deal.closed_on, "deal_type": deal.deal_type,
             "currency": spiff.currency, "deal_amount": deal_amount, "base": base,
             "bonus": bonus, "amount": amount, "capped_by": capped_by,
             "status": "accrued" if amount > 0 else "capped", "transfer": transfer_id,
             "deal_version": deal.version})).one()
        if amount > 0:
            await outbox.publish(session, SpiffAccruedV1(
                accrual_id=row.id, spiff_id=spiff.id, partner_id=row.partner_id,
                deal_id=row.deal_id,
                amount=Amount(amount=text_of(amount, row.currency), currency=row.currency),
                capped=capped_by is not None, version=row.version),
                source=EVENT_SOURCE, aggregate_id=row.id, partner_id=row.partner_id)
        made.append(row)
    await accruals.replace_elsewhere(session, BOOK, deal, applied)
    return made


def _reversed(row: Any, amount: int) -> SpiffReversedV1:
    return SpiffReversedV1(
        accrual_id=row.id, spiff_id=row.spiff_id, partner_id=row.partner_id,
        deal_id=row.deal_id,
        amount=Amount(amount=text_of(amount, row.currency), currency=row.currency),
        reason=row.reason, version=row.version)


# A won deal undone: the accrued amount goes back from the partner's payable account to the
# SPIFF's pool (and counts against neither cap again).
BOOK = AccrualBook(table="spiff_accruals", owner="spiff_id", noun="SPIFF accrual",
                   code="spiff.reversal", reference="SPIFF accrual", reversed_event=_reversed,
                   model=SpiffAccrual, listing=ACCRUALS)
