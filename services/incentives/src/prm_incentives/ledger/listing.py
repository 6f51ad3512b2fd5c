"""The ledger's lists in the one list grammar (prm_platform.listing): accounts, an account's
entries, transfers and exchange rates. Transfers and entries never change once written (a
pending transfer is resolved once), so they have no change feed; accounts do, their balances
changing with every transfer."""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import aliased

from prm_incentives.ledger.models import Account, Entry, FxRate, Transfer
from prm_incentives.ledger.schemas import (
    Code,
    EntryPhase,
    EntrySide,
    LedgerAccountKind,
    TransferStatus,
)
from prm_incentives.money import MinorAmounts, QueryAmount
from prm_platform.listing import Filter, Listing, QueryTime, Range
from prm_platform.types import Currency, QueryDate

_AMOUNT = ("a decimal amount in each record's own currency, e.g. 2500.00 (filter `currency` to "
           "compare like with like)")

ACCOUNTS = Listing(
    Account.id,
    Filter("kind", Account.kind, LedgerAccountKind),
    Filter("currency", Account.currency, Currency),
    Filter("partner_id", Account.partner_id, uuid.UUID, "Only these partners' accounts."),
    Filter("budget_id", Account.budget_id, uuid.UUID, "Only the accounts of these budgets "
           "(an MDF budget, a rebate programme or a SPIFF)."),
    Range("created_at", Account.created_at, QueryTime, "When it was opened"),
    updated=Account.updated_at,
)

# The currency of an entry's account (a list of entries is one account's: one currency).
_owner = aliased(Account, name="owner")
ENTRY_CURRENCY = select(_owner.currency).where(_owner.id == Entry.account_id) \
    .correlate_except(_owner).scalar_subquery()

ENTRIES = Listing(
    Entry.id,
    Filter("side", Entry.side, EntrySide),
    Filter("phase", Entry.phase, EntryPhase),
    Filter("transfer_id", Entry.transfer_id, uuid.UUID, "Only these transfers' entries."),
    Range("created_at", Entry.created_at, QueryTime, "When it was written"),
    Range("amount", MinorAmounts(Entry.amount, ENTRY_CURRENCY), QueryAmount,
          "The amount, a decimal amount in the account's currency"),
    within=(Entry.account_id,),
)


@dataclasses.dataclass(frozen=True)
class EitherAccount(Filter):
    """``account_id=a,b``: transfers debiting or crediting any of these accounts, found
    through the accounts' entries (by their index on the account), so that the transfers need
    no index of their own per side."""

    def condition(self, values: list[Any]) -> ColumnElement[bool]:
        return Transfer.id.in_(select(Entry.transfer_id).where(super().condition(values)))


TRANSFERS = Listing(
    Transfer.id,
    Filter("status", Transfer.status, TransferStatus),
    EitherAccount("account_id", Entry.account_id, uuid.UUID,
                  "Only transfers debiting or crediting these accounts."),
    Filter("currency", Transfer.currency, Currency),
    Filter("code", Transfer.code, Code, "Only transfers of these codes (mdf.claim, "
           "rebate.deal, payout.paid, manual, ...)."),
    Filter("reverses_id", Transfer.reverses_id, uuid.UUID, "Only the reversals of these "
           "transfers."),
    Filter("conversion_id", Transfer.conversion_id, uuid.UUID, "Only the two legs of these "
           "conversions."),
    Range("created_at", Transfer.created_at, QueryTime, "When it was made"),
    Range("resolved_at", Transfer.resolved_at, QueryTime,
          "When a pending transfer was posted, voided or expired"),
    Range("amount", MinorAmounts(Transfer.amount, Transfer.currency), QueryAmount,
          f"The amount, {_AMOUNT}"),
    # Ids are the clients': the order of creation is the time it was made, then the id.
    sorts={"created_at": Transfer.created_at},
    default_sort=(("created_at", False),),
)

FX_RATES = Listing(
    FxRate.id,
    Filter("base", FxRate.base, Currency, "Only these base currencies."),
    Filter("quote", FxRate.quote, Currency, "Only these quote currencies."),
    Range("effective_on", FxRate.effective_on, QueryDate, "The day it applies from"),
    Range("created_at", FxRate.created_at, QueryTime, "When it was recorded"),
    sorts={"effective_on": FxRate.effective_on},
)
