import datetime as dt
import uuid
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, model_validator

from prm_incentives.money import PositiveMoney, SignedAmount, money, text_of
from prm_platform.money import Money
from prm_platform.types import Currency, IsoDate

_ACCOUNT = "0193c1d0-1b2c-7e3f-8a9b-0c1d2e3f4a5b"
_OTHER = "0193c1d0-1b2c-7e3f-8a9b-0c1d2e3f4a5c"
_TRANSFER = "0193c1d0-2222-7e3f-8a9b-0c1d2e3f4a5b"



class LedgerAccountKind(StrEnum):
    """What a ledger account holds (docs/incentives.md)."""

    external = "external"
    fx = "fx"
    budget_pool = "budget_pool"
    allocation = "allocation"
    committed = "committed"
    payable = "payable"
    paid = "paid"


class EntrySide(StrEnum):
    """The side of an account an entry is written on."""

    debit = "debit"
    credit = "credit"


class EntryPhase(StrEnum):
    """`pending` reserves, `posted` moves money, `released` gives a reservation back."""

    pending = "pending"
    posted = "posted"
    released = "released"


class TransferStatus(StrEnum):
    """Where a transfer is: `pending` (reserved), then `posted`, `voided` or `expired`."""

    pending = "pending"
    posted = "posted"
    voided = "voided"
    expired = "expired"


class TransferBatchOutcome(StrEnum):
    """What became of one transfer of a batch."""

    created = "created"
    replayed = "replayed"
    refused = "refused"


Code = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_.-]{0,39}$", examples=["manual"])]
Reference = Annotated[str, Field(min_length=1, max_length=200, examples=["PO-2025-0042"])]


class Balances(BaseModel):
    debits_posted: Money
    credits_posted: Money
    debits_pending: Money
    credits_pending: Money
    posted: SignedAmount = Field(description="Posted credits minus posted debits.")
    available: SignedAmount = Field(description="Posted credits minus posted and pending "
                                    "debits: what may still be spent.")


class AccountOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": _ACCOUNT, "kind": "allocation", "name": "MDF 2025-H1 EUR: allocation",
        "currency": "EUR", "budget_id": _OTHER, "partner_id": _OTHER,
        "partner_name": "Acme Cloud GmbH", "non_negative": True,
        "balances": {"debits_posted": {"amount": "0.00", "currency": "EUR"},
                     "credits_posted": {"amount": "10000.00", "currency": "EUR"},
                     "debits_pending": {"amount": "2500.00", "currency": "EUR"},
                     "credits_pending": {"amount": "0.00", "currency": "EUR"},
                     "posted": {"amount": "10000.00", "currency": "EUR"},
                     "available": {"amount": "7500.00", "currency": "EUR"}},
        "version": 3, "created_at": "2025-01-06T09:00:00Z",
        "updated_at": "2025-01-07T09:00:00Z"}]})

    id: uuid.UUID
    kind: LedgerAccountKind
    name: str
    currency: str
    budget_id: uuid.UUID | None
    partner_id: uuid.UUID | None
    partner_name: str | None = Field(default=None, description="The partner's name, from "
                                     "the partner directory this service keeps (null if "
                                     "none, or not known yet).")
    non_negative: bool = Field(description="Its available balance may never go below zero.")
    balances: Balances
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime = Field(description="By when its balances last changed (every "
                                    "transfer on it changes them): the end of the second they "
                                    "did. The change feed's `updated_since` goes by it.")

    @classmethod
    def of(cls, row: Any, partner_name: str | None = None) -> "AccountOut":
        c = row.currency
        return cls(
            id=row.id, kind=row.kind, name=row.name, currency=c, budget_id=row.budget_id,
            partner_id=row.partner_id,
            partner_name=partner_name or getattr(row, "partner_name", None),
            non_negative=row.non_negative, version=row.version, created_at=row.created_at,
            updated_at=row.updated_at,
            balances=Balances(
                debits_posted=money(row.debits_posted, c),
                credits_posted=money(row.credits_posted, c),
                debits_pending=money(row.debits_pending, c),
                credits_pending=money(row.credits_pending, c),
                posted=SignedAmount.of(row.credits_posted - row.debits_posted, c),
                available=SignedAmount.of(
                    row.credits_posted - row.debits_posted - row.debits_pending, c)))


class EntryOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": "0193c1d0-3333-7e3f-8a9b-0c1d2e3f4a5b", "account_id": _ACCOUNT,
        "transfer_id": _TRANSFER, "side": "debit", "phase": "pending",
        "amount": {"amount": "2500.00", "currency": "EUR"},
        "created_at": "2025-01-06T09:00:00Z"}]})

    id: uuid.UUID
    account_id: uuid.UUID
    transfer_id: uuid.UUID
    side: EntrySide
    phase: EntryPhase = Field(
        description="pending reserves, posted moves money, released gives a reservation back")
    amount: Money
    created_at: dt.datetime

    @classmethod
    def of(cls, row: Any) -> "EntryOut":
        return cls(id=row.id, account_id=row.account_id, transfer_id=row.transfer_id,
                   side=row.side, phase=row.phase, amount=money(row.amount, row.currency),
                   created_at=row.created_at)


class TransferIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "id": _TRANSFER, "debit_account_id": _ACCOUNT, "credit_account_id": _OTHER,
        "amount": {"amount": "2500.00", "currency": "EUR"}, "pending": True,
        "timeout_seconds": 86400, "code": "manual", "reference": "PO-2025-0042"}]})

    id: uuid.UUID = Field(description="Chosen by the client (a UUID): sending the same "
                          "transfer again returns it; the same id with other content is a 409.")
    debit_account_id: uuid.UUID
    credit_account_id: uuid.UUID
    amount: PositiveMoney = Field(description="In the currency of both accounts; more than "
                                  "zero.")
    pending: StrictBool = Field(default=False, strict=True, description="Reserve the amount now "
                          "(two-phase); post, void or let it expire later.")
    timeout_seconds: StrictInt | None = Field(default=None, ge=1, le=366 * 86400,
                                        description="A pending transfer expires after this "
                                        "long, releasing its reservation.")
    code: Code = "manual"
    reference: Reference | None = None
    reverses_id: uuid.UUID | None = Field(default=None, description="Corrects a posted "
                                          "transfer: the same accounts the other way round, at "
                                          "most the amount not reversed yet.")

    @model_validator(mode="after")
    def _consistent(self) -> "TransferIn":
        if self.timeout_seconds is not None and not self.pending:
            raise ValueError("timeout_seconds applies to pending transfers only")
        if self.debit_account_id == self.credit_account_id:
            raise ValueError("a transfer moves money between two different accounts")
        if self.reverses_id is not None and self.pending:
            raise ValueError("a reversal is posted at once, never pending")
        return self


class PostIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"amount": {"amount": "1800.00", "currency": "EUR"}}]})

    amount: PositiveMoney | None = Field(default=None, description="Post this much (more "
                                         "than zero) of the pending amount and release the "
                                         "rest; the whole amount if absent.")


class TransferOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": _TRANSFER, "debit_account_id": _ACCOUNT, "credit_account_id": _OTHER,
        "amount": {"amount": "2500.00", "currency": "EUR"}, "pending": True,
        "status": "posted", "posted_amount": {"amount": "1800.00", "currency": "EUR"},
        "timeout_seconds": 86400, "expires_at": "2025-01-07T09:00:00Z", "reverses_id": None,
        "conversion_id": None, "code": "manual", "reference": "PO-2025-0042", "version": 2,
        "created_at": "2025-01-06T09:00:00Z", "resolved_at": "2025-01-06T15:30:00Z"}]})

    id: uuid.UUID
    debit_account_id: uuid.UUID
    credit_account_id: uuid.UUID
    amount: Money
    pending: bool
    status: TransferStatus
    # The nullable fields' defaults are only so that examples may leave nulls out (the
    # contract's examples drop them); answers always carry these fields.
    posted_amount: Money | None = Field(default=None, description="What moved: null while "
                                        "pending, zero once voided or expired.")
    timeout_seconds: int | None = None
    expires_at: dt.datetime | None = None
    reverses_id: uuid.UUID | None = None
    conversion_id: uuid.UUID | None = None
    code: str
    reference: str | None = None
    version: int
    created_at: dt.datetime
    resolved_at: dt.datetime | None = None

    @classmethod
    def of(cls, row: Any) -> "TransferOut":
        c = row.currency
        return cls(
            id=row.id, debit_account_id=row.debit_account_id,
            credit_account_id=row.credit_account_id, amount=money(row.amount, c),
            pending=row.pending, status=row.status,
            posted_amount=None if row.posted_amount is None else money(row.posted_amount, c),
            timeout_seconds=row.timeout_seconds, expires_at=row.expires_at,
            reverses_id=row.reverses_id, conversion_id=row.conversion_id, code=row.code,
            reference=row.reference, version=row.version, created_at=row.created_at,
            resolved_at=row.resolved_at)


def transfer_values(row: Any) -> dict[str, Any]:
    """``TransferOut.of(row)`` as plain values for ``orjson`` (UUIDs, datetimes), for a batch's
    answer: up to 1,000 transfers, and building and validating a model for each cost more than
    deciding it. Every value is a column the database checked."""
    c = row.currency
    return {
        "id": row.id, "debit_account_id": row.debit_account_id,
        "credit_account_id": row.credit_account_id,
        "amount": {"amount": text_of(row.amount, c), "currency": c},
        "pending": row.pending, "status": row.status,
        "posted_amount": None if row.posted_amount is None
        else {"amount": text_of(row.posted_amount, c), "currency": c},
        "timeout_seconds": row.timeout_seconds, "expires_at": row.expires_at,
        "reverses_id": row.reverses_id, "conversion_id": row.conversion_id, "code": row.code,
        "reference": row.reference, "version": row.version, "created_at": row.created_at,
        "resolved_at": row.resolved_at}


Rate = Annotated[str, Field(pattern=r"^[0-9]{1,13}(\.[0-9]{1,10})?$", examples=["1.0842"],
                            description="Quote units per base unit, a decimal string.")]


class FxRateIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"base": "EUR", "quote": "JPY", "rate": "162.35", "effective_on": "2025-01-06"}]})

    base: Currency
    quote: Currency
    rate: Rate
    effective_on: IsoDate

    @model_validator(mode="after")
    def _valid(self) -> "FxRateIn":
        from prm_platform.money import pair_rate

        pair_rate(self.base, self.quote, self.rate)  # what every projection of it accepts
        return self


class FxRateOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": _OTHER, "base": "EUR", "quote": "JPY", "rate": "162.3500000000",
        "effective_on": "2025-01-06", "created_at": "2025-01-06T09:00:00Z"}]})

    id: uuid.UUID
    base: str
    quote: str
    rate: str
    effective_on: dt.date
    created_at: dt.datetime

    @classmethod
    def of(cls, row: Any) -> "FxRateOut":
        return cls(id=row.id, base=row.base, quote=row.quote, rate=str(row.rate),
                   effective_on=row.effective_on, created_at=row.created_at)


class ConversionIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "id": _TRANSFER, "source_account_id": _ACCOUNT, "destination_account_id": _OTHER,
        "amount": {"amount": "1000.00", "currency": "EUR"}, "business_date": "2025-01-06",
        "reference": "Budget top-up in JPY"}]})

    id: uuid.UUID = Field(description="Chosen by the client; the same id again returns it.")
    source_account_id: uuid.UUID
    destination_account_id: uuid.UUID
    amount: PositiveMoney = Field(description="Taken from the source, in its currency; more "
                                  "than zero.")
    business_date: IsoDate = Field(description="The date of the business event: the rate "
                                   "recorded on or last before it is used.")
    reference: Reference | None = None


class ConversionOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": _TRANSFER, "source_account_id": _ACCOUNT, "destination_account_id": _OTHER,
        "source_amount": {"amount": "1000.00", "currency": "EUR"},
        "destination_amount": {"amount": "162350", "currency": "JPY"},
        "rate": "162.3500000000", "rate_date": "2025-01-06", "business_date": "2025-01-06",
        "transfer_ids": [_ACCOUNT, _OTHER], "reference": None,
        "created_at": "2025-01-06T09:00:00Z"}]})

    id: uuid.UUID
    source_account_id: uuid.UUID
    destination_account_id: uuid.UUID
    source_amount: Money
    destination_amount: Money
    rate: str
    rate_date: dt.date
    business_date: dt.date
    transfer_ids: list[uuid.UUID] = Field(description="source -> FX account of the source "
                                          "currency, then FX account of the destination "
                                          "currency -> destination")
    reference: str | None = None
    created_at: dt.datetime

    @classmethod
    def of(cls, row: Any, transfer_ids: list[uuid.UUID]) -> "ConversionOut":
        return cls(id=row.id, source_account_id=row.source_account_id,
                   destination_account_id=row.destination_account_id,
                   source_amount=money(row.source_amount, row.source_currency),
                   destination_amount=money(row.destination_amount, row.destination_currency),
                   rate=str(row.rate), rate_date=row.rate_date,
                   business_date=row.business_date, transfer_ids=transfer_ids,
                   reference=row.reference, created_at=row.created_at)


MAX_BATCH = 1000
_SECOND = "0193c1d0-2222-7e3f-8a9b-0c1d2e3f4a5c"
_THIRD = "0193c1d0-2222-7e3f-8a9b-0c1d2e3f4a5d"


class TransferBatchIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"transfers": [
        {"id": _TRANSFER, "debit_account_id": _ACCOUNT, "credit_account_id": _OTHER,
         "amount": {"amount": "120.50", "currency": "EUR"}, "code": "rebate",
         "reference": "Q1-2025 rebate"},
        {"id": _SECOND, "debit_account_id": _ACCOUNT, "credit_account_id": _OTHER,
         "amount": {"amount": "2500.00", "currency": "EUR"}, "pending": True,
         "timeout_seconds": 86400},
        {"id": _THIRD, "debit_account_id": _ACCOUNT, "credit_account_id": _OTHER,
         "amount": {"amount": "99999.00", "currency": "EUR"}}]}]})

    # Raw objects, each validated on its own (``TransferIn``): one bad item refuses only itself.
    transfers: list[dict[str, Any]] = Field(
        min_length=1, max_length=MAX_BATCH,
        description=f"Up to {MAX_BATCH} transfers, each as `POST /v1/ledger/transfers` takes "
        "it (reversals excepted), decided in order.",
        json_schema_extra={"items": {"$ref": "#/components/schemas/TransferIn"}})


class TransferBatchItem(BaseModel):
    index: int = Field(description="The item's position in `transfers`, from 0.")
    outcome: TransferBatchOutcome = Field(
        description="`created`: made now; `replayed`: made before with this id and the same "
        "content (by an earlier request or an earlier item of this batch), nothing moved "
        "again; `refused`: nothing written, see `problem`.")
    transfer: TransferOut | None = Field(default=None, description="The transfer, unless "
                                         "refused.")
    problem: dict[str, Any] | None = Field(
        default=None, description="An RFC 9457 problem document, as the single endpoint "
        "would answer; its `errors` name the item's fields (`transfers.<index>.<field>`).")


class TransferBatchResult(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "created": 1, "replayed": 1, "refused": 1, "items": [
            {"index": 0, "outcome": "created", "transfer": {
                "id": _TRANSFER, "debit_account_id": _ACCOUNT, "credit_account_id": _OTHER,
                "amount": {"amount": "120.50", "currency": "EUR"}, "pending": False,
                "status": "posted", "posted_amount": {"amount": "120.50", "currency": "EUR"},
                "timeout_seconds": None, "expires_at": None, "code": "rebate",
                "reference": "Q1-2025 rebate", "version": 1,
                "created_at": "2025-04-01T08:00:00Z", "resolved_at": None}},
            {"index": 1, "outcome": "replayed", "transfer": {
                "id": _SECOND, "debit_account_id": _ACCOUNT, "credit_account_id": _OTHER,
                "amount": {"amount": "2500.00", "currency": "EUR"}, "pending": True,
                "status": "pending", "posted_amount": None, "timeout_seconds": 86400,
                "expires_at": "2025-04-01T07:00:00Z", "code": "manual", "version": 1,
                "created_at": "2025-03-31T07:00:00Z", "resolved_at": None}},
            {"index": 2, "outcome": "refused", "problem": {
                "type": "/problems/insufficient-funds", "title": "Insufficient funds",
                "status": 409,
                "detail": f"account {_ACCOUNT} cannot cover 9999900 minor units of EUR",
                "account_id": _ACCOUNT, "available_minor": 737950,
                "errors": [{"location": "body", "field": "transfers.2.amount",
                            "message": "the debit account cannot cover it"}]}}]}]})

    created: int
    replayed: int
    refused: int
    items: list[TransferBatchItem] = Field(description="One per transfer sent, in order.")
