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
from decimal import Decimal
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from prm_contracts import DealWinReversedV1, DealWonV1, EventPayload
from prm_events import outbox
from prm_incentives.config import EVENT_SOURCE
from prm_incentives.db import columns
from prm_incentives.declaration import INCENTIVES_READ, INCENTIVES_WRITE
from prm_incentives.directory.names import named, visible
from prm_incentives.ledger.service import TransferSpec, transfer
from prm_incentives.payouts import service as payouts
from prm_platform.http import check_if_match
from prm_platform.listing import Listing, ListQuery
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
    model: Any  # the table's model: RebateAccrual, SpiffAccrual
    listing: Listing  # its list's grammar


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
               query: ListQuery) -> tuple[list[Any], str | None, int | None]:
    """One page, each accrual with its partner's name; a partner key sees only its own
    org's."""
    principal.require(INCENTIVES_READ)
    model = book.model
    statement, query = visible(principal, named(select(*columns(model)), model.partner_id),
                               query, model.partner_id)
    return await book.listing.page(session, statement, query)


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


async def undo(session: AsyncSession, book: AccrualBook, row: Any, reason: str, *,
               status: str = "reversed") -> Any:
    """Reverse an accrued, unbatched accrual (locked by the caller): what is left of its
    transfer moves back, the accrual says so (``status``: reversed, or superseded by a newer
    win of its deal) and the reversal is announced. The reversing transfer's id is derived
    from the accrual's, so a replay finds it."""
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
        f"UPDATE {book.table} SET status = :status, reversal_transfer_id = :transfer, "
        "reason = :reason, version = version + 1, updated_at = statement_timestamp() "
        "WHERE id = :id "
        "RETURNING *"),
        {"id": row.id, "transfer": reversal_id, "reason": reason, "status": status})).one()
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
        if row.status in ("reversed", "superseded"):
            continue
        if row.transfer_id is None:
            done.reversed.append((await session.execute(text(
                f"UPDATE {book.table} SET status = 'reversed', reason = :reason, "
                "version = version + 1, updated_at = statement_timestamp() WHERE id = :id "
                "RETURNING *"),
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
                "updated_at = statement_timestamp() WHERE id = :id RETURNING *"),
                {"id": row.id, "reason": kept})).one()
            log.warning("%s %s of deal %s not reversed: it is in payout batch %s",
                        book.noun, row.id, deal_id, batch_id)
        done.kept.append(row)
    return done


# --- the win that stands ----------------------------------------------------------------------

# A won event is applied when it is the deal's first, or newer than the win applied before; a
# reversed win is final. The row's lock serialises two events of one deal applied at once.
_STAND = text("""
    INSERT INTO deal_wins (deal_id, partner_id, version, status, amount, currency, closed_on,
                           updated_at)
    VALUES (:deal, :partner, :version, 'won', :amount, :currency, :closed_on, now())
    ON CONFLICT (deal_id) DO UPDATE SET partner_id = excluded.partner_id,
        version = excluded.version, amount = excluded.amount, currency = excluded.currency,
        closed_on = excluded.closed_on, updated_at = now()
    WHERE deal_wins.status = 'won' AND deal_wins.version < excluded.version
    RETURNING deal_id""")
_REVERSED = text("""
    INSERT INTO deal_wins (deal_id, partner_id, version, status, amount, currency, closed_on,
                           updated_at)
    VALUES (:deal, :partner, :version, 'win_reversed', :amount, :currency, :closed_on, now())
    ON CONFLICT (deal_id) DO UPDATE SET status = 'win_reversed',
        version = GREATEST(deal_wins.version, excluded.version), updated_at = now()""")


def _win_values(deal: Any) -> dict[str, Any]:
    return {"deal": deal.deal_id, "partner": deal.partner_id, "version": deal.version,
            "amount": deal.amount.amount, "currency": deal.amount.currency,
            "closed_on": deal.closed_on}


async def stands(session: AsyncSession, deal: DealWonV1) -> bool:
    """Whether this win of the deal is to be applied: its first, or one newer than the win
    applied before (which it replaces). The same version again (a replay, or a second event
    of one win), an older one, or any after the win was reversed, is not."""
    if (await session.execute(_STAND, _win_values(deal))).first() is not None:
        return True
    held = (await session.execute(text(
        "SELECT version, status, amount, currency FROM deal_wins WHERE deal_id = :deal"),
        {"deal": deal.deal_id})).one()
    if held.status == "won" and held.version == deal.version and (
            held.currency != deal.amount.currency
            or Decimal(held.amount) != Decimal(deal.amount.amount)):
        log.warning("deal %s: a second win of version %s for %s %s; the first applied, for "
                    "%s %s, stands", deal.deal_id, deal.version, deal.amount.amount,
                    deal.amount.currency, held.amount, held.currency)
    return False


async def win_reversed(session: AsyncSession, deal: DealWinReversedV1) -> None:
    """The deal's win was reversed: no won event of it is applied any more."""
    await session.execute(_REVERSED, _win_values(deal))


def replaced_by(row: Any, version: int) -> bool:
    """Whether the accrual ``row`` was made of an earlier win of its deal than ``version``,
    and stands (accrued, or earning nothing): then the newer win replaces it. A reversed one
    stays reversed; one made before versions were kept is taken for the win applied."""
    return (row.status in ("accrued", "no_rebate", "capped") and row.deal_version is not None
            and row.deal_version < version)


async def supersede(session: AsyncSession, book: AccrualBook, row: Any, version: int) -> bool:
    """Set aside the accrual ``row`` (locked by the caller) of an earlier win of its deal, for
    the win of ``version``: what it moved goes back (announced as its reversal) and it is
    marked superseded, so that an accrual of the newer win may take its place. One in a payout
    batch is kept (the batch pays it) and says why; returns whether it was set aside."""
    reason = f"superseded by the deal's win of version {version}"
    if row.transfer_id is None:
        await session.execute(text(
            f"UPDATE {book.table} SET status = 'superseded', reason = :reason, "
            "version = version + 1, updated_at = statement_timestamp() WHERE id = :id"),
            {"id": row.id, "reason": reason})
        return True
    await payouts.hold(session, row.partner_id, row.currency)
    batch_id = await payouts.batched(session, row.transfer_id)
    if batch_id is None:
        await undo(session, book, row, reason, status="superseded")
        return True
    kept = _reason(f"the deal's win of version {version} is not applied",
                   f": in payout batch {batch_id}")
    if row.reason != kept:
        await session.execute(text(
            f"UPDATE {book.table} SET reason = :reason, version = version + 1, "
            "updated_at = statement_timestamp() WHERE id = :id"), {"id": row.id, "reason": kept})
        log.warning("%s %s of deal %s kept for the win of version %s: it is in payout batch %s",
                    book.noun, row.id, row.deal_id, version, batch_id)
    return False


async def mark_version(session: AsyncSession, book: AccrualBook, row: Any, version: int
                       ) -> None:
    """The accrual stands for the deal's win of ``version`` too (a newer win, unchanged)."""
    await session.execute(text(f"UPDATE {book.table} SET deal_version = :v WHERE id = :id"),
                          {"id": row.id, "v": version})


async def standing_of_deal(session: AsyncSession, book: AccrualBook, owner_id: uuid.UUID,
                           deal_id: uuid.UUID) -> Any:
    """The accrual of the deal in one programme or SPIFF that is not superseded, locked."""
    return (await session.execute(text(
        f"{_OF_DEAL[book.table]} AND a.{book.owner} = :owner AND a.status <> 'superseded' "
        "FOR UPDATE OF a"), {"deal": deal_id, "owner": owner_id})).first()


async def replace_elsewhere(session: AsyncSession, book: AccrualBook, deal: DealWonV1,
                            applied: set[uuid.UUID]) -> None:
    """Accruals of an earlier win of the deal where the newer win earns nothing (another close
    date or deal type, a SPIFF's products no longer on it): superseded, with nothing in their
    place. ``applied``: the programmes or SPIFFs the newer win was applied to."""
    rows = list(await session.execute(text(
        f"{_OF_DEAL[book.table]} AND a.status <> 'superseded' ORDER BY a.id FOR UPDATE OF a"),
        {"deal": deal.deal_id}))
    for row in rows:
        if getattr(row, book.owner) not in applied and replaced_by(row, deal.version):
            await supersede(session, book, row, deal.version)
