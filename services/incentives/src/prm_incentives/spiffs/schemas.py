import datetime as dt
import uuid
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from prm_incentives.money import PositiveMoney, SignedAmount, money
from prm_platform.money import Money, minor_units
from prm_platform.types import DecimalText, IsoDate, Name

_ID = "0193c1d0-1b2c-7e3f-8a9b-0c1d2e3f4a5b"
_SPIFF = "0193c1d0-6666-7e3f-8a9b-0c1d2e3f4a5b"
_PARTNER = "0193c1c2-7e1a-7d2b-9a51-6f3f1c2d4e5f"
_DEAL = "0193c1d0-5555-7e3f-8a9b-0c1d2e3f4a5b"
_TRANSFER = "0193c1d0-2222-7e3f-8a9b-0c1d2e3f4a5b"



class SpiffAccrualStatus(StrEnum):
    """What became of a SPIFF accrual."""

    accrued = "accrued"
    capped = "capped"
    reversed = "reversed"
    superseded = "superseded"


class SpiffCap(StrEnum):
    """The cap that cut a SPIFF accrual: the partner's, or the SPIFF's fund."""

    partner = "partner"
    spiff = "spiff"


class SpiffBonusKind(StrEnum):
    """How a SPIFF pays: a `fixed` amount per deal, or a `percent` of it."""

    fixed = "fixed"
    percent = "percent"


Label = Annotated[str, Field(min_length=1, max_length=40)]


class SpiffIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "name": "Q2 firewall push", "starts_on": "2025-04-01", "ends_on": "2025-06-30",
        "fixed_amount": {"amount": "250.00", "currency": "EUR"}, "rate": None,
        "sku_prefixes": ["FW-"], "deal_types": ["new"],
        "fund": {"amount": "50000.00", "currency": "EUR"},
        "partner_cap": {"amount": "2500.00", "currency": "EUR"}}]})

    name: Name
    starts_on: IsoDate = Field(description="Deals closed on or after this date earn it")
    ends_on: IsoDate = Field(description="Deals closed after this date do not")
    fixed_amount: PositiveMoney | None = Field(default=None, description="A fixed bonus per "
                                       "eligible deal (give this or `rate`)")
    rate: Annotated[DecimalText, Field(gt=Decimal(0), le=Decimal(100))] | None = Field(
        default=None, description="A bonus of this percent of the deal, or of its lines of "
        "the given products (give this or `fixed_amount`)")
    sku_prefixes: list[Label] = Field(default_factory=list, max_length=20, description="Only "
                                      "deals with a line whose SKU starts with one of these "
                                      "(none: any deal)")
    deal_types: list[Label] = Field(default_factory=list, max_length=10, description="Only "
                                    "deals of these types (none: any)")
    fund: PositiveMoney = Field(description="What the SPIFF may pay out in all: its pool, "
                                "funded at once; accruals stop when it is spent. Its currency "
                                "is the SPIFF's.")
    partner_cap: PositiveMoney | None = Field(default=None, description="At most this much to "
                                              "one partner")

    @model_validator(mode="after")
    def _consistent(self) -> "SpiffIn":
        minor_units(self.fund.currency)
        if self.ends_on < self.starts_on:
            raise ValueError("ends_on is before starts_on")
        if (self.fixed_amount is None) == (self.rate is None):
            raise ValueError("give either fixed_amount or rate")
        for other in (self.fixed_amount, self.partner_cap):
            if other is not None and other.currency != self.fund.currency:
                raise ValueError("every amount is in the fund's currency")
        return self


class SpiffOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": _SPIFF, "name": "Q2 firewall push", "currency": "EUR",
        "starts_on": "2025-04-01", "ends_on": "2025-06-30",
        "fixed_amount": {"amount": "250.00", "currency": "EUR"}, "rate": None,
        "sku_prefixes": ["FW-"], "deal_types": ["new"],
        "fund": {"amount": "50000.00", "currency": "EUR"},
        "partner_cap": {"amount": "2500.00", "currency": "EUR"},
        "remaining": {"amount": "48750.00", "currency": "EUR"}, "pool_account_id": _ID,
        "version": 1, "created_at": "2025-03-20T09:00:00Z",
        "updated_at": "2025-03-20T09:00:00Z"}]})

    id: uuid.UUID
    name: str
    currency: str
    starts_on: dt.date
    ends_on: dt.date
    fixed_amount: Money | None = None
    rate: str | None = None
    sku_prefixes: list[str]
    deal_types: list[str]
    fund: Money
    partner_cap: Money | None = None
    remaining: SignedAmount = Field(description="What the pool has left to pay out")
    pool_account_id: uuid.UUID
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime = Field(description="When the SPIFF itself last changed (what "
                                    "its pool has left changes with every accrual)")

    @classmethod
    def of(cls, row: Any) -> "SpiffOut":
        c = row.currency
        return cls(
            id=row.id, name=row.name, currency=c, starts_on=row.starts_on, ends_on=row.ends_on,
            fixed_amount=None if row.fixed_amount is None else money(row.fixed_amount, c),
            rate=None if row.rate is None else format(Decimal(row.rate).normalize(), "f"),
            sku_prefixes=row.sku_prefixes, deal_types=row.deal_types, fund=money(row.fund, c),
            partner_cap=None if row.partner_cap is None else money(row.partner_cap, c),
            remaining=SignedAmount.of(row.remaining, c), pool_account_id=row.pool_account_id,
            version=row.version, created_at=row.created_at, updated_at=row.updated_at)


class SpiffAccrualOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": _ID, "spiff_id": _SPIFF, "partner_id": _PARTNER,
        "partner_name": "Acme Cloud GmbH", "deal_id": _DEAL,
        "closed_on": "2025-05-02", "deal_type": "new",
        "deal_amount": {"amount": "18000.00", "currency": "EUR"},
        "base_amount": {"amount": "12000.00", "currency": "EUR"},
        "bonus": {"amount": "250.00", "currency": "EUR"},
        "amount": {"amount": "250.00", "currency": "EUR"}, "capped_by": None,
        "status": "accrued", "transfer_id": _TRANSFER, "reversal_transfer_id": None,
        "reason": None, "deal_version": 3, "version": 1, "created_at": "2025-05-02T10:00:00Z",
        "updated_at": "2025-05-02T10:00:00Z"}]})

    id: uuid.UUID
    spiff_id: uuid.UUID
    partner_id: uuid.UUID
    partner_name: str | None = Field(default=None, description="The partner's name, from the "
                                     "partner directory this service keeps (null if it does "
                                     "not know the partner yet).")
    deal_id: uuid.UUID
    closed_on: dt.date
    deal_type: str
    deal_amount: Money = Field(description="In the SPIFF's currency")
    base_amount: Money = Field(description="What a percentage applied to: the deal, or its "
                               "lines of the SPIFF's products")
    bonus: Money = Field(description="The full bonus the deal earned")
    amount: Money = Field(description="What was accrued: the bonus, or less where a cap was "
                          "reached")
    capped_by: SpiffCap | None = Field(
        default=None, description="The cap that cut it: the partner's, or the SPIFF's fund")
    status: SpiffAccrualStatus = Field(description="capped: nothing was left to accrue; "
                                       "superseded: made of an earlier win of the deal than "
                                       "the one that stands, its money back in the pool")
    transfer_id: uuid.UUID | None = None
    reversal_transfer_id: uuid.UUID | None = None
    reason: str | None = None
    deal_version: int | None = Field(default=None, description="The version of the deal's "
                                     "win it was computed from (null: accrued before versions "
                                     "were kept)")
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime

    @classmethod
    def of(cls, row: Any, partner_name: str | None = None) -> "SpiffAccrualOut":
        c = row.currency
        return cls(
            id=row.id, spiff_id=row.spiff_id, partner_id=row.partner_id,
            partner_name=partner_name or getattr(row, "partner_name", None), deal_id=row.deal_id,
            closed_on=row.closed_on, deal_type=row.deal_type,
            deal_amount=money(row.deal_amount, c), base_amount=money(row.base_amount, c),
            bonus=money(row.bonus, c), amount=money(row.amount, c), capped_by=row.capped_by,
            status=row.status, transfer_id=row.transfer_id,
            reversal_transfer_id=row.reversal_transfer_id, reason=row.reason,
            deal_version=row.deal_version, version=row.version, created_at=row.created_at,
            updated_at=row.updated_at)


class SpiffReversalIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"reason": "Deal cancelled by the customer after signature"}]})

    reason: Annotated[str, Field(min_length=1, max_length=500)]
