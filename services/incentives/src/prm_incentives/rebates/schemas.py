import datetime as dt
import uuid
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictInt, model_validator

from prm_incentives.money import money, to_minor
from prm_platform.money import Money, minor_units
from prm_platform.types import Currency, DecimalText, IsoDate, Name

_ID = "0193c1d0-1b2c-7e3f-8a9b-0c1d2e3f4a5b"
_PROGRAMME = "0193c1d0-4444-7e3f-8a9b-0c1d2e3f4a5b"
_PARTNER = "0193c1c2-7e1a-7d2b-9a51-6f3f1c2d4e5f"
_DEAL = "0193c1d0-5555-7e3f-8a9b-0c1d2e3f4a5b"
_TRANSFER = "0193c1d0-2222-7e3f-8a9b-0c1d2e3f4a5b"



class RebateBasis(StrEnum):
    """What a rebate programme's rates depend on: the partner's `tier`, or its won
    `volume`."""

    tier = "tier"
    volume = "volume"


class RebateAccrualStatus(StrEnum):
    """What became of a rebate accrual."""

    accrued = "accrued"
    no_rebate = "no_rebate"
    reversed = "reversed"
    clawback = "clawback"
    superseded = "superseded"


class RebateAccrualKind(StrEnum):
    """`deal`: accrued on a won deal; `true_up`: a period's retroactive difference."""

    deal = "deal"
    true_up = "true_up"


Percent = Annotated[DecimalText, Field(le=Decimal(100), description="Percent of the eligible "
                                       "amount, a decimal string (\"2.5\" is 2.5 %).")]
Reason = Annotated[str, Field(min_length=1, max_length=500,
                              examples=["Deal cancelled by the customer after signature"])]


class RebateRule(BaseModel):
    """One line of a programme's rate card. Rules are tried in order; the first that matches
    the deal applies (list the most specific and the highest volume band first)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"tier": "Gold", "min_volume": None, "sku_prefix": "FW-", "deal_type": None,
         "rate": "4.5"}]})

    rate: Percent
    tier: Annotated[str, Field(min_length=1, max_length=40)] | None = Field(
        default=None, description="Only partners in this tier (tier programmes)")
    min_volume: Money | None = Field(
        default=None, description="Only when the partner's won volume over the programme's "
        "trailing period, this deal included, is at least this (volume programmes; the "
        "programme's currency)")
    sku_prefix: Annotated[str, Field(min_length=1, max_length=40)] | None = Field(
        default=None, description="A product family: the rate applies to the deal's lines "
        "whose SKU starts with this, not to the whole deal")
    deal_type: Annotated[str, Field(min_length=1, max_length=40)] | None = Field(
        default=None, description="Only deals of this type (new, renewal, upsell)")


class RebateProgrammeIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "name": "EMEA volume rebate 2025", "currency": "EUR", "basis": "volume",
        "trailing_days": 365, "starts_on": "2025-01-01", "ends_on": "2025-12-31",
        "rules": [{"min_volume": {"amount": "500000.00", "currency": "EUR"}, "rate": "3"},
                  {"min_volume": {"amount": "100000.00", "currency": "EUR"}, "rate": "2"},
                  {"rate": "1"}]}]})

    name: Name
    currency: Currency = Field(description="The programme's base currency: volumes and "
                                   "rebates are in it (deals in others are converted at the "
                                   "ledger's rate for their close date)")
    basis: RebateBasis = Field(description="tier: rates by the partner's tier; volume: by "
                               "the partner's trailing won volume")
    trailing_days: StrictInt = Field(default=365, ge=1, le=731, description="The trailing period "
                               "volume bands are measured over")
    starts_on: IsoDate = Field(description="Deals closed on or after this date accrue")
    ends_on: IsoDate | None = Field(default=None, description="Deals closed after this date "
                                    "do not accrue")
    rules: list[RebateRule] = Field(min_length=1, max_length=50)

    @model_validator(mode="after")
    def _consistent(self) -> "RebateProgrammeIn":
        minor_units(self.currency)
        if self.ends_on is not None and self.ends_on < self.starts_on:
            raise ValueError("ends_on is before starts_on")
        for rule in self.rules:
            if rule.min_volume is not None:
                if self.basis != "volume":
                    raise ValueError("min_volume applies to volume programmes only")
                if rule.min_volume.currency != self.currency:
                    raise ValueError("a volume band is in the programme's currency")
            if rule.tier is not None and self.basis != "tier":
                raise ValueError("tier applies to tier programmes only")
        return self

    def stored_rules(self) -> list[dict[str, Any]]:
        """The rules as kept (and copied onto accruals): volumes in minor units, rates as
        decimal strings."""
        return [{"rate": str(rule.rate), "tier": rule.tier,
                 "min_volume": None if rule.min_volume is None else to_minor(rule.min_volume),
                 "sku_prefix": rule.sku_prefix, "deal_type": rule.deal_type}
                for rule in self.rules]


def rule_out(stored: dict[str, Any], currency: str) -> RebateRule:
    volume = stored.get("min_volume")
    return RebateRule(rate=Decimal(stored["rate"]), tier=stored.get("tier"),
                      min_volume=None if volume is None else money(volume, currency),
                      sku_prefix=stored.get("sku_prefix"), deal_type=stored.get("deal_type"))


class RebateProgrammeOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": _PROGRAMME, "name": "EMEA tier rebate 2025", "currency": "EUR", "basis": "tier",
        "trailing_days": 365, "starts_on": "2025-01-01", "ends_on": "2025-12-31",
        "rules": [{"tier": "Gold", "min_volume": None, "sku_prefix": None, "deal_type": None,
                   "rate": "3"}],
        "expense_account_id": _ID, "version": 1, "created_at": "2025-01-06T09:00:00Z",
        "updated_at": "2025-01-06T09:00:00Z"}]})

    id: uuid.UUID
    name: str
    currency: str
    basis: RebateBasis
    trailing_days: int
    starts_on: dt.date
    ends_on: dt.date | None = None
    rules: list[RebateRule]
    expense_account_id: uuid.UUID = Field(description="The ledger account rebates are paid "
                                          "from (to partners' payable accounts)")
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime

    @classmethod
    def of(cls, row: Any) -> "RebateProgrammeOut":
        return cls(id=row.id, name=row.name, currency=row.currency, basis=row.basis,
                   trailing_days=row.trailing_days, starts_on=row.starts_on,
                   ends_on=row.ends_on, rules=[rule_out(r, row.currency) for r in row.rules],
                   expense_account_id=row.expense_account_id, version=row.version,
                   created_at=row.created_at, updated_at=row.updated_at)


class RebateAccrualOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": _ID, "programme_id": _PROGRAMME, "partner_id": _PARTNER,
        "partner_name": "Acme Cloud GmbH", "kind": "deal",
        "deal_id": _DEAL, "closed_on": "2025-03-14", "period_from": None, "period_to": None,
        "deal_type": "new", "tier": "Gold",
        "deal_amount": {"amount": "48000.00", "currency": "EUR"},
        "base_amount": {"amount": "48000.00", "currency": "EUR"},
        "volume": {"amount": "148000.00", "currency": "EUR"}, "rate": "3",
        "rule": {"tier": "Gold", "min_volume": None, "sku_prefix": None, "deal_type": None,
                 "rate": "3"}, "rule_index": 0,
        "amount": {"amount": "1440.00", "currency": "EUR"}, "status": "accrued",
        "transfer_id": _TRANSFER, "reversal_transfer_id": None, "reason": None,
        "deal_version": 3, "version": 1, "created_at": "2025-03-14T10:00:00Z",
        "updated_at": "2025-03-14T10:00:00Z"}]})

    id: uuid.UUID
    programme_id: uuid.UUID
    partner_id: uuid.UUID
    partner_name: str | None = Field(default=None, description="The partner's name, from the "
                                     "partner directory this service keeps (null if it does "
                                     "not know the partner yet).")
    kind: RebateAccrualKind = Field(description="deal: accrued on a won deal; true_up: a "
                                    "period's retroactive difference")
    deal_id: uuid.UUID | None = None
    closed_on: dt.date = Field(description="The deal's close date (a true-up: its period's "
                               "end)")
    period_from: dt.date | None = None
    period_to: dt.date | None = None
    deal_type: str | None = None
    tier: str | None = Field(default=None, description="The partner's tier when it accrued")
    deal_amount: Money = Field(description="The deal's amount (a true-up: the period's "
                               "volume) in the programme's currency")
    base_amount: Money = Field(description="What the rate applied to: the deal, or its lines "
                               "of the rule's product family")
    volume: Money = Field(description="The partner's trailing won volume the band was chosen "
                          "by, this deal included")
    rate: str = Field(description="The rate that applied, in percent")
    rule: RebateRule | None = Field(default=None, description="The programme's rule that "
                                    "applied, as it was then; none if none matched")
    rule_index: int | None = None
    amount: Money = Field(description="What was accrued (payable to the partner); a "
                          "clawback: what the true-up took back")
    status: RebateAccrualStatus = Field(description="clawback: a true-up whose band paid less than "
                                  "was accrued, which reversed the difference out of the "
                                  "period's accruals (as far as they were not in a payout "
                                  "batch; the reason says what was left); superseded: made "
                                  "of an earlier win of the deal than the one that stands, "
                                  "its money moved back (the newer win's accrual replaces "
                                  "it)")
    transfer_id: uuid.UUID | None = Field(default=None, description="The ledger transfer "
                                          "expense -> the partner's payable")
    reversal_transfer_id: uuid.UUID | None = None
    reason: str | None = None
    deal_version: int | None = Field(default=None, description="The version of the deal's "
                                     "win it was computed from (null: a true-up, or accrued "
                                     "before versions were kept)")
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime

    @classmethod
    def of(cls, row: Any, partner_name: str | None = None) -> "RebateAccrualOut":
        c = row.currency
        return cls(
            id=row.id, programme_id=row.programme_id, partner_id=row.partner_id,
            partner_name=partner_name or getattr(row, "partner_name", None),
            kind=row.kind, deal_id=row.deal_id, closed_on=row.closed_on,
            period_from=row.period_from, period_to=row.period_to, deal_type=row.deal_type,
            tier=row.tier, deal_amount=money(row.deal_amount, c),
            base_amount=money(row.base_amount, c), volume=money(row.volume, c),
            rate=format(Decimal(row.rate).normalize(), "f"),
            rule=None if row.rule is None else rule_out(row.rule, c),
            rule_index=row.rule_index, amount=money(row.amount, c), status=row.status,
            transfer_id=row.transfer_id, reversal_transfer_id=row.reversal_transfer_id,
            reason=row.reason, deal_version=row.deal_version, version=row.version,
            created_at=row.created_at, updated_at=row.updated_at)


class RebateReversalIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"reason": "Deal cancelled by the customer after signature"}]})

    reason: Reason


class RebateTrueUpIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"partner_id": _PARTNER, "period_from": "2025-01-01", "period_to": "2025-03-31"}]})

    partner_id: uuid.UUID
    period_from: IsoDate
    period_to: IsoDate

    @model_validator(mode="after")
    def _period(self) -> "RebateTrueUpIn":
        if self.period_to < self.period_from:
            raise ValueError("period_to is before period_from")
        return self
