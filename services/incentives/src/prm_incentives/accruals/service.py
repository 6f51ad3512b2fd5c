"""Accruals: what a won deal earned a partner, of a rebate programme or of a SPIFF. Both kinds
are read, listed and reversed alike; an ``AccrualBook`` says where a kind is kept and how its
reversal is announced.

An accrual's money is one ledger transfer, from the programme's expense account (or the SPIFF's
pool) to the partner's payable account, so a reversal is that transfer the other way, for what
is left of it (a period's true-up may have taken part of it back already). An accrual in a
payout batch is no longer reversed: the batch pays what it held when it was made.

Reversals are asked for by the vendor, one accrual at a time, or come from the deals service
when a won deal is reversed (``prm.deal.win_reversed.v1``): then every accrual of the deal is.
"""

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from prm_contracts import EventPayload
from prm_events import outbox
from prm_incentives.config import EVENT_SOURCE
from prm_incentives.declaration import INCENTIVES_READ, INCENTIVES_WRITE
from prm_incentives.ledger.service import TransferSpec, transfer
from prm_incentives.payouts import service as payouts
from prm_platform.http import check_if_match
from prm_platform.pagination import PageRequest
from prm_platform.problems import Conflict, InvalidTransition, NotFound
from prm_platform.security import Principal

log = logging.getLogger("prm.incentives.accruals")

# The ``reason`` column's length.
REASON_LENGTH = 500


@dataclass(frozen=True)
class AccrualBook:
    """Where one kind of accrual is kept."""

    table: str  # rebate_accruals, spiff_accruals
    owner: str  # the column naming what it was earned of: programme_id, spiff_id
    noun: str  # for problems and ledger references: "rebate accrual"
    code: str  # the ledger code of its reversals: rebate.reversal
    reference: str  # the ledger reference of a reversal: "reversal of <reference> <id>"
    # The event announcing a reversal: (the reversed accrual, the amount taken back).
    reversed_event: Callable[[Any, int], EventPayload]


async def find(session: AsyncSession, principal: Principal, book: AccrualBook,
               accrual_id: uuid.UUID, *, for_update: bool = False) -> Any:
    """The accrual, if the caller may see it (another org's is a 404)."""
    lock = " FOR UPDATE" if for_update else ""
    row = (await session.execute(text(f"SELECT * FROM {book.table} WHERE id = :id{lock}"),
                                 {"id": accrual_id})).first()
    if row is None or not principal.can_see_partner(row.partner_id):
        raise NotFound(f"{book.noun} not found")
    return row


async def get(session: AsyncSession, principal: Principal, book: AccrualBook,
              accrual_id: uuid.UUID) -> Any:
    principal.require(INCENTIVES_READ)
    return await find(session, principal, book, accrual_id)


async def page(session: AsyncSession, principal: Principal, book: AccrualBook,
               request: PageRequest, *, partner_id: uuid.UUID | None,
               owner_id: uuid.UUID | None, deal_id: uuid.UUID | None,
               status: str | None = None) -> list[Any]:
    """One page, oldest first; a partner key sees only its own org's."""
    principal.require(INCENTIVES_READ)
    partner = principal.partner_id if principal.is_partner else partner_id
    return list(await session.execute(text(
        f"SELECT * FROM {book.table} WHERE (CAST(:after AS uuid) IS NULL "
        "OR id > CAST(:after AS uuid)) "
        "AND (CAST(:partner AS uuid) IS NULL OR partner_id = CAST(:partner AS uuid)) "
        f"AND (CAST(:owner AS uuid) IS NULL OR {book.owner} = CAST(:owner AS uuid)) "
        "AND (CAST(:deal AS uuid) IS NULL OR deal_id = CAST(:deal AS uuid)) "
        "AND (CAST(:status AS varchar) IS NULL OR status = :status) "
        "ORDER BY id LIMIT :limit"),
        {"after": request.after, "partner": partner, "owner": owner_id, "deal": deal_id,
         "status": status, "limit": request.limit + 1}))


async def left_to_reverse(session: AsyncSession, transfer_ids: list[uuid.UUID]
                          ) -> dict[uuid.UUID, int]:
    """What each posted transfer still carries, net of the reversals made of it."""
    if not transfer_ids:
        return {}
    rows = await session.execute(text(
        "SELECT t.id, t.posted_amount - COALESCE((SELECT SUM(r.amount) FROM ledger_transfers r "
        "WHERE r.reverses_id = t.id AND r.status = 'posted'), 0) AS left_amount "
        "FROM ledger_transfers t WHERE t.id = ANY(CAST(:ids AS uuid[]))"),
        {"ids": transfer_ids})
    return {row.id: int(row.left_amount) for row in rows}


async def transfer_of(session: AsyncSession, transfer_id: uuid.UUID) -> Any:
    """The accounts an accrual's transfer moved money between (a reversal swaps them)."""
    return (await session.execute(text(
        "SELECT debit_account_id, credit_account_id FROM ledger_transfers WHERE id = :id"),
        {"id": transfer_id})).one()


async def reverse(session: AsyncSession, principal: Principal, book: AccrualBook,
                  accrual_id: uuid.UUID, reason: str, if_match: str | None) -> Any:
    """A won deal undone, said by the vendor: the accrual is reversed once, unless it is in a
    payout batch already."""
    principal.require(INCENTIVES_WRITE)
    principal.ensure_vendor()
    row = await find(session, principal, book, accrual_id, for_update=True)
    check_if_match(if_match, row.version)
    if row.status != "accrued":
        raise InvalidTransition(f"the accrual is {row.status}; only an accrued one is reversed")
    # Held against a payout batch being made of the same payables meanwhile.
    await payouts.hold(session, row.partner_id, row.currency)
    batch_id = await payouts.batched(session, row.transfer_id)
    if batch_id is not None:
        raise Conflict(f"the accrual is in payout batch {batch_id}; it is no longer reversed")
    return await undo(session, book, row, reason)


async def undo(session: AsyncSession, book: AccrualBook, row: Any, reason: str) -> Any:
    """Reverse an accrued, unbatched accrual (locked by the caller): what is left of its
    transfer moves back, the accrual says so and the reversal is announced. The reversing
    transfer's id is derived from the accrual's, so a replay finds it."""
    original = await transfer_of(session, row.transfer_id)
    amount = (await left_to_reverse(session, [row.transfer_id]))[row.transfer_id]
    reversal_id = None
    if amount > 0:
        reversal_id = uuid.uuid5(row.transfer_id, "reversal")
        await transfer(session, TransferSpec(
            id=reversal_id, debit_account_id=original.credit_account_id,
            credit_account_id=original.debit_account_id, currency=row.currency,
            amount=amount, code=book.code, reference=f"reversal of {book.reference} {row.id}",
            reverses_id=row.transfer_id))
    reversed_ = (await session.execute(text(
        f"UPDATE {book.table} SET status = 'reversed', reversal_transfer_id = :transfer, "
        "reason = :reason, version = version + 1, updated_at = now() WHERE id = :id "
        "RETURNING *"), {"id": row.id, "transfer": reversal_id, "reason": reason})).one()
    await outbox.publish(session, book.reversed_event(reversed_, amount), source=EVENT_SOURCE,
                         aggregate_id=reversed_.id, partner_id=reversed_.partner_id)
    return reversed_


# Each kind's accruals of one deal, through the (owner, deal) unique index of its table, oldest
# first: the order their rows are locked in.
_OF_DEAL = {
    "rebate_accruals": "SELECT a.* FROM rebate_programmes o JOIN rebate_accruals a "
                       "ON a.programme_id = o.id AND a.kind = 'deal' AND a.deal_id = :deal",
    "spiff_accruals": "SELECT a.* FROM spiffs o JOIN spiff_accruals a "
                      "ON a.spiff_id = o.id AND a.deal_id = :deal",
}


@dataclass
class DealReversal:
    """What a reversed win did to one kind's accruals of the deal."""

    reversed: list[Any] = field(default_factory=list)  # money moved back (or none was due)
    kept: list[Any] = field(default_factory=list)  # in a payout batch: left, with the reason


def _reason(text_: str, suffix: str = "") -> str:
    """``text_`` cut so that with ``suffix`` it fits the reason column."""
    room = REASON_LENGTH - len(suffix)
    return (text_ if len(text_) <= room else text_[:room - 1] + "…") + suffix


async def reverse_deal(session: AsyncSession, book: AccrualBook, deal_id: uuid.UUID,
                       why: str) -> DealReversal:
    """A won deal reversed by the deals service: each of its accruals in ``book`` is reversed
    once. One in a payout batch is not (the batch pays it); its reason says so, for the vendor
    to recover the money outside the incentives service. One that moved no money
    (``no_rebate``, ``capped``) is marked reversed, so the deal stops counting in the
    partner's volume. Safe to repeat: what is reversed, or kept with this reason, is left as
    it is."""
    rows = list(await session.execute(text(
        f"{_OF_DEAL[book.table]} ORDER BY a.id FOR UPDATE OF a"), {"deal": deal_id}))
    reason = _reason(f"deal win reversed: {why}")
    done = DealReversal()
    for row in rows:
        if row.status == "reversed":
            continue
        if row.transfer_id is None:
            done.reversed.append((await session.execute(text(
                f"UPDATE {book.table} SET status = 'reversed', reason = :reason, "
                "version = version + 1, updated_at = now() WHERE id = :id RETURNING *"),
                {"id": row.id, "reason": reason})).one())
            continue
        # Held against a payout batch being made of the same payables meanwhile.
        await payouts.hold(session, row.partner_id, row.currency)
        batch_id = await payouts.batched(session, row.transfer_id)
        if batch_id is None:
            done.reversed.append(await undo(session, book, row, reason))
            continue
        kept = _reason(f"deal win reversed: {why}",
                       f"; not reversed: in payout batch {batch_id}")
        if row.reason != kept:
            row = (await session.execute(text(
                f"UPDATE {book.table} SET reason = :reason, version = version + 1, "
                "updated_at = now() WHERE id = :id RETURNING *"),
                {"id": row.id, "reason": kept})).one()
            log.warning("%s %s of deal %s not reversed: it is in payout batch %s",
                        book.noun, row.id, deal_id, batch_id)
        done.kept.append(row)
    return done
