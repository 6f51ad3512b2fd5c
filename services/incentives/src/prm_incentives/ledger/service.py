"""The ledger's rules: transfers with client ids, two-phase transfers, reversals, FX
conversions. Services never commit; the request (or the job, or the test) does.

Where the database enforces a rule (non-negative available balances, same currency, immutable
transfers), the code here asks it first only to give a precise problem; the database stays the
authority, also for concurrent writers.
"""

import datetime as dt
import uuid
from dataclasses import dataclass, fields
from decimal import Decimal
from typing import Any

from pydantic import ValidationError
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from prm_contracts import FxRateSetV1
from prm_events import outbox
from prm_incentives.config import EVENT_SOURCE
from prm_incentives.declaration import LEDGER_READ, LEDGER_WRITE
from prm_incentives.ledger import repository
from prm_incentives.ledger.schemas import ConversionIn, FxRateIn, TransferIn
from prm_incentives.money import to_minor
from prm_platform.http import check_if_match
from prm_platform.ids import new_id
from prm_platform.listing import ListQuery
from prm_platform.money import convert_minor
from prm_platform.problems import (
    Conflict,
    InvalidTransition,
    NotFound,
    ProblemError,
    Unprocessable,
    field_errors,
)
from prm_platform.security import Principal


class InsufficientFunds(ProblemError):
    status, slug = 409, "insufficient-funds"


class TransferIdReused(ProblemError):
    status, slug = 409, "transfer-id-reused"


class CurrencyMismatch(ProblemError):
    status, slug = 422, "currency-mismatch"


class FxRateMissing(ProblemError):
    status, slug = 422, "fx-rate-missing"


# Transfers that a fund request or a claim owns: resolved only through those, never by hand.
MANAGED_PREFIX = "mdf."


@dataclass(frozen=True)
class TransferSpec:
    """A transfer as asked for: what ``id`` must match when it is sent again."""

    id: uuid.UUID
    debit_account_id: uuid.UUID
    credit_account_id: uuid.UUID
    currency: str
    amount: int
    pending: bool = False
    timeout_seconds: int | None = None
    code: str = "manual"
    reference: str | None = None
    reverses_id: uuid.UUID | None = None
    conversion_id: uuid.UUID | None = None

    def values(self) -> dict[str, Any]:
        # Not dataclasses.asdict: it deep-copies every UUID, most of a batch's Python time.
        return {field.name: getattr(self, field.name) for field in fields(self)}

    def matches(self, row: Any) -> bool:
        return all(getattr(row, name) == value for name, value in self.values().items())


async def _account(session: repository.Executor, account_id: uuid.UUID, what: str) -> Any:
    row = await repository.get_account(session, account_id)
    if row is None:
        raise Unprocessable(f"{what} {account_id} does not exist", errors=[
            {"location": "body", "field": what, "message": "no such account"}])
    return row


async def transfer(session: repository.Executor, spec: TransferSpec) -> tuple[Any, bool]:
    """Make the transfer, or find the one made before with this id. Returns (row, created).

    One statement (``repository.make_transfer``). The id is the transfer's primary key, so two
    concurrent sends of one id make one transfer: the second waits for the first and then
    finds it. A refusal writes nothing and leaves the session's transaction usable. On an
    autocommit connection it is one round trip; a reversal needs a transaction (it locks the
    transfer it reverses first).
    """
    if spec.reverses_id is not None:
        await _check_reversal(session, spec)
    result = await repository.make_transfer(session, spec.values())
    outcome = result.outcome
    if outcome == "created" and result.id is not None:
        return result, True
    if outcome == "exists":
        return _replayed(spec, result), False
    if outcome == "created":  # a concurrent send of the same id got there first
        return _replayed(spec, await repository.get_transfer(session, spec.id)), False
    # A concurrent send of the same id may have been made while this one waited for the
    # accounts (which it then found spent): it is the answer, not the refusal.
    made_meanwhile = await repository.get_transfer(session, spec.id)
    if made_meanwhile is not None:
        return _replayed(spec, made_meanwhile), False
    if outcome == "insufficient-funds":
        raise InsufficientFunds(
            f"account {spec.debit_account_id} cannot cover {spec.amount} minor units of "
            f"{spec.currency}", account_id=str(spec.debit_account_id),
            available_minor=max(result.available, 0))
    if outcome == "currency":
        debit = await _account(session, spec.debit_account_id, "debit_account_id")
        credit = await _account(session, spec.credit_account_id, "credit_account_id")
        raise CurrencyMismatch(f"the debit account is in {debit.currency}, the credit account "
                               f"in {credit.currency}, the amount in {spec.currency}")
    what = "debit_account_id" if outcome == "no-debit-account" else "credit_account_id"
    account_id = getattr(spec, what)
    raise Unprocessable(f"{what} {account_id} does not exist", errors=[
        {"location": "body", "field": what, "message": "no such account"}])


@dataclass(frozen=True)
class Outcome:
    """What became of one transfer of a batch: made now (``created``), found made before with
    this id (``row`` without ``created``), or refused (``problem``, nothing written)."""

    spec: TransferSpec
    row: Any = None
    created: bool = False
    problem: ProblemError | None = None


async def transfer_batch(session: AsyncSession, specs: list[TransferSpec]) -> list[Outcome]:
    """Many transfers in the session's transaction, each made, replayed or refused on its own,
    in order, in three round trips whatever their number.

    The batch's accounts are locked first, in id order (as every ledger writer locks them), so
    the balances read then are the ones each transfer meets in turn: a transfer that its debit
    account cannot cover is refused here without touching the others, and the database's
    check still stands behind the decision. Reversals go through ``transfer`` (they lock the
    transfer they reverse)."""
    if not specs:
        return []
    accounts = {row.id: row for row in await repository.lock_accounts_for_batch(
        session, {a for s in specs for a in (s.debit_account_id, s.credit_account_id)})}
    made_before = {row.id: row for row in await repository.get_transfers(
        session, list({s.id for s in specs}))}
    available = {row.id: row.available for row in accounts.values()}
    outcomes: list[Outcome] = []
    accepted: dict[uuid.UUID, TransferSpec] = {}
    for spec in specs:
        if spec.id in made_before or spec.id in accepted:
            earlier = made_before.get(spec.id)
            same = spec.matches(earlier) if earlier is not None else accepted[spec.id] == spec
            outcomes.append(Outcome(spec, earlier, problem=None if same else _reused(spec)))
            continue
        problem = _batch_problem(spec, accounts, available)
        if problem is not None:
            outcomes.append(Outcome(spec, problem=problem))
            continue
        available[spec.debit_account_id] -= spec.amount
        if not spec.pending:
            available[spec.credit_account_id] += spec.amount
        accepted[spec.id] = spec
        outcomes.append(Outcome(spec, created=True))
    inserted = {row.id: row for row in await repository.insert_transfers(
        session, [s.values() for s in accepted.values()])}
    missing = [i for i in accepted if i not in inserted]
    # Made meanwhile by a concurrent writer with the same ids: read once they committed.
    raced = {row.id: row for row in await repository.get_transfers(session, missing)} \
        if missing else {}
    final: list[Outcome] = []
    for outcome in outcomes:
        spec = outcome.spec
        if outcome.created and spec.id in inserted:
            final.append(Outcome(spec, inserted[spec.id], created=True))
        elif outcome.created:
            final.append(Outcome(spec, raced.get(spec.id), problem=None if spec.matches(
                raced.get(spec.id)) else _reused(spec)))
        elif outcome.row is None and outcome.problem is None:  # a repeat of an item above
            final.append(Outcome(spec, inserted.get(spec.id) or raced.get(spec.id)))
        else:
            final.append(outcome)
    return final


def _field(field: str, message: str) -> list[dict[str, str]]:
    # An item's problem names the field at fault, so that a batch's answer can point at it.
    return [{"location": "body", "field": field, "message": message}]


def _reused(spec: TransferSpec) -> ProblemError:
    return TransferIdReused(f"transfer {spec.id} exists with other content",
                            errors=_field("id", "a transfer with this id has other content"))


def _batch_problem(spec: TransferSpec, accounts: dict[uuid.UUID, Any],
                   available: dict[uuid.UUID, int]) -> ProblemError | None:
    if spec.reverses_id is not None:
        return Unprocessable("a reversal is made on its own, not in a batch",
                             errors=_field("reverses_id", "send it to /v1/ledger/transfers"))
    for what, account_id in (("debit_account_id", spec.debit_account_id),
                             ("credit_account_id", spec.credit_account_id)):
        if account_id not in accounts:
            return Unprocessable(f"{what} {account_id} does not exist", errors=[
                {"location": "body", "field": what, "message": "no such account"}])
    debit, credit = accounts[spec.debit_account_id], accounts[spec.credit_account_id]
    if not debit.currency == credit.currency == spec.currency:
        return CurrencyMismatch(f"the debit account is in {debit.currency}, the credit "
                                f"account in {credit.currency}, the amount in {spec.currency}",
                                errors=_field("amount.currency", "not both accounts' currency"))
    if debit.non_negative and available[debit.id] < spec.amount:
        return InsufficientFunds(
            f"account {debit.id} cannot cover {spec.amount} minor units of {spec.currency}",
            account_id=str(debit.id), available_minor=max(available[debit.id], 0),
            errors=_field("amount", "the debit account cannot cover it"))
    return None


def _replayed(spec: TransferSpec, existing: Any) -> Any:
    if existing is None or not spec.matches(existing):
        raise TransferIdReused(f"transfer {spec.id} exists with other content")
    return existing


async def _check_reversal(session: repository.Executor, spec: TransferSpec) -> None:
    assert spec.reverses_id is not None
    # Locked: two reversals of one transfer at once cannot together exceed it.
    original = await repository.get_transfer(session, spec.reverses_id, for_update=True)
    if original is None:
        raise Unprocessable(f"transfer {spec.reverses_id} to reverse does not exist")
    if original.status != "posted":
        raise InvalidTransition(f"transfer {original.id} is {original.status}; only posted "
                                "transfers are reversed")
    if (original.debit_account_id, original.credit_account_id) != (
            spec.credit_account_id, spec.debit_account_id):
        raise Unprocessable("a reversal moves money between the same accounts the other way")
    done = await repository.reversed_so_far(session, original.id)
    if done + spec.amount > original.posted_amount:
        raise Conflict(f"transfer {original.id} has {original.posted_amount - done} minor "
                       "units left to reverse")


async def resolve(session: AsyncSession, transfer_id: uuid.UUID, action: str,
                  amount: int | None = None, *, if_match: str | None = None) -> Any:
    """Post (``amount``: part of it, the rest released), void or expire a pending transfer,
    exactly once."""
    current = await repository.get_transfer(session, transfer_id, for_update=True)
    if current is None:
        raise NotFound("transfer not found")
    check_if_match(if_match, current.version)
    if current.status != "pending":
        raise InvalidTransition(f"transfer {transfer_id} is {current.status}, not pending")
    posted = 0
    if action == "posted":
        posted = current.amount if amount is None else amount
        if not 0 < posted <= current.amount:
            raise Unprocessable(f"the amount to post must be between 1 and {current.amount} "
                                "minor units", errors=_field("amount", "more than reserved"))
    row = await repository.resolve(session, transfer_id, action, posted)
    if row is None:
        raise InvalidTransition(f"transfer {transfer_id} passed its deadline; it expires")
    return row


async def expire_due(session: AsyncSession, batch: int = 500) -> int:
    """The scheduled job: expire pending transfers past their deadline, releasing their
    reservations. A transfer posted or voided meanwhile is left alone (status guard)."""
    due = await repository.due_pending(session, batch)
    if not due:
        return 0
    await repository.lock_accounts(
        session, [a for row in due for a in (row.debit_account_id, row.credit_account_id)])
    expired = 0
    for row in due:
        if await repository.resolve(session, row.id, "expired", 0) is not None:
            expired += 1
    return expired


# --- the API's operations: vendor keys only ------------------------------------------------


def _reader(principal: Principal) -> None:
    principal.ensure_vendor()
    principal.require(LEDGER_READ)


def _writer(principal: Principal) -> None:
    principal.ensure_vendor()
    principal.require(LEDGER_WRITE)


async def get_account(session: AsyncSession, principal: Principal, account_id: uuid.UUID
                      ) -> Any:
    _reader(principal)
    row = await repository.get_account(session, account_id)
    if row is None:
        raise NotFound("account not found")
    return row


async def list_accounts(session: AsyncSession, principal: Principal, query: ListQuery
                        ) -> repository.Page:
    _reader(principal)
    return await repository.list_accounts(session, query)


async def list_entries(session: AsyncSession, principal: Principal, account_id: uuid.UUID,
                       query: ListQuery) -> repository.Page:
    await get_account(session, principal, account_id)
    return await repository.list_entries(session, account_id, query)


def _spec(data: TransferIn) -> TransferSpec:
    return TransferSpec(
        id=data.id, debit_account_id=data.debit_account_id,
        credit_account_id=data.credit_account_id, currency=data.amount.currency,
        amount=to_minor(data.amount), pending=data.pending,
        timeout_seconds=data.timeout_seconds, code=data.code, reference=data.reference,
        reverses_id=data.reverses_id)


async def create_transfer(session: AsyncSession, principal: Principal, data: TransferIn
                          ) -> tuple[Any, bool]:
    _writer(principal)
    return await transfer(session, _spec(data))


async def create_transfers(session: AsyncSession, principal: Principal,
                           items: list[dict[str, Any]]) -> list[Outcome | ProblemError]:
    """A batch sent over the API: each item validated on its own (a bad one is refused alone,
    with its validation problem), then the valid ones decided together by ``transfer_batch``,
    in order. One result per item, in the items' order."""
    _writer(principal)
    results: list[Outcome | ProblemError | None] = []
    specs: list[TransferSpec] = []
    for raw in items:
        try:
            specs.append(_spec(TransferIn.model_validate(raw)))
        except ValidationError as exc:
            results.append(Unprocessable("the transfer is not valid",
                                         errors=field_errors(exc.errors())))
            continue
        results.append(None)
    decided = iter(await transfer_batch(session, specs))
    return [next(decided) if result is None else result for result in results]


async def get_transfer(session: AsyncSession, principal: Principal, transfer_id: uuid.UUID
                       ) -> Any:
    _reader(principal)
    row = await repository.get_transfer(session, transfer_id)
    if row is None:
        raise NotFound("transfer not found")
    return row


async def list_transfers(session: AsyncSession, principal: Principal, query: ListQuery
                         ) -> repository.Page:
    _reader(principal)
    return await repository.list_transfers(session, query)


async def act_on_transfer(session: AsyncSession, principal: Principal, transfer_id: uuid.UUID,
                          action: str, amount: int | None = None, *,
                          currency: str | None = None, if_match: str | None = None) -> Any:
    _writer(principal)
    current = await get_transfer(session, principal, transfer_id)
    if current.code.startswith(MANAGED_PREFIX):
        raise Conflict(f"transfer {transfer_id} belongs to a fund request; approve, reject or "
                       "claim the request instead")
    if currency is not None and currency != current.currency:
        raise CurrencyMismatch(f"the transfer is in {current.currency}, not {currency}")
    return await resolve(session, transfer_id, action, amount, if_match=if_match)


# --- FX ----------------------------------------------------------------------------------------


async def record_rate(session: AsyncSession, principal: Principal, data: FxRateIn) -> Any:
    _writer(principal)
    row = (await session.execute(text(
        "INSERT INTO ledger_fx_rates (id, base, quote, rate, effective_on, created_at) "
        "VALUES (:id, :base, :quote, :rate, :effective_on, now()) "
        "ON CONFLICT ON CONSTRAINT uq_ledger_fx_rates_base DO NOTHING "
        "RETURNING id, base, quote, rate, effective_on, created_at"),
        {"id": new_id(), "base": data.base, "quote": data.quote, "rate": Decimal(data.rate),
         "effective_on": data.effective_on})).first()
    if row is None:
        raise Conflict(f"a {data.base}/{data.quote} rate is recorded for {data.effective_on}; "
                       "rates are never changed, so that past conversions stay explainable")
    await outbox.publish(session, rate_set(row), source=EVENT_SOURCE, aggregate_id=row.id)
    return row


def rate_set(row: Any) -> FxRateSetV1:
    """The event of a recorded rate (a row of ``ledger_fx_rates``): how the partners' tiers and
    the attribution KPIs learn it."""
    return FxRateSetV1(rate_id=row.id, base=row.base, quote=row.quote,
                       rate=f"{Decimal(row.rate).normalize():f}",
                       effective_on=row.effective_on, recorded_at=row.created_at)


async def list_rates(session: AsyncSession, principal: Principal, query: ListQuery
                     ) -> repository.Page:
    _reader(principal)
    return await repository.list_rates(session, query)


async def rate_on(session: AsyncSession, source: str, destination: str, day: dt.date
                  ) -> tuple[Decimal, dt.date]:
    """Destination units per source unit, as recorded on or last before ``day``; an inverse
    rate (destination/source) serves too."""
    row = (await session.execute(text(
        "SELECT CASE WHEN base = :source THEN rate ELSE 1 / rate END AS rate, effective_on "
        "FROM ledger_fx_rates WHERE ((base = :source AND quote = :destination) "
        "OR (base = :destination AND quote = :source)) AND effective_on <= :day "
        "ORDER BY effective_on DESC, base = :source DESC LIMIT 1"),
        {"source": source, "destination": destination, "day": day})).first()
    if row is None:
        raise FxRateMissing(f"no {source}/{destination} rate is recorded on or before {day}")
    return Decimal(row.rate), row.effective_on


def _leg_id(conversion_id: uuid.UUID, leg: str) -> uuid.UUID:
    # Derived, so that a retried conversion finds its own legs.
    return uuid.uuid5(conversion_id, leg)


async def fx_account(session: AsyncSession, currency: str) -> Any:
    return await repository.ensure_account(session, kind="fx", currency=currency,
                                           name=f"FX position {currency}", non_negative=False)


async def convert(session: AsyncSession, principal: Principal, data: ConversionIn
                  ) -> tuple[Any, list[uuid.UUID], bool]:
    _writer(principal)
    source = await _account(session, data.source_account_id, "source_account_id")
    destination = await _account(session, data.destination_account_id,
                                 "destination_account_id")
    if source.currency != data.amount.currency:
        raise CurrencyMismatch(f"the source account is in {source.currency}")
    if source.currency == destination.currency:
        raise CurrencyMismatch("both accounts are in one currency: make a transfer")
    legs = [_leg_id(data.id, "source"), _leg_id(data.id, "destination")]
    existing = await _conversion(session, data.id)
    if existing is not None:
        same = (existing.source_account_id, existing.destination_account_id,
                existing.source_amount, existing.source_currency, existing.business_date,
                existing.reference) == (source.id, destination.id, to_minor(data.amount),
                                        source.currency, data.business_date, data.reference)
        if not same:
            raise TransferIdReused(f"conversion {data.id} exists with other content")
        return existing, legs, False
    rate, rate_date = await rate_on(session, source.currency, destination.currency,
                                    data.business_date)
    amount = to_minor(data.amount)
    converted = convert_minor(amount, source.currency, destination.currency, rate)
    if converted <= 0:
        raise Unprocessable("the amount converts to nothing in the destination currency")
    fx_source = await fx_account(session, source.currency)
    fx_destination = await fx_account(session, destination.currency)
    row = (await session.execute(text(
        "INSERT INTO ledger_conversions (id, source_account_id, destination_account_id, "
        "source_amount, source_currency, destination_amount, destination_currency, rate, "
        "rate_date, business_date, reference, created_at) VALUES (:id, :source, :destination, "
        ":source_amount, :source_currency, :destination_amount, :destination_currency, :rate, "
        ":rate_date, :business_date, :reference, now()) ON CONFLICT (id) DO NOTHING "
        "RETURNING *"),
        {"id": data.id, "source": source.id, "destination": destination.id,
         "source_amount": amount, "source_currency": source.currency,
         "destination_amount": converted, "destination_currency": destination.currency,
         "rate": rate, "rate_date": rate_date, "business_date": data.business_date,
         "reference": data.reference})).first()
    if row is None:  # a concurrent send of the same id won
        return await convert(session, principal, data)
    await repository.lock_accounts(session, [source.id, destination.id, fx_source.id,
                                             fx_destination.id])
    for spec in (
        TransferSpec(id=legs[0], debit_account_id=source.id, credit_account_id=fx_source.id,
                     currency=source.currency, amount=amount, code="fx",
                     reference=data.reference, conversion_id=data.id),
        TransferSpec(id=legs[1], debit_account_id=fx_destination.id,
                     credit_account_id=destination.id, currency=destination.currency,
                     amount=converted, code="fx", reference=data.reference,
                     conversion_id=data.id),
    ):
        await transfer(session, spec)
    return row, legs, True


async def _conversion(session: AsyncSession, conversion_id: uuid.UUID) -> Any:
    return (await session.execute(text("SELECT * FROM ledger_conversions WHERE id = :id"),
                                  {"id": conversion_id})).first()


async def get_conversion(session: AsyncSession, principal: Principal, conversion_id: uuid.UUID
                         ) -> tuple[Any, list[uuid.UUID]]:
    _reader(principal)
    row = await _conversion(session, conversion_id)
    if row is None:
        raise NotFound("conversion not found")
    return row, [_leg_id(conversion_id, "source"), _leg_id(conversion_id, "destination")]
