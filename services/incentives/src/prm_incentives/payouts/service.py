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

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from prm_contracts import Amount, PayoutApprovedV1, PayoutPaidV1
from prm_events import outbox
from prm_incentives.config import EVENT_SOURCE
from prm_incentives.declaration import INCENTIVES_READ, INCENTIVES_WRITE
from prm_incentives.ledger import repository as ledger
from prm_incentives.ledger.service import TransferSpec, transfer
from prm_incentives.money import text_of
from prm_incentives.payouts.schemas import PayoutBatchIn, PayoutPaymentIn
from prm_platform.http import check_if_match
from prm_platform.ids import new_id
from prm_platform.pagination import PageRequest
from prm_platform.problems import Conflict, InvalidTransition, NotFound, Unprocessable
from prm_platform.security import Principal

MAX_LINES = 1000

# Every posted transfer that credited one of a partner's payable accounts (reversals aside),
# with what reversals left of it, where it came from and when it was earned.
_PAYABLES = """
SELECT t.id, t.credit_account_id AS payable_account_id, t.currency, t.code, t.reference,
    t.posted_amount - COALESCE((SELECT SUM(r.posted_amount) FROM ledger_transfers r
        WHERE r.reverses_id = t.id AND r.status = 'posted'), 0) AS amount,
    CASE WHEN ra.id IS NOT NULL THEN 'rebate' WHEN sa.id IS NOT NULL THEN 'spiff'
         WHEN mc.id IS NOT NULL THEN 'mdf_claim' ELSE 'other' END AS source,
    COALESCE(ra.id, sa.id, mc.id) AS source_id,
    COALESCE(ra.closed_on, sa.closed_on, CAST(t.created_at AS date)) AS earned_on,
    rp.name AS programme, ra.kind AS rebate_kind, ra.rate, ra.base_amount AS rebate_base,
    ra.deal_id AS rebate_deal, ra.period_from, ra.period_to, s.name AS spiff,
    sa.deal_id AS spiff_deal, mc.request_id
FROM ledger_transfers t
JOIN ledger_accounts a ON a.id = t.credit_account_id
LEFT JOIN rebate_accruals ra ON ra.transfer_id = t.id
LEFT JOIN rebate_programmes rp ON rp.id = ra.programme_id
LEFT JOIN spiff_accruals sa ON sa.transfer_id = t.id
LEFT JOIN spiffs s ON s.id = sa.spiff_id
LEFT JOIN mdf_claims mc ON mc.payable_transfer_id = t.id
WHERE a.kind = 'payable' AND a.partner_id = :partner AND t.status = 'posted'
  AND t.reverses_id IS NULL"""


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
    lines = list(await session.execute(text(
        f"SELECT * FROM ({_PAYABLES}) p WHERE p.currency = :currency AND p.amount > 0 "
        "AND p.earned_on BETWEEN :from AND :to AND NOT EXISTS (SELECT 1 FROM payout_lines l "
        "WHERE l.transfer_id = p.id) ORDER BY p.id LIMIT :limit"),
        {"partner": data.partner_id, "currency": data.currency, "from": data.period_from,
         "to": data.period_to, "limit": MAX_LINES}))
    if not lines:
        raise Unprocessable(f"partner {data.partner_id} has nothing payable in "
                            f"{data.currency} from {data.period_from} to {data.period_to} "
                            "that is not in a batch yet")
    batch_id = new_id()
    row = (await session.execute(text(
        "INSERT INTO payout_batches (id, partner_id, currency, period_from, period_to, total, "
        "lines, status, version, created_at, updated_at) VALUES (:id, :partner, :currency, "
        ":from, :to, :total, :lines, 'draft', 1, now(), now()) RETURNING *"),
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


async def list_batches(session: AsyncSession, principal: Principal, page: PageRequest, *,
                       partner_id: uuid.UUID | None, status: str | None) -> list[Any]:
    principal.require(INCENTIVES_READ)
    partner = principal.partner_id if principal.is_partner else partner_id
    return list(await session.execute(text(
        "SELECT * FROM payout_batches WHERE (CAST(:after AS uuid) IS NULL "
        "OR id > CAST(:after AS uuid)) "
        "AND (CAST(:partner AS uuid) IS NULL OR partner_id = CAST(:partner AS uuid)) "
        "AND (CAST(:status AS varchar) IS NULL OR status = :status) ORDER BY id LIMIT :limit"),
        {"after": page.after, "partner": partner, "status": status, "limit": page.limit + 1}))


async def approve_batch(session: AsyncSession, principal: Principal, batch_id: uuid.UUID,
                        if_match: str | None) -> Any:
    _vendor(principal, INCENTIVES_WRITE)
    row = await _batch(session, principal, batch_id, for_update=True)
    check_if_match(if_match, row.version)
    if row.status != "draft":
        raise InvalidTransition(f"the batch is {row.status}; only a draft is approved")
    row = (await session.execute(text(
        "UPDATE payout_batches SET status = 'approved', approved_at = now(), "
        "version = version + 1, updated_at = now() WHERE id = :id RETURNING *"),
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
        "version = version + 1, updated_at = now() WHERE id = :id RETURNING *"),
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
        "paid_on = :paid_on, paid_at = now(), version = version + 1, updated_at = now() "
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
                    start: dt.date, end: dt.date, page: PageRequest
                    ) -> tuple[list[Any], list[Any]]:
    """(items, totals): every payable amount earned in the period, why, and whether and when
    it was paid; totals per currency over the whole period."""
    principal.require(INCENTIVES_READ)
    principal.ensure_visible(partner_id, "partner")
    if end < start:
        raise Unprocessable("to is before from")
    params = {"partner": partner_id, "from": start, "to": end}
    base = (f"SELECT p.*, l.batch_id, b.status AS batch_status, b.paid_on, "
            f"b.payment_reference FROM ({_PAYABLES}) p "
            "LEFT JOIN payout_lines l ON l.transfer_id = p.id "
            "LEFT JOIN payout_batches b ON b.id = l.batch_id "
            "WHERE p.earned_on BETWEEN :from AND :to")
    items = list(await session.execute(text(
        f"SELECT * FROM ({base}) s WHERE (CAST(:after AS uuid) IS NULL "
        "OR s.id > CAST(:after AS uuid)) ORDER BY s.id LIMIT :limit"),
        {**params, "after": page.after, "limit": page.limit + 1}))
    totals = list(await session.execute(text(
        f"SELECT currency, SUM(amount) AS earned, "
        f"COALESCE(SUM(amount) FILTER (WHERE batch_status = 'paid'), 0) AS paid "
        f"FROM ({base}) s GROUP BY currency ORDER BY currency"), params))
    return items, totals
