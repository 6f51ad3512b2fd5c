"""Payouts: what a partner's payable accounts were credited with (rebate and SPIFF accruals,
approved MDF claims) is grouped per partner, period and currency into a payout batch, approved,
exported to the finance system, and paid once the finance system confirms the payment: each
line then moves payable -> paid on the ledger.

A payable transfer belongs to at most one batch (``uq_payout_lines_transfer_id``), and batches
of one partner and currency are made one at a time (an advisory lock), so nothing is paid
twice. A line is what the transfer left payable after reversals when the batch was made; a
batched accrual is no longer reversed (rebates and SPIFFs refuse it).

Lock order: batch row, then ledger accounts (in id order).
"""

import csv
import datetime as dt
import io
import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, Date, Select, case, cast, exists, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from prm_contracts import Amount, PayoutApprovedV1, PayoutPaidV1
from prm_events import outbox
from prm_incentives.config import EVENT_SOURCE
from prm_incentives.db import columns
from prm_incentives.declaration import INCENTIVES_READ, INCENTIVES_WRITE
from prm_incentives.directory.names import named, visible
from prm_incentives.ledger import repository as ledger
from prm_incentives.ledger.models import Account, Transfer
from prm_incentives.ledger.service import TransferSpec, transfer
from prm_incentives.mdf.models import Claim
from prm_incentives.money import text_of
from prm_incentives.payouts.listing import BATCHES, STATEMENT
from prm_incentives.payouts.models import PayoutBatch, PayoutLine
from prm_incentives.payouts.schemas import PayoutBatchIn, PayoutPaymentIn
from prm_incentives.rebates.models import RebateAccrual, RebateProgramme
from prm_incentives.spiffs.models import Spiff, SpiffAccrual
from prm_platform.http import check_if_match
from prm_platform.ids import new_id
from prm_platform.listing import ListQuery
from prm_platform.problems import Conflict, InvalidTransition, NotFound, Unprocessable
from prm_platform.security import Principal

MAX_LINES = 1000

_payable_account = aliased(Account, name="payable_account")
_reversal = aliased(Transfer, name="reversal")


def _payables(partner_id: uuid.UUID) -> Select[Any]:
    """Every posted transfer that credited one of the partner's payable accounts (reversals
    aside), with what reversals left of it, where it came from and when it was earned."""
    reversed_ = select(func.sum(_reversal.posted_amount)).where(
        _reversal.reverses_id == Transfer.id, _reversal.status == "posted").scalar_subquery()
    source = case((RebateAccrual.id.is_not(None), "rebate"),
                  (SpiffAccrual.id.is_not(None), "spiff"),
                  (Claim.id.is_not(None), "mdf_claim"), else_="other")
    return select(
        Transfer.id, Transfer.created_at, Transfer.credit_account_id.label("payable_account_id"),
        Transfer.currency, Transfer.code, Transfer.reference,
        (Transfer.posted_amount - func.coalesce(reversed_, 0)).label("amount"),
        source.label("source"),
        func.coalesce(RebateAccrual.id, SpiffAccrual.id, Claim.id).label("source_id"),
        _earned_on().label("earned_on"),
        RebateProgramme.name.label("programme"), RebateAccrual.kind.label("rebate_kind"),
        RebateAccrual.rate, RebateAccrual.base_amount.label("rebate_base"),
        RebateAccrual.deal_id.label("rebate_deal"), RebateAccrual.period_from,
        RebateAccrual.period_to, Spiff.name.label("spiff"),
        SpiffAccrual.deal_id.label("spiff_deal"), Claim.request_id,
    ).join(_payable_account, _payable_account.id == Transfer.credit_account_id
    ).outerjoin(RebateAccrual, RebateAccrual.transfer_id == Transfer.id
    ).outerjoin(RebateProgramme, RebateProgramme.id == RebateAccrual.programme_id
    ).outerjoin(SpiffAccrual, SpiffAccrual.transfer_id == Transfer.id
    ).outerjoin(Spiff, Spiff.id == SpiffAccrual.spiff_id
    ).outerjoin(Claim, Claim.payable_transfer_id == Transfer.id
    ).where(_payable_account.kind == "payable", _payable_account.partner_id == partner_id,
            Transfer.status == "posted", Transfer.reverses_id.is_(None))


def _earned_on() -> ColumnElement[dt.date]:
    """The day an amount was earned: a deal's close date, else the day it became payable."""
    return func.coalesce(RebateAccrual.closed_on, SpiffAccrual.closed_on,
                         cast(Transfer.created_at, Date))


def why(row: Any) -> str:
    if row.source == "rebate" and row.rebate_kind == "true_up":
        return f"{row.programme}: true-up of {row.period_from}..{row.period_to}"
    if row.source == "rebate":
        rate = format(Decimal(row.rate).normalize(), "f")
        return (f"{row.programme}: {rate} % of {text_of(row.rebate_base, row.currency)} "
                f"{row.currency} (deal {row.rebate_deal})")
    if row.source == "spiff":
        return f"SPIFF {row.spiff} (deal {row.spiff_deal})"
    if row.source == "mdf_claim":
        return f"MDF claim {row.source_id} (fund request {row.request_id})"
    return str(row.reference or row.code)


def _vendor(principal: Principal, scope: str) -> None:
    principal.require(scope)
    principal.ensure_vendor()


def _change(row: Any) -> dict[str, Any]:
    return {"batch_id": row.id, "partner_id": row.partner_id, "period_from": row.period_from,
            "period_to": row.period_to, "lines": row.lines, "status": row.status,
            "total": Amount(amount=text_of(row.total, row.currency), currency=row.currency),
            "version": row.version}


async def hold(session: AsyncSession, partner_id: uuid.UUID, currency: str) -> None:
    """Serialise what decides on a partner's payables in a currency: making a batch of them,
    and reversing one (which must not be batched meanwhile). Released at commit."""
    await session.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"),
                          {"key": f"payout:{partner_id}:{currency}"})


async def create_batch(session: AsyncSession, principal: Principal, data: PayoutBatchIn
                       ) -> Any:
    _vendor(principal, INCENTIVES_WRITE)
    await hold(session, data.partner_id, data.currency)
    p = _payables(data.partner_id).subquery()
    lines = list(await session.execute(select(p).where(
        p.c.currency == data.currency, p.c.amount > 0,
        p.c.earned_on.between(data.period_from, data.period_to),
        ~exists().where(PayoutLine.transfer_id == p.c.id)).order_by(p.c.id).limit(MAX_LINES)))
    if not lines:
        raise Unprocessable(f"partner {data.partner_id} has nothing payable in "
                            f"{data.currency} from {data.period_from} to {data.period_to} "
                            "that is not in a batch yet")
    batch_id = new_id()
    row = (await session.execute(text(
        "INSERT INTO payout_batches (id, partner_id, currency, period_from, period_to, total, "
        "lines, status, version, created_at, updated_at) VALUES (:id, :partner, :currency, "
        ":from, :to, :total, :lines, 'draft', 1, now(), statement_timestamp()) RETURNING *"),
        {"id": batch_id, "partner": data.partner_id, "currency": data.currency,
         "from": data.period_from, "to": data.period_to,
         "total": sum(line.amount for line in lines), "lines": len(lines)})).one()
    await session.execute(text(
        "INSERT INTO payout_lines (id, batch_id, transfer_id, payable_account_id, source, "
        "source_id, earned_on, amount) VALUES (:id, :batch, :transfer, :account, :source, "
        ":source_id, :earned_on, :amount)"),
        [{"id": new_id(), "batch": batch_id, "transfer": line.id,
          "account": line.payable_account_id, "source": line.source,
          "source_id": line.source_id, "earned_on": line.earned_on, "amount": line.amount}
         for line in lines])
    return row


async def _batch(session: AsyncSession, principal: Principal, batch_id: uuid.UUID, *,
                 for_update: bool = False) -> Any:
    lock = " FOR UPDATE" if for_update else ""
    row = (await session.execute(text(f"SELECT * FROM payout_batches WHERE id = :id{lock}"),
                                 {"id": batch_id})).first()
    if row is None or not principal.can_see_partner(row.partner_id):
        raise NotFound("payout batch not found")
    return row


async def get_batch(session: AsyncSession, principal: Principal, batch_id: uuid.UUID) -> Any:
    principal.require(INCENTIVES_READ)
    return await _batch(session, principal, batch_id)


async def list_batches(session: AsyncSession, principal: Principal, query: ListQuery
                       ) -> tuple[list[Any], str | None, int | None]:
    principal.require(INCENTIVES_READ)
    statement, query = visible(principal, named(select(*columns(PayoutBatch)),
                                                PayoutBatch.partner_id),
                               query, PayoutBatch.partner_id)
    return await BATCHES.page(session, statement, query)


async def approve_batch(session: AsyncSession, principal: Principal, batch_id: uuid.UUID,
                        if_match: str | None) -> Any:
    _vendor(principal, INCENTIVES_WRITE)
    row = await _batch(session, principal, batch_id, for_update=True)
    check_if_match(if_match, row.version)
    if row.status != "draft":
        raise InvalidTransition(f"the batch is {row.status}; only a draft is approved")
    row = (await session.execute(text(
        "UPDATE payout_batches SET status = 'approved', approved_at = now(), "
        "version = version + 1, updated_at = statement_timestamp() WHERE id = :id RETURNING *"),
        {"id": row.id})).one()
    await outbox.publish(session, PayoutApprovedV1(**_change(row)), source=EVENT_SOURCE,
                         aggregate_id=row.id, partner_id=row.partner_id)
    return row


async def lines_of(session: AsyncSession, batch_id: uuid.UUID) -> list[Any]:
    return list(await session.execute(text(
        "SELECT * FROM payout_lines WHERE batch_id = :b ORDER BY id"), {"b": batch_id}))


async def export_batch(session: AsyncSession, principal: Principal, batch_id: uuid.UUID
                       ) -> tuple[Any, list[Any]]:
    """The batch for the finance system, as it stands: reading it changes nothing (a GET runs
    in a read-only transaction). ``mark_exported`` is the action that moves it on."""
    _vendor(principal, INCENTIVES_READ)
    row = await _batch(session, principal, batch_id)
    if row.status == "draft":
        raise InvalidTransition("a draft batch is approved before it is exported")
    return row, await lines_of(session, row.id)


async def mark_exported(session: AsyncSession, principal: Principal, batch_id: uuid.UUID,
                        if_match: str | None) -> tuple[Any, list[Any]]:
    """approved -> exported: the finance system took the batch. Returns it with its lines,
    for the file the action answers with."""
    _vendor(principal, INCENTIVES_WRITE)
    row = await _batch(session, principal, batch_id, for_update=True)
    check_if_match(if_match, row.version)
    if row.status != "approved":
        raise InvalidTransition(f"the batch is {row.status}; only an approved batch is "
                                "exported")
    row = (await session.execute(text(
        "UPDATE payout_batches SET status = 'exported', exported_at = now(), "
        "version = version + 1, updated_at = statement_timestamp() WHERE id = :id RETURNING *"),
        {"id": row.id})).one()
    return row, await lines_of(session, row.id)


CSV_COLUMNS = ("batch_id", "partner_id", "currency", "period_from", "period_to",
               "transfer_id", "source", "source_id", "earned_on", "amount")


def to_csv(batch: Any, lines: list[Any]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for line in lines:
        writer.writerow((batch.id, batch.partner_id, batch.currency, batch.period_from,
                         batch.period_to, line.transfer_id, line.source,
                         line.source_id or "", line.earned_on,
                         text_of(line.amount, batch.currency)))
    return out.getvalue()


async def record_payment(session: AsyncSession, principal: Principal, batch_id: uuid.UUID,
                         data: PayoutPaymentIn, if_match: str | None) -> tuple[Any, bool]:
    """The finance system paid the batch: each line moves payable -> paid. The same payment
    reference again answers the paid batch and moves nothing. Returns (batch, changed)."""
    _vendor(principal, INCENTIVES_WRITE)
    row = await _batch(session, principal, batch_id, for_update=True)
    # Before the replay below: a confirmation sent again with the ETag of the exported batch
    # is stale (412), as any other action's, so that one If-Match pays it once.
    check_if_match(if_match, row.version)
    if row.status == "paid":
        if row.payment_reference == data.payment_reference:
            return row, False
        raise Conflict(f"the batch was paid with reference {row.payment_reference}")
    if row.status != "exported":
        raise InvalidTransition(f"the batch is {row.status}; it is exported before it is paid")
    other = (await session.execute(text(
        "SELECT id FROM payout_batches WHERE payment_reference = :ref"),
        {"ref": data.payment_reference})).first()
    if other is not None:
        raise Conflict(f"payment reference {data.payment_reference} paid batch {other.id}")
    lines = await lines_of(session, row.id)
    accounts: dict[uuid.UUID, Any] = {}
    for line in lines:
        if line.payable_account_id not in accounts:
            payable = await ledger.get_account(session, line.payable_account_id)
            accounts[line.payable_account_id] = await ledger.ensure_account(
                session, kind="paid", currency=payable.currency, budget_id=payable.budget_id,
                partner_id=payable.partner_id, non_negative=True,
                name=payable.name.replace("payable to", "paid to"))
    await ledger.lock_accounts(session, [*accounts, *(a.id for a in accounts.values())])
    for line in lines:
        paid_id = uuid.uuid5(row.id, str(line.transfer_id))
        await transfer(session, TransferSpec(
            id=paid_id, debit_account_id=line.payable_account_id,
            credit_account_id=accounts[line.payable_account_id].id, currency=row.currency,
            amount=line.amount, code="payout.paid",
            reference=f"payout {row.id}: {data.payment_reference}"))
        await session.execute(text(
            "UPDATE payout_lines SET paid_transfer_id = :t WHERE id = :id"),
            {"t": paid_id, "id": line.id})
    row = (await session.execute(text(
        "UPDATE payout_batches SET status = 'paid', payment_reference = :ref, "
        "paid_on = :paid_on, paid_at = now(), version = version + 1, "
        "updated_at = statement_timestamp() "
        "WHERE id = :id RETURNING *"),
        {"id": row.id, "ref": data.payment_reference, "paid_on": data.paid_on})).one()
    await outbox.publish(session, PayoutPaidV1(
        **_change(row), payment_reference=data.payment_reference, paid_on=data.paid_on),
        source=EVENT_SOURCE, aggregate_id=row.id, partner_id=row.partner_id)
    return row, True


async def batched(session: AsyncSession, transfer_id: uuid.UUID | None) -> uuid.UUID | None:
    """The payout batch a payable transfer is in, if any (reversals refuse those)."""
    if transfer_id is None:
        return None
    found = (await session.execute(text(
        "SELECT batch_id FROM payout_lines WHERE transfer_id = :t"), {"t": transfer_id})
        ).first()
    return None if found is None else found.batch_id


async def batched_of(session: AsyncSession, transfer_ids: list[uuid.UUID]) -> set[uuid.UUID]:
    """Which of these payable transfers are in a payout batch."""
    if not transfer_ids:
        return set()
    return set((await session.execute(text(
        "SELECT transfer_id FROM payout_lines WHERE transfer_id = ANY(CAST(:ids AS uuid[]))"),
        {"ids": transfer_ids})).scalars())


# --- statement -----------------------------------------------------------------------------


async def statement(session: AsyncSession, principal: Principal, partner_id: uuid.UUID,
                    start: dt.date, end: dt.date, query: ListQuery
                    ) -> tuple[tuple[list[Any], str | None, int | None], list[Any]]:
    """(page of items, totals): every payable amount earned in the period (of the filters'
    sources and currencies), why, and whether and when it was paid; totals per currency over
    all of them, every page."""
    principal.require(INCENTIVES_READ)
    principal.ensure_visible(partner_id, "partner")
    if end < start:
        raise Unprocessable("to is before from")
    base = _payables(partner_id).add_columns(
        PayoutLine.batch_id, PayoutBatch.status.label("batch_status"), PayoutBatch.paid_on,
        PayoutBatch.payment_reference,
    ).outerjoin(PayoutLine, PayoutLine.transfer_id == Transfer.id
    ).outerjoin(PayoutBatch, PayoutBatch.id == PayoutLine.batch_id
    ).where(_earned_on().between(start, end))
    page = await STATEMENT.page(session, base, query)
    items = base.where(*STATEMENT.where(query)).subquery()
    totals = list(await session.execute(select(
        items.c.currency, func.sum(items.c.amount).label("earned"),
        func.coalesce(func.sum(items.c.amount).filter(items.c.batch_status == "paid"), 0
                      ).label("paid"),
    ).group_by(items.c.currency).order_by(items.c.currency)))
    return page, totals
