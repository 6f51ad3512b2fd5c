"""The ledger's queries. Balances are never written here: the ledger's triggers derive them
from the transfer rows (``ledger_apply_inserted``, migration 0007, for new transfers;
``ledger_apply_transfer``, migration 0002, for a pending one resolved)."""

import uuid
from collections.abc import Iterable
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from prm_incentives.db import columns
from prm_incentives.directory.names import named
from prm_incentives.ledger.listing import (
    ACCOUNTS,
    ENTRIES,
    ENTRY_CURRENCY,
    FX_RATES,
    TRANSFERS,
)
from prm_incentives.ledger.models import Account, Entry, FxRate, Transfer
from prm_platform.listing import ListQuery

# A session, or a connection: a single transfer is one statement, so it may also run on an
# autocommit connection (one round trip).
Executor = AsyncSession | AsyncConnection
# A list's page: its rows, the next cursor, and the number of records matching if asked.
Page = tuple[list[Any], str | None, int | None]

ACCOUNT_COLUMNS = ("id, kind, name, currency, budget_id, partner_id, non_negative, "
                   "debits_posted, credits_posted, debits_pending, credits_pending, version, "
                   "created_at, updated_at")
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
# A transfer in one round trip: the transfer made before with this id, or else the two
# accounts locked in id order (as every ledger writer locks them) and checked (they exist, are
# in the transfer's currency, the debit account can cover it), and the transfer inserted when
# they pass. ``outcome`` says which; the check constraint and the foreign keys still stand
# behind the guard. Locked, the balances read are the current ones (read committed re-reads a
# row it waited for), so a refusal here is exact.
_TRANSFER = text(f"""
    WITH existing AS (
        SELECT {TRANSFER_COLUMNS} FROM ledger_transfers WHERE id = CAST(:id AS uuid)
    ), accounts AS (
        SELECT id, currency, non_negative,
               credits_posted - debits_posted - debits_pending AS available
        FROM ledger_accounts
        WHERE id IN (CAST(:debit_account_id AS uuid), CAST(:credit_account_id AS uuid))
          AND NOT EXISTS (SELECT 1 FROM existing)
        ORDER BY id FOR NO KEY UPDATE
    ), verdict AS (
        SELECT CASE
            WHEN EXISTS (SELECT 1 FROM existing) THEN 'exists'
            WHEN NOT EXISTS (SELECT 1 FROM accounts WHERE id = :debit_account_id)
                THEN 'no-debit-account'
            WHEN NOT EXISTS (SELECT 1 FROM accounts WHERE id = :credit_account_id)
                THEN 'no-credit-account'
            WHEN EXISTS (SELECT 1 FROM accounts WHERE currency <> :currency) THEN 'currency'
            WHEN EXISTS (SELECT 1 FROM accounts WHERE id = :debit_account_id AND non_negative
                         AND available < CAST(:amount AS bigint)) THEN 'insufficient-funds'
            ELSE 'created' END AS outcome
    ), inserted AS (
        INSERT INTO ledger_transfers (id, debit_account_id, credit_account_id, currency, amount,
            pending, status, posted_amount, timeout_seconds, expires_at, reverses_id,
            conversion_id, code, reference, version, created_at)
        SELECT CAST(:id AS uuid), CAST(:debit_account_id AS uuid),
               CAST(:credit_account_id AS uuid), CAST(:currency AS varchar),
               CAST(:amount AS bigint), CAST(:pending AS boolean),
               CASE WHEN CAST(:pending AS boolean) THEN 'pending' ELSE 'posted' END,
               CASE WHEN CAST(:pending AS boolean) THEN NULL ELSE CAST(:amount AS bigint) END,
               CAST(:timeout_seconds AS integer),
               now() + make_interval(secs => CAST(:timeout_seconds AS integer)),
               CAST(:reverses_id AS uuid), CAST(:conversion_id AS uuid),
               CAST(:code AS varchar), CAST(:reference AS varchar), 1, now()
        FROM verdict WHERE outcome = 'created'
        ON CONFLICT (id) DO NOTHING
        RETURNING {TRANSFER_COLUMNS}
    ), found AS (
        SELECT * FROM inserted UNION ALL SELECT * FROM existing
    )
    SELECT verdict.outcome,
           (SELECT available FROM accounts WHERE id = :debit_account_id) AS available,
           found.*
    FROM verdict LEFT JOIN found ON true""")
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


async def get_account(session: Executor, account_id: uuid.UUID) -> Any:
    return (await session.execute(text(
        f"SELECT {ACCOUNT_COLUMNS} FROM ledger_accounts WHERE id = :id"),
        {"id": account_id})).first()


async def lock_accounts(session: AsyncSession, account_ids: Iterable[uuid.UUID]) -> None:
    """Lock accounts in id order, the order every ledger writer uses (the trigger too), so that
    an operation moving money through several accounts cannot deadlock with another."""
    await session.execute(text(
        "SELECT id FROM ledger_accounts WHERE id = ANY(CAST(:ids AS uuid[])) "
        "ORDER BY id FOR NO KEY UPDATE"), {"ids": sorted(set(account_ids))})


async def lock_accounts_for_batch(session: AsyncSession, account_ids: Iterable[uuid.UUID]
                                  ) -> list[Any]:
    """``lock_accounts``, returning what a batch decides on: currency, flag, available."""
    rows = await session.execute(text(
        "SELECT id, currency, non_negative, "
        "credits_posted - debits_posted - debits_pending AS available FROM ledger_accounts "
        "WHERE id = ANY(CAST(:ids AS uuid[])) ORDER BY id FOR NO KEY UPDATE"),
        {"ids": sorted(set(account_ids))})
    return list(rows)


async def list_accounts(session: AsyncSession, query: ListQuery) -> Page:
    """A page of accounts, each with its partner's name from the directory (one join)."""
    return await ACCOUNTS.page(session, named(select(*columns(Account)), Account.partner_id),
                               query)


async def list_entries(session: AsyncSession, account_id: uuid.UUID, query: ListQuery
                       ) -> Page:
    """A page of one account's entries, in its currency."""
    return await ENTRIES.page(session, select(*columns(Entry), ENTRY_CURRENCY.label(
        "currency")).where(Entry.account_id == account_id), query)


async def make_transfer(session: Executor, values: dict[str, Any]) -> Any:
    """``outcome`` ('created', 'exists', 'no-debit-account', 'no-credit-account',
    'currency', 'insufficient-funds'), the debit account's ``available`` when it was locked,
    and the transfer's columns: the one made now or before; none when refused, or when a
    concurrent writer took the id after this statement's snapshot (read it again)."""
    return (await session.execute(_TRANSFER, values)).one()


async def get_transfers(session: AsyncSession, transfer_ids: list[uuid.UUID]) -> list[Any]:
    if not transfer_ids:
        return []
    rows = await session.execute(text(
        f"SELECT {TRANSFER_COLUMNS} FROM ledger_transfers WHERE id = ANY(CAST(:ids AS uuid[]))"),
        {"ids": transfer_ids})
    return list(rows)


_INSERT_TRANSFERS = text(f"""
    INSERT INTO ledger_transfers (id, debit_account_id, credit_account_id, currency, amount,
        pending, status, posted_amount, timeout_seconds, expires_at, reverses_id,
        conversion_id, code, reference, version, created_at)
    SELECT t.id, t.debit_account_id, t.credit_account_id, t.currency, t.amount, t.pending,
           CASE WHEN t.pending THEN 'pending' ELSE 'posted' END,
           CASE WHEN t.pending THEN NULL ELSE t.amount END,
           t.timeout_seconds, now() + make_interval(secs => t.timeout_seconds),
           NULL, t.conversion_id, t.code, t.reference, 1, now()
    FROM unnest(CAST(:id AS uuid[]), CAST(:debit_account_id AS uuid[]),
                CAST(:credit_account_id AS uuid[]), CAST(:currency AS varchar[]),
                CAST(:amount AS bigint[]), CAST(:pending AS boolean[]),
                CAST(:timeout_seconds AS integer[]), CAST(:conversion_id AS uuid[]),
                CAST(:code AS varchar[]), CAST(:reference AS varchar[]))
         WITH ORDINALITY AS t(id, debit_account_id, credit_account_id, currency, amount,
                              pending, timeout_seconds, conversion_id, code, reference, n)
    ORDER BY t.n
    ON CONFLICT (id) DO NOTHING
    RETURNING {TRANSFER_COLUMNS}""")
_BATCH_FIELDS = ("id", "debit_account_id", "credit_account_id", "currency", "amount",
                 "pending", "timeout_seconds", "conversion_id", "code", "reference")


async def insert_transfers(session: AsyncSession, transfers: list[dict[str, Any]]) -> list[Any]:
    """Many transfers in one statement, in the order given (the trigger applies each); an id
    taken meanwhile is skipped (not returned). Reversals are not made here."""
    if not transfers:
        return []
    params = {name: [t[name] for t in transfers] for name in _BATCH_FIELDS}
    return list(await session.execute(_INSERT_TRANSFERS, params))


async def get_transfer(session: Executor, transfer_id: uuid.UUID, *,
                       for_update: bool = False) -> Any:
    lock = " FOR UPDATE" if for_update else ""
    return (await session.execute(text(
        f"SELECT {TRANSFER_COLUMNS} FROM ledger_transfers WHERE id = :id{lock}"),
        {"id": transfer_id})).first()


async def resolve(session: AsyncSession, transfer_id: uuid.UUID, status: str,
                  posted_amount: int) -> Any:
    return (await session.execute(_RESOLVE, {"id": transfer_id, "status": status,
                                              "posted_amount": posted_amount})).first()


async def reversed_so_far(session: Executor, transfer_id: uuid.UUID) -> int:
    return int((await session.execute(text(
        "SELECT coalesce(sum(amount), 0) FROM ledger_transfers WHERE reverses_id = :id"),
        {"id": transfer_id})).scalar_one())


async def list_transfers(session: AsyncSession, query: ListQuery) -> Page:
    return await TRANSFERS.page(session, select(*columns(Transfer)), query)


async def list_rates(session: AsyncSession, query: ListQuery) -> Page:
    return await FX_RATES.page(session, select(*columns(FxRate)), query)


async def due_pending(session: AsyncSession, batch: int) -> list[Any]:
    """Pending transfers past their deadline, locked for this run; another replica skips
    them."""
    rows = await session.execute(text(
        "SELECT id, debit_account_id, credit_account_id FROM ledger_transfers "
        "WHERE status = 'pending' AND expires_at <= now() "
        "ORDER BY expires_at LIMIT :batch FOR UPDATE SKIP LOCKED"), {"batch": batch})
    return list(rows)
