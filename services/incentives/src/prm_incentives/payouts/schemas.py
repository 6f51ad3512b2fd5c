import datetime as dt
import uuid
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from prm_incentives.money import money
from prm_platform.listing import Page
from prm_platform.money import Money, minor_units
from prm_platform.types import Currency, IsoDate

_BATCH = "0193c1d0-7777-7e3f-8a9b-0c1d2e3f4a5b"
_PARTNER = "0193c1c2-7e1a-7d2b-9a51-6f3f1c2d4e5f"
_TRANSFER = "0193c1d0-2222-7e3f-8a9b-0c1d2e3f4a5b"
_SOURCE = "0193c1d0-1b2c-7e3f-8a9b-0c1d2e3f4a5b"



class PayoutBatchStatus(StrEnum):
    """Where a payout batch is: `draft`, `approved`, `exported` to the finance system,
    `paid`."""

    draft = "draft"
    approved = "approved"
    exported = "exported"
    paid = "paid"


class PayableSource(StrEnum):
    """What made an amount payable to a partner: a rebate accrual (or true-up), a SPIFF
    accrual, an approved MDF claim, or another transfer."""

    rebate = "rebate"
    spiff = "spiff"
    mdf_claim = "mdf_claim"
    other = "other"


class StatementSource(StrEnum):
    """The sources a partner's statement is filtered by: rebates, SPIFFs, MDF claims."""

    rebate = "rebate"
    spiff = "spiff"
    mdf_claim = "mdf_claim"


class PayoutExportFormat(StrEnum):
    """A payout batch's export file: `json` or `csv`."""

    json = "json"
    csv = "csv"


PaymentReference = Annotated[str, Field(min_length=1, max_length=200,
                                        pattern=r"^[A-Za-z0-9][A-Za-z0-9 ._:/-]*$",
                                        examples=["SEPA-2025-07-000123"])]


class PayoutBatchIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "partner_id": _PARTNER, "currency": "EUR", "period_from": "2025-04-01",
        "period_to": "2025-06-30"}]})

    partner_id: uuid.UUID
    currency: Currency
    period_from: IsoDate = Field(description="Amounts that became payable on or after this")
    period_to: IsoDate = Field(description="... and on or before this")

    @model_validator(mode="after")
    def _valid(self) -> "PayoutBatchIn":
        minor_units(self.currency)
        if self.period_to < self.period_from:
            raise ValueError("period_to is before period_from")
        return self


class PayoutBatchOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": _BATCH, "partner_id": _PARTNER, "partner_name": "Acme Cloud GmbH",
        "currency": "EUR",
        "period_from": "2025-04-01", "period_to": "2025-06-30",
        "total": {"amount": "1940.00", "currency": "EUR"}, "lines": 3, "status": "paid",
        "approved_at": "2025-07-02T09:00:00Z", "exported_at": "2025-07-02T10:00:00Z",
        "paid_at": "2025-07-05T08:00:00Z", "paid_on": "2025-07-04",
        "payment_reference": "SEPA-2025-07-000123", "version": 4,
        "created_at": "2025-07-01T09:00:00Z", "updated_at": "2025-07-05T08:00:00Z"}]})

    id: uuid.UUID
    partner_id: uuid.UUID
    partner_name: str | None = Field(default=None, description="The partner's name, from the "
                                     "partner directory this service keeps (null if it does "
                                     "not know the partner yet).")
    currency: str
    period_from: dt.date
    period_to: dt.date
    total: Money = Field(description="The sum of its lines: the payable amounts it groups")
    lines: int
    status: PayoutBatchStatus
    approved_at: dt.datetime | None = None
    exported_at: dt.datetime | None = None
    paid_at: dt.datetime | None = None
    paid_on: dt.date | None = None
    payment_reference: str | None = None
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime

    @classmethod
    def of(cls, row: Any, partner_name: str | None = None) -> "PayoutBatchOut":
        return cls(id=row.id, partner_id=row.partner_id,
                   partner_name=partner_name or getattr(row, "partner_name", None),
                   currency=row.currency,
                   period_from=row.period_from, period_to=row.period_to,
                   total=money(row.total, row.currency), lines=row.lines, status=row.status,
                   approved_at=row.approved_at, exported_at=row.exported_at,
                   paid_at=row.paid_at, paid_on=row.paid_on,
                   payment_reference=row.payment_reference, version=row.version,
                   created_at=row.created_at, updated_at=row.updated_at)


class PayoutPaymentIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"payment_reference": "SEPA-2025-07-000123", "paid_on": "2025-07-04"}]})

    payment_reference: PaymentReference = Field(description="The finance system's reference "
                                                "of the payment; the same one again is a "
                                                "no-op")
    paid_on: IsoDate


class PayoutLineOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "transfer_id": _TRANSFER, "source": "rebate", "source_id": _SOURCE,
        "earned_on": "2025-05-02", "amount": {"amount": "1440.00", "currency": "EUR"}}]})

    transfer_id: uuid.UUID = Field(description="The ledger transfer that made it payable")
    source: PayableSource
    source_id: uuid.UUID | None = Field(default=None, description="The rebate accrual, SPIFF "
                                        "accrual or MDF claim")
    earned_on: dt.date
    amount: Money


class PayoutExportOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "batch": PayoutBatchOut.model_config["json_schema_extra"]["examples"][0],  # type: ignore[index]
        "lines": [PayoutLineOut.model_config["json_schema_extra"]["examples"][0]]}]})  # type: ignore[index]

    batch: PayoutBatchOut
    lines: list[PayoutLineOut]


class PayoutStatementItem(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "transfer_id": _TRANSFER, "source": "rebate", "source_id": _SOURCE,
        "earned_on": "2025-05-02", "amount": {"amount": "1440.00", "currency": "EUR"},
        "why": "EMEA tier rebate 2025: 3 % of 48000.00 EUR (deal "
               "0193c1d0-5555-7e3f-8a9b-0c1d2e3f4a5b)",
        "batch_id": _BATCH, "batch_status": "paid", "paid_on": "2025-07-04",
        "payment_reference": "SEPA-2025-07-000123"}]})

    transfer_id: uuid.UUID
    source: PayableSource
    source_id: uuid.UUID | None = None
    earned_on: dt.date
    amount: Money = Field(description="Payable (what a reversal left of it)")
    why: str = Field(description="What earned it")
    batch_id: uuid.UUID | None = None
    batch_status: PayoutBatchStatus | None = None
    paid_on: dt.date | None = None
    payment_reference: str | None = None


class PayoutStatementTotal(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "currency": "EUR", "earned": {"amount": "1940.00", "currency": "EUR"},
        "paid": {"amount": "1440.00", "currency": "EUR"},
        "unpaid": {"amount": "500.00", "currency": "EUR"}}]})

    currency: str
    earned: Money
    paid: Money
    unpaid: Money


class PayoutStatementOut(Page[PayoutStatementItem]):
    """A page of the statement's items, with the partner, the period and its totals."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "items": [PayoutStatementItem.model_config["json_schema_extra"]["examples"][0]],  # type: ignore[index]
        # Not null here: the contract's examples lose their null members.
        "next_cursor": "WyIiLFsiMDE5M2MxZDAtMWIyYy03ZTNmLThhOWItMGMxZDJlM2Y0YTViIl1d",
        "total_count": 12, "partner_id": _PARTNER,
        "partner_name": "Acme Cloud GmbH", "from": "2025-04-01", "to": "2025-06-30",
        "totals": [PayoutStatementTotal.model_config["json_schema_extra"]["examples"][0]]}]},  # type: ignore[index]
        populate_by_name=True)

    partner_id: uuid.UUID
    partner_name: str | None = Field(default=None, description="The partner's name, from the "
                                     "partner directory this service keeps (null if it does "
                                     "not know the partner yet).")
    from_: dt.date = Field(alias="from")
    to: dt.date
    totals: list[PayoutStatementTotal] = Field(description="Per currency, over every item of "
                                               "the period the filters keep (every page)")


def line_amount(minor: int, currency: str) -> Money:
    return money(minor, currency)
