"""The ledger's queries. Balances are never written here: the ``ledger_apply_transfer``
trigger derives them from the transfer rows (migration 0002)."""

import uuid
from collections.abc import Iterable
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

ACCOUNT_COLUMNS = ("id, kind, name, currency, budget_id, partner_id, non_negative, "
                   "debits_posted, credits_posted, debits_pending, credits_pending, version, "
                   "created_at")
TRANSFER_COLUMNS = ("id, debit_account_id, credit_account_id, currency, amount, pending, "
                    "status, posted_amount, timeout_seconds, expires_at, reverses_id, "
                    "conversion_id, code, reference, version, created_at, resolved_at")

_ENSURE_ACCOUNT = text("""
    INSERT INTO ledger_accounts (id, kind, name, currency, budget_id, partner_id, non_negative,
        debits_posted, credits_posted, debits_pending, credits_pending, version, created_at)
    VALUES (:id, :kind, :name, :currency, :budget_id, :partner_id, :non_negative,
            0, 0, 0, 0, 1, now())
    ON CONFLICT ON CONSTRAINT uq_ledger_accounts_kind DO NOTHING""")
_FIND_ACCOUNT = text(f"""
    SELECT {ACCOUNT_COLUMNS} FROM ledger_accounts
    WHERE kind = :kind AND currency = :currency
      AND budget_id IS NOT DISTINCT FROM CAST(:budget_id AS uuid)
      AND partner_id IS NOT DISTINCT FROM CAST(:partner_id AS uuid)""")
_INSERT_TRANSFER = text(f"""
    INSERT INTO ledger_transfers (id, debit_account_id, credit_account_id, currency, amount,
        pending, status, posted_amount, timeout_seconds, expires_at, reverses_id,
        conversion_id, code, reference, version, created_at)
    VALUES (:id, :debit_account_id, :credit_account_id, :currency, :amount, :pending,
            CASE WHEN :pending THEN 'pending' ELSE 'posted' END,
            CASE WHEN :pending THEN NULL ELSE CAST(:amount AS bigint) END,
            CAST(:timeout_seconds AS integer),
            now() + make_interval(secs => CAST(:timeout_seconds AS integer)),
            :reverses_id, :conversion_id, :code, :reference, 1, now())
    ON CONFLICT (id) DO NOTHING
    RETURNING {TRANSFER_COLUMNS}""")
# A pending transfer is resolved once: the status guard makes a second resolution (a retry, a
# concurrent void, the expiry job) touch nothing. Past its deadline it can only expire.
_RESOLVE = text(f"""
    UPDATE ledger_transfers SET status = :status, posted_amount = :posted_amount,
        resolved_at = now(), version = version + 1
    WHERE id = :id AND status = 'pending'
      AND (CAST(:status AS varchar) = 'expired' OR expires_at IS NULL OR expires_at > now())
    RETURNING {TRANSFER_COLUMNS}""")


async def ensure_account(session: AsyncSession, *, kind: str, currency: str, name: str,
                         non_negative: bool, budget_id: uuid.UUID | None = None,
                         partner_id: uuid.UUID | None = None) -> Any:
    from prm_platform.ids import new_id

    values = {"kind": kind, "currency": currency, "budget_id": budget_id,
              "partner_id": partner_id}
    await session.execute(_ENSURE_ACCOUNT, {**values, "id": new_id(), "name": name,
                                            "non_negative": non_negative})
    return (await session.execute(_FIND_ACCOUNT, values)).one()


async def get_account(session: AsyncSession, account_id: uuid.UUID) -> Any:
    return (await session.execute(text(
        f"SELECT {ACCOUNT_COLUMNS} FROM ledger_accounts WHERE id = :id"),
        {"id": account_id})).first()


async def lock_accounts(session: AsyncSession, account_ids: Iterable[uuid.UUID]) -> None:
    """Lock accounts in id order, the order every ledger writer uses (the trigger too), so that
    an operation moving money through several accounts cannot deadlock with another."""
    await session.execute(text(
        "SELECT id FROM ledger_accounts WHERE id = ANY(CAST(:ids AS uuid[])) "
        "ORDER BY id FOR NO KEY UPDATE"), {"ids": sorted(set(account_ids))})


async def list_accounts(session: AsyncSession, *, after: uuid.UUID | None, limit: int,
                        kind: str | None, currency: str | None, partner_id: uuid.UUID | None,
                        budget_id: uuid.UUID | None) -> list[Any]:
    rows = await session.execute(text(
        f"SELECT {ACCOUNT_COLUMNS} FROM ledger_accounts "
        "WHERE (CAST(:after AS uuid) IS NULL OR id > CAST(:after AS uuid)) "
        "AND (CAST(:kind AS varchar) IS NULL OR kind = :kind) "
        "AND (CAST(:currency AS varchar) IS NULL OR currency = :currency) "
        "AND (CAST(:partner_id AS uuid) IS NULL OR partner_id = CAST(:partner_id AS uuid)) "
        "AND (CAST(:budget_id AS uuid) IS NULL OR budget_id = CAST(:budget_id AS uuid)) "
        "ORDER BY id LIMIT :limit"),
        {"after": after, "kind": kind, "currency": currency, "partner_id": partner_id,
         "budget_id": budget_id, "limit": limit})
    return list(rows)


async def list_entries(session: AsyncSession, account_id: uuid.UUID, *,
                       after: uuid.UUID | None, limit: int) -> list[Any]:
    rows = await session.execute(text(
        "SELECT e.id, e.account_id, e.transfer_id, e.side, e.phase, e.amount, e.created_at, "
        "a.currency FROM ledger_entries e JOIN ledger_accounts a ON a.id = e.account_id "
        "WHERE e.account_id = :account_id "
        "AND (CAST(:after AS uuid) IS NULL OR e.id > CAST(:after AS uuid)) "
        "ORDER BY e.id LIMIT :limit"), {"account_id": account_id, "after": after,
                                        "limit": limit})
    return list(rows)


async def insert_transfer(session: AsyncSession, values: dict[str, Any]) -> Any:
    return (await session.execute(_INSERT_TRANSFER, values)).first()


async def get_transfer(session: AsyncSession, transfer_id: uuid.UUID, *,
                       for_update: bool = False) -> Any:
    lock = " FOR UPDATE" if for_update else ""
    return (await session.execute(text(
        f"SELECT {TRANSFER_COLUMNS} FROM ledger_transfers WHERE id = :id{lock}"),
        {"id": transfer_id})).first()


async def resolve(session: AsyncSession, transfer_id: uuid.UUID, status: str,
                  posted_amount: int) -> Any:
    return (await session.execute(_RESOLVE, {"id": transfer_id, "status": status,
                                              "posted_amount": posted_amount})).first()


async def reversed_so_far(session: AsyncSession, transfer_id: uuid.UUID) -> int:
    return int((await session.execute(text(
        "SELECT coalesce(sum(amount), 0) FROM ledger_transfers WHERE reverses_id = :id"),
        {"id": transfer_id})).scalar_one())


async def list_transfers(session: AsyncSession, *, after: uuid.UUID | None, limit: int,
                         status: str | None, account_id: uuid.UUID | None) -> list[Any]:
    rows = await session.execute(text(
        f"SELECT {TRANSFER_COLUMNS} FROM ledger_transfers "
        "WHERE (CAST(:after AS uuid) IS NULL OR id > CAST(:after AS uuid)) "
        "AND (CAST(:status AS varchar) IS NULL OR status = :status) "
        "AND (CAST(:account AS uuid) IS NULL OR CAST(:account AS uuid) IN "
        "     (debit_account_id, credit_account_id)) "
        "ORDER BY id LIMIT :limit"),
        {"after": after, "status": status, "account": account_id, "limit": limit})
    return list(rows)


async def due_pending(session: AsyncSession, batch: int) -> list[Any]:
    """Pending transfers past their deadline, locked for this run; another replica skips
    them."""
    rows = await session.execute(text(
        "SELECT id, debit_account_id, credit_account_id FROM ledger_transfers "
        "WHERE status = 'pending' AND expires_at <= now() "
        "ORDER BY expires_at LIMIT :batch FOR UPDATE SKIP LOCKED"), {"batch": batch})
    return list(rows)
