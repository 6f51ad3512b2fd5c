from __future__ import annotations

import datetime as dt
import uuid
from enum import StrEnum
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StringConstraints,
    model_validator,
)

from prm_platform.money import Money
from prm_platform.types import CountryCode, DomainName, IsoDate, Name

POPULATIONS = ("customers", "opportunities", "prospects")
# From the least shared to the most; each level shows what the ones before it show.
LEVELS = ("hidden", "counts", "overlaps", "all")
MAX_BATCH = 10_000



class Population(StrEnum):
    customers = "customers"
    opportunities = "opportunities"
    prospects = "prospects"


class CoSellKind(StrEnum):
    registration = "registration"
    lead = "lead"


CrmId = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]


class SharingLevel(StrEnum):
    hidden = "hidden"
    counts = "counts"
    overlaps = "overlaps"
    all = "all"


_ACCOUNT_EXAMPLE: dict[str, Any] = {"crm_id": "0015g00000XyZ1AAK", "population": "customers",
                    "name": "Globex Corporation", "domain": "globex.example", "country": "US"}


class MappedAccountIn(BaseModel):
    """One account of the caller's side: upserted by its population and CRM id."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [_ACCOUNT_EXAMPLE]})

    crm_id: CrmId = Field(description="The account's id in the side's CRM")
    population: Population
    name: Name | None = Field(default=None, description="Required unless `remove`")
    domain: DomainName | None = None
    country: CountryCode | None = None
    remove: StrictBool = Field(default=False, description=(
        "Remove the account from the population (name and the rest are then not needed)"))

    @model_validator(mode="after")
    def _named(self) -> MappedAccountIn:
        if self.name is None and not self.remove:
            raise ValueError("name is required unless the account is removed")
        return self


def _item_schema() -> dict[str, Any]:
    """An item's schema written out in place (the batch reads each item itself, so that one
    bad item refuses only itself), its enums referring to the contract's named ones."""
    schema = MappedAccountIn.model_json_schema(ref_template="#/components/schemas/{model}")
    schema.pop("$defs", None)
    return schema


class MappedAccountBatch(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"items": [_ACCOUNT_EXAMPLE,
                   {"crm_id": "0015g00000Old", "population": "prospects", "remove": True}]}]})

    items: list[dict[str, Any]] = Field(
        min_length=1, max_length=MAX_BATCH,
        description=f"Up to {MAX_BATCH:,} accounts; each is validated on its own, so one bad "
        "item does not refuse the others. A CRM id sent twice in a batch: the last wins.",
        json_schema_extra={"items": _item_schema()})


class MappedAccountBatchItem(BaseModel):
    index: int
    outcome: str = Field(description="created, updated, unchanged, removed or error")
    account_id: uuid.UUID | None = None
    problem: dict[str, Any] | None = Field(default=None, description="Why it failed (RFC 9457 "
                                           "fields)")


class MappedAccountBatchResult(BaseModel):
    created: int
    updated: int
    unchanged: int
    removed: int
    errors: int
    items: list[MappedAccountBatchItem]


class MappedAccountOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    population: str
    crm_id: str
    name: str
    domain: str | None
    country: str | None
    created_at: dt.datetime


class MappingSharingIn(BaseModel):
    """The caller's side opts in, with what it shares of each of its populations."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"sharing": {"customers": "counts", "opportunities": "overlaps",
                     "prospects": "hidden"}}]})

    sharing: dict[Population, SharingLevel] = Field(
        default_factory=dict, description=(
            "Per population of the caller's own: `hidden` (nothing), `counts` (how many of "
            "its accounts overlap the other side's, never which), `overlaps` (which accounts "
            "both sides hold), `all` (every account of it). Populations left out are hidden."))


class MappingPartnershipOut(BaseModel):
    partner_id: uuid.UUID
    status: str = Field(description="`active` once both sides opted in, else `pending`")
    vendor_opted_in_at: dt.datetime | None
    partner_opted_in_at: dt.datetime | None
    vendor_sharing: dict[str, str]
    partner_sharing: dict[str, str]
    mapped_at: dt.datetime | None
    version: int

    @classmethod
    def of(cls, row: Any) -> MappingPartnershipOut:
        active = row.vendor_opted_in_at is not None and row.partner_opted_in_at is not None
        return cls(partner_id=row.partner_id, status="active" if active else "pending",
                   vendor_opted_in_at=row.vendor_opted_in_at,
                   partner_opted_in_at=row.partner_opted_in_at,
                   vendor_sharing=row.vendor_sharing, partner_sharing=row.partner_sharing,
                   mapped_at=row.mapped_at, version=row.version)


class MatrixCell(BaseModel):
    population: str = Field(description="The caller's own population")
    other_population: str = Field(description="The other side's population")
    level: SharingLevel = Field(description="What the other side shares of its population")
    overlaps: int | None = Field(description="How many of the caller's accounts in "
                                 "`population` overlap; none when the other side hides it")


class MappingMatrixOut(BaseModel):
    partner_id: uuid.UUID
    settle_days: int = Field(description="A count follows the caller's own additions, "
                             "changes and removals once they are this many days old")
    cells: list[MatrixCell]


class OverlapOut(BaseModel):
    id: uuid.UUID = Field(description="The overlap (a co-sell starts from it)")
    account: MappedAccountOut = Field(description="The caller's own account")
    other_population: str
    other_name: str = Field(description="The other side's name for it")
    other_domain: str | None
    other_country: str | None
    score: str = Field(description="The matcher's score, 0-1, a decimal string",
                       examples=["0.94"])
    basis: str = Field(description="`domain` or `name`")


class OtherAccountOut(BaseModel):
    """An account of the other side's population (shared with `all`)."""

    population: str
    name: str
    domain: str | None
    country: str | None
    overlaps: StrictBool = Field(description="The caller holds it too")


class CoSellIn(BaseModel):
    """What an overlap starts: the partner's deal registration for the company, or (vendor
    keys) a lead offered to the partner."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"kind": "registration", "amount": {"amount": "48000.00", "currency": "EUR"},
         "expected_close_date": "2027-03-31", "account_executive": "jane.doe@vendor.example"}]})

    kind: CoSellKind = CoSellKind.registration
    amount: Money | None = Field(default=None, description="The deal's expected value "
                                 "(required for a registration; the lead's estimate)")
    expected_close_date: IsoDate | None = Field(default=None, description="Required for a "
                                                "registration")
    account_executive: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None \
        = Field(default=None, description="The vendor's account executive for the deal "
                "(vendor keys)")
    notes: Annotated[str, StringConstraints(max_length=2000)] | None = None


class CoSellOut(BaseModel):
    kind: str
    deal_id: uuid.UUID | None = None
    lead_id: uuid.UUID | None = None
    status: str
